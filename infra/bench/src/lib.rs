//! Benchmarks for the function binaries. They print figures; they never assert timings.
//!
//! - [`api`] is a minimal Lambda Runtime API on loopback;
//! - [`runner`] runs one cold start of a bootstrap against it (init, each invocation, peak memory);
//! - [`series`] adds up many cold starts, the baseline comparison, sizes, and the tables printed;
//! - [`events`] builds API Gateway v2 events with a minted HS256 token;
//! - [`dynamo`] creates the business table in the local emulator;
//! - [`callgrind`] counts instructions per phase and per function;
//! - [`stats`] computes percentiles.
//!
//! `lambda-bench --help` and BENCHMARKS.md at the repository root say how to run it.

pub mod api;
pub mod callgrind;
pub mod dynamo;
pub mod error;
pub mod events;
pub mod runner;
pub mod series;
pub mod stats;

pub use error::BenchError;
