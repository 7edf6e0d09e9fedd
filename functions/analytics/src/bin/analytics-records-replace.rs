//! Lambda `analytics-records-replace`: see `hub_shared::ops::replace`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-replace", ops::replace::<AnalyticsRecord>).await
}
