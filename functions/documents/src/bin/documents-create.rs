//! Lambda `documents-create`: see `hub_documents::create`.

use hub_documents::Files;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let files = Files::from_env().await?;
    http::run_business("documents-create", move |s, t, r| hub_documents::create(s, t, r, Arc::clone(&files))).await
}
