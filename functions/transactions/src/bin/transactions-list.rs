//! Lambda `transactions-list`: see `hub_shared::ops::list`.

use hub_shared::{http, ops};
use hub_transactions::Transaction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("transactions-list", ops::list::<Transaction>).await
}
