//! Lambda `realtime-disconnect`: the WebSocket API's `$disconnect` route. See
//! `hub_realtime::socket::disconnect`.

use hub_realtime::RealtimeTable;
use hub_realtime::socket::{self, SocketEvent};
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("realtime-disconnect");
    let table = Arc::new(RealtimeTable::from_env(&Env::from_process())?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SocketEvent>| {
        let table = Arc::clone(&table);
        async move { socket::disconnect(&table, &event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
