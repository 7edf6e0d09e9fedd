//! Creates the template's tables, buckets and queues in the emulator with the real AWS SDK, from
//! the parsed definitions ([`crate::template::Table`], [`crate::template::Bucket`],
//! [`crate::template::Queue`]), so local and deployed schemas cannot drift.
//!
//! Idempotent: an existing table with the same keys is kept (its stream and TTL are switched on if
//! needed); one with other keys is an error, since silently reusing it would test a schema that
//! is not deployed. Point-in-time recovery, encryption and deletion protection do not change what
//! the code sees, so they are left to the deployed stack.

use crate::template::{Billing, KeyElement, Queue, SecondaryIndex, Table, Template};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

#[derive(Debug)]
pub struct ProvisionError(String);

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProvisionError {}

fn sdk_error<E, R>(what: &str, table: &str, error: SdkError<E, R>) -> ProvisionError
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    ProvisionError(format!("{what} {table}: {}", DisplayErrorContext(error)))
}

/// What was created (or found) for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedTable {
    pub logical_id: String,
    pub name: String,
    pub arn: Option<String>,
    pub stream_arn: Option<String>,
}

/// The physical names the local stack gives the template's resources: `<prefix><LogicalId>`,
/// lower-cased for buckets (S3 bucket names cannot hold capitals), with `.fifo` for FIFO queues
/// (SQS requires it).
pub fn names_with_prefix(template: &Template, prefix: &str) -> BTreeMap<String, String> {
    let tables = template.tables.keys().map(|id| (id.clone(), format!("{prefix}{id}")));
    let buckets = template.buckets.keys().map(|id| (id.clone(), format!("{prefix}{id}").to_ascii_lowercase()));
    let queues = template.queues.values().map(|q| {
        let suffix = if q.fifo { ".fifo" } else { "" };
        (q.logical_id.clone(), format!("{prefix}{}{suffix}", q.logical_id))
    });
    tables.chain(buckets).chain(queues).collect()
}

/// Physical names by logical id: a `HashMap` or a `BTreeMap` of `String`s.
pub trait ResourceNames {
    fn physical_name(&self, logical_id: &str) -> Option<&str>;
}

impl<S: BuildHasher> ResourceNames for HashMap<String, String, S> {
    fn physical_name(&self, logical_id: &str) -> Option<&str> {
        self.get(logical_id).map(String::as_str)
    }
}

impl ResourceNames for BTreeMap<String, String> {
    fn physical_name(&self, logical_id: &str) -> Option<&str> {
        self.get(logical_id).map(String::as_str)
    }
}

/// Creates every table of the template under the name `names` gives its logical id (buckets:
/// [`provision_buckets`]).
pub async fn provision(
    client: &Client,
    template: &Template,
    names: &impl ResourceNames,
) -> Result<BTreeMap<String, ProvisionedTable>, ProvisionError> {
    let mut out = BTreeMap::new();
    for (logical_id, table) in &template.tables {
        let name = names
            .physical_name(logical_id)
            .ok_or_else(|| ProvisionError(format!("no local name given for table {logical_id}")))?;
        out.insert(logical_id.clone(), create_table(client, table, name).await?);
    }
    Ok(out)
}

/// Creates one table as the template defines it, named `name`; see the module doc.
pub async fn create_table(client: &Client, table: &Table, name: &str) -> Result<ProvisionedTable, ProvisionError> {
    let description = match describe(client, name).await? {
        Some(existing) => {
            check_same_keys(table, name, &existing)?;
            ensure_stream(client, table, name, &existing).await?
        }
        None => create(client, table, name).await?,
    };
    ensure_ttl(client, table, name).await?;
    Ok(ProvisionedTable {
        logical_id: table.logical_id.clone(),
        name: name.to_string(),
        arn: description.table_arn().map(String::from),
        stream_arn: description.latest_stream_arn().map(String::from),
    })
}

async fn describe(client: &Client, name: &str) -> Result<Option<TableDescription>, ProvisionError> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(sdk_error("cannot describe table", name, e)),
    }
}

