//! Schema helpers: derived schemas as JSON, problem bodies, and the few shapes inferred from a
//! real value (computed fields, the analytics types, which carry no derives).

use hub_shared::AppError;
use hub_shared::http::problem_body;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// Named schemas collected while the document is built (`components.schemas`).
#[derive(Default)]
pub struct Schemas(pub Map<String, Value>);

impl Schemas {
    /// `T`'s own schema, and every schema it refers to registered by name.
    pub fn derived<T: ToSchema>(&mut self) -> Value {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        for (name, schema) in nested {
            self.0.insert(name, to_json(&schema));
        }
        to_json(&T::schema())
    }

    /// Registers `T` under its own name and returns a reference to it.
    pub fn reference<T: ToSchema>(&mut self) -> Value {
        let schema = self.derived::<T>();
        let name = T::name().into_owned();
        self.0.insert(name.clone(), schema);
        reference(&name)
    }

    pub fn insert(&mut self, name: &str, schema: Value) -> Value {
        self.0.insert(name.to_string(), schema);
        reference(name)
    }
}

pub fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A body's `version`: the version the write expects, as `If-Match`.
pub fn version_schema() -> Value {
    json!({ "type": "integer", "minimum": 1, "description": "The version this write expects (as `If-Match`)." })
}

pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object whose every property is always present (serde writes `null`, never omits):
/// `required` lists them all, so generated clients do not make them optional.
pub fn all_required(mut schema: Value) -> Value {
    let names: Vec<Value> =
        schema["properties"].as_object().map(|p| p.keys().cloned().map(Value::String).collect()).unwrap_or_default();
    schema["required"] = Value::Array(names);
    schema
}

/// The schema of a JSON value, for shapes that have no derive: types from the value, formats
/// for strings that parse as an instant, a date or a UUID.
pub fn infer(value: &Value) -> Value {
    match value {
        Value::Null => json!({}),
        Value::Bool(_) => json!({ "type": "boolean" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "type": "integer" }),
        Value::Number(_) => json!({ "type": "number" }),
        Value::String(s) => {
            if hub_shared::domain::Timestamp::parse(s).is_some() {
                json!({ "type": "string", "format": "date-time" })
            } else if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
                json!({ "type": "string", "format": "date" })
            } else if uuid::Uuid::parse_str(s).is_ok() {
                json!({ "type": "string", "format": "uuid" })
            } else {
                json!({ "type": "string" })
            }
        }
        Value::Array(items) => match items.first() {
            Some(first) => json!({ "type": "array", "items": infer(first) }),
            None => json!({ "type": "array" }),
        },
        Value::Object(fields) => {
            let properties: Map<String, Value> = fields.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            all_required(json!({ "type": "object", "properties": properties }))
        }
    }
}

/// The problem statuses the API answers with, each a named response of the document.
pub const PROBLEMS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "The request cannot be understood: malformed JSON, an invalid query parameter, cursor or header.",
    ),
    (401, "Unauthenticated", "No bearer token, or one that does not verify (`WWW-Authenticate: Bearer`)."),
    (403, "Forbidden", "The caller's roles do not allow this operation."),
    (404, "NotFound", "No such record in the caller's organization (another organization's looks the same)."),
    (
        409,
        "Conflict",
        "A stale version (`VERSION_CONFLICT`), a taken unique value, or a state that forbids the operation.",
    ),
    (413, "PayloadTooLarge", "The body is over the size limit."),
    (415, "UnsupportedMediaType", "The body is not `application/json`."),
    (422, "Unprocessable", "Well-formed JSON that breaks the domain's rules; `errors` lists each field."),
    (500, "InternalError", "An unexpected failure; quote `request_id` to support. Causes are never returned."),
    (503, "Unavailable", "A dependency is unreachable (identity service, audit trail); retry shortly."),
];

/// A real problem body for `status`, rendered by the one problem renderer.
pub fn problem_example(status: u16) -> Value {
    use hub_shared::FieldError;
    let err = match status {
        400 => AppError::invalid_param("page_size", "must be an integer from 1 to 100"),
        401 => AppError::unauthenticated("a bearer token is required"),
        403 => AppError::forbidden("FORBIDDEN", "this operation needs the write permission"),
        404 => AppError::NotFound { resource: "contact" },
        409 => AppError::conflict("VERSION_CONFLICT", "the contact is at version 4, not 3; reload it and retry"),
        413 => AppError::PayloadTooLarge { limit: 1_048_576 },
        415 => AppError::UnsupportedMediaType,
        422 => AppError::validation(vec![FieldError::new("email", "invalid_format", "must be an e-mail address")]),
        503 => AppError::unavailable("the audit trail cannot be written right now; retry shortly"),
        _ => AppError::internal("an example of an internal error"),
    };
    // The example is documentation, not a failure: rendered without the error log.
    problem_body(&err, "3f6c1d2e-5b1a-4c55-9a0e-2b7c1f0d9e84").1
}

/// `components.schemas.Problem`: RFC 9457 problem details with our members.
pub fn problem_schema(schemas: &mut Schemas) -> Value {
    let field_error = schemas.reference::<hub_shared::FieldError>();
    let schema = json!({
        "type": "object",
        "description": "RFC 9457 problem details (`application/problem+json`). Switch on `code`, not on `detail`.",
        "properties": {
            "type": { "type": "string", "description": "Always `about:blank`: the status says it all." },
            "title": { "type": "string", "description": "The status's reason phrase." },
            "status": { "type": "integer", "minimum": 400, "maximum": 599 },
            "code": { "type": "string", "description": "A stable machine code: `VALIDATION_FAILED`, `NOT_FOUND`, `VERSION_CONFLICT`..." },
            "detail": { "type": "string", "description": "A sentence for humans; never echoes submitted values." },
            "errors": { "type": "array", "items": field_error, "description": "The fields (or query parameters) at fault; often empty." },
            "request_id": { "type": "string", "description": "Also in the `X-Request-Id` header; quote it to support." },
        },
    });
    schemas.insert("Problem", all_required(schema))
}
