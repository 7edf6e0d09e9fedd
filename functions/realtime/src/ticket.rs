//! One-time tickets for the WebSocket's `$connect`, so the JWT never travels in a URL (a
//! browser cannot set headers on a WebSocket, and URLs end up in access logs).
//!
//! A ticket is `<organization id, 32 hex>.<32 random bytes, base64url>`. The organization part
//! only says which partition to look in; the secret part is stored as its SHA-256, so the
//! table never holds a usable ticket. Spending is one conditional delete (see
//! [`RealtimeTable::spend_ticket`]): a ticket works once, before it expires, for the user,
//! organization and roles of the token that asked for it.

use crate::event::Reader;
use crate::table::RealtimeTable;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hub_shared::auth::{OrgId, Permission, Tenant};
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

/// Long enough to open a socket on a slow network, short enough that a leaked URL is useless.
pub const TICKET_TTL_SECS: i64 = 60;
const SECRET_BYTES: usize = 32;

/// A ticket as a client presents it. Its `Debug` leaves the secret out: a ticket is a
/// credential until spent.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    pub org: OrgId,
    secret: String,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("org", &self.org).finish_non_exhaustive()
    }
}

impl Ticket {
    /// A new random ticket for `org`.
    pub fn mint(org: OrgId) -> AppResult<Self> {
        let mut bytes = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| AppError::internal("no randomness for a ticket"))?;
        Ok(Self { org, secret: URL_SAFE_NO_PAD.encode(bytes) })
    }

    /// Reads a presented ticket; `None` for anything that is not exactly one (a JWT, a
    /// truncated or padded ticket, another encoding).
    pub fn parse(raw: &str) -> Option<Self> {
        let (org, secret) = raw.split_once('.')?;
        let org_ok = org.len() == 32 && org.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !org_ok {
            return None;
        }
        let org = Uuid::try_parse(org).ok().filter(|u| !u.is_nil())?;
        let decoded = URL_SAFE_NO_PAD.decode(secret).ok()?;
        (decoded.len() == SECRET_BYTES).then(|| Self { org: OrgId::new(org), secret: secret.to_string() })
    }

    /// What is stored: the secret's SHA-256, hex.
    pub fn hash(&self) -> String {
        Sha256::digest(self.secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn as_text(&self) -> String {
        format!("{}.{}", self.org.as_uuid().simple(), self.secret)
    }
}

/// What `POST /api/realtime/tickets` needs besides the caller.
pub struct Issuer {
    pub table: RealtimeTable,
    /// The WebSocket API's URL (`wss://.../live`), told to the client with its ticket.
    pub url: String,
}

impl Issuer {
    pub fn from_env() -> Result<Self, hub_shared::config::ConfigError> {
        let env = hub_shared::config::Env::from_process();
        Ok(Self { table: RealtimeTable::from_env(&env)?, url: env.required("HUB_REALTIME_URL")?.to_string() })
    }
}

/// `POST /api/realtime/tickets`: any reader of an organization gets a ticket for one WebSocket
/// connection. No body (or `{}`), no parameters. `Cache-Control: no-store`: it is a credential.
pub async fn issue(issuer: Arc<Issuer>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Read)?;
    request.only_parameters(&[])?;
    if request.has_body() && !request.json_object()?.is_empty() {
        return Err(AppError::bad_request("UNEXPECTED_BODY", "a ticket request takes no body (or `{}`)"));
    }
    let token_expires_at = tenant
        .user
        .expires_at
        .map(|exp| i64::try_from(exp).unwrap_or(i64::MAX))
        .ok_or_else(|| AppError::internal("a caller without a token expiry"))?;
    let ticket = Ticket::mint(tenant.org)?;
    let expires_at = (chrono::Utc::now().timestamp() + TICKET_TTL_SECS).min(token_expires_at);
    let reader = Reader {
        org: tenant.org,
        user_id: tenant.user.user_id.as_uuid(),
        roles: tenant.user.roles.clone(),
        expires_at: token_expires_at,
    };
    issuer.table.put_ticket(&reader, &ticket.hash(), expires_at).await?;
    let expires = chrono::DateTime::from_timestamp(expires_at, 0)
        .map(Timestamp::from_datetime)
        .ok_or_else(|| AppError::internal("a ticket expiry out of range"))?;
    Ok(Reply::ok(json!({ "ticket": ticket.as_text(), "expires_at": expires.to_string(), "url": issuer.url }))
        .with_status(http::StatusCode::CREATED)
        .with_header(http::header::CACHE_CONTROL, "no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_ticket_reads_back_and_is_stored_only_as_a_hash() {
        let org = OrgId::new(Uuid::new_v4());
        let ticket = Ticket::mint(org).unwrap_or_else(|e| panic!("{e}"));
        let text = ticket.as_text();
        assert_eq!(Ticket::parse(&text), Some(ticket.clone()));
        assert_eq!(ticket.hash().len(), 64);
        assert!(!text.contains(&ticket.hash()));
        assert_ne!(Ticket::mint(org).map(|t| t.hash()).ok(), Some(ticket.hash()), "random");
        assert!(!format!("{ticket:?}").contains(text.split_once('.').map(|(_, s)| s).unwrap_or("?")), "no secret");
    }

    #[test]
    fn anything_but_a_ticket_is_refused_before_any_lookup() {
        let org = Uuid::new_v4().simple().to_string();
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert!(Ticket::parse(&format!("{org}.{secret}")).is_some());
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        for bad in [
            jwt.to_string(),
            String::new(),
            org.clone(),
            format!("{org}.{secret}="),
            format!("{org}.{}", &secret[1..]),
            format!("{}.{secret}", org.to_uppercase()),
            format!("{}.{secret}", Uuid::nil().simple()),
            format!("{}.{secret}", Uuid::new_v4()),
            format!("{org}.{}", URL_SAFE_NO_PAD.encode([7u8; 31])),
            format!("{org}.{secret}.{secret}"),
        ] {
            assert_eq!(Ticket::parse(&bad), None, "{bad}");
        }
    }
}
