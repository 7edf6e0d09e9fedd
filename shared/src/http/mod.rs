//! The HTTP adapter: the one place that turns an API Gateway (HTTP API, payload v2) event into a
//! handler call and the handler's result into a response.
//!
//! It assigns the request id, answers CORS, verifies the caller, parses bodies within a size
//! limit, and renders every `AppError` as an RFC 9457 problem. Handlers only ever return values
//! or `AppError`s; none formats an error or a header by hand.

mod cors;
mod problem;
mod reply;
mod request;
mod runtime;

pub use cors::EXPOSED_HEADERS;
pub use problem::{problem_body, problem_response};
pub use reply::{Denied, Reply};
pub use request::{ApiRequest, Expected, body_version, parse_if_match};
pub use runtime::{Services, handle, handle_public, record_access_first, run_business, run_public};
