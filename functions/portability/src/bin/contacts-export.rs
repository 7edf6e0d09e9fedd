//! Lambda `contacts-export`: see `hub_portability::export`.

use hub_documents::Files;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let files = Files::from_env().await?;
    http::run_business("contacts-export", move |s, t, r| hub_portability::export(s, t, r, Arc::clone(&files))).await
}
