//! The local stand-in for Lambda's SQS event source mapping: polls a queue of the emulator and
//! invokes a function with the event Lambda would send, then does with the messages what the
//! mapping does.
//!
//! - A batch is up to `BatchSize` messages: one `ReceiveMessage` of at most 10 (SQS's limit), or,
//!   with a batching window, as many receives as fill the batch before the window closes.
//! - The function is invoked through `cargo lambda watch`'s invoke endpoint with
//!   `{"Records": [...]}`, each record as Lambda builds it ([`lambda_record`]).
//! - A successful invocation deletes every message of the batch, except, when the function
//!   declares `ReportBatchItemFailures`, those it names in `batchItemFailures` ([`outcome`]).
//! - An invocation error (no answer within the function's timeout, an error, a panic) deletes
//!   nothing: the messages come back once their visibility timeout has passed, and the queue's
//!   `RedrivePolicy` moves a message received `maxReceiveCount` times to its dead-letter queue.
//!   The emulator does that move itself on the next receive, as SQS does; nothing here fakes it.
//! - At most `max_concurrency` invocations are in flight (`ScalingConfig.MaximumConcurrency`,
//!   capped locally: see [`local_concurrency`]).
//!
//! Why it does not long-poll by default: the emulator serves one request at a time
//! (`infra/moto_serial.py`), so a `ReceiveMessage` waiting 20 seconds would hold every other
//! call of the stack (the functions' DynamoDB writes, the `SendMessage` that would end the wait)
//! for those 20 seconds, and miss what they send. It receives without waiting and pauses between
//! empty receives instead ([`SqsRelayOptions::poll`]); `wait` long-polls an endpoint that can.

use crate::relay::{BoxError, invoke};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a mapping does, and how the relay polls.
#[derive(Debug, Clone)]
pub struct SqsRelayOptions {
    pub queue_url: String,
    /// `http://127.0.0.1:<port>/2015-03-31/functions/<name>/invocations`.
    pub invoke_url: String,
    /// Messages per invocation at most (`BatchSize`).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long a batch may keep gathering once it has a message.
    pub batching_window: Duration,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub reports_batch_item_failures: bool,
    /// Invocations in flight at most.
    pub max_concurrency: usize,
    /// The function's `Timeout`: an invocation not answered by then is an invocation error.
    pub invocation_timeout: Duration,
    /// `WaitTimeSeconds` of each receive (at most 20 s); zero against the serial emulator.
    pub wait: Duration,
    /// Pause after a receive that found nothing, when not long-polling.
    pub poll: Duration,
    /// Pause after a failed receive (the emulator restarting, say).
    pub retry_pause: Duration,
}

/// Invocations in flight when the template sets no `MaximumConcurrency`: a few, as Lambda's
/// first pollers give, and never unbounded.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// At most this many invocations in flight locally, whatever the template allows: `cargo lambda
/// watch` stalls for minutes when flooded (the WebSocket gateway measured it: see its module).
pub const LOCAL_CONCURRENCY_LIMIT: usize = 8;

/// The invocations in flight a mapping gets locally: its `MaximumConcurrency`, else
/// [`DEFAULT_CONCURRENCY`], within [`LOCAL_CONCURRENCY_LIMIT`].
pub fn local_concurrency(maximum_concurrency: Option<u32>) -> usize {
    maximum_concurrency
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_CONCURRENCY)
        .clamp(1, LOCAL_CONCURRENCY_LIMIT)
}

