//! The `stack` binary as `infra/hub up` runs it: on free ports with its own state directory, it
//! brings the API up, publishes what a client needs in `stack.env`, and leaves no process behind
//! when stopped.
//!
//! Needs `.venv` (moto, cargo-lambda) and the workspace's binaries: `infra/hub test` builds them
//! before running the tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_infra::spawn::{LocalStack, StackOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = entry.path().join("cmdline");
        if let Ok(bytes) = std::fs::read(&cmdline) {
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains(needle) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn the_stack_serves_the_api_and_stops_everything_it_started() {
    let options = StackOptions { binary: Some(env!("CARGO_BIN_EXE_stack").into()), ..StackOptions::default() };
    let stack = LocalStack::start(options).expect("the stack starts");
    let state_dir = stack.state_dir().to_path_buf();

    for key in ["HUB_API_URL", "AWS_ENDPOINT_URL", "JWT_HS256_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "HUB_TABLE"] {
        assert!(!stack.var(key).is_empty(), "stack.env lacks {key}");
    }
    assert!(stack.var("JWT_HS256_SECRET").len() >= 32);

    let port: u16 = stack.var("HUB_API_PORT").parse().unwrap();
    let api = SocketAddr::from(([127, 0, 0, 1], port));
    let status = hub_infra::http::get_status(api, "/api/health", Duration::from_secs(60)).unwrap();
    assert_eq!(status, 200);

    // The WebSocket API on its own port: its URL in stack.env and the functions' environment,
    // an upgrade without a ticket refused before any function runs.
    let ws_port: u16 = stack.var("HUB_WS_PORT").parse().unwrap();
    assert_eq!(stack.ws_url(), format!("ws://127.0.0.1:{ws_port}/live"));
    let ws = SocketAddr::from(([127, 0, 0, 1], ws_port));
    assert_eq!(hub_infra::http::get_status(ws, "/live", Duration::from_secs(10)).unwrap(), 426);

    // The functions run with the emulator's endpoint and the template's table.
    let lambda_env = hub_infra::envfile::read(&state_dir.join("lambda.env")).unwrap().unwrap();
    assert_eq!(lambda_env["AWS_ENDPOINT_URL"], stack.var("AWS_ENDPOINT_URL"));
    assert_eq!(lambda_env["HUB_TABLE"], "hub-local-BusinessTable");
    assert_eq!(lambda_env["HUB_REALTIME_URL"], stack.ws_url());
    assert_eq!(lambda_env["HUB_REALTIME_MANAGEMENT_URL"], format!("http://127.0.0.1:{ws_port}/live"));

    // Every process of this stack mentions its state directory or its ports on its command line.
    let moto_port = stack.var("HUB_MOTO_PORT").to_string();
    stack.stop().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let state = state_dir.to_string_lossy().into_owned();
    let leftovers: Vec<String> = processes_mentioning(&state)
        .into_iter()
        .chain(processes_mentioning(&format!("moto_serial.py 127.0.0.1 {moto_port}")))
        .collect();
    assert!(leftovers.is_empty(), "left running: {leftovers:#?}");
    assert!(!Path::new(&state_dir.join("stack.env")).exists(), "stack.env outlived the stack");
    // Its state directory was a temporary one: it goes with the stack (a test run starts hundreds).
    assert!(!state_dir.exists(), "the temporary state directory {} outlived the stack", state_dir.display());
    assert!(hub_infra::http::get_status(api, "/api/health", Duration::from_secs(2)).is_err());
    assert!(hub_infra::http::get_status(ws, "/live", Duration::from_secs(2)).is_err());
}
