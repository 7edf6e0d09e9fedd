//! Lambda `openapi-json`: see `hub_openapi::serve::openapi_json`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    hub_openapi::serve::run("openapi-json").await
}
