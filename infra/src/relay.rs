//! The local stand-in for Lambda's DynamoDB event source mapping: reads the emulated table's
//! stream and invokes a function with the event Lambda would send.
//!
//! [`ShardReader`] reads one shard with the real DynamoDB Streams API (`DescribeStream`,
//! `GetShardIterator`, `GetRecords`) and turns its records into Lambda's event shape
//! ([`lambda_record`]). [`run`] polls every shard, posts each batch to the function through
//! `cargo lambda watch`'s invoke endpoint, and honours the function's answer as the mapping
//! does with `ReportBatchItemFailures`: a reported sequence number (or a failed invocation)
//! makes it read again from that record, after a pause, so records are delivered in order and at
//! least once, and never skipped. Like the mapping, it starts at its `StartingPosition`
//! ([`StartingPosition`]): the oldest record kept, or only what is written after it starts.

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A DynamoDB Streams client for an emulator endpoint (dummy credentials), in `region` (the
/// emulator keeps one world per region: the tables' own).
pub fn streams_client(endpoint: &str, region: &str) -> Client {
    use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::moto::http_client())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "hub-local"))
        .build();
    Client::from_conf(config)
}

/// A DynamoDB-JSON value (`{"S": "x"}`), as stream events carry images.
pub fn dynamodb_json(value: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| Value::String(STANDARD.encode(b.as_ref()));
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": b64(b)}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(items) => json!({"SS": items}),
        AttributeValue::Ns(items) => json!({"NS": items}),
        AttributeValue::Bs(items) => json!({"BS": items.iter().map(b64).collect::<Vec<_>>()}),
        AttributeValue::L(items) => json!({"L": items.iter().map(dynamodb_json).collect::<Vec<_>>()}),
        AttributeValue::M(map) => json!({"M": item_json(map)}),
        _ => json!({"NULL": true}),
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect()
}

/// One stream record as Lambda delivers it in a DynamoDB event's `Records`.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(change) = record.dynamodb() {
        if let Some(at) = change.approximate_creation_date_time() {
            let secs = at.secs() as f64 + f64::from(at.subsec_nanos()) / 1e9;
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(secs));
        }
        for (name, image) in
            [("Keys", change.keys()), ("NewImage", change.new_image()), ("OldImage", change.old_image())]
        {
            if let Some(image) = image {
                dynamodb.insert(name.into(), Value::Object(item_json(image)));
            }
        }
        if let Some(seq) = change.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(seq));
        }
        dynamodb.insert("SizeBytes".into(), json!(change.size_bytes().unwrap_or(0)));
        if let Some(view) = change.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": record.event_source().unwrap_or("aws:dynamodb"),
        "awsRegion": record.aws_region().unwrap_or(crate::LOCAL_REGION),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

/// The sequence number of a Lambda-shaped record.
pub fn sequence_number(record: &Value) -> Option<&str> {
    record.pointer("/dynamodb/SequenceNumber").and_then(Value::as_str)
}

/// Reads one shard of a stream, in order, with the ability to go back to a record, and to take
/// up where it was with a fresh iterator when its own has expired (DynamoDB's, and the
/// emulator's, expire after 15 minutes: a stack whose machine slept) or points at records
/// trimmed away (older than 24 hours).
pub struct ShardReader {
    client: Client,
    stream_arn: String,
    shard_id: String,
    iterator: Option<String>,
    /// Where a fresh iterator must start to continue exactly where this one is.
    resume: Resume,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    TrimHorizon,
    /// Nothing read yet from a reader that started at `LATEST`.
    Latest,
    At(String),
    After(String),
}

/// Where a mapping starts reading a shard (its `StartingPosition`): the oldest record kept, or
/// only what is written from now on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartingPosition {
    #[default]
    TrimHorizon,
    Latest,
}

impl StartingPosition {
    /// `TRIM_HORIZON` or `LATEST`, as the template spells them.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "TRIM_HORIZON" => Some(Self::TrimHorizon),
            "LATEST" => Some(Self::Latest),
            _ => None,
        }
    }
}

impl ShardReader {
    /// A reader at the start of the shard (`TRIM_HORIZON`).
    pub async fn trim_horizon(client: Client, stream_arn: &str, shard_id: &str) -> Result<Self, BoxError> {
        Self::at(client, stream_arn, shard_id, StartingPosition::TrimHorizon).await
    }

