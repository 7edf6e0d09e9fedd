//! Lambda `analytics-records-patch`: see `hub_shared::ops::patch`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-patch", ops::patch::<AnalyticsRecord>).await
}
