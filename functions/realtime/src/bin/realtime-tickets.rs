//! Lambda `realtime-tickets`: `POST /api/realtime/tickets`. See `hub_realtime::ticket`.

use hub_realtime::ticket::{self, Issuer};
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let issuer = Arc::new(Issuer::from_env()?);
    http::run_business("realtime-tickets", move |_services, tenant, request| {
        ticket::issue(Arc::clone(&issuer), tenant, request)
    })
    .await
}
