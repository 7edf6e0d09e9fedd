//! The API contract: the generated OpenAPI document against the committed copy, template.yaml's
//! routes, the binaries that serve them, the validator, and the function that serves it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_tests::{ALLOWED_ORIGIN, TestApp, workspace_root};
use std::collections::HashMap;

const COMMITTED: &str = "functions/openapi/openapi.json";

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = hub_openapi::document().to_pretty();
    let path = workspace_root().join(COMMITTED);
    if std::env::var_os("HUB_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} differs from the document the code generates; regenerate it with\n  \
         HUB_UPDATE_OPENAPI=1 cargo test --workspace --test openapi\nand commit it (the TypeScript client is generated from it)."
    );
}

/// What a subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn building_the_document_logs_no_warning_and_no_error() {
    // Its problem examples (a 500, a 503) are documentation: rendering them must not reach the
    // error log that operators watch, as it did at every cold start of `openapi-json`.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(move || writer.clone()).finish();
    tracing::subscriber::with_default(subscriber, || {
        let document = hub_openapi::document();
        assert!(document.json["components"]["responses"]["InternalError"].is_object());
    });
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.is_empty(), "{logged}");
}

#[test]
fn the_generator_has_no_gaps() {
    let gaps = hub_openapi::document().gaps;
    assert!(gaps.is_empty(), "the document is incomplete:\n  {}", gaps.join("\n  "));
}

fn template_routes() -> Vec<(String, String, String)> {
    let template = hub_infra::template::Template::load_workspace().unwrap();
    // The `$default` function's routes answer 404 and 405 for what the document does not list.
    let mut routes: Vec<_> = template
        .routes
        .iter()
        .filter(|r| r.binary != "fallback")
        .map(|r| (r.method.to_uppercase(), r.path.clone(), r.binary.clone()))
        .collect();
    routes.sort();
    routes
}

#[test]
fn the_document_lists_every_route_of_the_template_and_nothing_else() {
    let document = hub_openapi::document();
    let documented = document.routes();
    let routed: Vec<(String, String)> = template_routes().into_iter().map(|(m, p, _)| (m, p)).collect();
    let missing: Vec<_> = routed.iter().filter(|r| !documented.contains(r)).collect();
    let extra: Vec<_> = documented.iter().filter(|r| !routed.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routed but not documented: {missing:?}\ndocumented but not routed: {extra:?}"
    );
}

#[test]
fn every_operation_is_named_after_the_binary_that_serves_its_route() {
    let document = hub_openapi::document();
    for (method, path, binary) in template_routes() {
        let operation = &document.json["paths"][&path][method.to_lowercase()];
        // Operation ids are unique: the docs binary's second route names its asset.
        let expected = if path == "/api/docs/{asset}" { "docs-asset".to_string() } else { binary };
        assert_eq!(operation["operationId"], expected.as_str(), "{method} {path}");
    }
}

/// A generic operation's description holds only if its binary really runs that generic handler
/// for that entity: `contacts-get` is `ops::get::<Contact>`.
#[test]
fn generic_operations_are_served_by_the_generic_handler_they_describe() {
    let root = workspace_root();
    let template = hub_infra::template::Template::load_workspace().unwrap();
    let mut checked = 0;
    for (prefix, entity) in [
        ("contacts", "Contact"),
        ("appointments", "Appointment"),
        ("documents", "Document"),
        ("transactions", "Transaction"),
        ("analytics-records", "AnalyticsRecord"),
    ] {
        for (kind, op) in [
            ("list", "list"),
            ("get", "get"),
            ("replace", "replace"),
            ("patch", "patch"),
            ("delete", "delete"),
            ("restore", "restore"),
            ("bulk-delete", "bulk_delete"),
            ("batch", "batch"),
            ("create", "create"),
        ] {
            let binary = format!("{prefix}-{kind}");
            let Some(function) = template.functions.values().find(|f| f.binary == binary) else { continue };
            let source =
                std::fs::read_to_string(root.join(&function.code_uri).join("src/bin").join(format!("{binary}.rs")))
                    .unwrap();
            let generic = source.contains(&format!("ops::{op}::<{entity}>"));
            let described_as_generic = binary != "documents-create";
            assert_eq!(generic, described_as_generic, "{binary}: the document and the binary disagree on its handler");
            checked += 1;
        }
    }
    assert!(checked >= 35, "only {checked} generic operations checked");
}

