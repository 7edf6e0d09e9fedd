//! The frontend's path in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core`) loads a page from another origin than the API, and that page uses the
//! generated TypeScript client (`clients/typescript`) against the real local stack. What is
//! checked, and why, is in `tests/browser/run.mjs`; this test starts the stack with the page's
//! origin allowed, mints the token, and runs the script. `infra/hub test` installs the npm
//! packages and Chromium first (`infra/hub bootstrap-browser`).
//!
//! The script also runs the real-time scenario against the stack's WebSocket API
//! (`HUB_REALTIME_URL`), with tokens for two users of one practice and one of another.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use hub_infra::gateway::Cors;
use hub_infra::localenv::Context;
use hub_infra::moto::free_port;
use hub_infra::spawn::{LocalStack, StackOptions};
use hub_infra::template::{TEMPLATE_FILE, Template};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

const CHROMIUM: &str = "/usr/bin/chromium";

fn require_installed(root: &Path) {
    for (path, what) in [
        ("tests/browser/node_modules/playwright-core/package.json", "the browser test's npm packages"),
        ("clients/typescript/node_modules/openapi-fetch/package.json", "the TypeScript client's npm packages"),
    ] {
        assert!(root.join(path).is_file(), "{what} are not installed: run `infra/hub bootstrap-browser`");
    }
    let chromium = std::env::var("HUB_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    assert!(Path::new(&chromium).is_file(), "{chromium} is missing: run `infra/hub bootstrap-browser`");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_an_allowed_origin_works_through_the_typescript_client_and_other_origins_are_refused() {
    let root = hub_infra::workspace_root();
    require_installed(&root);
    let page_port = free_port().unwrap();
    let foreign_port = free_port().unwrap();
    let page_origin = format!("http://localhost:{page_port}");
    let params = vec![("CorsAllowedOrigins".to_string(), page_origin.clone())];

    // What API Gateway would answer, read from the template with the same parameter.
    let text = std::fs::read_to_string(root.join(TEMPLATE_FILE)).unwrap();
    let template = Template::parse(&text).unwrap();
    let ctx = Context { parameters: params.iter().cloned().collect(), ..Context::default() };
    let cors = Cors::from_template(&text, &template, &ctx).unwrap().expect("the HTTP API has a CorsConfiguration");

    let options = StackOptions { params, ..StackOptions::default() };
    let stack = tokio::task::spawn_blocking(move || LocalStack::start(options))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));

    let now = chrono::Utc::now().timestamp();
    let key = jsonwebtoken::EncodingKey::from_secret(stack.var("JWT_HS256_SECRET").as_bytes());
    let mint = |organization: Uuid, role: &str| {
        let claims = json!({
            "sub": Uuid::new_v4().to_string(), "organization_id": organization.to_string(), "roles": [role],
            "iss": stack.var("JWT_ISSUER"), "aud": stack.var("JWT_AUDIENCE"), "iat": now, "exp": now + 900,
        });
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    let token = mint(Uuid::new_v4(), "member");

    // run.mjs skips the realtime scenario without it (for a stack run by hand): here it must run.
    let realtime_url = stack.var("HUB_REALTIME_URL");
    assert!(!realtime_url.is_empty(), "the stack wrote no HUB_REALTIME_URL to its stack.env");
    // Practice A writes and listens (a viewer may read appointments); practice B must hear
    // nothing of it. Fresh organizations: the practice day's figures stay its own.
    let (practice_a, practice_b) = (Uuid::new_v4(), Uuid::new_v4());

    let run = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/run.mjs"))
        .current_dir(&root)
        .env("HUB_API_URL", stack.api_url())
        .env("HUB_BROWSER_TOKEN", &token)
        .env("HUB_BROWSER_PAGE_PORT", page_port.to_string())
        .env("HUB_BROWSER_FOREIGN_PORT", foreign_port.to_string())
        .env("HUB_BROWSER_CORS", serde_json::to_string(&cors).unwrap())
        .env("HUB_BROWSER_S3_URL", stack.var("AWS_ENDPOINT_URL"))
        .env("HUB_BROWSER_OUT", root.join("target/browser"))
        .env("HUB_REALTIME_URL", realtime_url)
        .env("HUB_BROWSER_REALTIME_WRITER", mint(practice_a, "member"))
        .env("HUB_BROWSER_REALTIME_READER", mint(practice_a, "viewer"))
        .env("HUB_BROWSER_REALTIME_OTHER", mint(practice_b, "member"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser test did not finish within 5 minutes")
        .expect("cannot run node");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));

    tokio::task::spawn_blocking(move || stack.stop()).await.unwrap().unwrap();
    assert!(output.status.success(), "tests/browser/run.mjs failed ({}): its report is above", output.status);
}
