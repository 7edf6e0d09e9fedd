//! Lambda `transactions-restore`: see `hub_shared::ops::restore`.

use hub_shared::{http, ops};
use hub_transactions::Transaction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("transactions-restore", ops::restore::<Transaction>).await
}
