//! The functions' own HTTP client for the SDK (shared/src/aws/https.rs) under the failures the
//! SDK's own client handles: a server that never answers, one that never completes the TLS
//! handshake, and nobody listening. Each must end in the error class the SDK's retry strategy
//! expects (timeout, I/O), be retried on a new connection, and never hang a function.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::SdkError;
use hub_shared::aws::sdk_config_from;
use hub_shared::config::Env;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

const ATTEMPTS: u32 = 3;

/// A DynamoDB client built as a function builds it, with short timeouts and `ATTEMPTS` attempts.
fn client(endpoint: &str, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
    let pairs = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "eu-west-3"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let sdk = sdk_config_from(&Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .timeout_config(timeouts)
        .retry_config(
            RetryConfig::standard().with_max_attempts(ATTEMPTS).with_initial_backoff(Duration::from_millis(10)),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A server that accepts connections, reads what it is sent, and never answers; the number of
/// connections it accepted.
async fn silent_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout_retried_on_new_connections() {
    let (port, accepted) = silent_server().await;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_millis(300))
        .build();
    let started = Instant::now();
    let result = client(&format!("http://127.0.0.1:{port}"), timeouts).list_tables().send().await;
    match result {
        Err(SdkError::DispatchFailure(failure)) => assert!(failure.is_timeout(), "{failure:?}"),
        other => panic!("expected a timed-out dispatch, got {other:?}"),
    }
    assert_eq!(accepted.load(Ordering::SeqCst), ATTEMPTS as usize, "one new connection per attempt");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_is_bounded_by_the_connect_timeout() {
    // No read timeout at all, as the SDK's defaults have none: only the connect timeout, which
    // must cover the handshake, stands between the function and its own 15-minute limit.
    let (port, accepted) = silent_server().await;
    let timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_millis(300)).disable_read_timeout().build();
    let started = Instant::now();
    let result = client(&format!("https://localhost:{port}"), timeouts).list_tables().send().await;
    match result {
        Err(SdkError::DispatchFailure(failure)) => assert!(failure.is_timeout(), "{failure:?}"),
        other => panic!("expected a timed-out dispatch, got {other:?}"),
    }
    assert_eq!(accepted.load(Ordering::SeqCst), ATTEMPTS as usize);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn nobody_listening_is_an_io_error() {
    let port = hub_infra::moto::free_port().unwrap_or_else(|e| panic!("{e}"));
    let timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).build();
    let result = client(&format!("http://127.0.0.1:{port}"), timeouts).list_tables().send().await;
    match result {
        Err(SdkError::DispatchFailure(failure)) => assert!(failure.is_io(), "{failure:?}"),
        other => panic!("expected an I/O dispatch failure, got {other:?}"),
    }
}
