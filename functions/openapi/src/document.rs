//! Assembles the document: operations from [`crate::entities`] and [`crate::operations`], the
//! shared components (parameters, headers, problem responses, security), in a deterministic
//! order so the committed copy diffs cleanly.

use crate::schema::{PROBLEMS, Schemas, problem_example, problem_schema};
use serde_json::{Map, Value, json};

/// One operation of one route, before it is written into `paths`.
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    /// The binary that serves it (template.yaml's `Binary`), so a reader goes from the
    /// document to the code in one hop; a test holds the two together.
    pub id: String,
    pub tag: &'static str,
    pub summary: String,
    pub description: String,
    /// No bearer token (health, the document, the docs page).
    pub public: bool,
    pub parameters: Vec<Value>,
    pub body: Option<Value>,
    /// Status -> response object.
    pub responses: Vec<(u16, Value)>,
    /// Problem statuses the operation can answer with.
    pub problems: Vec<u16>,
}

impl Operation {
    pub fn new(method: &'static str, path: impl Into<String>, id: impl Into<String>, tag: &'static str) -> Self {
        Self {
            method,
            path: path.into(),
            id: id.into(),
            tag,
            summary: String::new(),
            description: String::new(),
            public: false,
            parameters: Vec::new(),
            body: None,
            responses: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn summary(mut self, summary: impl Into<String>, description: impl Into<String>) -> Self {
        self.summary = summary.into();
        self.description = description.into();
        self
    }

    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    pub fn parameters(mut self, parameters: impl IntoIterator<Item = Value>) -> Self {
        self.parameters.extend(parameters);
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn response(mut self, status: u16, response: Value) -> Self {
        self.responses.push((status, response));
        self
    }

    /// Adds problem statuses; every authenticated operation also gets 401, 403, 500 and 503
    /// (the access audit and the identity service can be unavailable).
    pub fn problems(mut self, statuses: &[u16]) -> Self {
        self.problems.extend_from_slice(statuses);
        self
    }

    fn into_json(mut self) -> Value {
        if !self.public {
            self.problems.extend_from_slice(&[401, 403, 500, 503]);
        }
        self.problems.sort_unstable();
        self.problems.dedup();
        let mut responses = Map::new();
        for (status, response) in self.responses {
            responses.insert(status.to_string(), response);
        }
        for status in &self.problems {
            if let Some((_, name, _)) = PROBLEMS.iter().find(|(s, _, _)| s == status) {
                responses.insert(status.to_string(), json!({ "$ref": format!("#/components/responses/{name}") }));
            }
        }
        let mut op = json!({
            "operationId": self.id,
            "tags": [self.tag],
            "summary": self.summary,
            "responses": responses,
        });
        if !self.description.is_empty() {
            op["description"] = json!(self.description);
        }
        if !self.parameters.is_empty() {
            op["parameters"] = Value::Array(self.parameters);
        }
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        if self.public {
            op["security"] = json!([]);
        }
        op
    }
}

/// A reference to a shared parameter of `components.parameters`.
pub fn param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

/// A query parameter of one operation.
pub fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

/// A JSON response with `schema`, an example and the given headers (names in
/// `components.headers`).
pub fn json_response(description: &str, schema: Value, example: Option<Value>, headers: &[&str]) -> Value {
    let mut content = json!({ "schema": schema });
    if let Some(example) = example {
        content["example"] = example;
    }
    let mut response = json!({ "description": description, "content": { "application/json": content } });
    if !headers.is_empty() {
        let headers: Map<String, Value> =
            headers.iter().map(|h| (h.to_string(), json!({ "$ref": format!("#/components/headers/{h}") }))).collect();
        response["headers"] = Value::Object(headers);
    }
    response
}

/// A JSON request body.
pub fn json_body(description: &str, schema: Value, example: Option<Value>, required: bool) -> Value {
    let mut content = json!({ "schema": schema });
    if let Some(example) = example {
        content["example"] = example;
    }
    json!({ "description": description, "required": required, "content": { "application/json": content } })
}

/// The generated document and what the generator could not describe.
pub struct Document {
    pub json: Value,
    /// Descriptions missing from the code (a filter an entity accepts without a description,
    /// an example its constructor refuses...). Empty when the document is whole; a test says so.
    pub gaps: Vec<String>,
}

impl Document {
    /// Pretty-printed with a final newline: the committed copy's exact bytes.
    pub fn to_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Every `(METHOD, path)` of the document, sorted.
    pub fn routes(&self) -> Vec<(String, String)> {
        let mut routes = Vec::new();
        if let Some(paths) = self.json["paths"].as_object() {
            for (path, item) in paths {
                for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                    routes.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        routes.sort();
        routes
    }
}

/// Builds the whole document.
pub fn document() -> Document {
    let mut schemas = Schemas::default();
    let mut gaps = Vec::new();
    let problem = problem_schema(&mut schemas);
    let mut operations = crate::entities::operations(&mut schemas, &mut gaps);
    operations.extend(crate::operations::operations(&mut schemas));

    let mut paths: Map<String, Value> = Map::new();
    for op in operations {
        let path = op.path.clone();
        let method = op.method.to_lowercase();
        let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
        if item.get(&method).is_some() {
            gaps.push(format!("{} {path} is described twice", op.method));
        }
        item[method] = op.into_json();
    }

    let mut responses = Map::new();
    for (status, name, description) in PROBLEMS {
        responses.insert(
            name.to_string(),
            json!({
                "description": description,
                "headers": { "X-Request-Id": { "$ref": "#/components/headers/X-Request-Id" } },
                "content": { "application/problem+json": { "schema": problem, "example": problem_example(*status) } },
            }),
        );
    }

    let json = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hub API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Hub backend's JSON API for medical practices: contacts, appointments, documents, \
                transactions, the audit trail, RGPD operations and analytics. Every business route needs a bearer \
                JWT; the organization comes from the token, never from the request. Lists take `page_size` (1-100, \
                default 20) and an opaque `cursor`, and answer `{items, next_cursor}`. Errors are RFC 9457 problems \
                (`application/problem+json`) with a stable `code`. Writes return the record's `version` as `ETag`; \
                send it back as `If-Match` to update safely. Money is a decimal string; times are RFC 3339 UTC.",
        },
        "servers": [{ "url": "/", "description": "The API's own origin (the docs page is served by it)." }],
        "security": [{ "bearerAuth": [] }],
        "tags": [
            { "name": "System", "description": "Health, this document and its docs page: no token needed." },
            { "name": "Business", "description": "Contacts, appointments, documents and transactions of the caller's organization." },
            { "name": "Analytics", "description": "Analytics records and the organization's summary." },
            { "name": "Audit", "description": "The audit trail (admins, owners and auditors)." },
            { "name": "Privacy", "description": "RGPD: a contact's export and erasure." },
            { "name": "Realtime", "description": "Tickets for the WebSocket API of change notifications." },
        ],
        "paths": paths,
        "components": {
            "schemas": schemas.0,
            "responses": responses,
            "parameters": crate::entities::shared_parameters(),
            "headers": headers(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT from the Identity Service (HS256, RS256 or ES256) carrying the user, roles and \
                        organization_id. Locally, `infra/hub token` mints one.",
                },
            },
        },
    });
    Document { json, gaps }
}

fn headers() -> Value {
    json!({
        "ETag": {
            "description": "The record's version, quoted (`\"3\"`): send it as `If-Match` to update it.",
            "schema": { "type": "string" },
        },
        "Location": { "description": "The new record's path.", "schema": { "type": "string" } },
        "Idempotent-Replayed": {
            "description": "`true` when this answer replays the first request with the same `Idempotency-Key`.",
            "schema": { "type": "string", "enum": ["true"] },
        },
        "X-Request-Id": { "description": "The request's id, on every answer.", "schema": { "type": "string" } },
    })
}
