//! `POST /{entity}/batch`: up to 100 writes of one entity in one request, each answered on its
//! own, in order. Every operation goes through [`decide`] and [`apply`] (or, atomically, the
//! store's prepare functions, which are the single writes' own), so a batch obeys exactly the
//! rules, permissions, audit and analytics of the single endpoints; the stream audits each
//! record written like any other write.
//!
//! - Without `atomic`, operations run one after another (a later one sees what an earlier one
//!   wrote, and two writes of one provider's schedule never race each other) and each may fail
//!   alone: 200 with a result per operation.
//! - With `"atomic": true`, all are written in one DynamoDB transaction or none is: 200 with
//!   every result, or the failing operation's problem with its index (`operation`).
//! - An `Idempotency-Key` makes a retry a replay of the first outcome (records re-read as they
//!   are now). Without `atomic`, each operation's write also leaves a marker under a key derived
//!   from the batch's, in its own transaction, so a retry after a crash mid-batch answers the
//!   operations already applied from their markers and applies nothing twice.

use super::{Decided, Op, apply, decide};
use crate::auth::Tenant;
use crate::domain::Timestamp;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{ApiRequest, Denied, Expected, Reply, Services, body_version, problem_response};
use crate::store::{
    BatchClaim, BatchFailure, BatchKey, Created, Entity, IdempotencyKey, MAX_TRANSACTION_ITEMS, Prepared, Record,
};
use http::Method;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;

pub const MAX_BATCH_OPERATIONS: usize = 100;

/// The operations a batch of most entities accepts.
pub const BATCH_ALL: &[&str] = &["create", "replace", "patch", "delete", "restore"];
/// Documents are created one by one: each creation answers its own upload URL.
pub const BATCH_UPDATES: &[&str] = &["replace", "patch", "delete", "restore"];

/// The fields an operation object may hold.
const OPERATION_FIELDS: &[&str] = &["op", "id", "version", "body"];

/// `POST /{entity}/batch` with `{"operations": [...], "atomic": false}`; `allowed` names the
/// operations this entity's batch accepts ([`BATCH_ALL`] or [`BATCH_UPDATES`]).
pub async fn batch<E: Entity>(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    allowed: &'static [&'static str],
) -> AppResult<Reply> {
    let body = request.json_object()?;
    let (atomic, raw) = envelope(&body)?;
    let key = request.idempotency_key()?;
    let ops = operations(raw, allowed)?;
    // Whether an earlier attempt of this sequential batch may have applied some operations.
    let mut resuming = false;
    if let Some(key) = &key {
        let state = if atomic {
            services.store.batch_key(&tenant, key).await?
        } else {
            match services.store.claim_batch_key(&tenant, key).await? {
                BatchClaim::New => BatchKey::Free,
                BatchClaim::TakenOver => {
                    resuming = true;
                    BatchKey::Free
                }
                BatchClaim::Held => match services.store.batch_key(&tenant, key).await? {
                    // Expired or stale between the claim and the read: another request took it.
                    BatchKey::Free => BatchKey::InProgress,
                    other => other,
                },
            }
        };
        match state {
            BatchKey::Free => {}
            BatchKey::Done(outcome) => return replay::<E>(&services, &tenant, &outcome).await,
            BatchKey::Reused => {
                return Err(AppError::conflict(
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was already used for a different request",
                ));
            }
            BatchKey::InProgress => {
                return Err(AppError::conflict(
                    "BATCH_IN_PROGRESS",
                    "a batch with this Idempotency-Key is still running; retry in a few seconds",
                ));
            }
        }
    }
    if atomic {
        atomic_batch::<E>(&services, &tenant, &request, ops, key.as_ref()).await
    } else {
        sequential::<E>(&services, &tenant, &request, ops, key.as_ref(), resuming).await
    }
}