/// One message as Lambda delivers it in an SQS event's `Records`: what
/// `aws_lambda_events::event::sqs::SqsMessage` reads.
pub fn lambda_record(message: &Message, queue_arn: &str) -> Value {
    let attributes: Map<String, Value> = message
        .attributes()
        .map(|a| a.iter().map(|(name, value)| (name.as_str().to_string(), json!(value))).collect())
        .unwrap_or_default();
    let message_attributes: Map<String, Value> = message
        .message_attributes()
        .map(|a| a.iter().map(|(name, value)| (name.clone(), message_attribute(value))).collect())
        .unwrap_or_default();
    let mut record = json!({
        "messageId": message.message_id().unwrap_or_default(),
        "receiptHandle": message.receipt_handle().unwrap_or_default(),
        "body": message.body().unwrap_or_default(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body().unwrap_or_default(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(':').nth(3).unwrap_or(crate::LOCAL_REGION),
    });
    // Lambda leaves it out of a message without attributes, rather than null.
    if let (Some(md5), Some(object)) = (message.md5_of_message_attributes(), record.as_object_mut()) {
        object.insert("md5OfMessageAttributes".into(), json!(md5));
    }
    record
}

fn message_attribute(value: &MessageAttributeValue) -> Value {
    let b64 = |b: &aws_sdk_sqs::primitives::Blob| Value::String(STANDARD.encode(b.as_ref()));
    let mut out = json!({
        "stringListValues": value.string_list_values(),
        "binaryListValues": value.binary_list_values().iter().map(b64).collect::<Vec<_>>(),
        "dataType": value.data_type(),
    });
    if let Some(object) = out.as_object_mut() {
        if let Some(s) = value.string_value() {
            object.insert("stringValue".into(), json!(s));
        }
        if let Some(b) = value.binary_value() {
            object.insert("binaryValue".into(), b64(b));
        }
    }
    out
}

/// What the mapping does with a batch after the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every message was processed: all are deleted.
    Processed,
    /// The function named these message ids as failed: every other message is deleted.
    PartialFailure(Vec<String>),
    /// Nothing is deleted: an invocation error, or a batch response Lambda cannot use.
    Failed(String),
}

/// Lambda's reading of the function's answer. Without `ReportBatchItemFailures` any answer is
/// success. With it, a missing, null or empty `batchItemFailures` is success; every entry must
/// name a message of the batch by a non-empty `itemIdentifier`, or the whole batch failed
/// (Lambda's documented rule: a response it cannot trust retries everything).
pub fn outcome(answer: Result<Value, String>, message_ids: &[String], reports_batch_item_failures: bool) -> Outcome {
    let body = match answer {
        Ok(body) => body,
        Err(e) => return Outcome::Failed(e),
    };
    if !reports_batch_item_failures {
        return Outcome::Processed;
    }
    let failures = match &body {
        Value::Null => return Outcome::Processed,
        Value::Object(object) => match object.get("batchItemFailures") {
            None | Some(Value::Null) => return Outcome::Processed,
            Some(Value::Array(failures)) => failures,
            Some(other) => return Outcome::Failed(format!("batchItemFailures is not a list: {other}")),
        },
        other => return Outcome::Failed(format!("the batch response is not an object: {other}")),
    };
    let mut failed = Vec::new();
    for failure in failures {
        match failure.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if message_ids.iter().any(|m| m == id) => {
                if !failed.iter().any(|f| f == id) {
                    failed.push(id.to_string());
                }
            }
            _ => return Outcome::Failed(format!("batchItemFailures entry {failure} names no message of the batch")),
        }
    }
    if failed.is_empty() { Outcome::Processed } else { Outcome::PartialFailure(failed) }
}

/// Messages of one `ReceiveMessage`: at most `max` (SQS caps it at 10), with every system
/// attribute and message attribute, as the mapping receives them.
pub async fn receive(client: &Client, queue_url: &str, max: usize, wait: Duration) -> Result<Vec<Message>, BoxError> {
    let out = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(i32::try_from(max.clamp(1, 10))?)
        .wait_time_seconds(i32::try_from(wait.as_secs().min(20))?)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await?;
    Ok(out.messages.unwrap_or_default())
}

