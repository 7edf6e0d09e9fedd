//! Lambda `fallback`: the API's `$default` route. See `hub_health::fallback`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    hub_shared::http::run_public("fallback", hub_health::fallback).await
}
