//! The contract check: schemathesis (pinned in infra/requirements.txt) drives a local stack of its
//! own with requests generated from the OpenAPI document that stack serves, valid and invalid,
//! in every phase (examples, boundaries, fuzzing, stateful chains), with every check: no server
//! error, every answer as documented (status, content type, headers, body schema), every invalid
//! request refused, every valid one accepted (or refused only for a rule the document declares
//! in `x-rules`, see infra/contract/hooks.py). Bounded by `max-examples` in
//! infra/contract/schemathesis.toml and a timeout here. The stack runs the debug functions, as
//! `infra/hub up` does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_infra::spawn::{LocalStack, StackOptions};
use hub_tests::workspace_root;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Longer than a run takes on 2 cores (about 3 minutes), short enough to fail CI in time.
const TIMEOUT: Duration = Duration::from_secs(600);

fn admin_token(stack: &LocalStack) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": Uuid::new_v4().to_string(), "roles": ["admin"],
        "organization_id": Uuid::new_v4().to_string(),
        "iss": stack.var("JWT_ISSUER"), "aud": stack.var("JWT_AUDIENCE"), "iat": now, "exp": now + 3600,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(stack.var("JWT_HS256_SECRET").as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[test]
fn the_running_api_keeps_every_promise_of_its_openapi_document() {
    let root = workspace_root();
    let st = root.join(".venv/bin/st");
    assert!(st.exists(), "schemathesis is not installed: run infra/hub bootstrap");
    let stack = LocalStack::start(StackOptions::default()).unwrap_or_else(|e| panic!("the local stack: {e}"));
    let work = std::env::temp_dir().join(format!("hub-contract-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work).unwrap();
    let report = work.join("junit.xml");
    let started = Instant::now();
    let mut child = Command::new(&st)
        .arg("--config-file")
        .arg(root.join("infra/contract/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/openapi.json", stack.api_url()))
        .args(["--no-color", "--report", "junit", "--report-junit-path"])
        .arg(&report)
        .env("HUB_CONTRACT_BASE_URL", stack.api_url())
        .env("HUB_TOKEN", admin_token(&stack))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", root.join("infra/contract"))
        // Its example database and caches go to a scratch directory, not the repository.
        .current_dir(&work)
        .stdout(std::fs::File::create(work.join("out.log")).unwrap())
        .stderr(std::fs::File::create(work.join("err.log")).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let output = std::fs::read_to_string(work.join("out.log")).unwrap_or_default();
    let errors = std::fs::read_to_string(work.join("err.log")).unwrap_or_default();
    let summary = output.rfind("SUMMARY").map_or(output.as_str(), |at| &output[at..]);
    eprintln!("schemathesis took {:.0} s:\n{summary}", started.elapsed().as_secs_f64());
    let _ = stack.stop();
    match status {
        Some(status) if status.success() => {
            let _ = std::fs::remove_dir_all(&work);
        }
        Some(status) => {
            panic!("the contract check failed ({status}); report in {}:\n{output}\n{errors}", work.display())
        }
        None => panic!("the contract check did not finish in {TIMEOUT:?}:\n{output}"),
    }
}