/// One batch: a first receive, then, with a batching window, more receives until the batch is
/// full or the window closes. Empty when the queue had nothing.
pub async fn gather(client: &Client, options: &SqsRelayOptions) -> Result<Vec<Message>, BoxError> {
    let mut batch = receive(client, &options.queue_url, options.batch_size, options.wait).await?;
    if batch.is_empty() || options.batching_window.is_zero() {
        return Ok(batch);
    }
    let deadline = Instant::now() + options.batching_window;
    while batch.len() < options.batch_size && Instant::now() < deadline {
        let wanted = options.batch_size - batch.len();
        // The messages already received stay in flight whatever happens here: deliver them.
        let more = match receive(client, &options.queue_url, wanted, Duration::ZERO).await {
            Ok(more) => more,
            Err(e) => {
                eprintln!("sqs-relay: ReceiveMessage failed while gathering a batch: {e}");
                break;
            }
        };
        if more.is_empty() {
            tokio::time::sleep(options.poll.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        batch.extend(more);
    }
    Ok(batch)
}

/// The queue as the relay reports it at start: its ARN (the events' `eventSourceARN`), and
/// what decides a failed message's fate.
#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub arn: String,
    pub visibility_timeout: String,
    pub redrive_policy: Option<String>,
}

pub async fn queue_info(client: &Client, queue_url: &str) -> Result<QueueInfo, BoxError> {
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await?;
    let mut attributes = out.attributes.unwrap_or_default();
    Ok(QueueInfo {
        arn: attributes.remove(&QueueAttributeName::QueueArn).ok_or("the queue has no QueueArn")?,
        visibility_timeout: attributes.remove(&QueueAttributeName::VisibilityTimeout).unwrap_or_default(),
        redrive_policy: attributes.remove(&QueueAttributeName::RedrivePolicy).filter(|p| !p.is_empty()),
    })
}

/// A queue relayed to a function: what the relay needs at every batch.
#[derive(Debug)]
pub struct Mapping {
    pub client: Client,
    pub http: reqwest::Client,
    pub options: SqsRelayOptions,
    pub queue: QueueInfo,
}

impl Mapping {
    /// Reads the queue's attributes, retrying while the emulator does not answer; a queue that
    /// does not exist is an error.
    pub async fn connect(client: Client, options: SqsRelayOptions) -> Result<Self, BoxError> {
        let queue = loop {
            match queue_info(&client, &options.queue_url).await {
                Ok(queue) => break queue,
                Err(e) if format!("{e:?}").contains("QueueDoesNotExist") => {
                    return Err(format!("no queue {}", options.queue_url).into());
                }
                Err(e) => eprintln!("sqs-relay: cannot read the queue's attributes: {e}"),
            }
            tokio::time::sleep(options.retry_pause).await;
        };
        Ok(Self { client, http: reqwest::Client::builder().build()?, options, queue })
    }

    /// Invokes the function with one batch and deletes what the outcome says is done.
    pub async fn process(&self, batch: &[Message]) -> Outcome {
        let options = &self.options;
        let ids: Vec<String> = batch.iter().map(|m| m.message_id().unwrap_or_default().to_string()).collect();
        let receives: Vec<&str> = batch
            .iter()
            .map(|m| {
                m.attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .map_or("?", String::as_str)
            })
            .collect();
        eprintln!("sqs-relay: batch of {} (ids {ids:?}, receive counts {receives:?})", batch.len());
        let records: Vec<Value> = batch.iter().map(|m| lambda_record(m, &self.queue.arn)).collect();
        let event = json!({ "Records": records });
        let invocation = invoke(&self.http, &options.invoke_url, &event);
        let answer = match tokio::time::timeout(options.invocation_timeout, invocation).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within the function's timeout ({:?})", options.invocation_timeout)),
        };
        let result = outcome(answer, &ids, options.reports_batch_item_failures);
        let keep: HashSet<&str> = match &result {
            Outcome::Processed => HashSet::new(),
            Outcome::PartialFailure(failed) => failed.iter().map(String::as_str).collect(),
            Outcome::Failed(_) => ids.iter().map(String::as_str).collect(),
        };
        let done: Vec<&Message> = batch.iter().filter(|m| !keep.contains(m.message_id().unwrap_or_default())).collect();
        delete(&self.client, &options.queue_url, &done).await;
        let back = format!(
            "back after the visibility timeout ({} s){}",
            self.queue.visibility_timeout,
            self.queue.redrive_policy.as_ref().map(|p| format!(", redrive policy {p}")).unwrap_or_default()
        );
        match &result {
            Outcome::Processed => eprintln!("sqs-relay: {} processed and deleted", done.len()),
            Outcome::PartialFailure(failed) => {
                eprintln!("sqs-relay: {} deleted; {failed:?} reported failed, {back}", done.len())
            }
            Outcome::Failed(why) => eprintln!("sqs-relay: invocation error ({why}): nothing deleted, {back}"),
        }
        result
    }

    /// Relays the queue to the function until the process is stopped. Receive errors are
    /// reported and retried after a pause.
    pub async fn run(self) -> Result<(), BoxError> {
        let options = &self.options;
        eprintln!(
            "sqs-relay: relaying {} ({}; visibility timeout {} s; {}) to {}, batches of {} at most, {} in flight at most",
            options.queue_url,
            self.queue.arn,
            self.queue.visibility_timeout,
            self.queue.redrive_policy.as_deref().unwrap_or("no redrive policy"),
            options.invoke_url,
            options.batch_size,
            options.max_concurrency,
        );
        let slots = Arc::new(tokio::sync::Semaphore::new(options.max_concurrency.max(1)));
        let mapping = Arc::new(self);
        loop {
            // A receive only once an invocation may start: received messages wait for nothing
            // here, so their visibility timeout is all the function's.
            let slot = Arc::clone(&slots).acquire_owned().await?;
            let options = &mapping.options;
            let batch = match gather(&mapping.client, options).await {
                Ok(batch) => batch,
                Err(e) => {
                    eprintln!("sqs-relay: ReceiveMessage failed: {e}");
                    tokio::time::sleep(options.retry_pause).await;
                    continue;
                }
            };
            if batch.is_empty() {
                drop(slot);
                if options.wait.is_zero() {
                    tokio::time::sleep(options.poll).await;
                }
                continue;
            }
            let mapping = Arc::clone(&mapping);
            tokio::spawn(async move {
                mapping.process(&batch).await;
                drop(slot);
            });
        }
    }
}

