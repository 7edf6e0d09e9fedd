//! The common crate of the Hub backend: everything a Lambda function shares, so that a function
//! binary is a few lines and an entity is a type plus its rules.

pub mod audit;
pub mod auth;
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod ops;
pub mod store;
pub mod telemetry;

pub use error::{AppError, AppResult, FieldError};
