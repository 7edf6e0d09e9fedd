//! Access records, written by the HTTP adapter (`http::handle`) for every business function:
//!
//! - a handler that serves personal data declares it on its [`Reply`](crate::http::Reply)
//!   ([`Access`]: `view` for get, list, search and a record's history, `download`, `export`),
//!   and the adapter appends one access record naming the ids served before answering. If that
//!   write fails the data is not served: the caller gets 503 `SERVICE_UNAVAILABLE` instead;
//! - denied attempts (401, 403, and 404 on a request naming an `{id}`) are recorded by the
//!   adapter too, with outcome `failure`, so probing is visible; a failure to record them is
//!   logged and the caller still gets the 401/403/404 (never a 503).
//!
//! Access records carry ids, never personal values, so writing one is exactly one `PutItem`
//! (no per-person data key is read).
//!
//! **404s.** Another organization's id and a missing id answer the same 404 (telling them
//! apart would take a cross-organization lookup, itself a leak), so every by-id 404 is recorded
//! as a denied access of medium risk: a typo costs one medium record, a sweep of foreign ids
//! stands out as many.
//!
//! **The platform partition.** A 401 has no trustworthy organization (the token did not
//! verify), and a 403 `NO_ORGANIZATION` has none at all: those are recorded under
//! [`PLATFORM_ORG`] (the nil UUID), a partition no organization can read, since no tenant may
//! have the nil id (`UserContext::org` refuses it). Their actor is `system` (no verified caller).

use crate::audit::model::{Action, Actor, AuditRecord, Outcome, RequestInfo, Risk};
use crate::audit::writer::AuditWriter;
use crate::error::AppError;
use http::Method;
use uuid::Uuid;

/// The organization of records no organization may read (unverified or organization-less
/// callers' denied attempts).
pub const PLATFORM_ORG: Uuid = Uuid::nil();

/// What a successful answer served, declared by the handler that built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub action: Action,
    /// The entity's `KIND` (`CONTACT`, ...).
    pub resource_type: String,
    /// Every record served: one for a get, a download or an export, a page's ids for a list.
    pub resource_ids: Vec<String>,
}

impl Access {
    pub fn new(action: Action, resource_type: impl Into<String>, resource_ids: Vec<String>) -> Self {
        Self { action, resource_type: resource_type.into(), resource_ids }
    }

    /// A `view` of these records.
    pub fn view(resource_type: impl Into<String>, resource_ids: Vec<String>) -> Self {
        Self::new(Action::View, resource_type, resource_ids)
    }
}

/// What the adapter knows of a request once the handler took it.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub method: Method,
    pub path: String,
    /// The route's `{id}`, when it has one and it is a UUID (anything else names nothing).
    pub id: Option<Uuid>,
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestFacts {
    fn info(&self, status: u16) -> RequestInfo {
        RequestInfo {
            request_id: self.request_id.clone(),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            status: Some(status),
        }
    }

    /// The resource type a denied request aimed at: `/api/business/contacts/...` is `CONTACT`,
    /// `/api/audit/logs` is `AUDIT`. Derived from the path because the handler never ran.
    pub fn resource_type(&self) -> String {
        let mut segments = self.path.trim_matches('/').split('/').skip(1);
        match segments.next() {
            Some("business") => segments
                .next()
                .map(|plural| plural.strip_suffix('s').unwrap_or(plural).to_ascii_uppercase())
                .filter(|kind| !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .unwrap_or_else(|| "API".into()),
            Some("audit") => "AUDIT".into(),
            _ => "API".into(),
        }
    }

    /// The action a denied request attempted: reads by their kind, writes by their method.
    pub fn attempted_action(&self) -> Action {
        let last = self.path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        match self.method {
            Method::GET if last == "download" => Action::Download,
            Method::GET if last == "export" => Action::Export,
            // Starting a whole export and taking its files are both the export.
            Method::GET | Method::POST if self.path.starts_with("/api/business/exports") => Action::Export,
            Method::GET | Method::HEAD => Action::View,
            Method::POST if last == "restore" => Action::Restore,
            Method::POST if last == "anonymize" => Action::Anonymize,
            Method::POST if self.path.starts_with("/api/business/imports") => Action::Import,
            Method::POST if self.id.is_none() => Action::Create,
            Method::DELETE => Action::Delete,
            _ => Action::Update,
        }
    }
}

/// The verified caller, as far as the adapter got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// `None` when no token verified (401).
    pub user: Option<Uuid>,
    /// `None` when the token verified but names no organization (403).
    pub org: Option<Uuid>,
}

impl Caller {
    pub const ANONYMOUS: Caller = Caller { user: None, org: None };

    fn actor(&self) -> Actor {
        self.user.map(Actor::User).unwrap_or(Actor::System)
    }
}

/// Appends the record of a successful access. The caller must refuse to serve the data when
/// this fails: the error is a 503.
pub async fn record_success(
    writer: &AuditWriter,
    org: Uuid,
    caller: Caller,
    request: &RequestFacts,
    access: &Access,
    status: u16,
) -> Result<(), AppError> {
    let record = AuditRecord::access(
        org,
        caller.actor(),
        access.action,
        access.resource_type.clone(),
        access.resource_ids.clone(),
        Outcome::Success,
        request.info(status),
    );
    writer.write(&record).await.map(|_| ()).map_err(|e| {
        // The cause names the table and the SDK error, never personal values.
        tracing::error!(error = %e, "access record not written: the data is not served");
        AppError::unavailable("the access could not be recorded in the audit trail; retry shortly")
    })
}