async fn create(client: &Client, table: &Table, name: &str) -> Result<TableDescription, ProvisionError> {
    let mut request = client.create_table().table_name(name).set_key_schema(Some(key_schema(&table.key_schema, name)?));
    for attr in &table.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attr.attribute_name)
                .attribute_type(ScalarAttributeType::from(attr.attribute_type.as_str()))
                .build()
                .map_err(|e| ProvisionError(format!("table {name}: {e}")))?,
        );
    }
    request = match table.billing {
        Billing::PayPerRequest => request.billing_mode(BillingMode::PayPerRequest),
        Billing::Provisioned { read, write } => {
            request.billing_mode(BillingMode::Provisioned).provisioned_throughput(throughput(read, write, name)?)
        }
    };
    for index in &table.global_secondary_indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .set_key_schema(Some(key_schema(&index.key_schema, name)?))
            .projection(projection(index));
        if let Billing::Provisioned { read, write } = table.billing {
            gsi = gsi.provisioned_throughput(throughput(read, write, name)?);
        }
        request =
            request.global_secondary_indexes(gsi.build().map_err(|e| ProvisionError(format!("table {name}: {e}")))?);
    }
    for index in &table.local_secondary_indexes {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema, name)?))
                .projection(projection(index))
                .build()
                .map_err(|e| ProvisionError(format!("table {name}: {e}")))?,
        );
    }
    if let Some(view) = &table.stream_view_type {
        request = request.stream_specification(stream_spec(view, name)?);
    }

    match request.send().await {
        Ok(out) => {
            let description =
                out.table_description.ok_or_else(|| ProvisionError(format!("create table {name}: no description")))?;
            wait_active(client, name, description).await
        }
        // Created concurrently by another caller: fine, it is the same definition.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
            describe(client, name).await?.ok_or_else(|| ProvisionError(format!("table {name} vanished after creation")))
        }
        Err(e) => Err(sdk_error("cannot create table", name, e)),
    }
}

/// moto creates tables ACTIVE at once; a real endpoint takes a moment.
async fn wait_active(
    client: &Client,
    name: &str,
    mut description: TableDescription,
) -> Result<TableDescription, ProvisionError> {
    use aws_sdk_dynamodb::types::TableStatus;
    for _ in 0..120 {
        if description.table_status() == Some(&TableStatus::Active) {
            return Ok(description);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        description = describe(client, name)
            .await?
            .ok_or_else(|| ProvisionError(format!("table {name} vanished while creating")))?;
    }
    Err(ProvisionError(format!("table {name} did not become ACTIVE")))
}

fn check_same_keys(table: &Table, name: &str, existing: &TableDescription) -> Result<(), ProvisionError> {
    let found: Vec<(String, String)> = existing
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string()))
        .collect();
    let wanted: Vec<(String, String)> =
        table.key_schema.iter().map(|k| (k.attribute_name.clone(), k.key_type.as_str().to_string())).collect();
    if found != wanted {
        return Err(ProvisionError(format!(
            "table {name} exists with keys {found:?}, but template.yaml defines {wanted:?}; \
             delete it or use another name"
        )));
    }
    Ok(())
}

async fn ensure_stream(
    client: &Client,
    table: &Table,
    name: &str,
    existing: &TableDescription,
) -> Result<TableDescription, ProvisionError> {
    let Some(view) = &table.stream_view_type else {
        return Ok(existing.clone());
    };
    let enabled = existing.stream_specification().is_some_and(|s| s.stream_enabled());
    if enabled {
        return Ok(existing.clone());
    }
    client
        .update_table()
        .table_name(name)
        .stream_specification(stream_spec(view, name)?)
        .send()
        .await
        .map_err(|e| sdk_error("cannot enable the stream of", name, e))?;
    describe(client, name).await?.ok_or_else(|| ProvisionError(format!("table {name} vanished")))
}

async fn ensure_ttl(client: &Client, table: &Table, name: &str) -> Result<(), ProvisionError> {
    let Some(attribute) = &table.ttl_attribute else {
        return Ok(());
    };
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("cannot read the TTL of", name, e))?;
    let already = current.time_to_live_description().is_some_and(|d| {
        d.attribute_name() == Some(attribute.as_str())
            && matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling))
    });
    if already {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()
                .map_err(|e| ProvisionError(format!("table {name}: {e}")))?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("cannot enable the TTL of", name, e))?;
    Ok(())
}

fn key_schema(keys: &[KeyElement], table: &str) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| ProvisionError(format!("table {table}: {e}")))
        })
        .collect()
}

