//! Lambda `analytics-records-restore`: see `hub_shared::ops::restore`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-restore", ops::restore::<AnalyticsRecord>).await
}
