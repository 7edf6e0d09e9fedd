//! Lambda `docs`: see `hub_openapi::docs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    hub_openapi::serve::run("docs").await
}