    /// A reader of the shard from `position`.
    pub async fn at(
        client: Client,
        stream_arn: &str,
        shard_id: &str,
        position: StartingPosition,
    ) -> Result<Self, BoxError> {
        let (resume, kind) = match position {
            StartingPosition::TrimHorizon => (Resume::TrimHorizon, ShardIteratorType::TrimHorizon),
            StartingPosition::Latest => (Resume::Latest, ShardIteratorType::Latest),
        };
        let mut reader =
            Self { client, stream_arn: stream_arn.to_string(), shard_id: shard_id.to_string(), iterator: None, resume };
        reader.iterator = Some(reader.iterator_at(kind, None).await?);
        Ok(reader)
    }

    /// Readers of every shard of the stream, each at its start.
    pub async fn all(client: &Client, stream_arn: &str) -> Result<Vec<Self>, BoxError> {
        Self::all_at(client, stream_arn, StartingPosition::TrimHorizon).await
    }

    /// Readers of every shard of the stream, each from `position`.
    pub async fn all_at(client: &Client, stream_arn: &str, position: StartingPosition) -> Result<Vec<Self>, BoxError> {
        let description = client.describe_stream().stream_arn(stream_arn).send().await?;
        let mut readers = Vec::new();
        for shard in description.stream_description().map(|d| d.shards()).unwrap_or_default() {
            if let Some(id) = shard.shard_id() {
                readers.push(Self::at(client.clone(), stream_arn, id, position).await?);
            }
        }
        Ok(readers)
    }

    async fn iterator_at(&self, kind: ShardIteratorType, seq: Option<&str>) -> Result<String, BoxError> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&self.shard_id)
            .shard_iterator_type(kind)
            .set_sequence_number(seq.map(String::from))
            .send()
            .await?;
        out.shard_iterator.ok_or_else(|| "GetShardIterator returned no iterator".into())
    }

    /// The next records (at most `limit`), as Lambda-shaped JSON; empty when there is nothing
    /// new yet (or the shard is closed and read to its end).
    pub async fn next_batch(&mut self, limit: i32) -> Result<Vec<Value>, BoxError> {
        let Some(iterator) = self.iterator.clone() else {
            return Ok(Vec::new());
        };
        let out = self.client.get_records().shard_iterator(iterator).limit(limit).send().await?;
        self.iterator = out.next_shard_iterator.clone();
        let records: Vec<Value> = out.records().iter().map(|r| lambda_record(r, &self.stream_arn)).collect();
        if let Some(last) = records.last().and_then(sequence_number) {
            self.resume = Resume::After(last.to_string());
        }
        Ok(records)
    }

    /// Reads again from this record on (`AT_SEQUENCE_NUMBER`).
    pub async fn rewind_to(&mut self, sequence_number: &str) -> Result<(), BoxError> {
        self.resume = Resume::At(sequence_number.to_string());
        self.iterator = Some(self.iterator_at(ShardIteratorType::AtSequenceNumber, Some(sequence_number)).await?);
        Ok(())
    }

    /// A fresh iterator where this reader is: after the last record it returned, or at the
    /// record it was sent back to. When that position was trimmed away meanwhile, the oldest
    /// record still kept (what DynamoDB's event source mapping does: the rest is lost).
    pub async fn reopen(&mut self) -> Result<(), BoxError> {
        let fresh = match &self.resume {
            Resume::TrimHorizon => self.iterator_at(ShardIteratorType::TrimHorizon, None).await,
            Resume::Latest => self.iterator_at(ShardIteratorType::Latest, None).await,
            Resume::At(seq) => self.iterator_at(ShardIteratorType::AtSequenceNumber, Some(seq)).await,
            Resume::After(seq) => self.iterator_at(ShardIteratorType::AfterSequenceNumber, Some(seq)).await,
        };
        let iterator = match fresh {
            Ok(iterator) => iterator,
            Err(e) if format!("{e:?}").contains("TrimmedDataAccess") => {
                eprintln!(
                    "stream-relay: records from {:?} on were trimmed away; going on from the oldest kept",
                    self.resume
                );
                self.resume = Resume::TrimHorizon;
                self.iterator_at(ShardIteratorType::TrimHorizon, None).await?
            }
            Err(e) => return Err(e),
        };
        self.iterator = Some(iterator);
        Ok(())
    }
}

