//! Lambda `appointments-cancel`: see `hub_appointments::cancel` (an `ops::action`).

use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-cancel", hub_appointments::cancel).await
}
