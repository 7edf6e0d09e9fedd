//! Operations with their own handler: the public system routes, entity actions (confirm,
//! refund, approve...), the document file flow, the audit API, RGPD and the analytics summary.
//! Their records reuse the entity schemas of [`crate::entities`]; replies built by hand in
//! their handlers are described here, with examples from the same code where it is public.

use crate::document::{Operation, json_body, json_response, param, query};
use crate::entities::with_rules;
use crate::schema::{Schemas, all_required, reference, version_schema};
use hub_shared::audit::Action;
use hub_shared::audit::query::{MAX_RESOURCE_ID, MAX_RESOURCE_TYPE};
use hub_shared::domain::params;
use hub_shared::domain::spec::object_schema;
use hub_shared::store::Entity;
use serde_json::{Value, json};

const ACTION_BODY: &str = "Optional: `{\"version\": n}` (as `If-Match`), nothing else.";

fn action_body() -> Value {
    json_body(
        ACTION_BODY,
        json!({ "type": "object", "additionalProperties": false, "properties": { "version": version_schema() } }),
        None,
        false,
    )
}

/// A refund's body, from the refund operation's own field list.
fn refund_body() -> Value {
    let mut schema = object_schema(&hub_transactions::refund_body_spec());
    schema["properties"]["version"] = version_schema();
    schema
}

/// A new version's body: a document's fields, none required (the metadata is inherited; the
/// file's are required by the rule in `x-rules`), `parent_document_id` taken from the path.
fn version_body() -> Value {
    let fields: Vec<_> = hub_documents::Document::body_spec().into_iter().map(|f| f.optional()).collect();
    let mut schema = object_schema(&fields);
    schema["properties"]["version"] = version_schema();
    schema["description"] = json!(
        "Any of DocumentInput's fields: the ones not sent are inherited from the document named in the path; \
         the new file's `file_size_bytes` and `checksum` must be given."
    );
    schema
}

fn presigned(schemas: &mut Schemas) -> Value {
    schemas.insert(
        "PresignedRequest",
        all_required(json!({
            "type": "object",
            "description": "A short-lived presigned S3 request: send exactly this method and these headers to `url`.",
            "properties": {
                "url": { "type": "string", "format": "uri" },
                "method": { "type": "string", "enum": ["GET", "PUT"] },
                "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                "expires_at": { "type": "string", "format": "date-time" },
            },
        })),
    )
}

pub fn operations(schemas: &mut Schemas) -> Vec<Operation> {
    crate::entities::reply_schemas(schemas);
    let mut ops = system();
    ops.extend(business(schemas));
    ops.extend(audit_and_privacy(schemas));
    ops.extend(analytics(schemas));
    ops.extend(realtime(schemas));
    ops.extend(exports(schemas));
    ops.extend(imports(schemas));
    ops
}

fn system() -> Vec<Operation> {
    vec![
        Operation::new("GET", "/api/health", "health", "System")
            .public()
            .summary("Liveness", "Touches no dependency: answers whether the function runs at all.")
            .response(
                200,
                json_response(
                    "Healthy.",
                    all_required(json!({
                        "type": "object",
                        "properties": {
                            "status": { "type": "string", "const": "healthy" },
                            "service": { "type": "string" },
                            "version": { "type": "string" },
                        },
                    })),
                    Some(
                        json!({ "status": "healthy", "service": "hub-backend", "version": env!("CARGO_PKG_VERSION") }),
                    ),
                    &[],
                ),
            ),
        Operation::new("GET", "/api/openapi.json", "openapi-json", "System")
            .public()
            .summary("This document", "The OpenAPI 3.1 document of the API, generated from its code.")
            .response(200, json_response("The document.", json!({ "type": "object" }), None, &[])),
        Operation::new("GET", "/api/docs", "docs", "System")
            .public()
            .summary("The interactive docs page", "Swagger UI over this document; every asset is served by the API.")
            .response(200, html("The page.")),
        Operation::new("GET", "/api/docs/{asset}", "docs-asset", "System")
            .public()
            .summary("An asset of the docs page", "The page's script and style sheets.")
            .parameters([json!({
                "name": "asset", "in": "path", "required": true,
                "schema": { "type": "string", "enum": crate::docs::ASSET_NAMES },
            })])
            .response(
                200,
                json!({
                    "description": "The asset (`text/javascript` or `text/css`).",
                    "content": {
                        "text/javascript": { "schema": { "type": "string" } },
                        "text/css": { "schema": { "type": "string" } },
                    },
                }),
            )
            .problems(&[404]),
    ]
}