/// The record of a denied attempt, if this error is one: 401 and 403 always (high risk), 404
/// when the request named an `{id}` (medium: see the module doc).
pub fn denied_record(caller: Caller, request: &RequestFacts, error: &AppError) -> Option<AuditRecord> {
    let status = error.status();
    let risk = match status {
        401 | 403 => Risk::High,
        404 if request.id.is_some() => Risk::Medium,
        _ => return None,
    };
    // A 401's organization claim is not trustworthy: only a verified caller's counts.
    let org = if status == 401 { PLATFORM_ORG } else { caller.org.unwrap_or(PLATFORM_ORG) };
    let actor = if status == 401 { Actor::System } else { caller.actor() };
    let resource_type = match error {
        AppError::NotFound { resource } => resource.to_ascii_uppercase(),
        _ => request.resource_type(),
    };
    let ids = request.id.map(|id| vec![id.to_string()]).unwrap_or_default();
    let mut record = AuditRecord::access(
        org,
        actor,
        request.attempted_action(),
        resource_type,
        ids,
        Outcome::Failure,
        request.info(status),
    );
    record.risk = risk;
    Some(record)
}

/// Appends the record of a denied attempt, if `error` is one. Never fails the request: a
/// failure is logged, and the caller gets the answer it would have got anyway.
pub async fn record_denied(writer: &AuditWriter, caller: Caller, request: &RequestFacts, error: &AppError) {
    if let Some(record) = denied_record(caller, request, error)
        && let Err(e) = writer.write(&record).await
    {
        tracing::error!(error = %e, status = error.status(), "denied attempt not recorded in the audit trail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(method: Method, path: &str, id: Option<Uuid>) -> RequestFacts {
        RequestFacts {
            method,
            path: path.into(),
            id,
            request_id: "r".into(),
            source_ip: Some("203.0.113.7".into()),
            user_agent: None,
        }
    }

    #[test]
    fn a_denied_request_names_what_it_aimed_at() {
        let id = Uuid::new_v4();
        let get = facts(Method::GET, &format!("/api/business/contacts/{id}"), Some(id));
        assert_eq!((get.resource_type().as_str(), get.attempted_action()), ("CONTACT", Action::View));
        let download = facts(Method::GET, &format!("/api/business/documents/{id}/download"), Some(id));
        assert_eq!((download.resource_type().as_str(), download.attempted_action()), ("DOCUMENT", Action::Download));
        let create = facts(Method::POST, "/api/business/transactions", None);
        assert_eq!((create.resource_type().as_str(), create.attempted_action()), ("TRANSACTION", Action::Create));
        assert_eq!(facts(Method::GET, "/api/audit/logs", None).resource_type(), "AUDIT");
        assert_eq!(facts(Method::DELETE, "/api/business/contacts/bulk", None).attempted_action(), Action::Delete);
        // A whole export, started or taken: an export of `EXPORT`, not a create or a view.
        let start = facts(Method::POST, "/api/business/exports", None);
        assert_eq!((start.resource_type().as_str(), start.attempted_action()), ("EXPORT", Action::Export));
        let take = facts(Method::GET, &format!("/api/business/exports/{id}"), Some(id));
        assert_eq!((take.resource_type().as_str(), take.attempted_action()), ("EXPORT", Action::Export));
        let import = facts(Method::POST, &format!("/api/business/imports/{id}/start"), Some(id));
        assert_eq!((import.resource_type().as_str(), import.attempted_action()), ("IMPORT", Action::Import));
    }

    #[test]
    fn only_401_403_and_by_id_404_are_denied_attempts() {
        let id = Uuid::new_v4();
        let user = Uuid::new_v4();
        let org = Uuid::new_v4();
        let caller = Caller { user: Some(user), org: Some(org) };
        let by_id = facts(Method::GET, &format!("/api/business/contacts/{id}"), Some(id));
        let list = facts(Method::GET, "/api/business/contacts", None);

        let unauthenticated = denied_record(caller, &list, &AppError::unauthenticated("no token")).unwrap();
        assert_eq!(unauthenticated.organization_id, PLATFORM_ORG, "a 401's organization claim is not trusted");
        assert_eq!((unauthenticated.actor, unauthenticated.risk), (Actor::System, Risk::High));

        let forbidden = denied_record(caller, &list, &AppError::forbidden("FORBIDDEN", "no")).unwrap();
        assert_eq!((forbidden.organization_id, forbidden.actor), (org, Actor::User(user)));
        assert_eq!((forbidden.outcome, forbidden.risk), (Outcome::Failure, Risk::High));

        let missing = denied_record(caller, &by_id, &AppError::NotFound { resource: "contact" }).unwrap();
        assert_eq!((missing.resource_type.as_str(), missing.risk), ("CONTACT", Risk::Medium));
        assert_eq!(missing.resource_id, Some(id.to_string()));

        assert!(denied_record(caller, &list, &AppError::NotFound { resource: "contact" }).is_none());
        assert!(denied_record(caller, &by_id, &AppError::conflict("X", "y")).is_none());
        let no_org = Caller { user: Some(user), org: None };
        let refused = denied_record(no_org, &list, &AppError::forbidden("NO_ORGANIZATION", "none")).unwrap();
        assert_eq!(refused.organization_id, PLATFORM_ORG);
    }
}
