//! Lambda `analytics-records-delete`: see `hub_shared::ops::delete`.

use hub_analytics::AnalyticsRecord;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("analytics-records-delete", ops::delete::<AnalyticsRecord>).await
}
