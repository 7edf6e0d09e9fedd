//! Lambda `transactions-batch`: see `hub_shared::ops::batch`.

use hub_shared::{http, ops};
use hub_transactions::Transaction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("transactions-batch", |services, tenant, request| {
        ops::batch::<Transaction>(services, tenant, request, ops::BATCH_ALL)
    })
    .await
}