fn html(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

fn business(schemas: &mut Schemas) -> Vec<Operation> {
    let appointment = reference("Appointment");
    let transaction = reference("Transaction");
    let document = reference("Document");
    let upload = presigned(schemas);
    let created_document = schemas.insert(
        "DocumentCreated",
        json!({
            "allOf": [
                document.clone(),
                {
                    "type": "object",
                    "properties": { "upload": upload.clone() },
                    "description": "`upload`: where to PUT the file (absent when a replayed create's upload already completed).",
                },
            ],
        }),
    );
    let download = schemas.insert(
        "DocumentDownload",
        json!({
            "allOf": [
                upload.clone(),
                all_required(json!({
                    "type": "object",
                    "properties": {
                        "file_name": { "type": "string" },
                        "mime_type": { "type": "string" },
                        "file_size_bytes": { "type": "integer" },
                        "checksum": { "type": "string", "description": "SHA-256, hex." },
                    },
                })),
            ],
        }),
    );
    let created_headers = &["ETag", "Location", "Idempotent-Replayed"];
    vec![
        Operation::new("POST", "/api/business/appointments/{id}/confirm", "appointments-confirm", "Business")
            .summary("Confirm an appointment", "A scheduled appointment becomes confirmed, stamped `confirmed_at`; 409 `INVALID_TRANSITION` otherwise.")
            .parameters([param("id"), param("If-Match")])
            .body(action_body())
            .response(200, json_response("The confirmed appointment.", appointment.clone(), None, &["ETag"]))
            .problems(&[400, 404, 409, 413, 415, 422]),
        Operation::new("POST", "/api/business/appointments/{id}/cancel", "appointments-cancel", "Business")
            .summary("Cancel an appointment", "A scheduled, confirmed or in-progress appointment becomes cancelled and frees its provider's time.")
            .parameters([param("id"), param("If-Match")])
            .body(action_body())
            .response(200, json_response("The cancelled appointment.", appointment, None, &["ETag"]))
            .problems(&[400, 404, 409, 413, 415, 422]),
        Operation::new("POST", "/api/business/transactions/{id}/refund", "transactions-refund", "Business")
            .summary(
                "Refund a transaction",
                "Creates a `refund` transaction for (part of) a completed payment, charge, fee or subscription; no \
                 body refunds the whole remainder. The original becomes `refunded` once refunds cover it. \
                 `Idempotency-Key` makes a retry safe.",
            )
            .parameters([param("id"), param("If-Match"), param("Idempotency-Key")])
            .body(json_body(
                "Optional: the refund's amount and payment details.",
                refund_body(),
                Some(json!({ "amount": "20.00", "description": "Partial refund" })),
                false,
            ))
            .response(201, json_response("The refund transaction.", transaction, None, created_headers))
            .problems(&[400, 404, 409, 413, 415, 422]),
        Operation::new("POST", "/api/business/documents", "documents-create", "Business")
            .summary(
                "Create a document and get its upload URL",
                "201 with the record (`upload_status: pending`) and `upload`, a presigned PUT for the file. Then call \
                 `complete`. A body with `parent_document_id` creates a new version of that document.",
            )
            .parameters([param("Idempotency-Key")])
            .body(json_body("The document's metadata and its file's size and SHA-256.", reference("DocumentInput"), None, true))
            .response(201, json_response("Created, with the upload URL.", created_document.clone(), None, created_headers))
            .problems(&[400, 409, 413, 415, 422]),
        Operation::new("POST", "/api/business/documents/{id}/complete", "documents-complete", "Business")
            .summary(
                "Check an uploaded file",
                "Compares the stored object with the declared size and SHA-256: the document becomes `available`, or \
                 `rejected` with a reason. 409 `UPLOAD_NOT_FOUND` before the PUT, `NOT_PENDING` after a check.",
            )
            .parameters([param("id")])
            .response(200, json_response("The checked document.", document.clone(), None, &["ETag"]))
            .problems(&[404, 409]),
        Operation::new("GET", "/api/business/documents/{id}/download", "documents-download", "Business")
            .summary("Get a download URL", "A short-lived presigned GET for an available file; the download is audited.")
            .parameters([param("id")])
            .response(200, json_response("Where to GET the file.", download, None, &[]))
            .problems(&[404, 409]),
        Operation::new("GET", "/api/business/documents/{id}/versions", "documents-versions-list", "Business")
            .summary("List a document's versions", "Every version of the document `{id}` belongs to, oldest first.")
            .parameters([param("id"), param("page_size"), param("cursor")])
            .response(200, json_response("A page of versions.", reference("DocumentPage"), None, &[]))
            .problems(&[400, 404]),
        Operation::new("POST", "/api/business/documents/{id}/versions", "documents-versions-create", "Business")
            .summary(
                "Create a new version",
                "Version n+1 of the document, with a new upload URL. Metadata not in the body is inherited; the file \
                 (`file_size_bytes`, `checksum`) must be declared anew.",
            )
            .parameters([param("id"), param("Idempotency-Key")])
            .body(json_body("The new file and any metadata to change.", version_body(), None, true))
            .response(201, json_response("The new version, with the upload URL.", created_document, None, created_headers))
            .problems(&[400, 404, 409, 413, 415, 422]),
        Operation::new("POST", "/api/business/documents/{id}/approve", "documents-approve", "Business")
            .summary("Approve a document", "Admins and clinical roles; the file must be available (409 otherwise).")
            .parameters([param("id"), param("If-Match")])
            .body(action_body())
            .response(200, json_response("The approved document.", document, None, &["ETag"]))
            .problems(&[400, 404, 409, 413, 415, 422]),
    ]
}

fn audit_and_privacy(schemas: &mut Schemas) -> Vec<Operation> {
    let entry = schemas.insert(
        "AuditRecord",
        json!({
            "type": "object",
            "description": "One audit record: who did what to which record, when, from where, and which fields changed \
                (personal values shown while their person's key exists, `[erased]` after).",
            "additionalProperties": true,
        }),
    );
    let page = schemas.insert(
        "AuditPage",
        json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": entry.clone() },
                "next_cursor": { "type": ["string", "null"] },
            },
        }),
    );
    vec![
        Operation::new("GET", "/api/audit/logs", "audit-logs", "Audit")
            .summary("Search the audit trail", "Admins, owners and auditors. Newest first.")
            .parameters([
                query(
                    "resource_type",
                    "With `resource_id`: one record's trail (e.g. `CONTACT`; case ignored).",
                    with_rules(
                        json!({ "type": "string", "minLength": 1, "maxLength": MAX_RESOURCE_TYPE, "pattern": "^[A-Za-z0-9_]+$" }),
                        &[("invalid", "Given with resource_id.")],
                    ),
                ),
                query(
                    "resource_id",
                    "With `resource_type`.",
                    with_rules(
                        json!({
                            "type": "string", "minLength": 1, "maxLength": MAX_RESOURCE_ID,
                            "pattern": "^[^#\\x00-\\x1F\\x7F-\\x9F]*[^#\\x00-\\x1F\\x7F-\\x9F \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^#\\x00-\\x1F\\x7F-\\x9F]*$",
                        }),
                        &[("invalid", "Given with resource_type.")],
                    ),
                ),
                query(
                    "user_id",
                    "One user's acts, or `system`.",
                    json!({ "anyOf": [params::schema::uuid(), { "type": "string", "const": "system" }] }),
                ),
                query(
                    "action",
                    "One kind of act.",
                    json!({ "type": "string", "enum": Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>() }),
                ),
                query("risk", "One risk level.", json!({ "type": "string", "enum": ["low", "medium", "high"] })),
                query(
                    "from",
                    "At or after this instant.",
                    with_rules(params::schema::instant(), &[("invalid", "Not after `to`.")]),
                ),
                query("to", "At or before this instant.", params::schema::instant()),
                param("page_size"),
                param("cursor"),
            ])
            .response(200, json_response("A page of audit records.", page.clone(), None, &[]))
            .problems(&[400]),
        Operation::new("GET", "/api/business/contacts/{id}/history", "contacts-history", "Audit")
            .summary(
                "A contact's audit trail",
                "Admins, owners and auditors; deleted contacts too. Reading it is audited.",
            )
            .parameters([param("id"), param("page_size"), param("cursor")])
            .response(200, json_response("A page of the contact's audit records.", page, None, &[]))
            .problems(&[400, 404]),
        Operation::new("GET", "/api/business/contacts/{id}/export", "contacts-export", "Privacy")
            .summary(
                "Export a contact's data (RGPD access and portability)",
                "The contact, its appointments, transactions and documents (with download URLs), its consent history \
                 and audit trail, in one document. Audited as an export.",
            )
            .parameters([param("id")])
            .response(
                200,
                json_response(
                    "The export.",
                    all_required(json!({
                        "type": "object",
                        "properties": {
                            "format": { "type": "string" },
                            "exported_at": { "type": "string", "format": "date-time" },
                            "organization_id": { "type": "string", "format": "uuid" },
                            "subject": { "type": "object" },
                            "contact": reference("Contact"),
                            "appointments": { "type": "array", "items": reference("Appointment") },
                            "transactions": { "type": "array", "items": reference("Transaction") },
                            "documents": { "type": "array", "items": reference("Document") },
                            "consent_history": { "type": "array", "items": { "type": "object" } },
                            "audit_trail": { "type": "array", "items": entry },
                        },
                    })),
                    None,
                    &[],
                ),
            )
            .problems(&[404]),
        Operation::new("POST", "/api/business/contacts/{id}/anonymize", "contacts-anonymize", "Privacy")
            .summary(
                "Erase a contact (RGPD)",
                "Admins only. Irreversibly replaces the contact's identifying fields and those of its records, deletes \
                 its files and erases its personal values from the audit trail. Repeating it does nothing more.",
            )
            .parameters([param("id")])
            .response(
                200,
                json_response(
                    "What the erasure did.",
                    all_required(json!({
                        "type": "object",
                        "properties": {
                            "already_anonymized": { "type": "boolean" },
                            "appointments": { "type": "integer" },
                            "documents": { "type": "integer" },
                            "transactions": { "type": "integer" },
                            "file_versions_deleted": { "type": "integer" },
                            "contact": reference("Contact"),
                        },
                    })),
                    None,
                    &["ETag"],
                ),
            )
            .problems(&[404, 409]),
    ]
}

