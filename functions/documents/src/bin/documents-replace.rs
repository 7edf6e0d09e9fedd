//! Lambda `documents-replace`: see `hub_shared::ops::replace`.

use hub_documents::Document;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-replace", ops::replace::<Document>).await
}