/// `atomic` and the operations array, or 422 for the request as a whole.
fn envelope(body: &Map<String, Value>) -> AppResult<(bool, &Vec<Value>)> {
    if let Some(other) = body.keys().find(|k| !["operations", "atomic"].contains(&k.as_str())) {
        return Err(AppError::field(other, "unknown_field", "is not a field of this request"));
    }
    let atomic = match body.get("atomic") {
        None => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(AppError::field("atomic", "invalid_type", "must be true or false")),
    };
    match body.get("operations") {
        Some(Value::Array(items)) if (1..=MAX_BATCH_OPERATIONS).contains(&items.len()) => Ok((atomic, items)),
        Some(Value::Array(_)) => Err(AppError::field(
            "operations",
            "invalid_value",
            format!("must hold 1 to {MAX_BATCH_OPERATIONS} operations"),
        )),
        Some(_) => Err(AppError::field("operations", "invalid_type", "must be an array of operations")),
        None => Err(AppError::field("operations", "required", "is required")),
    }
}

/// Every operation object read into an [`Op`], or 422 naming each malformed one
/// (`operations[3].id`): a batch whose shape is wrong is a client's bug, refused before anything
/// runs. Only what the single endpoints decide (the body's fields, the record's state, the
/// caller's rights) is answered per operation.
fn operations(raw: &[Value], allowed: &[&str]) -> AppResult<Vec<Op>> {
    let mut ops = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (index, value) in raw.iter().enumerate() {
        match read_operation(value, allowed) {
            Ok(op) => ops.push(op),
            Err(found) => errors.extend(found.into_iter().map(|e| FieldError {
                field: if e.field.is_empty() {
                    format!("operations[{index}]")
                } else {
                    format!("operations[{index}].{}", e.field)
                },
                ..e
            })),
        }
    }
    if errors.is_empty() { Ok(ops) } else { Err(AppError::validation(errors)) }
}

fn read_operation(value: &Value, allowed: &[&str]) -> Result<Op, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return Err(vec![FieldError::new("", "invalid_type", "must be an object")]);
    };
    let mut errors: Vec<FieldError> = map
        .keys()
        .filter(|k| !OPERATION_FIELDS.contains(&k.as_str()))
        .map(|k| FieldError::new(k.as_str(), "unknown_field", "is not a field of an operation"))
        .collect();
    let kind = match map.get("op") {
        Some(Value::String(kind)) if allowed.contains(&kind.as_str()) => kind.as_str(),
        Some(_) => {
            errors.push(FieldError::new("op", "invalid_choice", format!("must be one of: {}", allowed.join(", "))));
            return Err(errors);
        }
        None => {
            errors.push(FieldError::new("op", "required", "is required"));
            return Err(errors);
        }
    };
    let id = match (kind, map.get("id")) {
        ("create", None) => None,
        ("create", Some(_)) => {
            errors.push(FieldError::new("id", "not_allowed", "a new record's id is chosen by the server"));
            None
        }
        (_, Some(Value::String(raw))) => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new("id", "invalid_format", "must be a record id (a UUID)"));
                None
            }
        },
        (_, Some(_)) => {
            errors.push(FieldError::new("id", "invalid_type", "must be a record id (a UUID)"));
            None
        }
        (_, None) => {
            errors.push(FieldError::new("id", "required", "is required"));
            None
        }
    };
    let body = match (kind, map.get("body")) {
        ("create" | "replace" | "patch", Some(Value::Object(body))) => Some(body.clone()),
        ("create" | "replace" | "patch", Some(_)) => {
            errors.push(FieldError::new("body", "invalid_type", "must be an object"));
            None
        }
        ("create" | "replace" | "patch", None) => {
            errors.push(FieldError::new("body", "required", "is required"));
            None
        }
        (_, Some(_)) => {
            errors.push(FieldError::new("body", "not_allowed", format!("a {kind} takes no body")));
            None
        }
        (_, None) => None,
    };
    let own = match (kind, map.contains_key("version")) {
        (_, false) => None,
        ("replace" | "patch" | "delete", true) => version_of(map, "version", &mut errors),
        (_, true) => {
            errors.push(FieldError::new("version", "not_allowed", format!("a {kind} takes no version")));
            None
        }
    };
    // A `version` in the body is the operation's own business, as in the single endpoints:
    // `decide` compares it with this one.
    let expected = own.map(|v| Expected::Versions(vec![v]));
    match (kind, id, body) {
        _ if !errors.is_empty() => Err(errors),
        ("create", None, Some(body)) => Ok(Op::Create { body }),
        ("replace", Some(id), Some(body)) => Ok(Op::Replace { id, expected, body }),
        ("patch", Some(id), Some(body)) => Ok(Op::Patch { id, expected, body }),
        ("delete", Some(id), None) => Ok(Op::Delete { id, expected }),
        ("restore", Some(id), None) => Ok(Op::Restore { id }),
        _ => Err(vec![FieldError::new("op", "invalid_value", "is not a complete operation")]),
    }
}

