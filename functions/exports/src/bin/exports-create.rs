//! Lambda `exports-create`: `POST /api/business/exports`. See `hub_exports::api::create`.

use hub_exports::Queue;
use hub_shared::config::Env;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let sdk = hub_shared::aws::sdk_config()?;
    let queue = Arc::new(Queue::from_env(&Env::from_process(), hub_exports::worker::QUEUE_VAR, &sdk)?);
    http::run_business("exports-create", move |s, t, r| hub_exports::api::create(s, t, r, Arc::clone(&queue))).await
}
