//! The harness itself, against the hello-world: events go out with the Lambda headers, answers
//! come back, and the bootstrap exits on its own when told there is nothing more. No timing is
//! asserted: benchmarks print, they do not judge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_bench::runner::{Launch, Outcome, cold_start, reset_log};
use std::path::PathBuf;
use std::time::Duration;

fn hello() -> Launch {
    let log = std::env::temp_dir().join(format!("hub-bench-test-{}.log", uuid::Uuid::new_v4()));
    reset_log(&log).unwrap();
    Launch {
        name: "hello".into(),
        bootstrap: PathBuf::from(env!("CARGO_BIN_EXE_hello")),
        wrapper: Vec::new(),
        env: Vec::new(),
        log,
        step_timeout: Duration::from_secs(30),
    }
}

#[test]
fn every_event_handed_out_gets_its_own_answer_and_the_bootstrap_then_exits() {
    let mut sent = Vec::new();
    let run = cold_start(&hello(), 3, &mut |i| {
        let event = format!(r#"{{"n":{i}}}"#).into_bytes();
        sent.push(event.clone());
        event
    })
    .unwrap();
    assert_eq!(sent.len(), 3);
    assert_eq!(run.invocations.len(), 3);
    for invocation in &run.invocations {
        let Outcome::Response(body) = &invocation.outcome else { panic!("expected a response") };
        let body: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["message"], "hello");
        // The runtime read the request id from Lambda-Runtime-Aws-Request-Id.
        assert!(uuid::Uuid::parse_str(body["request_id"].as_str().unwrap()).is_ok());
    }
    assert!(run.exit.is_some(), "the bootstrap should exit once its next request is closed");
    assert!(run.peak_rss_kib.is_some_and(|k| k > 0));
}

#[test]
fn zero_invocations_measures_init_alone() {
    let run = cold_start(&hello(), 0, &mut |_| Vec::new()).unwrap();
    assert!(run.invocations.is_empty());
    assert!(run.exit.is_some());
}

#[test]
fn a_bootstrap_that_cannot_start_is_an_error_naming_it() {
    let mut launch = hello();
    launch.bootstrap = PathBuf::from("/nonexistent/bootstrap");
    let err = cold_start(&launch, 1, &mut |_| Vec::new()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/bootstrap"), "{err}");
}
