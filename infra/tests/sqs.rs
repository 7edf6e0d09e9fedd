//! The template's queues in the emulator, and the SQS relay (the local event source mapping)
//! against real moto through the real SDK. The function is a small HTTP server standing in for
//! `cargo lambda watch`'s invoke endpoint: it records each event and answers as a test says.
//! Queues here have a 1 s visibility timeout so that redelivery is seen in a second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use http_body_util::{BodyExt, Full};
use hub_infra::moto::{MotoServer, sqs_client};
use hub_infra::provision::{ProvisionedQueue, create_queue, names_with_prefix, provision_queues};
use hub_infra::sqsrelay::{Mapping, SqsRelayOptions};
use hub_infra::template::{Queue, Redrive, Template};
use hyper::body::Bytes;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

static MOTO: LazyLock<MotoServer> =
    LazyLock::new(|| MotoServer::start().expect("moto starts (run `infra/hub bootstrap` first)"));

fn client() -> aws_sdk_sqs::Client {
    sqs_client(MOTO.endpoint()).unwrap()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

const TEMPLATE: &str = r#"
Resources:
  Exports:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt ExportsFailed.Arn
        maxReceiveCount: 4
      VisibilityTimeout: 600
      MessageRetentionPeriod: 3600
  ExportsFailed: {Type: AWS::SQS::Queue}
  Sequenced: {Type: AWS::SQS::Queue, Properties: {FifoQueue: true}}
"#;

async fn attributes(url: &str) -> std::collections::HashMap<QueueAttributeName, String> {
    let out = client().get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await;
    out.unwrap().attributes.unwrap_or_default()
}

#[tokio::test]
async fn template_queues_are_created_with_their_attributes_and_redrive_and_kept_on_restart() {
    let template = Template::parse(TEMPLATE).unwrap();
    let names = names_with_prefix(&template, &format!("{}-", unique("q")));
    assert!(names["Sequenced"].ends_with("-Sequenced.fifo"), "a FIFO queue's name ends in .fifo");
    let first = provision_queues(&client(), &template, &names).await.unwrap();
    let (jobs, dlq) = (&first["Exports"], &first["ExportsFailed"]);
    assert_eq!(jobs.arn, hub_infra::localenv::queue_arn(&names["Exports"]));
    let attrs = attributes(&jobs.url).await;
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "600");
    assert_eq!(attrs[&QueueAttributeName::MessageRetentionPeriod], "3600");
    let redrive: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], json!(dlq.arn));
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "4");
    assert!(!attributes(&dlq.url).await.contains_key(&QueueAttributeName::RedrivePolicy));
    assert_eq!(attributes(&first["Sequenced"].url).await[&QueueAttributeName::FifoQueue], "true");

    // A restart against the running emulator finds the same queues, and brings one that drifted
    // back to the template's attributes.
    client()
        .set_queue_attributes()
        .queue_url(&jobs.url)
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap();
    let second = provision_queues(&client(), &template, &names).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(attributes(&jobs.url).await[&QueueAttributeName::VisibilityTimeout], "600");
}

#[tokio::test]
async fn every_queue_of_the_workspace_template_is_created() {
    let template = Template::load_workspace().unwrap();
    let names = names_with_prefix(&template, &format!("{}-", unique("ws")));
    let queues = provision_queues(&client(), &template, &names).await.unwrap();
    assert_eq!(queues.keys().collect::<Vec<_>>(), template.queues.keys().collect::<Vec<_>>());
    for (id, queue) in &template.queues {
        let attrs = attributes(&queues[id].url).await;
        let visibility = queue.visibility_timeout().to_string();
        assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], visibility, "{id}");
        assert_eq!(attrs.contains_key(&QueueAttributeName::RedrivePolicy), queue.redrive.is_some(), "{id}");
    }
}

/// A queue of this test's own: 1 s visibility timeout, and a dead-letter queue after
/// `max_receive_count` receives when given.
async fn test_queue(max_receive_count: Option<u32>) -> (ProvisionedQueue, Option<ProvisionedQueue>) {
    let queue = |id: &str, redrive: Option<Redrive>| Queue {
        logical_id: id.into(),
        queue_name: None,
        fifo: false,
        content_based_deduplication: false,
        visibility_timeout: Some(1),
        message_retention_period: None,
        delay_seconds: None,
        maximum_message_size: None,
        redrive,
    };
    let name = unique("relay");
    let dlq = match max_receive_count {
        Some(_) => Some(create_queue(&client(), &queue("Dlq", None), &format!("{name}-dlq"), None).await.unwrap()),
        None => None,
    };
    let redrive = max_receive_count.map(|n| Redrive { dead_letter_queue: "Dlq".into(), max_receive_count: n });
    let main = create_queue(&client(), &queue("Q", redrive), &name, dlq.as_ref().map(|d| d.arn.as_str())).await;
    (main.unwrap(), dlq)
}