/// The summary: its schema is inferred from a real summary, computed by the analytics crate
/// from empty counters over a fixed range.
fn analytics(schemas: &mut Schemas) -> Vec<Operation> {
    let day = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap_or_default();
    let range = hub_analytics::summary::Range { from: day("2026-01-01"), to: day("2026-01-02") };
    let example = serde_json::to_value(hub_analytics::summary::Summary::compute(
        &hub_analytics::table::Counters::default(),
        &range,
        day("2026-01-02"),
    ))
    .unwrap_or(Value::Null);
    let summary = schemas.reference::<hub_analytics::summary::Summary>();
    vec![
        Operation::new("GET", "/api/analytics/summary", "analytics-summary", "Analytics")
            .summary(
                "The organization in figures",
                "Contacts by type and consent; appointments by status and per day over `from`..`to` (default: the 30 \
                 days to today, at most 366); the no-show rate; revenue per month and currency; pending and overdue \
                 amounts; documents by type, pending approval, and storage. Read from counters kept by the stream: \
                 constant cost whatever the organization's size. `format=csv` gives the same figures as a table.",
            )
            .parameters([
                query("from", "First day (YYYY-MM-DD).", params::schema::date()),
                query(
                    "to",
                    "Last day (YYYY-MM-DD), default today.",
                    with_rules(
                        params::schema::date(),
                        &[
                            ("invalid_value", "Not before `from`."),
                            ("range_too_long", "At most 366 days from `from` (the default `from` is 29 days before)."),
                        ],
                    ),
                ),
                query("format", "`json` (default) or `csv`.", json!({ "type": "string", "enum": ["json", "csv"] })),
            ])
            .response(
                200,
                json!({
                    "description": "The summary.",
                    "content": {
                        "application/json": { "schema": summary, "example": example },
                        "text/csv": { "schema": { "type": "string" } },
                    },
                }),
            )
            .problems(&[400, 422]),
    ]
}

