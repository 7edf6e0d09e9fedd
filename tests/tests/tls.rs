//! The functions' AWS client over TLS, as production runs it: it verifies the server's chain
//! against the roots it was given (the Amazon Trust Services roots, plus `HUB_AWS_EXTRA_CA_FILE`
//! where set) and refuses every other chain.

use aws_smithy_types::error::display::DisplayErrorContext;
use hub_infra::tls::{self, LocalCa};
use hub_shared::aws::{EXTRA_CA_VAR, sdk_config_from};
use hub_shared::config::Env;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A TLS front for the tests' emulator, with a fresh CA; its URL.
async fn front(ca: &LocalCa) -> String {
    front_counting(ca, Arc::new(AtomicUsize::new(0))).await
}

/// [`front`], counting the connections it accepts.
async fn front_counting(ca: &LocalCa, accepted: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let upstream: SocketAddr = hub_tests::moto_endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("the emulator's address: {e}"));
    let config = ca.server_config().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(tls::serve_counting(listener, upstream, config, accepted));
    format!("https://localhost:{port}")
}

fn ca_file(ca: &LocalCa, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(name);
    std::fs::write(&path, ca.root_pem()).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// A DynamoDB client built exactly as a function builds it, from its environment.
fn client(endpoint: &str, extra_ca: Option<&Path>) -> aws_sdk_dynamodb::Client {
    let mut pairs = vec![
        ("AWS_ENDPOINT_URL".to_string(), endpoint.to_string()),
        ("AWS_REGION".to_string(), "eu-west-3".to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "test".to_string()),
    ];
    if let Some(path) = extra_ca {
        pairs.push((EXTRA_CA_VAR.to_string(), path.display().to_string()));
    }
    let config = sdk_config_from(&Env::from_pairs(pairs)).unwrap_or_else(|e| panic!("{e}"));
    aws_sdk_dynamodb::Client::new(&config)
}

async fn refused(client: &aws_sdk_dynamodb::Client) -> String {
    match client.list_tables().send().await {
        Ok(_) => panic!("a chain from a CA the client was not given was accepted"),
        Err(e) => format!("{}", DisplayErrorContext(&e)),
    }
}

#[tokio::test]
async fn the_aws_client_accepts_the_chain_of_a_ca_it_was_configured_with() {
    let ca = LocalCa::generate("configured").unwrap_or_else(|e| panic!("{e}"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let endpoint = front_counting(&ca, Arc::clone(&accepted)).await;
    let client = client(&endpoint, Some(&ca_file(&ca, "ca.pem")));
    for _ in 0..3 {
        let listed = client.list_tables().send().await;
        assert!(listed.is_ok(), "{}", listed.err().map(|e| DisplayErrorContext(e).to_string()).unwrap_or_default());
    }
    // One handshake for the three: the front keeps the connection open as DynamoDB does (moto
    // closes its own after every answer), so the bench's warm figures hold no reconnection.
    assert_eq!(accepted.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn by_default_the_aws_client_refuses_a_chain_from_any_other_ca() {
    let ca = LocalCa::generate("unknown").unwrap_or_else(|e| panic!("{e}"));
    let endpoint = front(&ca).await;
    let error = refused(&client(&endpoint, None)).await;
    assert!(error.contains("UnknownIssuer") || error.contains("invalid peer certificate"), "{error}");
}

#[tokio::test]
async fn a_configured_ca_does_not_vouch_for_another_one() {
    let ca = LocalCa::generate("serving").unwrap_or_else(|e| panic!("{e}"));
    let stranger = LocalCa::generate("stranger").unwrap_or_else(|e| panic!("{e}"));
    let endpoint = front(&ca).await;
    let error = refused(&client(&endpoint, Some(&ca_file(&stranger, "stranger.pem")))).await;
    assert!(error.contains("UnknownIssuer") || error.contains("invalid peer certificate"), "{error}");
}
