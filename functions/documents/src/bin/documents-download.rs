//! Lambda `documents-download`: see `hub_documents::download`.

use hub_documents::Files;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let files = Files::from_env().await?;
    http::run_business("documents-download", move |s, t, r| hub_documents::download(s, t, r, Arc::clone(&files))).await
}
