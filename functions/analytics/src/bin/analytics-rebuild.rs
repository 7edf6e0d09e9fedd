//! Lambda `analytics-rebuild`, invoked on demand (no route, no schedule): `{"organization_id":
//! "<uuid>"}` rebuilds one organization's counters, `{}` every organization's. See
//! `hub_analytics::rebuild`.

use hub_analytics::AnalyticsTable;
use hub_shared::config::Env;
use hub_shared::store::Store;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("analytics-rebuild");
    let env = Env::from_process();
    let table = Arc::new(AnalyticsTable::from_env(&env)?);
    let sdk = hub_shared::aws::sdk_config_from(&env)?;
    let store = Arc::new(Store::from_env(&env, &sdk)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (store, table) = (Arc::clone(&store), Arc::clone(&table));
        async move {
            hub_analytics::rebuild::invoke(&store, &table, &event.payload).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
