//! Lambda `realtime-fanout`: the business table's stream to the event log and the open
//! connections. See `hub_realtime::fanout`.

use hub_realtime::{Poster, RealtimeTable, fanout};
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("realtime-fanout");
    let env = Env::from_process();
    let parts = Arc::new((RealtimeTable::from_env(&env)?, Poster::from_env(&env)?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let parts = Arc::clone(&parts);
        async move {
            let (table, poster) = &*parts;
            fanout::handle(table, poster, &event.payload)
                .await
                .map(|outcome| outcome.response())
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