async fn send(url: &str, bodies: &[&str]) {
    for body in bodies {
        let attribute = MessageAttributeValue::builder().data_type("String").string_value("test").build().unwrap();
        client()
            .send_message()
            .queue_url(url)
            .message_body(*body)
            .message_attributes("origin", attribute)
            .send()
            .await
            .unwrap();
    }
}

/// Messages visible or in flight.
async fn depth(url: &str) -> usize {
    let attrs = attributes(url).await;
    let count = |name| attrs.get(&name).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    count(QueueAttributeName::ApproximateNumberOfMessages)
        + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

/// The function: records every event it is invoked with (and when), answers with `answer`
/// after `delay`, and counts the invocations in flight.
struct Function {
    url: String,
    events: Arc<Mutex<Vec<(Instant, Value)>>>,
    max_in_flight: Arc<AtomicUsize>,
}

type Answer = dyn Fn(&Value, usize) -> (u16, Value) + Send + Sync;

impl Function {
    /// `answer(event, invocations before this one)` gives the status and body.
    async fn start(delay: Duration, answer: impl Fn(&Value, usize) -> (u16, Value) + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/2015-03-31/functions/f/invocations", listener.local_addr().unwrap());
        let events = Arc::new(Mutex::new(Vec::new()));
        let (in_flight, max_in_flight) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let answer: Arc<Answer> = Arc::new(answer);
        let state = (Arc::clone(&events), in_flight, Arc::clone(&max_in_flight), answer);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let state = state.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (events, in_flight, max_in_flight, answer) = state.clone();
                    async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        max_in_flight.fetch_max(now, Ordering::SeqCst);
                        let bytes = request.into_body().collect().await?.to_bytes();
                        let event: Value = serde_json::from_slice(&bytes).unwrap();
                        let before = {
                            let mut events = events.lock().unwrap();
                            events.push((Instant::now(), event.clone()));
                            events.len() - 1
                        };
                        tokio::time::sleep(delay).await;
                        let (status, body) = answer(&event, before);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let response = hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body.to_string())))
                            .unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        Self { url, events, max_in_flight }
    }

    fn events(&self) -> Vec<(Instant, Value)> {
        self.events.lock().unwrap().clone()
    }

    /// Every record delivered, in order of delivery.
    fn records(&self) -> Vec<Value> {
        self.events().into_iter().flat_map(|(_, e)| e["Records"].as_array().unwrap().clone()).collect()
    }

    fn bodies(&self) -> Vec<String> {
        self.records().iter().map(|r| r["body"].as_str().unwrap().to_string()).collect()
    }
}

fn options(queue_url: &str, invoke_url: &str, batch_size: usize, concurrency: usize) -> SqsRelayOptions {
    SqsRelayOptions {
        queue_url: queue_url.into(),
        invoke_url: invoke_url.into(),
        batch_size,
        batching_window: Duration::ZERO,
        reports_batch_item_failures: true,
        max_concurrency: concurrency,
        invocation_timeout: Duration::from_secs(10),
        wait: Duration::ZERO,
        poll: Duration::from_millis(50),
        retry_pause: Duration::from_millis(200),
    }
}