/// The ticket that opens one WebSocket connection (README, "Real-time notifications").
fn realtime(schemas: &mut Schemas) -> Vec<Operation> {
    let ticket = schemas.insert(
        "RealtimeTicket",
        all_required(json!({
            "type": "object",
            "description": "A one-time ticket for the WebSocket API: connect to `url` with `?ticket=<ticket>` before \
                `expires_at`. It works once; ask for a new one for every connection, reconnections included.",
            "properties": {
                "ticket": { "type": "string", "description": "Opaque; spent by the first connection that presents it." },
                "expires_at": { "type": "string", "format": "date-time" },
                "url": { "type": "string", "format": "uri", "description": "The WebSocket API (`wss://`)." },
            },
        })),
    );
    vec![
        Operation::new("POST", "/api/realtime/tickets", "realtime-tickets", "Realtime")
            .summary(
                "A ticket for real-time notifications",
                format!(
                    "Any caller of an organization. The ticket is random, stored only as its hash with the caller's \
                     user, organization and roles, and expires after {} seconds; the JWT itself never goes to the \
                     WebSocket API. Answered with `Cache-Control: no-store`.",
                    hub_realtime::ticket::TICKET_TTL_SECS
                ),
            )
            .body(json_body(
                "Nothing, or `{}`.",
                json!({ "type": "object", "additionalProperties": false, "maxProperties": 0 }),
                None,
                false,
            ))
            .response(201, json_response("The ticket.", ticket, None, &[]))
            .problems(&[400]),
    ]
}

