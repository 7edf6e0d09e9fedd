//! Lambda `retention`: run daily by an EventBridge schedule (template.yaml), or on demand
//! locally through `cargo lambda watch`'s invoke endpoint. See `hub_privacy::retention`.

use hub_privacy::Erasure;
use hub_shared::config::Env;
use hub_shared::store::Store;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("retention");
    let env = Env::from_process();
    let sdk = hub_shared::aws::sdk_config_from(&env)?;
    let store = Store::from_env(&env, &sdk)?;
    let erasure = Arc::new(Erasure::from_sdk(&sdk, &env)?);
    let store = Arc::new(store);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (store, erasure) = (Arc::clone(&store), Arc::clone(&erasure));
        async move {
            let today = hub_shared::domain::Date::today();
            let report = hub_privacy::retention::run(&store, &erasure, today, &event.context.request_id).await?;
            // A record that failed is reported as a failed invocation, so it is retried (the
            // run is idempotent) and visible in the function's error metrics.
            if report.failures.is_empty() {
                Ok(serde_json::to_value(&report)?)
            } else {
                Err(lambda_runtime::Error::from(format!(
                    "retention: {} record(s) failed: {}",
                    report.failures.len(),
                    serde_json::to_string(&report.failures)?
                )))
            }
        }
    }))
    .await
}
