//! Lambda `documents-restore`: see `hub_shared::ops::restore`.

use hub_documents::Document;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-restore", ops::restore::<Document>).await
}
