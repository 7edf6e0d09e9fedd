//! The generic CRUD operations of `hub_shared::ops`, described once per operation kind and
//! instantiated for each entity from its `Entity` constants (`PATH`, `FILTERS`, `NAME`), its
//! derived schema, and its validating constructor (required fields, examples).

use crate::document::{Operation, json_body, json_response, param, query};
use crate::schema::{Schemas, all_required, infer, reference, version_schema};
use hub_analytics::AnalyticsRecord;
use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_documents::Document;
use hub_shared::domain::spec::object_schema;
use hub_shared::domain::{Choice, Timestamp, params};
use hub_shared::ops::{self, DEFAULT_PAGE_SIZE, MAX_BATCH_OPERATIONS, MAX_BULK_IDS, MAX_PAGE_SIZE};
use hub_shared::store::{Entity, Meta, Record};
use hub_transactions::Transaction;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// A generic operation of `hub_shared::ops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    List,
    Create,
    Get,
    Replace,
    Patch,
    Delete,
    Restore,
    BulkDelete,
    /// `POST /batch`, accepting these operations (`hub_shared::ops::BATCH_ALL`...).
    Batch(&'static [&'static str]),
}

const CRUD: &[Kind] = &[Kind::List, Kind::Create, Kind::Get, Kind::Replace, Kind::Patch, Kind::Delete, Kind::Restore];
const CRUD_AND_BATCH: &[Kind] = &[
    Kind::List,
    Kind::Create,
    Kind::Get,
    Kind::Replace,
    Kind::Patch,
    Kind::Delete,
    Kind::Restore,
    Kind::Batch(ops::BATCH_ALL),
];

/// A list filter: its name, what it does, its schema.
pub type Filter = (&'static str, &'static str, fn() -> Value);

/// What the code cannot say about an entity: its tag, its operation ids' prefix (the
/// binaries' names), which generic operations it is routed to, its filters' meaning, and an
/// example body (checked by the entity's own constructor).
pub struct Spec {
    pub schema: &'static str,
    pub prefix: &'static str,
    pub tag: &'static str,
    pub kinds: &'static [Kind],
    pub filters: &'static [Filter],
    pub example: fn() -> Value,
}

fn choice<C: Choice>() -> Value {
    params::schema::choice::<C>()
}

fn uuid() -> Value {
    params::schema::uuid()
}

fn instant() -> Value {
    params::schema::instant()
}

/// Every entity served by the generic operations.
pub fn operations(schemas: &mut Schemas, gaps: &mut Vec<String>) -> Vec<Operation> {
    let mut out = Vec::new();
    out.extend(entity::<Contact>(derived::<Contact>(schemas), &CONTACTS, schemas, gaps));
    out.extend(entity::<Appointment>(derived::<Appointment>(schemas), &APPOINTMENTS, schemas, gaps));
    out.extend(entity::<Document>(derived::<Document>(schemas), &DOCUMENTS, schemas, gaps));
    out.extend(entity::<Transaction>(derived::<Transaction>(schemas), &TRANSACTIONS, schemas, gaps));
    // No derive on the analytics record (its crate is not built with schemas): its fields'
    // schema is inferred from a record its constructor built.
    let fields = inferred_fields::<AnalyticsRecord>(&ANALYTICS_RECORDS, gaps);
    out.extend(entity::<AnalyticsRecord>(fields, &ANALYTICS_RECORDS, schemas, gaps));
    out
}

fn derived<E: ToSchema>(schemas: &mut Schemas) -> Value {
    schemas.derived::<E>()
}

fn inferred_fields<E: Entity>(spec: &Spec, gaps: &mut Vec<String>) -> Value {
    match E::from_json(object(&(spec.example)())) {
        Ok(data) => infer(&serde_json::to_value(&data).unwrap_or(Value::Null)),
        Err(err) => {
            gaps.push(format!("{}: the example is refused: {err}", spec.schema));
            json!({ "type": "object" })
        }
    }
}

