//! The `cargo lambda watch` router (`[workspace.metadata.lambda.watch.router]` in the root
//! Cargo.toml), read and compared with template.yaml's routes.
//!
//! cargo-lambda reads a table whose keys are paths (matchit syntax, `{id}` for a parameter) and
//! whose values are either a function name (every method) or a list of
//! `{ method = "GET", function = "bin-name" }`. The local API only routes what this table says,
//! so a route missing here is a 404 locally and a working endpoint once deployed; the stack and
//! the `template` test refuse to run with the two out of step.

use crate::template::Route;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

#[derive(Debug)]
pub struct RouterError(String);

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouterError {}

/// One router entry: `method` is `ANY` for a path routed to one function whatever the method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouterEntry {
    pub path: String,
    pub method: String,
    pub function: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoutes {
    Single(String),
    PerMethod(Vec<RawMethod>),
}

#[derive(Deserialize)]
struct RawMethod {
    method: String,
    function: String,
}

/// Reads the router from a Cargo.toml; an absent table is an empty router.
pub fn load(cargo_toml: &Path) -> Result<Vec<RouterEntry>, RouterError> {
    let text = std::fs::read_to_string(cargo_toml)
        .map_err(|e| RouterError(format!("cannot read {}: {e}", cargo_toml.display())))?;
    parse(&text)
}

/// Reads the router of the workspace's root Cargo.toml.
pub fn load_workspace() -> Result<Vec<RouterEntry>, RouterError> {
    load(&crate::workspace_root().join("Cargo.toml"))
}

pub fn parse(cargo_toml: &str) -> Result<Vec<RouterEntry>, RouterError> {
    let doc: toml::Table =
        toml::from_str(cargo_toml).map_err(|e| RouterError(format!("Cargo.toml is not valid TOML: {e}")))?;
    let doc = toml::Value::Table(doc);
    let router =
        ["workspace", "metadata", "lambda", "watch", "router"].iter().try_fold(&doc, |value, key| value.get(key));
    let Some(router) = router else {
        return Ok(Vec::new());
    };
    let routes: BTreeMap<String, RawRoutes> = router
        .clone()
        .try_into()
        .map_err(|e| RouterError(format!("[workspace.metadata.lambda.watch.router] has an unexpected shape: {e}")))?;
    let mut out = Vec::new();
    for (path, routes) in routes {
        match routes {
            RawRoutes::Single(function) => out.push(RouterEntry { path, method: "ANY".into(), function }),
            RawRoutes::PerMethod(methods) => {
                for m in methods {
                    out.push(RouterEntry {
                        path: path.clone(),
                        method: m.method.to_ascii_uppercase(),
                        function: m.function,
                    });
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What differs between the template's routes and the router, one line each; empty when they
/// agree on every (path, method, binary).
pub fn differences(routes: &[Route], router: &[RouterEntry]) -> Vec<String> {
    let template: BTreeMap<(&str, &str), &str> =
        routes.iter().map(|r| ((r.path.as_str(), r.method.as_str()), r.binary.as_str())).collect();
    let local: BTreeMap<(&str, &str), &str> =
        router.iter().map(|r| ((r.path.as_str(), r.method.as_str()), r.function.as_str())).collect();
    let mut out = Vec::new();
    for ((path, method), binary) in &template {
        match local.get(&(*path, *method)) {
            None => out.push(format!("{method} {path} -> {binary} is in template.yaml but not in the watch router")),
            Some(function) if function != binary => {
                out.push(format!("{method} {path}: template.yaml routes to {binary}, the watch router to {function}"))
            }
            Some(_) => {}
        }
    }
    for ((path, method), function) in &local {
        if !template.contains_key(&(*path, *method)) {
            out.push(format!("{method} {path} -> {function} is in the watch router but not in template.yaml"));
        }
    }
    // Two entries for one (path, method) collapse in the maps above; catch them here.
    for pair in router.windows(2) {
        if pair[0].path == pair[1].path && pair[0].method == pair[1].method {
            out.push(format!("{} {} appears twice in the watch router", pair[0].method, pair[0].path));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const TOML: &str = r#"
[workspace]
members = []

[workspace.metadata.lambda.watch.router]
"/a" = [
    { method = "get", function = "a-list" },
    { method = "POST", function = "a-create" },
]
"/a/{id}" = [{ method = "GET", function = "a-get" }]
"/b" = "b-any"
"#;

    fn route(path: &str, method: &str, binary: &str) -> Route {
        Route { path: path.into(), method: method.into(), function: format!("{binary}Fn"), binary: binary.into() }
    }

    #[test]
    fn both_entry_forms_are_read() {
        let entries = parse(TOML).unwrap();
        let summary: Vec<String> = entries.iter().map(|e| format!("{} {} {}", e.method, e.path, e.function)).collect();
        assert_eq!(summary, ["GET /a a-list", "POST /a a-create", "GET /a/{id} a-get", "ANY /b b-any"]);
    }

    #[test]
    fn agreeing_routes_have_no_differences_and_others_are_each_named() {
        let entries = parse(TOML).unwrap();
        let mut routes = vec![
            route("/a", "GET", "a-list"),
            route("/a", "POST", "a-create"),
            route("/a/{id}", "GET", "a-get"),
            route("/b", "ANY", "b-any"),
        ];
        assert!(differences(&routes, &entries).is_empty());
        routes[2].binary = "other".into();
        routes.push(route("/c", "GET", "c"));
        routes.remove(3);
        let diffs = differences(&routes, &entries);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
    }

    #[test]
    fn a_missing_router_is_empty() {
        assert!(parse("[workspace]\nmembers = []\n").unwrap().is_empty());
    }
}
