//! Lambda `imports-start`: see `hub_imports::start`.

use hub_imports::{Bulk, Queue, queue::QUEUE_VAR};
use hub_shared::config::Env;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let bulk = Arc::new(Bulk::from_env()?);
    let queue = Arc::new(Queue::from_env(&Env::from_process(), QUEUE_VAR, &hub_shared::aws::sdk_config()?)?);
    http::run_business("imports-start", move |s, t, r| {
        hub_imports::start(s, t, r, Arc::clone(&bulk), Arc::clone(&queue))
    })
    .await
}