/// `source`'s `version`, its errors reported under `field`.
fn version_of(source: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
    match body_version(source) {
        Ok(version) => version,
        Err(error) => {
            errors.extend(error.field_errors().iter().map(|e| FieldError { field: field.to_string(), ..e.clone() }));
            None
        }
    }
}

/// One operation's result: its status and the record as it is after the write, or the reason
/// it was refused.
struct Outcome {
    op: &'static str,
    id: Option<Uuid>,
    result: Result<(u16, String), Refusal>,
}

enum Refusal {
    /// What the single endpoint would have answered.
    Refused(AppError),
    /// An atomic batch's other operations when one of them fails: nothing was written.
    NotApplied { because: usize },
}

impl Refusal {
    fn problem(&self, request_id: &str) -> (u16, Value) {
        match self {
            Self::Refused(error) => {
                let (status, problem) = problem_response(error, request_id);
                (status.as_u16(), problem)
            }
            Self::NotApplied { because } => (
                424,
                json!({
                    "type": "about:blank",
                    "title": "Failed Dependency",
                    "status": 424,
                    "code": "NOT_APPLIED",
                    "detail": format!("not applied: operation {because} of this atomic batch failed, so nothing was written"),
                    "errors": [],
                    "request_id": request_id,
                }),
            ),
        }
    }
}

impl Outcome {
    fn of<E: Entity>(op: &'static str, status: u16, record: &Record<E>) -> Self {
        Self { op, id: Some(record.meta.id), result: Ok((status, record.to_json_text())) }
    }

    fn failed(op: &'static str, id: Option<Uuid>, error: AppError) -> Self {
        Self { op, id, result: Err(Refusal::Refused(error)) }
    }

