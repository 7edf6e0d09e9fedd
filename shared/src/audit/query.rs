//! Pages of an organization's audit records, newest first, for the audit API.
//!
//! Every filter is served by an index (DATA-DESIGN.md): a resource by `gsi1`, a user by `gsi2`,
//! an action by `gsi3`, a risk level by `gsi4`, none by the table's own `ORG#<org>` partition;
//! the time range is a key condition on the sort key of whichever is used. When several
//! filters are given, the most selective one picks the index (resource, then user, action,
//! risk) and the others are checked on what it returns. Every partition queried starts with the
//! caller's organization, so no filter can reach another organization's records.
//!
//! Cursors are signed ([`CursorSigner`]) over the organization and the whole query, so a forged
//! cursor, or one from another query or organization, is refused with 400.

use crate::audit::item::{
    GSI_ACTION, GSI_RESOURCE, GSI_RISK, GSI_SORT, GSI_USER, Item, LOG_PREFIX, action_partition, get_s, log_partition,
    resource_partition, risk_partition, s, user_partition,
};
use crate::audit::model::{Action, Risk};
use crate::domain::params;
use crate::error::{AppError, AppResult};
use crate::store::cursor::{CursorSigner, Position};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// At most this many Queries serve one page: with filters checked after the read, a page may
/// need several; past this, the page is returned short with a cursor to continue from.
const MAX_QUERIES_PER_PAGE: usize = 8;

/// The audit API's parameters.
pub const PARAMETERS: &[&str] =
    &["resource_type", "resource_id", "user_id", "action", "risk", "from", "to", "page_size", "cursor"];

/// The longest `resource_type` (`[A-Za-z0-9_]`, read in upper case).
pub const MAX_RESOURCE_TYPE: usize = 40;

/// The longest `resource_id`.
pub const MAX_RESOURCE_ID: usize = 100;

/// `resource_id`: one line, at most [`MAX_RESOURCE_ID`] characters, without `#` (the index's
/// key separator).
fn text_id(query: &HashMap<String, String>) -> AppResult<Option<String>> {
    let id = params::text(query, "resource_id", MAX_RESOURCE_ID)?;
    if id.as_deref().is_some_and(|id| id.contains('#')) {
        return Err(AppError::invalid_param("resource_id", "must be a record id"));
    }
    Ok(id)
}

/// What the audit API was asked for (already validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// `(resource_type, resource_id)`: both or neither.
    pub resource: Option<(String, String)>,
    /// A user id, or `system`.
    pub user: Option<String>,
    pub action: Option<Action>,
    pub risk: Option<Risk>,
    /// Inclusive bounds on the record's time.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// From the audit API's query parameters ([`PARAMETERS`]); 400 for anything malformed.
    pub fn from_query(query: &HashMap<String, String>) -> AppResult<Self> {
        let kind = query.get("resource_type").map(|kind| {
            let ok = (1..=MAX_RESOURCE_TYPE).contains(&kind.len())
                && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if ok {
                Ok(kind.to_ascii_uppercase())
            } else {
                Err(AppError::invalid_param("resource_type", "must be a resource type such as CONTACT"))
            }
        });
        let resource = match (kind.transpose()?, text_id(query)?) {
            (Some(kind), Some(id)) => Some((kind, id)),
            (None, None) => None,
            (Some(_), None) => return Err(AppError::invalid_param("resource_id", "is required with resource_type")),
            (None, Some(_)) => return Err(AppError::invalid_param("resource_type", "is required with resource_id")),
        };
        let user = match query.get("user_id").map(String::as_str) {
            None => None,
            Some("system") => Some("system".to_string()),
            Some(raw) => Some(
                crate::domain::parse_uuid(raw)
                    .ok_or_else(|| AppError::invalid_param("user_id", "must be a user id or `system`"))?
                    .to_string(),
            ),
        };
        let action = match query.get("action") {
            None => None,
            Some(a) => Some(Action::parse(a).ok_or_else(|| {
                let all: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                AppError::invalid_param("action", format!("must be one of: {}", all.join(", ")))
            })?),
        };
        let risk = match query.get("risk") {
            None => None,
            Some(r) => Some(
                Risk::parse(r).ok_or_else(|| AppError::invalid_param("risk", "must be one of: low, medium, high"))?,
            ),
        };
        let from = params::instant(query, "from")?.map(|t| t.as_datetime());
        let to = params::instant(query, "to")?.map(|t| t.as_datetime());
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(AppError::invalid_param("from", "must not be after `to`"));
        }
        Ok(Self { resource, user, action, risk, from, to })
    }

    /// Only one resource's trail.
    pub fn for_resource(resource_type: &str, resource_id: &str) -> Self {
        Self { resource: Some((resource_type.into(), resource_id.into())), ..Self::default() }
    }

    fn fingerprint(&self, org: Uuid) -> String {
        let time = |t: &Option<DateTime<Utc>>| t.map(|t| time_key(&t)).unwrap_or_default();
        let (kind, id) = self.resource.clone().unwrap_or_default();
        format!(
            "audit|{org}|{kind}|{id}|{}|{}|{}|{}|{}",
            self.user.as_deref().unwrap_or(""),
            self.action.map(Action::as_str).unwrap_or(""),
            self.risk.map(Risk::as_str).unwrap_or(""),
            time(&self.from),
            time(&self.to),
        )
    }
}

