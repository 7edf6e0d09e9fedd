//! Lambda `realtime-message`: the WebSocket API's `$default` route, the client's messages. See
//! `hub_realtime::socket::message`.

use hub_realtime::socket::{self, SocketEvent};
use hub_realtime::{Poster, RealtimeTable};
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("realtime-message");
    let env = Env::from_process();
    let parts = Arc::new((RealtimeTable::from_env(&env)?, Poster::from_env(&env)?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SocketEvent>| {
        let parts = Arc::clone(&parts);
        async move {
            let (table, poster) = &*parts;
            socket::message(table, poster, &event.payload).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