    /// The result object, built as text: records are already serialized (`to_json_text`) and are
    /// not parsed again.
    fn render(&self, index: usize, request_id: &str) -> String {
        let head = json!({ "index": index, "op": self.op, "id": self.id });
        let head = head.to_string();
        let head = head.strip_suffix('}').unwrap_or(&head);
        match &self.result {
            Ok((status, record)) => format!(r#"{head},"status":{status},"record":{record}}}"#),
            Err(refusal) => {
                let (status, problem) = refusal.problem(request_id);
                format!(r#"{head},"status":{status},"problem":{problem}}}"#)
            }
        }
    }

    /// What a replay needs: the status, the id and, for a refused operation, its problem.
    fn stored(&self, request_id: &str) -> Value {
        match &self.result {
            Ok((status, _)) => json!({ "op": self.op, "id": self.id, "status": status }),
            Err(refusal) => {
                let (status, problem) = refusal.problem(request_id);
                json!({ "op": self.op, "id": self.id, "status": status, "problem": problem })
            }
        }
    }
}

fn status_of(op: &Op) -> u16 {
    if matches!(op, Op::Create { .. }) { 201 } else { 200 }
}

/// Operations one by one, each failing alone. `resuming`: this request took the key over from
/// an earlier attempt, whose operations' markers must be read before anything is decided.
async fn sequential<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    ops: Vec<Op>,
    key: Option<&IdempotencyKey>,
    resuming: bool,
) -> AppResult<Reply> {
    let mut outcomes = Vec::with_capacity(ops.len());
    for (index, op) in ops.into_iter().enumerate() {
        let (name, id, status) = (op.name(), op.id(), status_of(&op));
        let derived = key.map(|key| IdempotencyKey {
            key: format!("{}#{index}", key.key),
            request_hash: format!("{}#{index}", key.request_hash),
        });
        // An operation an earlier attempt of this batch applied is answered from its marker:
        // deciding it again would refuse it (a deleted record is gone, an appointment overlaps
        // itself) or apply it twice (a patch without a version). A new key has no earlier
        // attempt, and its batch no read per operation.
        let earlier = match &derived {
            Some(key) if resuming => services.store.written_under::<E>(tenant, key).await,
            _ => Ok(None),
        };
        let written = match earlier {
            Ok(Some(record)) => Ok(Created { record, replayed: true }),
            Ok(None) => match decide::<E>(services, tenant, op).await {
                Ok(decided) => apply(services, tenant, decided, derived.as_ref()).await,
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        outcomes.push(match written {
            Ok(written) => Outcome::of(name, status, &written.record),
            Err(error) => Outcome::failed(name, id, error),
        });
    }
    if let Some(key) = key {
        let stored = stored_outcome(false, &outcomes, &request.request_id);
        // The answer stands even if its record cannot be kept: a retry then finds the claim
        // stale after a minute and runs again, its creates replayed by their own keys.
        if let Err(error) = services.store.finish_batch_key(tenant, key, &stored).await {
            tracing::warn!(error = %error, "a batch's outcome could not be stored for its Idempotency-Key");
        }
    }
    Ok(answer::<E>(false, &outcomes, &request.request_id))
}

/// All operations in one transaction, or none.
async fn atomic_batch<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    ops: Vec<Op>,
    key: Option<&IdempotencyKey>,
) -> AppResult<Reply> {
    let now = Timestamp::now();
    let mut prepared: Vec<Prepared<E>> = Vec::with_capacity(ops.len());
    let named: Vec<(&'static str, Option<Uuid>)> = ops.iter().map(|op| (op.name(), op.id())).collect();
    for (index, op) in ops.into_iter().enumerate() {
        let step = async {
            let decided = decide::<E>(services, tenant, op).await?;
            let store = &services.store;
            match decided {
                Decided::Create(data) => store.prepare_create(tenant, data, now).await,
                Decided::Update(current, data) => store.prepare_change(tenant, current, data, now).await,
                Decided::Delete(current) => store.prepare_delete(tenant, current, now),
                Decided::Restore(current) => store.prepare_undelete(tenant, current, now).await,
            }
        };
        match step.await {
            Ok(op) => prepared.push(op),
            Err(error) => return Ok(atomic_failure::<E>(&named, index, error, &request.request_id)),
        }
    }
    let outcomes: Vec<Outcome> = prepared
        .iter()
        .zip(&named)
        .map(|(op, (name, _))| Outcome::of(name, if *name == "create" { 201 } else { 200 }, op.next()))
        .collect();
    let stored = key.map(|key| (key, stored_outcome(true, &outcomes, &request.request_id)));
    match services.store.commit_atomic(tenant, &prepared, stored.as_ref().map(|(k, o)| (*k, o.as_str()))).await {
        Ok(()) => Ok(answer::<E>(true, &outcomes, &request.request_id)),
        Err(BatchFailure::Operation { op, error }) => Ok(atomic_failure::<E>(&named, op, error, &request.request_id)),
        Err(BatchFailure::TooLarge { items, bytes, fit }) => Err(AppError::Unprocessable {
            code: "BATCH_TOO_LARGE",
            detail: format!(
                "these operations need {items} transaction items ({bytes} bytes), more than the \
                 {MAX_TRANSACTION_ITEMS} items and 4 MB one transaction holds (each record also writes its \
                 list entries and unique values); the first {fit} operations fit: send the rest in another \
                 request, or send them without `atomic`"
            ),
            errors: Vec::new(),
        }),
        Err(BatchFailure::Replay) => match key {
            Some(key) => match services.store.batch_key(tenant, key).await? {
                BatchKey::Done(outcome) => replay::<E>(services, tenant, &outcome).await,
                _ => Err(AppError::conflict("CONCURRENT_MODIFICATION", "retry the request")),
            },
            None => Err(AppError::internal("a batch replay without a key")),
        },
        Err(BatchFailure::Whole(error)) => Err(error),
    }
}

/// The answer of an atomic batch that wrote nothing: the failing operation's own problem, every
/// other operation `424 NOT_APPLIED`.
fn atomic_failure<E: Entity>(
    named: &[(&'static str, Option<Uuid>)],
    failed: usize,
    error: AppError,
    request_id: &str,
) -> Reply {
    let mut error = Some(error);
    let outcomes: Vec<Outcome> = named
        .iter()
        .enumerate()
        .map(|(index, (op, id))| {
            let result = match error.take_if(|_| index == failed) {
                Some(error) => Refusal::Refused(error),
                None => Refusal::NotApplied { because: failed },
            };
            Outcome { op, id: *id, result: Err(result) }
        })
        .collect();
    answer::<E>(true, &outcomes, request_id)
}

fn answer<E: Entity>(atomic: bool, outcomes: &[Outcome], request_id: &str) -> Reply {
    let succeeded = outcomes.iter().filter(|o| o.result.is_ok()).count();
    let results: Vec<String> = outcomes.iter().enumerate().map(|(i, o)| o.render(i, request_id)).collect();
    Reply::json_text(results_text(atomic, succeeded, &results)).with_denied(denials::<E>(outcomes))
}

/// The refused operations the single endpoints' adapter would have recorded as denied attempts
/// (a 403; a 404 for a named record), each as the request its endpoint would have received.
fn denials<E: Entity>(outcomes: &[Outcome]) -> Vec<Denied> {
    outcomes
        .iter()
        .filter_map(|outcome| {
            let Err(Refusal::Refused(error)) = &outcome.result else { return None };
            let error = match error {
                AppError::Forbidden { code, detail } => AppError::Forbidden { code, detail: detail.clone() },
                AppError::NotFound { resource } if outcome.id.is_some() => AppError::NotFound { resource },
                _ => return None,
            };
            let item = |id: Option<Uuid>| format!("{}/{}", E::PATH, id.unwrap_or_default());
            let (method, path) = match outcome.op {
                "create" => (Method::POST, E::PATH.to_string()),
                "replace" => (Method::PUT, item(outcome.id)),
                "patch" => (Method::PATCH, item(outcome.id)),
                "delete" => (Method::DELETE, item(outcome.id)),
                _ => (Method::POST, format!("{}/restore", item(outcome.id))),
            };
            Some(Denied { method, path, id: outcome.id, error: Arc::new(error) })
        })
        .collect()
}

/// The batch's answer around its rendered results.
fn results_text(atomic: bool, succeeded: usize, results: &[String]) -> String {
    format!(
        r#"{{"atomic":{atomic},"succeeded":{succeeded},"failed":{},"results":[{}]}}"#,
        results.len() - succeeded,
        results.join(",")
    )
}

fn stored_outcome(atomic: bool, outcomes: &[Outcome], request_id: &str) -> String {
    let results: Vec<Value> = outcomes.iter().map(|o| o.stored(request_id)).collect();
    json!({ "atomic": atomic, "results": results }).to_string()
}

/// The first batch's answer again, each written record read as it is now.
async fn replay<E: Entity>(services: &Services, tenant: &Tenant, stored: &str) -> AppResult<Reply> {
    let stored: Value = serde_json::from_str(stored).map_err(AppError::internal)?;
    let atomic = stored.get("atomic").and_then(Value::as_bool).unwrap_or(false);
    let empty = Vec::new();
    let results = stored.get("results").and_then(Value::as_array).unwrap_or(&empty);
    let mut rendered = Vec::with_capacity(results.len());
    let mut succeeded = 0;
    for (index, result) in results.iter().enumerate() {
        let mut object = result.as_object().cloned().unwrap_or_default();
        object.insert("index".into(), json!(index));
        let ok = object.get("problem").is_none();
        let id = object.get("id").and_then(Value::as_str).and_then(|raw| Uuid::parse_str(raw).ok());
        let record = match (ok, id) {
            (true, Some(id)) => services.store.get::<E>(tenant.org, id).await?.filter(|r| r.data.visible_to(tenant)),
            _ => None,
        };
        succeeded += usize::from(ok);
        let text = Value::Object(object).to_string();
        rendered.push(match record {
            Some(record) => {
                format!(r#"{},"record":{}}}"#, text.strip_suffix('}').unwrap_or(&text), record.to_json_text())
            }
            None => text,
        });
    }
    let body = results_text(atomic, succeeded, &rendered);
    Ok(Reply::json_text(body).with_header(http::HeaderName::from_static("idempotent-replayed"), "true"))
}
