//! What idle WebSockets cost the local WebSocket API: a practice leaves screens open all day, and
//! a stack that grew by a thread or a large buffer per socket would make a developer's machine
//! the bottleneck of a many-tab test. Alone in its binary so that the process's memory is the
//! gateway's and its clients' only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_infra::template::Template;
use hub_infra::wsgateway::{self, Limits};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const CONNECTIONS: usize = 500;

/// A stand-in for the watcher: every invocation answers `{"statusCode":200}`.
async fn accepting_watcher(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { return };
        tokio::spawn(async move {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..n]);
                let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buffer.len() < end + 4 + length {
                    continue;
                }
                buffer.drain(..end + 4 + length);
                let answer = r#"{"statusCode":200}"#;
                let response = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}", answer.len());
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn five_hundred_idle_connections_cost_a_few_megabytes_and_no_thread() {
    let mut api = Template::load_workspace().unwrap().websocket_apis["RealtimeApi"].clone();
    for route in &mut api.routes {
        route.authorization_type = "NONE".into();
        route.authorizer = None;
    }
    let watcher = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", watcher.local_addr().unwrap());
    tokio::spawn(accepting_watcher(watcher));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/live", listener.local_addr().unwrap());
    tokio::spawn(wsgateway::serve(listener, api, "realtimeapi".into(), upstream, Limits::default()));

    // The clients' own buffers are kept as small as the gateway's, so that what grows is mostly
    // the gateway's.
    let client = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let connect = || tokio_tungstenite::connect_async_with_config(url.as_str(), Some(client), false);
    let mut sockets = vec![connect().await.unwrap().0];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let threads_before = std::fs::read_dir("/proc/self/task").unwrap().count();
    let before = resident_kib();
    while sockets.len() <= CONNECTIONS {
        sockets.push(connect().await.unwrap().0);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = resident_kib().saturating_sub(before);
    let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    eprintln!("{CONNECTIONS} idle connections: +{grown} KiB resident, {threads} threads ({threads_before} before)");
    assert!(threads <= threads_before + 1, "threads per connection: {threads_before} -> {threads}");
    // Both ends of every connection are in this process: 64 KiB per connection is several times
    // what they need, and far below a thread's stack or tungstenite's default 128 KiB buffers.
    assert!(grown < (CONNECTIONS as u64) * 64, "+{grown} KiB for {CONNECTIONS} connections");
}