fn projection(index: &SecondaryIndex) -> Projection {
    let mut projection = Projection::builder().projection_type(ProjectionType::from(index.projection_type.as_str()));
    for attr in &index.non_key_attributes {
        projection = projection.non_key_attributes(attr);
    }
    projection.build()
}

fn throughput(read: i64, write: i64, table: &str) -> Result<ProvisionedThroughput, ProvisionError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .map_err(|e| ProvisionError(format!("table {table}: {e}")))
}

fn stream_spec(view: &str, table: &str) -> Result<StreamSpecification, ProvisionError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(view))
        .build()
        .map_err(|e| ProvisionError(format!("table {table}: {e}")))
}

/// Creates every bucket of the template under the name `ctx.names` gives its logical id, with
/// its versioning and CORS rules (origins resolved like the functions' environment). Existing
/// buckets are kept and brought to the template's settings. Public access blocks, encryption and
/// ownership controls change nothing the code sees, so they are left to the deployed stack.
pub async fn provision_buckets(
    client: &aws_sdk_s3::Client,
    template: &Template,
    ctx: &crate::localenv::Context,
) -> Result<BTreeMap<String, String>, ProvisionError> {
    let mut out = BTreeMap::new();
    for (logical_id, bucket) in &template.buckets {
        let name = ctx
            .names
            .get(logical_id)
            .ok_or_else(|| ProvisionError(format!("no local name given for bucket {logical_id}")))?;
        create_bucket(client, template, ctx, bucket, name).await?;
        out.insert(logical_id.clone(), name.clone());
    }
    Ok(out)
}

