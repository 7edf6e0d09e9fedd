//! Lambda `exports-get`: `GET /api/business/exports/{id}`. See `hub_exports::api::get`.

use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let files = hub_exports::files_from_env()?;
    http::run_business("exports-get", move |s, t, r| hub_exports::api::get(s, t, r, Arc::clone(&files))).await
}
