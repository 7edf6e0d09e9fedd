//! Lambda `documents-batch`: see `hub_shared::ops::batch`.

use hub_documents::Document;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("documents-batch", |services, tenant, request| {
        ops::batch::<Document>(services, tenant, request, ops::BATCH_UPDATES)
    })
    .await
}
