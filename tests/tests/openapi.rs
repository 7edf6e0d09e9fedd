//! The API contract: the generated OpenAPI document against the committed copy, template.yaml's
//! routes, the binaries that serve them, the validator, and the function that serves it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_tests::workspace_root;

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
         HUB_UPDATE_OPENAPI=1 cargo test -p hub-tests --test openapi\nand commit it (the TypeScript client is generated from it)."
    );
}

#[test]
fn the_generator_has_no_gaps() {
    let gaps = hub_openapi::document().gaps;
    assert!(gaps.is_empty(), "the document is incomplete:\n  {}", gaps.join("\n  "));
}
