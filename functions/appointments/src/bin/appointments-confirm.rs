//! Lambda `appointments-confirm`: see `hub_appointments::confirm` (an `ops::action`).

use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-confirm", hub_appointments::confirm).await
}
