//! The cold-start baseline: a bare `lambda_runtime` hello-world, built with the workspace's release
//! profile like every function. No logging subscriber, no configuration, no SDK: whatever a
//! function's init costs beyond this one's is the function's own.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn hello(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "message": "hello", "request_id": event.context.request_id }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(hello)).await
}
