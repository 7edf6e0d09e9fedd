//! Lambda `documents-versions-list`: see `hub_documents::versions_list`.

use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-versions-list", hub_documents::versions_list).await
}