async fn create_bucket(
    client: &aws_sdk_s3::Client,
    template: &Template,
    ctx: &crate::localenv::Context,
    bucket: &crate::template::Bucket,
    name: &str,
) -> Result<(), ProvisionError> {
    use aws_sdk_s3::types::{BucketVersioningStatus, CorsConfiguration, CorsRule, VersioningConfiguration};
    let s3_error = |what: &str, e: &dyn fmt::Display| ProvisionError(format!("{what} {name}: {e}"));
    match client.create_bucket().bucket(name).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(s3_error("cannot create bucket", &aws_sdk_s3::error::DisplayErrorContext(e))),
    }
    if bucket.versioning {
        client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .map_err(|e| s3_error("cannot enable versioning of", &aws_sdk_s3::error::DisplayErrorContext(e)))?;
    }
    if bucket.cors_rules.is_empty() {
        return Ok(());
    }
    let mut rules = Vec::new();
    for rule in &bucket.cors_rules {
        let origins = match crate::localenv::resolve(template, ctx, &rule.allowed_origins)
            .map_err(|e| s3_error("CORS origins of", &e))?
        {
            crate::localenv::Resolved::Str(one) => vec![one],
            crate::localenv::Resolved::List(many) => many,
            crate::localenv::Resolved::NoValue => Vec::new(),
        };
        let built = CorsRule::builder()
            .set_allowed_methods(Some(rule.allowed_methods.clone()))
            .set_allowed_origins(Some(origins))
            .set_allowed_headers(Some(rule.allowed_headers.clone()))
            .set_expose_headers(Some(rule.exposed_headers.clone()))
            .set_max_age_seconds(rule.max_age.and_then(|a| i32::try_from(a).ok()))
            .build()
            .map_err(|e| s3_error("CORS rule of", &e))?;
        rules.push(built);
    }
    let cors = CorsConfiguration::builder().set_cors_rules(Some(rules)).build().map_err(|e| s3_error("CORS of", &e))?;
    client
        .put_bucket_cors()
        .bucket(name)
        .cors_configuration(cors)
        .send()
        .await
        .map_err(|e| s3_error("cannot set the CORS rules of", &aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

/// What was created (or found) for one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedQueue {
    pub logical_id: String,
    pub name: String,
    /// What `!Ref` of the queue gives, and what SDK calls name it by.
    pub url: String,
    pub arn: String,
}

/// Creates every queue of the template under the name `names` gives its logical id, with its
/// attributes, dead-letter queues before the queues that redrive to them (SQS refuses a
/// `RedrivePolicy` naming a queue that does not exist). An existing queue is kept and brought to
/// the template's attributes, so a restart against a running emulator changes nothing but drift.
pub async fn provision_queues(
    client: &aws_sdk_sqs::Client,
    template: &Template,
    names: &impl ResourceNames,
) -> Result<BTreeMap<String, ProvisionedQueue>, ProvisionError> {
    let mut out: BTreeMap<String, ProvisionedQueue> = BTreeMap::new();
    // Redrive chains are short (a queue, its DLQ); each pass creates the queues whose DLQ exists.
    while out.len() < template.queues.len() {
        let ready: Vec<&Queue> = template
            .queues
            .values()
            .filter(|q| !out.contains_key(&q.logical_id))
            .filter(|q| q.redrive.as_ref().is_none_or(|r| out.contains_key(&r.dead_letter_queue)))
            .collect();
        if ready.is_empty() {
            return Err(ProvisionError("the queues' redrive policies form a cycle".into()));
        }
        for queue in ready {
            let name = names
                .physical_name(&queue.logical_id)
                .ok_or_else(|| ProvisionError(format!("no local name given for queue {}", queue.logical_id)))?;
            let dead_letter_arn =
                queue.redrive.as_ref().and_then(|r| out.get(&r.dead_letter_queue)).map(|q| q.arn.as_str());
            let created = create_queue(client, queue, name, dead_letter_arn).await?;
            out.insert(queue.logical_id.clone(), created);
        }
    }
    Ok(out)
}

/// Creates one queue as the template defines it, named `name`, redriving to `dead_letter_arn`
/// when it has a `RedrivePolicy`; see [`provision_queues`].
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    queue: &Queue,
    name: &str,
    dead_letter_arn: Option<&str>,
) -> Result<ProvisionedQueue, ProvisionError> {
    use aws_sdk_sqs::error::DisplayErrorContext;
    use aws_sdk_sqs::types::QueueAttributeName as Attr;
    let sqs_error = |what: &str, e: &dyn fmt::Display| ProvisionError(format!("{what} {name}: {e}"));
    // Only what cannot change after creation is given here; SQS (and moto) refuse a CreateQueue
    // whose attributes differ from the existing queue's, so the rest is set below either way.
    let mut create = client.create_queue().queue_name(name);
    if queue.fifo {
        create = create.attributes(Attr::FifoQueue, "true");
    }
    let url = match create.send().await {
        Ok(out) => out.queue_url,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_name_exists()) => {
            client
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| sqs_error("cannot find queue", &DisplayErrorContext(e)))?
                .queue_url
        }
        Err(e) => return Err(sqs_error("cannot create queue", &DisplayErrorContext(e))),
    }
    .ok_or_else(|| ProvisionError(format!("queue {name}: no URL")))?;

    let mut attributes = HashMap::new();
    let numbers = [
        (Attr::VisibilityTimeout, queue.visibility_timeout),
        (Attr::MessageRetentionPeriod, queue.message_retention_period),
        (Attr::DelaySeconds, queue.delay_seconds),
        (Attr::MaximumMessageSize, queue.maximum_message_size),
    ];
    for (attribute, value) in numbers {
        if let Some(value) = value {
            attributes.insert(attribute, value.to_string());
        }
    }
    if queue.fifo {
        attributes.insert(Attr::ContentBasedDeduplication, queue.content_based_deduplication.to_string());
    }
    match (&queue.redrive, dead_letter_arn) {
        (Some(redrive), Some(arn)) => {
            let policy = serde_json::json!({
                "deadLetterTargetArn": arn,
                "maxReceiveCount": redrive.max_receive_count.to_string(),
            });
            attributes.insert(Attr::RedrivePolicy, policy.to_string());
        }
        (Some(redrive), None) => {
            return Err(ProvisionError(format!(
                "queue {name}: its dead-letter queue {} has no ARN yet",
                redrive.dead_letter_queue
            )));
        }
        // An empty policy removes one a previous template had set.
        (None, _) => {
            attributes.insert(Attr::RedrivePolicy, String::new());
        }
    }
    client
        .set_queue_attributes()
        .queue_url(&url)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| sqs_error("cannot set the attributes of queue", &DisplayErrorContext(e)))?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(Attr::QueueArn)
        .send()
        .await
        .map_err(|e| sqs_error("cannot read the ARN of queue", &DisplayErrorContext(e)))?
        .attributes
        .and_then(|mut a| a.remove(&Attr::QueueArn))
        .ok_or_else(|| ProvisionError(format!("queue {name}: no QueueArn")))?;
    Ok(ProvisionedQueue { logical_id: queue.logical_id.clone(), name: name.to_string(), url, arn })
}
