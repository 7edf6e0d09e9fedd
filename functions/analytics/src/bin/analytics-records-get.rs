//! Lambda `analytics-records-get`: see `hub_shared::ops::get`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-get", ops::get::<AnalyticsRecord>).await
}
