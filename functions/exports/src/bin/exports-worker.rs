//! Lambda `exports-worker`: `ExportQueue`'s consumer (BatchSize 1, ReportBatchItemFailures).
//! See `hub_exports::worker`.

use aws_lambda_events::event::sqs::SqsEvent;
use hub_exports::Worker;
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("exports-worker");
    let sdk = hub_shared::aws::sdk_config()?;
    let worker = Arc::new(Worker::from_env(&Env::from_process(), &sdk)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move {
            let deadline = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            Ok::<_, lambda_runtime::Error>(Box::pin(worker.handle(event.payload, deadline)).await)
        }
    }))
    .await
}
