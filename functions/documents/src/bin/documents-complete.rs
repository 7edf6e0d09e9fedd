//! Lambda `documents-complete`: see `hub_documents::complete`.

use hub_documents::Files;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let files = Files::from_env().await?;
    http::run_business("documents-complete", move |s, t, r| hub_documents::complete(s, t, r, Arc::clone(&files))).await
}