/// A practice's whole export (README, "Exports"): the view is `hub_exports::api::view`, whose
/// pending export is the example.
fn exports(schemas: &mut Schemas) -> Vec<Operation> {
    let download = presigned(schemas);
    let nullable_download = json!({ "anyOf": [download, { "type": "null" }] });
    let nullable_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let file = all_required(json!({
        "type": "object",
        "description": "One NDJSON file: one record per line, as the API returns it (deleted and erased ones included).",
        "properties": {
            "entity": { "type": "string", "enum": hub_exports::ENTITIES.iter().map(|e| e.name).collect::<Vec<_>>() },
            "records": count, "deleted": count, "anonymized": count, "bytes": count,
            "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
            "download": nullable_download,
        },
    }));
    let export = schemas.insert(
        "Export",
        all_required(json!({
            "type": "object",
            "description": "An export of the whole organization. `download` URLs are set only in the answer to a GET of a \
                `done` export, signed afresh each time.",
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "state": { "type": "string", "enum": ["pending", "running", "done", "failed", "expired"] },
                "requested_by": { "type": "string", "format": "uuid" },
                "created_at": { "type": "string", "format": "date-time" },
                "started_at": nullable_time,
                "finished_at": nullable_time,
                "expires_at": { "type": ["string", "null"], "format": "date-time", "description": "When the files are deleted." },
                "error": { "type": ["string", "null"] },
                "progress": all_required(json!({
                    "type": "object",
                    "properties": {
                        "entities_done": count, "entities_total": count, "records_written": count,
                        "current_entity": { "type": ["string", "null"] },
                    },
                })),
                "files": { "type": "array", "items": file },
                "manifest": {
                    "anyOf": [
                        all_required(json!({
                            "type": "object",
                            "properties": {
                                "bytes": count, "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                                "download": nullable_download,
                            },
                        })),
                        { "type": "null" },
                    ],
                },
            },
        })),
    );
    // Fixed id and times: the committed document must be the same on every build.
    let at = hub_shared::domain::Timestamp::parse("2026-01-05T09:30:00.000Z")
        .unwrap_or_else(hub_shared::domain::Timestamp::now);
    let mut job = hub_exports::Job::new(hub_shared::auth::OrgId::new(uuid::Uuid::nil()), uuid::Uuid::nil());
    (job.id, job.created_at, job.updated_at) = (uuid::Uuid::nil(), at, at);
    let example = hub_exports::api::view(&job, at, None);
    vec![
        Operation::new("POST", "/api/business/exports", "exports-create", "Privacy")
            .summary(
                "Export the whole organization",
                "Admins, owners and auditors. Starts an export of every record of the organization (live, deleted and \
                 erased) as NDJSON files, one per entity, and a manifest; follow it at `Location`. Audited as an \
                 export (high risk). 409 `EXPORT_IN_PROGRESS` while another export of the organization is unfinished.",
            )
            .body(json_body(
                "Nothing, or `{}`.",
                json!({ "type": "object", "additionalProperties": false, "maxProperties": 0 }),
                None,
                false,
            ))
            .response(202, json_response("The export, pending.", export.clone(), Some(example), &["Location"]))
            .problems(&[400, 409]),
        Operation::new("GET", "/api/business/exports/{id}", "exports-get", "Privacy")
            .summary(
                "Follow an export",
                format!(
                    "Admins, owners and auditors. Its state, progress and counts; once `done`, a download URL per file \
                     and for the manifest, valid {} seconds and signed afresh on every GET (each such answer is \
                     audited as an export). Files are deleted {} days after the export started (`expired`).",
                    hub_documents::files::DOWNLOAD_URL_TTL.as_secs(),
                    hub_exports::job::FILES_KEPT_DAYS
                ),
            )
            .parameters([param("id")])
            .response(200, json_response("The export.", export, None, &[]))
            .problems(&[400, 404]),
    ]
}

