//! Lambda `transactions-patch`: see `hub_shared::ops::patch`.

use hub_shared::{http, ops};
use hub_transactions::Transaction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("transactions-patch", ops::patch::<Transaction>).await
}