fn object(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    value.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub const CONTACTS: Spec = Spec {
    schema: "Contact",
    prefix: "contacts",
    tag: "Business",
    kinds: &[
        Kind::List,
        Kind::Create,
        Kind::Get,
        Kind::Replace,
        Kind::Patch,
        Kind::Delete,
        Kind::Restore,
        Kind::BulkDelete,
        Kind::Batch(ops::BATCH_ALL),
    ],
    filters: &[
        ("contact_type", "Only contacts of this type.", choice::<hub_contacts::ContactType>),
        (
            "search",
            "A name prefix (accents and case ignored; first or last name), or an exact e-mail or medical record \
             number. Matches come in alphabetical order; combines with `contact_type`.",
            || {
                with_rules(
                    params::schema::line(hub_contacts::MAX_SEARCH),
                    &[("invalid", "Something must be left once case, accents and spaces are folded away.")],
                )
            },
        ),
    ],
    example: || {
        json!({
            "contact_type": "patient",
            "title": "dr",
            "first_name": "Camille",
            "last_name": "Martin",
            "email": "camille.martin@example.org",
            "phone": "+33 1 23 45 67 89",
            "date_of_birth": "1984-05-17",
            "city": "Lyon",
            "medical_record_number": "MRN-00042",
            "consent_given": true,
            "consent_version": "2025-01",
        })
    },
};

pub const APPOINTMENTS: Spec = Spec {
    schema: "Appointment",
    prefix: "appointments",
    tag: "Business",
    kinds: CRUD_AND_BATCH,
    filters: &[
        ("start_from", "Appointments starting at or after this instant.", instant),
        ("start_to", "Appointments starting before this instant.", || {
            with_rules(instant(), &[("invalid", "After start_from.")])
        }),
        ("status", "Only appointments in this status.", choice::<hub_appointments::Status>),
        ("appointment_type", "Only appointments of this type.", choice::<hub_appointments::AppointmentType>),
        ("contact_id", "Only the appointments of this contact.", uuid),
        ("assigned_provider", "Only the appointments of this provider.", uuid),
    ],
    example: || {
        json!({
            "title": "Annual check-up",
            "contact_id": "6a1f3c8e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
            "start_datetime": "2026-03-02T09:30:00.000Z",
            "end_datetime": "2026-03-02T10:00:00.000Z",
            "timezone": "Europe/Paris",
            "appointment_type": "consultation",
            "assigned_provider": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "location": "Room 2",
            "estimated_cost": "60.00",
        })
    },
};

pub const DOCUMENTS: Spec = Spec {
    schema: "Document",
    prefix: "documents",
    tag: "Business",
    // Create has its own operation (the answer carries an upload URL): see `operations`.
    kinds: &[
        Kind::List,
        Kind::Get,
        Kind::Replace,
        Kind::Patch,
        Kind::Delete,
        Kind::Restore,
        Kind::Batch(ops::BATCH_UPDATES),
    ],
    filters: &[
        ("document_type", "Only documents of this type.", choice::<hub_documents::DocumentType>),
        ("related_contact_id", "Only the documents about this contact.", uuid),
        ("related_appointment_id", "Only the documents of this appointment.", uuid),
        ("privacy_level", "Only documents of this privacy level.", choice::<hub_documents::PrivacyLevel>),
        ("tag", "Only documents carrying this tag.", || params::schema::text(hub_documents::MAX_TAG_LEN)),
    ],
    example: || {
        json!({
            "title": "Blood test results",
            "document_type": "lab_result",
            "file_name": "results.pdf",
            "file_size_bytes": 48213,
            "mime_type": "application/pdf",
            "checksum": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "related_contact_id": "6a1f3c8e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
            "privacy_level": "confidential",
            "tags": ["lab", "2026"],
        })
    },
};

pub const TRANSACTIONS: Spec = Spec {
    schema: "Transaction",
    prefix: "transactions",
    tag: "Business",
    kinds: CRUD_AND_BATCH,
    filters: &[
        ("status", "Only transactions in this status.", choice::<hub_transactions::Status>),
        ("transaction_type", "Only transactions of this type.", choice::<hub_transactions::TransactionType>),
        ("contact_id", "Only the transactions of this contact.", uuid),
        (
            "payment_date_from",
            "Transactions paid at or after this instant (a date means its midnight UTC).",
            params::schema::instant_or_date,
        ),
        ("payment_date_to", "Transactions paid before this instant (a date means its midnight UTC).", || {
            with_rules(params::schema::instant_or_date(), &[("invalid", "Not before payment_date_from.")])
        }),
        ("invoice_number", "Transactions with this invoice number (case ignored).", || {
            params::schema::text(hub_transactions::MAX_INVOICE_NUMBER)
        }),
    ],
    example: || {
        json!({
            "transaction_id": "TX-2026-0001",
            "transaction_type": "payment",
            "status": "pending",
            "amount": "60.00",
            "currency": "EUR",
            "tax_amount": "0.00",
            "contact_id": "6a1f3c8e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
            "payment_method": "card",
            "invoice_number": "INV-0001",
            "due_date": "2026-03-31",
        })
    },
};

pub const ANALYTICS_RECORDS: Spec = Spec {
    schema: "AnalyticsRecord",
    prefix: "analytics-records",
    tag: "Analytics",
    kinds: CRUD,
    filters: &[("metric_name", "Only the records of this metric.", || {
        params::schema::text(hub_analytics::MAX_METRIC_NAME)
    })],
    example: || json!({ "metric_name": "patient_visits", "metric_value": 42.5 }),
};

/// `schema` with rules a schema cannot state (`x-rules`, as the body fields carry them): the
/// error code a schema-valid value may still get, and why.
pub fn with_rules(mut schema: Value, rules: &[(&str, &str)]) -> Value {
    schema["x-rules"] = rules.iter().map(|(code, rule)| json!({ "code": code, "rule": rule })).collect();
    schema
}

/// The metadata of the example records: fixed, so the document is deterministic.
fn example_meta() -> Meta {
    let at = Timestamp::parse("2026-01-15T08:00:00.000Z").unwrap_or_else(Timestamp::now);
    let user = Uuid::from_u128(0x2c5e_8f1a_9b3d_4c7e_8a6f_1d2b_3c4d_5e6f);
    Meta::new(
        Uuid::from_u128(0x0f1e_2d3c_4b5a_4968_8776_a5b4_c3d2_e1f0),
        Uuid::from_u128(0x7d6c_5b4a_3928_4716_a5b4_c3d2_e1f0_0f1e),
        user,
        at,
    )
}

/// The record its constructor builds from the spec's example, as the API returns it.
fn example_record<E: Entity>(spec: &Spec, gaps: &mut Vec<String>) -> Value {
    match E::from_json(object(&(spec.example)())) {
        Ok(mut data) => {
            let meta = example_meta();
            if let Err(err) = data.reconcile(None, meta.created_at) {
                gaps.push(format!("{}: the example is refused on create: {err}", spec.schema));
            }
            Record { meta, data }.to_json()
        }
        Err(err) => {
            gaps.push(format!("{}: the example is refused: {err}", spec.schema));
            Value::Null
        }
    }
}

/// The generic operations `spec` routes for `E`, with its schemas registered:
/// `<Schema>` (a record as returned), `<Schema>Input` (a body), `<Schema>Page` (a list page).
pub fn entity<E: Entity>(fields: Value, spec: &Spec, schemas: &mut Schemas, gaps: &mut Vec<String>) -> Vec<Operation> {
    let name = spec.schema;
    let example = example_record::<E>(spec, gaps);
    let input_example = (spec.example)();

    // The record: metadata, the entity's fields, and its computed fields, all always present.
    let meta = schemas.derived::<Meta>();
    let mut properties = Map::new();
    for source in [&meta, &fields] {
        if let Some(p) = source["properties"].as_object() {
            properties.extend(p.clone());
        }
    }
    let computed: Map<String, Value> = match E::from_json(object(&input_example)) {
        Ok(data) => data.computed(),
        Err(_) => Map::new(),
    };
    for (field, value) in &computed {
        let mut schema = infer(value);
        schema["readOnly"] = json!(true);
        schema["description"] = json!("Computed by the server; ignored when sent.");
        properties.insert(field.clone(), schema);
    }
    for field in Meta::FIELDS {
        if let Some(p) = properties.get_mut(*field) {
            p["readOnly"] = json!(true);
        }
    }
    let record = all_required(json!({
        "type": "object",
        "description": format!("A {} as the API returns it: its fields, its metadata and computed fields.", E::NAME),
        "properties": properties,
    }));
    let record_ref = schemas.insert(name, record);

    // A body: what the entity's validating constructor accepts, read from the constructor
    // itself in describe mode (types, lengths, patterns, ranges, required fields, defaults,
    // unknown fields refused, and the rules beyond a schema in `x-rules`). Metadata and computed
    // fields are accepted and ignored, so a record read can be sent back as is.
    let mut input = object_schema(&E::body_spec());
    input["properties"]["version"] = version_schema();
    input["description"] = json!(format!(
        "A {} as a request body. Omitted optional fields take their defaults; read-only fields of a record \
         (metadata, computed fields) are accepted and ignored; any other member is refused.",
        E::NAME
    ));
    let mut patch = input.clone();
    patch["required"] = json!([]);
    patch["description"] = json!(format!(
        "Any of {name}Input's fields: each replaces the current value (`null` resets an optional one to its \
         default), and the merged whole is validated as a PUT body."
    ));
    let input_ref = schemas.insert(&format!("{name}Input"), input);
    let patch_ref = schemas.insert(&format!("{name}Patch"), patch);

    let page_ref = schemas.insert(
        &format!("{name}Page"),
        json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": record_ref },
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; `null` on the last one.",
                },
            },
        }),
    );

    for filter in E::FILTERS {
        if !spec.filters.iter().any(|(f, _, _)| f == filter) {
            gaps.push(format!("{name}: the list filter `{filter}` has no description"));
        }
    }
    for (filter, _, _) in spec.filters {
        if !E::FILTERS.contains(filter) {
            gaps.push(format!("{name}: `{filter}` is described but not a filter of the entity"));
        }
    }

    let collection = E::PATH.to_string();
    let item = format!("{collection}/{{id}}");
    let op_id = |kind: &str| format!("{}-{kind}", spec.prefix);
    let noun = E::NAME;
    let mut ops = Vec::new();
    for kind in spec.kinds {
        let op = match kind {
            Kind::List => {
                let mut parameters = vec![param("page_size"), param("cursor"), param("deleted")];
                for (filter, description, schema) in spec.filters {
                    parameters.push(query(filter, description, schema()));
                }
                Operation::new("GET", &collection, op_id("list"), spec.tag)
                    .summary(
                        format!("List {noun}s"),
                        format!(
                            "Newest first unless a filter orders otherwise. Unknown parameters are refused (400 \
                             `UNKNOWN_PARAMETER`). Admins may list the trash with `deleted=true` (no other filter). \
                             Accepted filters: {}.",
                            E::FILTERS.join(", ")
                        ),
                    )
                    .parameters(parameters)
                    .response(200, json_response("A page of records.", page_ref.clone(), None, &[]))
                    .problems(&[400])
            }
            Kind::Create => Operation::new("POST", &collection, op_id("create"), spec.tag)
                .summary(
                    format!("Create a {noun}"),
                    "201 with the full record. A retried request with the same `Idempotency-Key` gets the first \
                     answer again (`Idempotent-Replayed: true`), never a duplicate.",
                )
                .parameters([param("Idempotency-Key")])
                .body(json_body(&format!("The new {noun}."), input_ref.clone(), Some(input_example.clone()), true))
                .response(
                    201,
                    json_response(
                        "Created.",
                        record_ref.clone(),
                        Some(example.clone()),
                        &["ETag", "Location", "Idempotent-Replayed"],
                    ),
                )
                .problems(&[400, 409, 413, 415, 422]),
            Kind::Get => Operation::new("GET", &item, op_id("get"), spec.tag)
                .summary(format!("Get a {noun}"), "Admins may add `include_deleted=true` to read a deleted record.")
                .parameters([param("id"), param("include_deleted")])
                .response(200, json_response("The record.", record_ref.clone(), Some(example.clone()), &["ETag"]))
                .problems(&[400, 404]),
            Kind::Replace => Operation::new("PUT", &item, op_id("replace"), spec.tag)
                .summary(
                    format!("Replace a {noun}"),
                    "Replaces every writable field; omitted optional fields take their defaults. `If-Match` (or a \
                     body `version`) makes the write fail with 409 if the record changed since it was read.",
                )
                .parameters([param("id"), param("If-Match")])
                .body(json_body(&format!("The whole {noun}."), input_ref.clone(), Some(input_example.clone()), true))
                .response(200, json_response("The updated record.", record_ref.clone(), Some(example.clone()), &["ETag"]))
                .problems(&[400, 404, 409, 413, 415, 422]),
            Kind::Patch => Operation::new("PATCH", &item, op_id("patch"), spec.tag)
                .summary(
                    format!("Update some fields of a {noun}"),
                    "A JSON merge patch (RFC 7396): fields sent replace the current ones, `null` resets a field to \
                     its default; the merged whole is validated as a `PUT`.",
                )
                .parameters([param("id"), param("If-Match")])
                .body(json_body(
                    "The fields to change (`application/json` or `application/merge-patch+json`).",
                    patch_ref.clone(),
                    None,
                    true,
                ))
                .response(200, json_response("The updated record.", record_ref.clone(), Some(example.clone()), &["ETag"]))
                .problems(&[400, 404, 409, 413, 415, 422]),
            Kind::Delete => Operation::new("DELETE", &item, op_id("delete"), spec.tag)
                .summary(
                    format!("Delete a {noun}"),
                    "A soft delete: the record leaves every list and an admin can restore it.",
                )
                .parameters([param("id"), param("If-Match")])
                .response(200, json_response("Deleted.", reference("Deleted"), None, &["ETag"]))
                .problems(&[400, 404, 409]),
            Kind::Restore => Operation::new("POST", format!("{item}/restore"), op_id("restore"), spec.tag)
                .summary(
                    format!("Restore a deleted {noun}"),
                    "Admins only. 409 `NOT_DELETED` if the record is live, or if one of its unique values was taken \
                     meanwhile.",
                )
                .parameters([param("id")])
                .response(200, json_response("The restored record.", record_ref.clone(), None, &["ETag"]))
                .problems(&[404, 409]),
            Kind::BulkDelete => Operation::new("DELETE", format!("{collection}/bulk"), op_id("bulk-delete"), spec.tag)
                .summary(
                    format!("Delete several {noun}s"),
                    format!(
                        "Admins only. Each id (at most {MAX_BULK_IDS}) is soft-deleted and reported on its own, in \
                         the order given; an unknown id is `not_found`, not an error."
                    ),
                )
                .body(json_body(
                    "The ids.",
                    json!({
                        "type": "object",
                        "required": ["ids"],
                        "additionalProperties": false,
                        "properties": {
                            "ids": { "type": "array", "minItems": 1, "maxItems": MAX_BULK_IDS, "items": { "type": "string" } },
                        },
                    }),
                    Some(json!({ "ids": [example_meta().id] })),
                    true,
                ))
                .response(200, json_response("What happened to each id.", reference("BulkDeleted"), None, &[]))
                .problems(&[400, 413, 415, 422]),
            Kind::Batch(allowed) => Operation::new("POST", format!("{collection}/batch"), op_id("batch"), spec.tag)
                .summary(
                    format!("Several writes of {noun}s in one request"),
                    format!(
                        "At most {MAX_BATCH_OPERATIONS} operations ({}), each decided exactly as its single endpoint \
                         decides it (permission, body, version, rules) and audited like it. Without `atomic`, they run \
                         one after another and each is answered on its own, in order: its record or its problem. \
                         With `\"atomic\": true`, all are written in one transaction or none is: every record, or \
                         the failing operation's problem and `424 NOT_APPLIED` for every other one (`NOT_ATOMIC` \
                         when two of them write the same record, unique value or schedule, which one transaction \
                         cannot check against each other); 422 `BATCH_TOO_LARGE` when they need more than one \
                         transaction holds (100 items: each record also writes its list entries and unique values), \
                         saying how many fit. A malformed operation refuses the whole batch (422 naming \
                         `operations[i].field`). An `Idempotency-Key` makes a retry a \
                         replay of the first outcome (`Idempotent-Replayed: true`), records read as they are now.",
                        allowed.join(", ")
                    ),
                )
                .parameters([param("Idempotency-Key")])
                .body(json_body(
                    "The operations, and whether they are applied all or nothing.",
                    batch_request(allowed, &input_ref, &patch_ref),
                    Some(batch_example(allowed, &input_example)),
                    true,
                ))
                .response(
                    200,
                    json_response(
                        "One result per operation, in order.",
                        batch_results(schemas, name, &record_ref),
                        None,
                        &["Idempotent-Replayed"],
                    ),
                )
                .problems(&[400, 409, 413, 415, 422]),
        };
        ops.push(op);
    }
    ops
}

