//! The local stack, as a library: what `infra/hub up` runs and what the integration tests reuse.
//!
//! - [`template`] reads `template.yaml`, the single description of tables, routes and environment;
//! - [`provision`] creates those tables, buckets and queues in the emulator with the real AWS SDK;
//! - [`moto`] runs moto's server for one process (tests) or one stack, and never leaves it behind;
//! - [`localenv`] turns the template's environment into local values;
//! - [`router`] reads the `cargo lambda watch` router and compares it with the template's routes;
//! - [`token`] mints dev tokens; [`devstate`] keeps the generated dev secrets in `.local/`;
//! - [`relay`] reads the emulated table's stream and invokes the audit function, as Lambda's
//!   event source mapping does (the `stream-relay` binary);
//! - [`sqsrelay`] polls a queue of the template and invokes its consumer, as Lambda's SQS event
//!   source mapping does: batches, deletion, partial batch failures (the `sqs-relay` binary);
//! - [`apigw`] is what API Gateway's HTTP API does to a request: routing, the payload 2.0 event,
//!   the answer; [`gateway`] serves the API port with it (and CORS), in front of
//!   `cargo lambda watch`;
//! - [`wsgateway`] is what API Gateway's WebSocket API does: the upgrade through the `$connect`
//!   route's authorizer and function, messages to their routes, `$disconnect`, and the
//!   `@connections` management API, on a port of its own;
//! - [`seed`] fills a running stack with a generated practice through its API (`infra/hub seed`);
//! - [`spawn`] runs the `stack` binary from a test, on free ports, and stops it.
//! - [`tls`] is a TLS front for the emulator with a CA made at run time (the bench's
//!   production-like mode, the TLS tests).
//!
//! Nothing here is deployed: it is development and test tooling only.

pub mod apigw;
pub mod devstate;
pub mod envfile;
pub mod gateway;
pub mod http;
pub mod localenv;
pub mod moto;
pub mod process;
pub mod provision;
pub mod relay;
pub mod router;
pub mod seed;
pub mod spawn;
pub mod sqsrelay;
pub mod template;
pub mod tls;
pub mod token;
pub mod wsgateway;

use std::path::{Path, PathBuf};

/// Local region and account: any fixed values work with the emulator; these are moto's defaults.
pub const LOCAL_REGION: &str = "us-east-1";
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

/// The workspace root (where `template.yaml` and the root `Cargo.toml` are).
///
/// `HUB_ROOT` wins; otherwise the nearest ancestor of the current directory holding both files
/// (tests run from their crate's directory, `infra/hub` from the root); otherwise the directory
/// this crate was built in, so a test binary run from anywhere still finds its workspace.
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("HUB_ROOT") {
        return PathBuf::from(root);
    }
    if let Ok(cwd) = std::env::current_dir()
        && let Some(found) = cwd.ancestors().find(|dir| is_workspace_root(dir))
    {
        return found.to_path_buf();
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR"));
    built_in.parent().unwrap_or(built_in).to_path_buf()
}

fn is_workspace_root(dir: &Path) -> bool {
    dir.join(template::TEMPLATE_FILE).is_file() && dir.join("Cargo.toml").is_file()
}

/// The project's Python virtualenv, created by `infra/hub`.
pub fn venv_bin(root: &Path, program: &str) -> PathBuf {
    root.join(".venv").join("bin").join(program)
}
