//! The API contract: the OpenAPI 3.1 document of every route, generated from the code so it
//! cannot drift from it, and the interactive docs page that renders it.
//!
//! - Schemas come from the types themselves: `utoipa::ToSchema` derives on the entities and the
//!   shared wire types (behind the crates' `openapi` feature, which only this crate enables),
//!   the required fields of a request body from what the entity's validating constructor
//!   reports missing in an empty body, examples from real records built by that constructor and
//!   problem examples from the one problem renderer.
//! - The generic CRUD operations (`hub_shared::ops`) are described once per operation kind
//!   ([`entities`]) and instantiated per entity from its `Entity` constants (path, filters).
//! - Operations of their own (a refund, a download, the summary...) are described in
//!   [`operations`].
//!
//! template.yaml stays the route list of record: `tests/tests/openapi.rs` proves the document
//! has exactly its routes, each with the operation id of the binary that serves it.

pub mod docs;
mod document;
mod entities;
mod operations;
mod schema;
pub mod serve;

pub use document::{Document, document};
