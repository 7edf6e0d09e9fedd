//! `GET /api/health`: liveness for load balancers and the local stack, without auth. It touches
//! no dependency, so it answers in microseconds and reveals nothing.

pub mod fallback;

pub use fallback::fallback;

use hub_shared::AppResult;
use hub_shared::http::{ApiRequest, Reply};
use serde_json::json;

pub async fn health(_request: ApiRequest) -> AppResult<Reply> {
    Ok(Reply::ok(json!({ "status": "healthy", "service": "hub-backend", "version": env!("CARGO_PKG_VERSION") })))
}
