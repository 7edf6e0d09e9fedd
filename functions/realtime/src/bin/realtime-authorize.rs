//! Lambda `realtime-authorize`: the WebSocket API's `$connect` authorizer, which spends a
//! one-time ticket. See `hub_realtime::socket::authorize`.

use hub_realtime::RealtimeTable;
use hub_realtime::socket::{self, AuthorizerRequest};
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("realtime-authorize");
    let table = Arc::new(RealtimeTable::from_env(&Env::from_process())?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerRequest>| {
        let table = Arc::clone(&table);
        async move { socket::authorize(&table, &event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
