//! Lambda `documents-approve`: see `hub_documents::approve`.

use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-approve", hub_documents::approve).await
}
