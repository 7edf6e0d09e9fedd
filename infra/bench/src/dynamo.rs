//! The business table in the local emulator, for functions that read it.
//!
//! Only the key schema matters to a GET (`pk`/`sk` strings, as template.yaml declares), so the
//! bench creates that directly with the SDK. It deliberately does not link `hub_infra`: building
//! the bench in the same cargo invocation as the functions must not add dependencies or features
//! to the function binaries being measured (hub-infra brings tokio's `signal`, nix, serde_yaml).

use crate::error::BenchError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus,
};
use std::time::Duration;

fn sdk<E: std::error::Error + 'static, R: std::fmt::Debug>(what: &str, e: SdkError<E, R>) -> BenchError {
    BenchError::new(format!("{what}: {}", DisplayErrorContext(e)))
}

/// Creates `table` (pk/sk, on demand, with its stream) at `AWS_ENDPOINT_URL` unless it exists,
/// and waits until it is active. The SDK takes endpoint, region and credentials from the
/// environment with the functions' own `sdk_config_from`.
pub fn ensure_table(table: &str) -> Result<(), BenchError> {
    if std::env::var("AWS_ENDPOINT_URL").map(|v| v.trim().is_empty()).unwrap_or(true) {
        return Err(BenchError::new(
            "AWS_ENDPOINT_URL must point at the local emulator: the bench never creates tables in a real account",
        ));
    }
    with_client(|client| async move {
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(|e| BenchError::new(format!("key schema: {e}")))
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| BenchError::new(format!("attribute definition: {e}")))
        };
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(|e| BenchError::new(format!("stream specification: {e}")))?;
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .stream_specification(stream)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(sdk(&format!("creating table {table}"), e)),
        }
        for _ in 0..100 {
            let described =
                client.describe_table().table_name(table).send().await.map_err(|e| sdk("describing the table", e))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(BenchError::new(format!("table {table} did not become active")))
    })
}

/// Runs `work` on a DynamoDB client built as the functions build theirs, from the environment
/// (endpoint, region, credentials, `HUB_AWS_EXTRA_CA_FILE`).
fn with_client<T, F, Fut>(work: F) -> Result<T, BenchError>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, BenchError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("starting a tokio runtime", e))?;
    runtime.block_on(async {
        let config = hub_shared::aws::sdk_config_from(&hub_shared::config::Env::from_process())
            .map_err(|e| BenchError::new(format!("AWS settings: {e}")))?;
        work(Client::new(&config)).await
    })
}

/// The stored item (DynamoDB JSON, as a stream record carries it) of the first record of
/// `org` in `table`: what a stream consumer is handed when it was written.
pub fn first_record_item(table: &str, org: &str) -> Result<serde_json::Value, BenchError> {
    with_client(|client| async move {
        let items = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ORG#{org}")))
            .send()
            .await
            .map_err(|e| sdk("reading the organization's records", e))?;
        let item = items
            .items()
            .iter()
            .find(|i| matches!(i.get("item_type"), Some(AttributeValue::S(t)) if t == "record"))
            .ok_or_else(|| BenchError::new(format!("no record of organization {org} in {table}")))?;
        Ok(serde_json::Value::Object(item.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect()))
    })
}

/// An attribute value as DynamoDB JSON (`{"S": "..."}`, `{"N": "1"}`, ...).
fn dynamodb_json(value: &AttributeValue) -> serde_json::Value {
    use serde_json::json;
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(dynamodb_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => {
            json!({ "M": m.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect::<serde_json::Map<_, _>>() })
        }
        // Binary values: none in the backend's items.
        _ => json!({ "NULL": true }),
    }
}