fn time_key(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The index (if any), its partition attribute and value, and the prefix its sort keys carry.
struct Target {
    index: Option<&'static str>,
    pk_attr: &'static str,
    pk: String,
    sk_attr: &'static str,
    sk_prefix: &'static str,
}

fn target(org: Uuid, filter: &AuditFilter) -> Target {
    let index =
        |index, pk| Target { index: Some(index), pk_attr: index_pk(index), pk, sk_attr: GSI_SORT, sk_prefix: "" };
    if let Some((kind, id)) = &filter.resource {
        index(GSI_RESOURCE, resource_partition(org, kind, id))
    } else if let Some(user) = &filter.user {
        index(GSI_USER, user_partition(org, user))
    } else if let Some(action) = filter.action {
        index(GSI_ACTION, action_partition(org, action.as_str()))
    } else if let Some(risk) = filter.risk {
        index(GSI_RISK, risk_partition(org, risk.as_str()))
    } else {
        Target { index: None, pk_attr: "pk", pk: log_partition(org), sk_attr: "sk", sk_prefix: LOG_PREFIX }
    }
}

fn index_pk(index: &str) -> &'static str {
    match index {
        GSI_RESOURCE => "gsi1pk",
        GSI_USER => "gsi2pk",
        GSI_ACTION => "gsi3pk",
        _ => "gsi4pk",
    }
}

/// One page of stored audit items, and the cursor of the next.
#[derive(Debug)]
pub struct AuditPage {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// Reads one page (at most `page_size` records) of `org`'s audit records matching `filter`,
/// newest first, from `cursor` (a cursor this function returned for the same query).
pub async fn page(
    client: &Client,
    table: &str,
    signer: &CursorSigner,
    org: Uuid,
    filter: &AuditFilter,
    page_size: usize,
    cursor: Option<&str>,
) -> AppResult<AuditPage> {
    let fingerprint = filter.fingerprint(org);
    let target = target(org, filter);
    let own_partition = log_partition(org);
    let mut start = match cursor {
        None => None,
        Some(raw) => {
            let position = signer.verify(&fingerprint, raw)?;
            // Signed positions are ours; checked anyway so a key bug cannot cross organizations.
            if position.pk != own_partition || !position.sk.starts_with(LOG_PREFIX) {
                return Err(AppError::bad_request("INVALID_CURSOR", "the cursor is not valid for this query"));
            }
            Some(position)
        }
    };

    let mut items: Vec<Item> = Vec::with_capacity(page_size + 1);
    let mut resume: Option<Position> = None;
    for _ in 0..MAX_QUERIES_PER_PAGE {
        let out = query(client, table, &target, filter, page_size, start.as_ref()).await?;
        for item in out.items.unwrap_or_default() {
            if matches(filter, &item) {
                items.push(item);
            }
        }
        let last = out.last_evaluated_key.and_then(|key| position_of(&key));
        if items.len() > page_size {
            break;
        }
        match last {
            None => {
                resume = None;
                break;
            }
            Some(last) => {
                resume = Some(last.clone());
                start = Some(last);
            }
        }
    }
    let next_cursor = if items.len() > page_size {
        items.truncate(page_size);
        items.last().and_then(position_of).map(|p| signer.sign(&fingerprint, &p))
    } else {
        resume.map(|p| signer.sign(&fingerprint, &p))
    };
    Ok(AuditPage { items, next_cursor })
}

/// Every record matching `filter` (all pages), newest first: for exports.
pub async fn all(
    client: &Client,
    table: &str,
    signer: &CursorSigner,
    org: Uuid,
    filter: &AuditFilter,
) -> AppResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = page(client, table, signer, org, filter, 100, cursor.as_deref()).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

async fn query(
    client: &Client,
    table: &str,
    target: &Target,
    filter: &AuditFilter,
    page_size: usize,
    start: Option<&Position>,
) -> AppResult<aws_sdk_dynamodb::operation::query::QueryOutput> {
    let mut condition = "#pk = :pk".to_string();
    let mut q = client
        .query()
        .table_name(table)
        .set_index_name(target.index.map(String::from))
        .expression_attribute_names("#pk", target.pk_attr)
        .expression_attribute_values(":pk", s(&target.pk))
        .scan_index_forward(false)
        .limit(i32::try_from(page_size + 1).unwrap_or(i32::MAX));
    // Sort keys are `<prefix><time>#<audit id>`: a bare time sorts before every key of that
    // millisecond, and `<time>#~` after them ('~' follows every character of an id).
    let lower = format!("{}{}", target.sk_prefix, filter.from.map(|t| time_key(&t)).unwrap_or_default());
    let upper = match filter.to {
        Some(t) => format!("{}{}#~", target.sk_prefix, time_key(&t)),
        None => format!("{}~", target.sk_prefix),
    };
    // A key value cannot be the empty string: with no lower bound on an index (whose sort
    // keys carry no prefix), the range is open below.
    q = q.expression_attribute_names("#sk", target.sk_attr).expression_attribute_values(":upper", s(upper));
    if lower.is_empty() {
        condition.push_str(" AND #sk <= :upper");
    } else {
        condition.push_str(" AND #sk BETWEEN :lower AND :upper");
        q = q.expression_attribute_values(":lower", s(lower));
    }
    q = q.key_condition_expression(condition);
    if let Some(position) = start {
        q = q.exclusive_start_key("pk", s(&position.pk)).exclusive_start_key("sk", s(&position.sk));
        if target.index.is_some() {
            let gsi_sk = position.sk.strip_prefix(LOG_PREFIX).unwrap_or(&position.sk);
            q = q.exclusive_start_key(target.pk_attr, s(&target.pk)).exclusive_start_key(GSI_SORT, s(gsi_sk));
        }
    }
    q.send().await.map_err(|e| {
        // The cause names the table and the SDK error; the caller gets a retryable 503.
        tracing::error!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "audit query failed");
        AppError::unavailable("the audit trail cannot be read right now; retry shortly")
    })
}