async fn start_relay(options: SqsRelayOptions) -> tokio::task::JoinHandle<()> {
    let mapping = Mapping::connect(client(), options).await.unwrap();
    tokio::spawn(async move {
        mapping.run().await.unwrap();
    })
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ok() -> (u16, Value) {
    (200, Value::Null)
}

#[tokio::test]
async fn batches_are_delivered_as_lambdas_sqs_events_and_deleted_once_processed() {
    let (queue, _) = test_queue(None).await;
    let function = Function::start(Duration::ZERO, |_, _| ok()).await;
    let bodies: Vec<String> = (0..7).map(|i| format!("job {i}")).collect();
    send(&queue.url, &bodies.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let relay = start_relay(options(&queue.url, &function.url, 5, 1)).await;
    eventually("every message delivered", async || function.records().len() >= 7).await;
    eventually("every message deleted", async || depth(&queue.url).await == 0).await;
    relay.abort();

    let mut delivered = function.bodies();
    delivered.sort();
    assert_eq!(delivered, bodies, "each message exactly once");
    for (_, event) in function.events() {
        assert!(event["Records"].as_array().unwrap().len() <= 5, "BatchSize 5");
        // The type the functions read their event with takes it as it is.
        let parsed: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(event.clone()).unwrap();
        for message in parsed.records {
            assert_eq!(message.event_source.as_deref(), Some("aws:sqs"));
            assert_eq!(message.event_source_arn.as_deref(), Some(queue.arn.as_str()));
            assert_eq!(message.aws_region.as_deref(), Some(hub_infra::LOCAL_REGION));
            assert!(message.message_id.is_some() && message.receipt_handle.is_some() && message.md5_of_body.is_some());
            assert!(message.md5_of_message_attributes.is_some());
            for attribute in
                ["ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"]
            {
                assert!(message.attributes.contains_key(attribute), "{attribute} missing");
            }
            assert_eq!(message.attributes["ApproximateReceiveCount"], "1");
            let origin = &message.message_attributes["origin"];
            assert_eq!((origin.string_value.as_deref(), origin.data_type.as_deref()), (Some("test"), Some("String")));
        }
    }
}

#[tokio::test]
async fn a_partial_batch_failure_redelivers_only_the_failed_messages() {
    let (queue, _) = test_queue(None).await;
    // The first invocation reports the message "bad" failed; later ones process everything.
    let function = Function::start(Duration::ZERO, |event, before| {
        let failed: Vec<Value> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| before == 0 && r["body"] == "bad")
            .map(|r| json!({ "itemIdentifier": r["messageId"] }))
            .collect();
        (200, json!({ "batchItemFailures": failed }))
    })
    .await;
    send(&queue.url, &["one", "bad", "two"]).await;
    let relay = start_relay(options(&queue.url, &function.url, 10, 1)).await;
    eventually("the failed message delivered again", async || function.records().len() >= 4).await;
    eventually("then deleted", async || depth(&queue.url).await == 0).await;
    relay.abort();

    let events = function.events();
    assert_eq!(function.bodies().len(), 4, "{events:?}");
    let first: Vec<&str> =
        events[0].1["Records"].as_array().unwrap().iter().map(|r| r["body"].as_str().unwrap()).collect();
    assert_eq!(first, ["one", "bad", "two"]);
    let again = &events[1].1["Records"];
    assert_eq!((again[0]["body"].as_str(), again.as_array().unwrap().len()), (Some("bad"), 1));
    assert_eq!(again[0]["attributes"]["ApproximateReceiveCount"], "2");
    assert!(events[1].0 - events[0].0 >= Duration::from_millis(900), "not before the visibility timeout");
}

#[tokio::test]
async fn an_invocation_error_redelivers_the_whole_batch_after_the_visibility_timeout() {
    let (queue, _) = test_queue(None).await;
    // The first invocation fails as a function does (an error body, status 500 from the watcher);
    // a `batchItemFailures` naming nothing afterwards is success.
    let function = Function::start(Duration::ZERO, |_, before| match before {
        0 => (500, json!({ "errorType": "Panic", "errorMessage": "boom" })),
        _ => (200, json!({ "batchItemFailures": [] })),
    })
    .await;
    send(&queue.url, &["a", "b"]).await;
    let relay = start_relay(options(&queue.url, &function.url, 10, 1)).await;
    eventually("the batch delivered again", async || function.events().len() >= 2).await;
    eventually("then deleted", async || depth(&queue.url).await == 0).await;
    relay.abort();

    let events = function.events();
    assert_eq!(events.len(), 2, "{events:?}");
    for (_, event) in &events {
        let mut bodies: Vec<&str> =
            event["Records"].as_array().unwrap().iter().map(|r| r["body"].as_str().unwrap()).collect();
        bodies.sort();
        assert_eq!(bodies, ["a", "b"]);
    }
    assert_eq!(events[1].1["Records"][0]["attributes"]["ApproximateReceiveCount"], "2");
    assert!(events[1].0 - events[0].0 >= Duration::from_millis(900), "not before the visibility timeout");
}

#[tokio::test]
async fn a_poison_message_lands_in_the_dead_letter_queue_after_max_receive_count() {
    let (queue, dlq) = test_queue(Some(2)).await;
    let dlq = dlq.unwrap();
    let function = Function::start(Duration::ZERO, |event, _| {
        let failed: Vec<Value> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["body"] == "poison")
            .map(|r| json!({ "itemIdentifier": r["messageId"] }))
            .collect();
        (200, json!({ "batchItemFailures": failed }))
    })
    .await;
    send(&queue.url, &["poison", "fine"]).await;
    let relay = start_relay(options(&queue.url, &function.url, 10, 1)).await;
    eventually("the poison message in the dead-letter queue", async || depth(&dlq.url).await == 1).await;
    eventually("the source queue empty", async || depth(&queue.url).await == 0).await;
    // Past another visibility timeout, nothing more reaches the function.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    relay.abort();

    let bodies = function.bodies();
    assert_eq!(bodies.iter().filter(|b| *b == "poison").count(), 2, "received maxReceiveCount times: {bodies:?}");
    assert_eq!(bodies.iter().filter(|b| *b == "fine").count(), 1);
    let kept = client().receive_message().queue_url(&dlq.url).send().await.unwrap();
    let kept: Vec<&str> = kept.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(kept, ["poison"]);
}

#[tokio::test]
async fn no_more_invocations_are_in_flight_than_the_mappings_concurrency() {
    let (queue, _) = test_queue(None).await;
    let function = Function::start(Duration::from_millis(300), |_, _| ok()).await;
    let bodies: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
    send(&queue.url, &bodies.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let relay = start_relay(options(&queue.url, &function.url, 1, 3)).await;
    eventually("every message processed", async || depth(&queue.url).await == 0).await;
    relay.abort();
    assert_eq!(function.records().len(), 9);
    assert_eq!(function.max_in_flight.load(Ordering::SeqCst), 3, "three in flight, never more");
}
