//! Lambda `transactions-delete`: see `hub_shared::ops::delete`.

use hub_shared::{http, ops};
use hub_transactions::Transaction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("transactions-delete", ops::delete::<Transaction>).await
}
