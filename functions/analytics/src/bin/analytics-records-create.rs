//! Lambda `analytics-records-create`: see `hub_shared::ops::create`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-create", ops::create::<AnalyticsRecord>).await
}
