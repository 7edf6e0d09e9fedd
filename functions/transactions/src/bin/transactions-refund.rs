//! Lambda `transactions-refund`: see `hub_transactions::refund`.

use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("transactions-refund", hub_transactions::refund).await
}
