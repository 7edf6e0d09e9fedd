//! Lambda `documents-patch`: see `hub_shared::ops::patch`.

use hub_documents::Document;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-patch", ops::patch::<Document>).await
}
