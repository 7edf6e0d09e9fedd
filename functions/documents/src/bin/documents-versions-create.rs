//! Lambda `documents-versions-create`: see `hub_documents::versions_create`.

use hub_documents::Files;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let files = Files::from_env().await?;
    http::run_business("documents-versions-create", move |s, t, r| {
        hub_documents::versions_create(s, t, r, Arc::clone(&files))
    })
    .await
}
