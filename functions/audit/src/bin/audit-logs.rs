//! Lambda `audit-logs`: `GET /api/audit/logs`, see `hub_shared::audit::api::logs`.

use hub_shared::audit::api;
use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("audit-logs", api::logs).await
}