/// What the relay needs to know.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// `http://127.0.0.1:<port>/2015-03-31/functions/<name>/invocations`.
    pub invoke_url: String,
    /// Records per invocation (the mapping's `BatchSize`).
    pub batch_size: i32,
    /// Pause between polls of an idle stream.
    pub poll: Duration,
    /// Pause before retrying a failed batch.
    pub retry_pause: Duration,
    /// The mapping's `StartingPosition`.
    pub starting_position: StartingPosition,
}

/// The invoke URL of a function served by `cargo lambda watch` on `port`.
pub fn invoke_url(port: u16, function: &str) -> String {
    format!("http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations")
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every record was processed.
    Done,
    /// Retry from this record.
    RetryFrom(String),
}

/// Invokes the function at `url` (`cargo lambda watch`'s invoke endpoint) with `event` and
/// returns its answer. What Lambda counts as an invocation error (no answer, a non-2xx status,
/// an error body: the function returned an error, panicked or timed out) is `Err`, described.
pub async fn invoke(http: &reqwest::Client, url: &str, event: &Value) -> Result<Value, String> {
    let response = http.post(url).json(event).send().await.map_err(|e| format!("invoking the function failed: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() || body.get("errorType").is_some() || body.get("errorMessage").is_some() {
        return Err(format!("the function failed ({status}): {body}"));
    }
    Ok(body)
}

/// Posts one batch and reads the function's answer. A failed invocation (transport error, a
/// non-2xx status, a Lambda error body) is a retry of the whole batch, as Lambda does.
pub async fn deliver(http: &reqwest::Client, url: &str, records: &[Value]) -> Delivery {
    let first = records.first().and_then(sequence_number).unwrap_or_default().to_string();
    let body = match invoke(http, url, &json!({ "Records": records })).await {
        Ok(body) => body,
        Err(e) => {
            eprintln!("stream-relay: {e}");
            return Delivery::RetryFrom(first);
        }
    };
    let failed = body
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .and_then(|failures| failures.iter().filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str)).next());
    match failed {
        // Lambda retries from the lowest reported sequence number; the function reports one.
        Some(seq) => Delivery::RetryFrom(seq.to_string()),
        None => Delivery::Done,
    }
}

/// Relays `stream_arn` to the function until the process is stopped. Errors reading the stream
/// are reported and retried, never fatal: the emulator may be slow to answer at first.
pub async fn run(client: Client, stream_arn: &str, options: &RelayOptions) -> Result<(), BoxError> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let mut readers = loop {
        match ShardReader::all_at(&client, stream_arn, options.starting_position).await {
            Ok(readers) if !readers.is_empty() => break readers,
            Ok(_) => eprintln!("stream-relay: the stream has no shard yet"),
            Err(e) => eprintln!("stream-relay: cannot describe the stream: {e}"),
        }
        tokio::time::sleep(options.retry_pause).await;
    };
    eprintln!("stream-relay: relaying {stream_arn} to {}", options.invoke_url);
    loop {
        let mut idle = true;
        for reader in &mut readers {
            let records = match reader.next_batch(options.batch_size).await {
                Ok(records) => records,
                Err(e) => {
                    // An expired or trimmed iterator, or the emulator restarting: take up where
                    // the reader was with a fresh iterator, after a pause (never a busy loop).
                    eprintln!("stream-relay: GetRecords failed: {e}");
                    tokio::time::sleep(options.retry_pause).await;
                    if let Err(e) = reader.reopen().await {
                        eprintln!("stream-relay: cannot reopen the shard: {e}");
                    }
                    continue;
                }
            };
            if records.is_empty() {
                continue;
            }
            idle = false;
            if let Delivery::RetryFrom(seq) = deliver(&http, &options.invoke_url, &records).await {
                eprintln!("stream-relay: retrying from sequence number {seq}");
                tokio::time::sleep(options.retry_pause).await;
                if let Err(e) = reader.rewind_to(&seq).await {
                    eprintln!("stream-relay: cannot go back to {seq}: {e}");
                }
            }
        }
        if idle {
            tokio::time::sleep(options.poll).await;
        }
    }
}
