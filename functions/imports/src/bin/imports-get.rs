//! Lambda `imports-get`: see `hub_imports::get`.

use hub_imports::Bulk;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let bulk = Arc::new(Bulk::from_env()?);
    http::run_business("imports-get", move |s, t, r| hub_imports::get(s, t, r, Arc::clone(&bulk))).await
}
