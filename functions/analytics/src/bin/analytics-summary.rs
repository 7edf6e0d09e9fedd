//! Lambda `analytics-summary`: see `hub_analytics::summary`.

use hub_analytics::AnalyticsTable;
use hub_shared::config::Env;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let table = Arc::new(AnalyticsTable::from_env(&Env::from_process())?);
    http::run_business("analytics-summary", move |s, t, r| hub_analytics::summary(s, t, r, Arc::clone(&table))).await
}