#[test]
fn the_committed_document_is_valid_openapi_3_1() {
    let validator = hub_infra::venv_bin(&workspace_root(), "openapi-spec-validator");
    let output = std::process::Command::new(&validator)
        .arg(workspace_root().join(COMMITTED))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (infra/hub bootstrap installs it into .venv)", validator.display()));
    assert!(
        output.status.success(),
        "openapi-spec-validator refuses {COMMITTED}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_function_serves_the_generated_document_without_a_token() {
    let app = TestApp::spawn().await;
    let answer = app.send("GET", "/api/openapi.json", None, None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-cache"));
    assert_eq!(answer.body, hub_openapi::document().json);
    assert_eq!(answer.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_docs_page_loads_its_assets_and_the_document_from_our_own_routes_only() {
    let app = TestApp::spawn().await;
    let page = app.send("GET", "/api/docs", None, None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'; script-src 'self'"), "{csp}");
    assert!(!csp.contains("http") && !csp.contains("unsafe"), "the CSP allows another origin or inline code: {csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = page.body.as_str().unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "the page names another origin:\n{html}");

    // Every script and style sheet the page links is one of our routes, served with its type.
    let links: Vec<&str> = html.split(['"']).filter(|s| s.starts_with("/api/")).collect();
    assert_eq!(links.len(), 3, "{links:?}");
    for link in links {
        let asset = app.send("GET", link, None, None).await;
        assert_eq!(asset.status, 200, "{link}");
        let expected = if link.contains(".css") { "text/css; charset=utf-8" } else { "text/javascript; charset=utf-8" };
        assert_eq!(asset.header("content-type"), Some(expected), "{link}");
        assert_eq!(asset.header("cache-control"), Some("public, max-age=31536000, immutable"), "{link}");
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
        let text = asset.body.as_str().unwrap();
        assert!(text.len() > 100, "{link} is empty");
        if link.contains("hub-docs.js") {
            // Our initializer: the document from our route, and no validator badge (it calls swagger.io).
            assert!(text.contains(r#"url: "/api/openapi.json""#) && text.contains("validatorUrl: null"), "{text}");
            assert!(!text.contains("http://") && !text.contains("https://"), "{text}");
        }
        if link.contains(".css") {
            // Only XML namespace names inside inlined `data:` icons, which nothing fetches.
            let others: Vec<&str> = text
                .match_indices("http")
                .map(|(i, _)| &text[i..(i + 30).min(text.len())])
                .filter(|u| !u.starts_with("http://www.w3.org/"))
                .collect();
            assert!(others.is_empty(), "the style sheet names another origin: {others:?}");
        }
    }
}

#[tokio::test]
async fn an_unknown_docs_asset_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let answer = app.send("GET", "/api/docs/secrets.txt", None, None).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.header("content-type"), Some("application/problem+json"));
    assert_eq!(answer.body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn the_docs_answer_cors_as_the_other_routes() {
    let app = TestApp::spawn().await;
    let headers = HashMap::from([("origin".to_string(), ALLOWED_ORIGIN.to_string())]);
    let answer = app.send_raw("GET", "/api/openapi.json", headers, None).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some(ALLOWED_ORIGIN));
    let other = HashMap::from([("origin".to_string(), "https://evil.example".to_string())]);
    let refused = app.send_raw("GET", "/api/openapi.json", other, None).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
}
