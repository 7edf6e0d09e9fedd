//! Lambda `imports-worker`: one import chunk per SQS message. See `hub_imports::worker`.

use hub_imports::{Bulk, Limits, Queue, Worker};
use hub_shared::config::Env;
use hub_shared::store::Store;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("imports-worker");
    let env = Env::from_process();
    let sdk = hub_shared::aws::sdk_config()?;
    let worker = Arc::new(Worker {
        store: Store::from_env(&env, &sdk)?,
        bulk: Bulk::from_env()?,
        sender: Queue::from_env(&env, hub_imports::queue::QUEUE_VAR, &sdk)?,
        limits: Limits::default(),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let worker = Arc::clone(&worker);
        // Boxed: the chunk's future is deep enough to overflow the compiler's layout query.
        async move {
            Ok::<_, lambda_runtime::Error>(Box::pin(hub_imports::worker::handle_batch(&worker, &event.payload)).await)
        }
    }))
    .await
}
