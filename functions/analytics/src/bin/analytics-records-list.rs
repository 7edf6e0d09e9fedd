//! Lambda `analytics-records-list`: see `hub_shared::ops::list`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-list", ops::list::<AnalyticsRecord>).await
}
