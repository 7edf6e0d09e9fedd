//! The local WebSocket API's `@connections` management API through the real SDK client
//! (`aws-sdk-apigatewaymanagement`), as the realtime functions call it: what the gateway answers
//! must surface as the SDK's own outcomes (`GoneException` for a connection that is not open,
//! `PayloadTooLargeException`), or a function that handles them works locally and fails
//! deployed, or the reverse. Connection ids holding `+` and `/` are used on purpose: the SDK
//! percent-encodes them in the path.
//!
//! No function runs: a stand-in for `cargo lambda watch` answers `$connect` with 200 and tells
//! the test the connection's id.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures_util::StreamExt;
use hub_infra::template::Template;
use hub_infra::wsgateway::{self, Limits};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A stand-in for the watcher's invoke endpoint: every invocation answers `{"statusCode":200}`
/// and sends its event to `events`.
async fn fake_watcher(listener: TcpListener, events: mpsc::UnboundedSender<Value>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { return };
        let events = events.clone();
        tokio::spawn(async move {
            // One request per connection (`Connection: close`), read to its declared length.
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 8192];
            let body = loop {
                let n = stream.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..n]);
                let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length {
                    break buffer[end + 4..end + 4 + length].to_vec();
                }
            };
            let _ = events.send(serde_json::from_slice(&body).unwrap());
            let answer = r#"{"statusCode":200}"#;
            let response =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len());
            stream.write_all(response.as_bytes()).await.unwrap();
        });
    }
}

struct Gateway {
    ws_url: String,
    client: Client,
    events: mpsc::UnboundedReceiver<Value>,
}

impl Gateway {
    /// The template's WebSocket API without its authorizer (no ticket to mint here), served
    /// in front of the stand-in watcher.
    async fn start() -> Self {
        let mut api = Template::load_workspace().unwrap().websocket_apis["RealtimeApi"].clone();
        for route in &mut api.routes {
            route.authorization_type = "NONE".into();
            route.authorizer = None;
        }
        let watcher = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = format!("http://{}", watcher.local_addr().unwrap());
        let (sender, events) = mpsc::unbounded_channel();
        tokio::spawn(fake_watcher(watcher, sender));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(wsgateway::serve(listener, api, "realtimeapi".into(), upstream, Limits::default()));

        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(hub_infra::moto::http_client())
            .region(Region::new(hub_infra::LOCAL_REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(format!("http://127.0.0.1:{port}/live"))
            .build();
        Self { ws_url: format!("ws://127.0.0.1:{port}/live"), client: Client::from_conf(config), events }
    }

    /// A connection whose id holds `+` or `/`, and that id.
    async fn awkward_connection(&mut self) -> (Socket, String) {
        for _ in 0..100 {
            let (socket, _) = tokio_tungstenite::connect_async(self.ws_url.as_str()).await.unwrap();
            let id = self.connect_event().await["requestContext"]["connectionId"].as_str().unwrap().to_string();
            if id.contains(['+', '/']) {
                return (socket, id);
            }
        }
        panic!("a hundred connection ids without + or /");
    }

    async fn connect_event(&mut self) -> Value {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), self.events.recv()).await.unwrap().unwrap();
            if event["requestContext"]["eventType"] == "CONNECT" {
                return event;
            }
        }
    }
}

async fn next_frame(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap()
}

#[tokio::test]
async fn the_sdk_posts_describes_and_deletes_and_a_closed_connection_is_a_gone_exception() {
    let mut gateway = Gateway::start().await;
    let (mut socket, id) = gateway.awkward_connection().await;
    let client = &gateway.client;

    let data = r#"{"type":"pong"}"#;
    client.post_to_connection().connection_id(&id).data(Blob::new(data)).send().await.unwrap();
    assert_eq!(next_frame(&mut socket).await, Message::text(data));

    let described = client.get_connection().connection_id(&id).send().await.unwrap();
    assert!(described.connected_at().is_some() && described.last_active_at().is_some());
    assert_eq!(described.identity().and_then(|i| i.source_ip()), Some("127.0.0.1"));

    let too_big = vec![b'x'; wsgateway::MAX_MESSAGE_BYTES + 1];
    match client.post_to_connection().connection_id(&id).data(Blob::new(too_big)).send().await {
        Err(SdkError::ServiceError(e)) => assert!(e.err().is_payload_too_large_exception(), "{:?}", e.err()),
        other => panic!("{other:?}"),
    }

    client.delete_connection().connection_id(&id).send().await.unwrap();
    match next_frame(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("{other:?}"),
    }

    match client.post_to_connection().connection_id(&id).data(Blob::new("late")).send().await {
        Err(SdkError::ServiceError(e)) => assert!(e.err().is_gone_exception(), "{:?}", e.err()),
        other => panic!("{other:?}"),
    }
    match client.get_connection().connection_id(&id).send().await {
        Err(SdkError::ServiceError(e)) => assert!(e.err().is_gone_exception(), "{:?}", e.err()),
        other => panic!("{other:?}"),
    }
    match client.delete_connection().connection_id(&id).send().await {
        Err(SdkError::ServiceError(e)) => assert!(e.err().is_gone_exception(), "{:?}", e.err()),
        other => panic!("{other:?}"),
    }
}
