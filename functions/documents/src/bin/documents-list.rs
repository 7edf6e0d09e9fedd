//! Lambda `documents-list`: see `hub_shared::ops::list`.

use hub_documents::Document;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-list", ops::list::<Document>).await
}