/// A batch's body: one schema per kind of operation this entity's batch accepts. Bodies are
/// only required to be objects here: their fields are decided per operation, as the single
/// endpoint decides them, and a refused body is that operation's 422 result.
fn batch_request(allowed: &[&str], input_ref: &Value, patch_ref: &Value) -> Value {
    let id = json!({ "type": "string", "format": "uuid", "description": "The record's id." });
    let version =
        json!({ "type": "integer", "minimum": 1, "description": "As `If-Match`: the version the write expects." });
    let variants: Vec<Value> = allowed
        .iter()
        .map(|op| {
            let mut properties = serde_json::Map::new();
            properties.insert("op".into(), json!({ "type": "string", "enum": [op] }));
            let mut required = vec!["op"];
            if *op != "create" {
                properties.insert("id".into(), id.clone());
                required.push("id");
            }
            if matches!(*op, "replace" | "patch" | "delete") {
                properties.insert("version".into(), version.clone());
            }
            let body = match *op {
                "create" | "replace" => Some(input_ref),
                "patch" => Some(patch_ref),
                _ => None,
            };
            if let Some(body) = body {
                properties.insert(
                    "body".into(),
                    json!({ "type": "object", "description": format!("As the single endpoint's body: {}.", body["$ref"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default()) }),
                );
                required.push("body");
            }
            json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
        })
        .collect();
    with_rules(
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["operations"],
            "properties": {
                "atomic": { "type": "boolean", "default": false, "description": "All or nothing, in one transaction." },
                "operations": {
                    "type": "array", "minItems": 1, "maxItems": MAX_BATCH_OPERATIONS,
                    "items": { "oneOf": variants },
                },
            },
        }),
        &[(
            "BATCH_TOO_LARGE",
            "With `atomic`, the operations' items (each record, its list entries and unique values) fit one \
         transaction: 100 items and 4 MB.",
        )],
    )
}

