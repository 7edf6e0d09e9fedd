//! Lambda `documents-get`: see `hub_shared::ops::get`.

use hub_documents::Document;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-get", ops::get::<Document>).await
}
