//! Lambda `audit-stream`: the business table's stream to the audit table. See `hub_audit::stream`.

use hub_audit::AuditWriter;
use hub_shared::config::Env;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_shared::telemetry::init("audit-stream");
    let env = Env::from_process();
    let table = env.required("HUB_AUDIT_TABLE")?.to_string();
    let sdk = hub_shared::aws::sdk_config_from(&env)?;
    let writer = Arc::new(AuditWriter::new(hub_shared::aws::dynamodb(&sdk), table));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let writer = Arc::clone(&writer);
        async move {
            hub_audit::stream::handle(&writer, &event.payload)
                .await
                .map(|outcome| outcome.response())
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