fn batch_example(allowed: &[&str], input_example: &Value) -> Value {
    let id = example_meta().id;
    let mut operations = Vec::new();
    if allowed.contains(&"create") {
        operations.push(json!({ "op": "create", "body": input_example }));
    }
    operations.push(json!({ "op": "delete", "id": id, "version": 1 }));
    json!({ "atomic": false, "operations": operations })
}

/// The answer of an entity's batch: `{Name}BatchResults`.
fn batch_results(schemas: &mut Schemas, name: &str, record_ref: &Value) -> Value {
    schemas.insert(
        &format!("{name}BatchResults"),
        all_required(json!({
            "type": "object",
            "properties": {
                "atomic": { "type": "boolean" },
                "succeeded": { "type": "integer", "minimum": 0 },
                "failed": { "type": "integer", "minimum": 0 },
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "op", "id", "status"],
                        "properties": {
                            "index": { "type": "integer", "minimum": 0 },
                            "op": { "type": "string", "enum": ["create", "replace", "patch", "delete", "restore"] },
                            "id": { "type": ["string", "null"], "format": "uuid", "description": "The record's id (`null` for a refused create)." },
                            "status": {
                                "type": "integer",
                                "description": "What the single endpoint would have answered; 424 (`NOT_APPLIED`) for the \
                                                other operations of an atomic batch that one of them failed.",
                            },
                            "record": record_ref,
                            "problem": reference("Problem"),
                        },
                    },
                },
            },
        })),
    )
}

