//! Lambda `analytics-stream`: the business table's stream to the analytics counters. See
//! `hub_analytics::stream`.

use hub_analytics::AnalyticsTable;
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("analytics-stream");
    let table = Arc::new(AnalyticsTable::from_env(&Env::from_process())?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let table = Arc::clone(&table);
        async move {
            hub_analytics::stream::handle(&table, &event.payload)
                .await
                .map(|outcome| outcome.response())
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