/// The filters the chosen index does not already apply.
fn matches(filter: &AuditFilter, item: &Item) -> bool {
    let is = |name: &str, value: &str| get_s(item, name) == Some(value);
    get_s(item, "sk").is_some_and(|sk| sk.starts_with(LOG_PREFIX))
        && filter.resource.as_ref().is_none_or(|(kind, id)| is("resource_type", kind) && is("resource_id", id))
        && filter.user.as_ref().is_none_or(|u| is("actor_id", u))
        && filter.action.is_none_or(|a| is("action", a.as_str()))
        && filter.risk.is_none_or(|r| is("risk", r.as_str()))
}

fn position_of(key: &HashMap<String, AttributeValue>) -> Option<Position> {
    Some(Position { pk: get_s(key, "pk")?.to_string(), sk: get_s(key, "sk")?.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> AppResult<AuditFilter> {
        AuditFilter::from_query(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn filters_parse_and_malformed_ones_are_400() {
        let id = Uuid::new_v4().to_string();
        let filter = parse(&[("resource_type", "contact"), ("resource_id", &id), ("risk", "high")]).unwrap();
        assert_eq!(filter.resource, Some(("CONTACT".into(), id.clone())));
        assert_eq!(filter.risk, Some(Risk::High));
        for bad in [
            vec![("resource_type", "CONTACT")],
            vec![("resource_id", id.as_str())],
            vec![("action", "peek")],
            vec![("risk", "extreme")],
            vec![("user_id", "bob")],
            vec![("from", "yesterday")],
            vec![("from", "2026-02-01T00:00:00Z"), ("to", "2026-01-01T00:00:00Z")],
            vec![("resource_type", "CONTACT"), ("resource_id", "a#b")],
        ] {
            assert_eq!(parse(&bad).map_err(|e| e.status()).err(), Some(400), "{bad:?}");
        }
    }

    #[test]
    fn the_most_selective_filter_picks_the_index_and_every_partition_is_the_organizations() {
        let org = Uuid::new_v4();
        let user = Uuid::new_v4().to_string();
        let both = AuditFilter { user: Some(user.clone()), risk: Some(Risk::Low), ..AuditFilter::default() };
        let t = target(org, &both);
        assert_eq!((t.index, t.pk.as_str()), (Some(GSI_USER), user_partition(org, &user).as_str()));
        let none = target(org, &AuditFilter::default());
        assert_eq!((none.index, none.pk), (None, log_partition(org)));
        for filter in [both, AuditFilter::for_resource("CONTACT", "x"), AuditFilter::default()] {
            assert!(target(org, &filter).pk.starts_with(&format!("ORG#{org}")));
            assert_ne!(filter.fingerprint(org), filter.fingerprint(Uuid::new_v4()), "bound to the organization");
        }
    }
}