/// Deletes messages, ten per `DeleteMessageBatch` (SQS's limit). A failed delete is reported,
/// not retried: the message comes back and is delivered again, which at-least-once allows.
async fn delete(client: &Client, queue_url: &str, messages: &[&Message]) {
    for chunk in messages.chunks(10) {
        let mut request = client.delete_message_batch().queue_url(queue_url);
        for (i, message) in chunk.iter().enumerate() {
            match DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()
            {
                Ok(entry) => request = request.entries(entry),
                Err(e) => eprintln!("sqs-relay: cannot delete {:?}: {e}", message.message_id()),
            }
        }
        match request.send().await {
            Ok(out) if out.failed().is_empty() => {}
            Ok(out) => eprintln!("sqs-relay: some deletes failed: {:?}", out.failed()),
            Err(e) => eprintln!("sqs-relay: DeleteMessageBatch failed: {}", aws_sdk_sqs::error::DisplayErrorContext(e)),
        }
    }
}

/// Relays the queue to the function until the process is stopped (see [`Mapping`]).
pub async fn run(client: Client, options: SqsRelayOptions) -> Result<(), BoxError> {
    Mapping::connect(client, options).await?.run().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ids() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn without_report_batch_item_failures_any_answer_is_success() {
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "a"}]});
        assert_eq!(outcome(Ok(answer), &ids(), false), Outcome::Processed);
        assert!(matches!(outcome(Err("boom".into()), &ids(), false), Outcome::Failed(_)));
    }

    #[test]
    fn reported_failures_keep_only_the_named_messages_and_an_untrustworthy_answer_keeps_all() {
        for empty in [Value::Null, json!({}), json!({"batchItemFailures": null}), json!({"batchItemFailures": []})] {
            assert_eq!(outcome(Ok(empty.clone()), &ids(), true), Outcome::Processed, "{empty}");
        }
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "b"}]});
        assert_eq!(outcome(Ok(answer), &ids(), true), Outcome::PartialFailure(vec!["b".into()]));
        for bad in [
            json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"id": "a"}]}),
            json!({"batchItemFailures": "a"}),
            json!("done"),
        ] {
            assert!(matches!(outcome(Ok(bad.clone()), &ids(), true), Outcome::Failed(_)), "{bad}");
        }
    }

    #[test]
    fn the_local_concurrency_is_the_templates_within_the_watchers_limit() {
        assert_eq!(local_concurrency(None), DEFAULT_CONCURRENCY);
        assert_eq!(local_concurrency(Some(2)), 2);
        assert_eq!(local_concurrency(Some(1000)), LOCAL_CONCURRENCY_LIMIT);
    }
}