/// `If-Match` (RFC 9110): `*`, or a list of entity tags, each `"..."` or `W/"..."` of visible
/// ASCII but the quote ([`hub_shared::http::parse_if_match`]).
pub const IF_MATCH_PATTERN: &str = r#"^(?:|\*|(?:W/)?"[!#-~]*"(?:[ \t]*,[ \t]*(?:W/)?"[!#-~]*")*)$"#;

/// `components.parameters`: the ones every entity's operations share.
pub fn shared_parameters() -> Value {
    json!({
        "id": {
            "name": "id", "in": "path", "required": true,
            "description": "The record's id. An id that is not a UUID names nothing: 404.",
            "schema": { "type": "string", "format": "uuid" },
        },
        "page_size": {
            "name": "page_size", "in": "query", "required": false,
            "description": "Records per page.",
            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE },
        },
        "cursor": {
            "name": "cursor", "in": "query", "required": false,
            "description": "The previous page's `next_cursor`: opaque, signed, bound to the organization and the query.",
            "schema": with_rules(
                json!({ "type": "string" }),
                &[("INVALID_CURSOR", "A `next_cursor` this API returned for the same query and organization.")],
            ),
        },
        "deleted": {
            "name": "deleted", "in": "query", "required": false,
            "description": "Admins: list the trash (soft-deleted records) instead; takes no other filter.",
            "schema": with_rules(
                json!({ "type": "boolean", "default": false }),
                &[("invalid", "`true` takes no other filter.")],
            ),
        },
        "include_deleted": {
            "name": "include_deleted", "in": "query", "required": false,
            "description": "Admins: also answer for a soft-deleted record.",
            "schema": { "type": "boolean", "default": false },
        },
        "If-Match": {
            "name": "If-Match", "in": "header", "required": false,
            "description": "`*`, or the `ETag` of the version this write expects (a list of them: any may match). \
                Compared strongly (RFC 9110): a weak tag matches nothing. 409 `VERSION_CONFLICT` if the record moved on. \
                Empty: no precondition.",
            "schema": with_rules(
                json!({ "type": "string", "pattern": IF_MATCH_PATTERN }),
                &[("VERSION_MISMATCH", "When the body also gives a `version`, it must be one of these.")],
            ),
            "example": "\"3\"",
        },
        "Idempotency-Key": {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "1 to 255 visible ASCII characters. A retry with the same key and body gets the first answer; \
                the same key with another body is 409.",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$" },
        },
    })
}

/// Replies of the generic operations that are not records.
pub fn reply_schemas(schemas: &mut Schemas) {
    schemas.insert(
        "Deleted",
        all_required(json!({
            "type": "object",
            "properties": {
                "success": { "type": "boolean", "const": true },
                "message": { "type": "string" },
                "id": { "type": "string", "format": "uuid" },
                "version": { "type": "integer" },
            },
        })),
    );
    schemas.insert(
        "BulkDeleted",
        all_required(json!({
            "type": "object",
            "properties": {
                "success": { "type": "boolean" },
                "deleted_count": { "type": "integer" },
                "message": { "type": "string" },
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "status"],
                        "properties": {
                            "id": { "type": "string" },
                            "status": { "type": "string", "enum": ["deleted", "not_found", "conflict"] },
                            "version": { "type": "integer", "description": "When deleted." },
                            "code": { "type": "string", "description": "When not deleted: the problem code." },
                        },
                    },
                },
            },
        })),
    );
}
