//! Lambda `imports-create`: see `hub_imports::create`.

use hub_imports::Bulk;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let bulk = Arc::new(Bulk::from_env()?);
    http::run_business("imports-create", move |s, t, r| hub_imports::create(s, t, r, Arc::clone(&bulk))).await
}
