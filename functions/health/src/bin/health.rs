//! Lambda `health`: see `hub_health::health`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    hub_shared::http::run_public("health", hub_health::health).await
}