/// Bulk imports (README, "Imports"): the view is `hub_imports::Job::to_json`.
fn imports(schemas: &mut Schemas) -> Vec<Operation> {
    use hub_imports::job::{MAX_ROWS, MAX_SIZE, Mode, Target};
    let download = presigned(schemas);
    let count = json!({ "type": "integer", "minimum": 0 });
    let nullable_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let sha256 = json!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}$", "description": "The file's SHA-256, hex." });
    let import = schemas.insert(
        "Import",
        json!({
            "type": "object",
            "description": "An import job. `upload` is in the answer to its declaration; `report` (signed afresh on \
                every GET) once `done`.",
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "organization_id": { "type": "string", "format": "uuid" },
                "entity": { "type": "string", "enum": Target::ALL },
                "format": { "type": "string", "enum": ["csv", "ndjson"] },
                "mode": { "type": "string", "enum": Mode::ALL },
                "dry_run": { "type": "boolean" },
                "columns": { "type": "object", "additionalProperties": { "type": "string" } },
                "file_name": { "type": "string" },
                "size": count,
                "sha256": sha256,
                "state": { "type": "string", "enum": ["pending", "validating", "running", "done", "failed"] },
                "reason": { "type": ["string", "null"], "description": "Why the import failed as a whole." },
                "counts": all_required(json!({
                    "type": "object",
                    "properties": { "read": count, "created": count, "updated": count, "skipped": count, "failed": count },
                })),
                "progress": { "type": "number", "minimum": 0, "maximum": 100, "description": "Percent of the file's bytes processed." },
                "created_by": { "type": "string", "format": "uuid" },
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" },
                "started_at": nullable_time,
                "finished_at": nullable_time,
                "upload": download,
                "report": download,
            },
            "required": ["id", "organization_id", "entity", "format", "mode", "dry_run", "columns", "file_name", "size",
                "sha256", "state", "reason", "counts", "progress", "created_by", "created_at", "updated_at",
                "started_at", "finished_at"],
        }),
    );
    let declaration = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["entity", "format", "size", "sha256"],
        "properties": {
            "entity": { "type": "string", "enum": Target::ALL },
            "format": { "type": "string", "enum": ["csv", "ndjson"] },
            "file_name": { "type": ["string", "null"], "maxLength": 255 },
            "size": { "type": "integer", "minimum": 1, "maximum": MAX_SIZE, "description": "The file's size in bytes (at most 50 MiB)." },
            "sha256": sha256,
            "mode": { "type": ["string", "null"], "enum": [Mode::ALL[0], Mode::ALL[1], Mode::ALL[2], null], "default": "create_only",
                "description": "Upserts are for contacts only." },
            "dry_run": { "type": ["boolean", "null"], "default": false },
            "columns": { "type": ["object", "null"], "maxProperties": 100,
                "additionalProperties": { "type": "string", "minLength": 1 },
                "description": "CSV header (or NDJSON key) -> field name; a header not named maps to itself." },
        },
    });
    vec![
        Operation::new("POST", "/api/business/imports", "imports-create", "Business")
            .summary(
                "Declare an import",
                format!(
                    "Admins. Declares a CSV or NDJSON file of contacts, appointments or transactions (at most {MAX_ROWS} \
                     rows) and answers a presigned PUT (`upload`) signed with its size and SHA-256. Audited as an import \
                     (high risk)."
                ),
            )
            .body(json_body("The declaration.", declaration, None, true))
            .response(201, json_response("The import, pending, with `upload`.", import.clone(), None, &["Location"]))
            .problems(&[400, 413, 422]),
        Operation::new("POST", "/api/business/imports/{id}/start", "imports-start", "Business")
            .summary(
                "Start an import",
                "Admins. Checks the uploaded file against the declared size and SHA-256 (409 `UPLOAD_NOT_FOUND` or \
                 `UPLOAD_MISMATCH`, the import staying pending), then queues its processing. 409 `NOT_PENDING` once \
                 started. Audited as an import (high risk).",
            )
            .parameters([param("id")])
            .response(202, json_response("The import, validating.", import.clone(), None, &[]))
            .problems(&[400, 404, 409]),
        Operation::new("GET", "/api/business/imports/{id}", "imports-get", "Business")
            .summary(
                "Follow an import",
                format!(
                    "Admins. State, counts and progress; once `done`, `report`: a presigned GET (valid {} seconds) of \
                     the row report, CSV `row,status,id,problem`.",
                    hub_documents::files::DOWNLOAD_URL_TTL.as_secs()
                ),
            )
            .parameters([param("id")])
            .response(200, json_response("The import.", import, None, &[]))
            .problems(&[400, 404]),
    ]
}
