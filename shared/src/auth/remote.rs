//! Optional real-time confirmation of a locally verified token with the Identity Service, so that
//! a revoked session or a changed role takes effect before the token expires.
//!
//! Confirmations are cached in the container, keyed by the SHA-256 of the whole token. The Django
//! backend keyed its cache by a prefix of the token, so two tokens sharing a header and most of a
//! payload stood in for each other; a hash of every byte cannot be shared by two tokens. An entry
//! lives at most the configured TTL and never past the token's own `exp`. Refusals are not cached:
//! they cost the caller a round trip, never another caller an answer.

use super::authenticator::AuthError;
use super::context::{OrgId, UserContext};
use super::fetch::{LazyClient, read_limited};
use super::jwt::VerifiedToken;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const MAX_BODY_BYTES: usize = 16 * 1024;
/// A container serves one request at a time; a thousand live sessions within one TTL is already
/// far beyond what one container sees, and the bound keeps memory flat whatever happens.
const MAX_ENTRIES: usize = 1024;

type TokenHash = [u8; 32];

/// The Identity Service's answer. Its implementations name the organization differently.
#[derive(Debug, Deserialize)]
struct Answer {
    valid: bool,
    user_id: Option<Uuid>,
    email: Option<String>,
    organization_id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    roles: Option<Vec<String>>,
}

fn rejected() -> AuthError {
    AuthError::Invalid("token rejected by the identity service".into())
}

/// The caller as the token and the answer together describe it. The answer may complete the token
/// (an organization, an email) and is the truth on roles, but may not contradict who the token
/// says the caller is: that would mean the token and the answer are about different sessions.
fn merge(answer: Answer, mut context: UserContext) -> Result<UserContext, AuthError> {
    if !answer.valid {
        return Err(rejected());
    }
    if answer.user_id.is_some_and(|user| user != context.user_id.as_uuid()) {
        tracing::info!(user_id = %context.user_id, "identity service answered for another user");
        return Err(AuthError::Invalid("token does not match the identity service's answer".into()));
    }
    let answered_org = match (answer.organization_id, answer.tenant_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(AuthError::IdentityUnavailable("contradictory identity service answer".into()));
        }
        (a, b) => a.or(b),
    };
    if let Some(org) = answered_org {
        match context.organization_id {
            Some(mine) if mine.as_uuid() != org => {
                tracing::info!(user_id = %context.user_id, "identity service answered for another organization");
                return Err(AuthError::Invalid("token does not match the identity service's answer".into()));
            }
            Some(_) => {}
            None => context.organization_id = Some(OrgId::new(org)),
        }
    }
    if let Some(roles) = answer.roles {
        context.roles = roles.iter().map(|r| r.trim().to_lowercase()).filter(|r| !r.is_empty()).collect();
    }
    if context.email.is_none() {
        context.email = answer.email.filter(|e| !e.is_empty());
    }
    Ok(context)
}

struct Entry {
    context: UserContext,
    expires: Instant,
}

struct ConfirmationCache {
    entries: HashMap<TokenHash, Entry>,
    capacity: usize,
}

impl ConfirmationCache {
    fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), capacity }
    }

    fn get(&mut self, key: &TokenHash, now: Instant) -> Option<UserContext> {
        match self.entries.get(key) {
            Some(entry) if now < entry.expires => Some(entry.context.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: TokenHash, context: UserContext, expires: Instant, now: Instant) {
        if expires <= now || self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, entry| entry.expires > now);
            if self.entries.len() >= self.capacity {
                let soonest = self.entries.iter().min_by_key(|(_, entry)| entry.expires).map(|(k, _)| *k);
                if let Some(soonest) = soonest {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, Entry { context, expires });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// How long a confirmation obtained at `now` may be reused: the TTL, cut at the token's `exp`.
fn cache_until(now: Instant, ttl: Duration, expires_at: u64) -> Option<Instant> {
    let remaining = UNIX_EPOCH
        .checked_add(Duration::from_secs(expires_at))
        .map_or(ttl, |exp| exp.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO));
    let lifetime = ttl.min(remaining);
    if lifetime.is_zero() { None } else { now.checked_add(lifetime) }
}

pub(super) struct IdentityValidator {
    url: reqwest::Url,
    client: Arc<LazyClient>,
    ttl: Duration,
    cache: Mutex<ConfirmationCache>,
}

impl IdentityValidator {
    pub(super) fn new(url: reqwest::Url, ttl: Duration, client: Arc<LazyClient>) -> Self {
        Self { url, client, ttl, cache: Mutex::new(ConfirmationCache::new(MAX_ENTRIES)) }
    }

    fn cache(&self) -> MutexGuard<'_, ConfirmationCache> {
        // The cache holds no invariant a panic elsewhere could break half-way.
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The caller, once the Identity Service confirms the (locally verified) token.
    pub(super) async fn confirm(&self, token: &str, verified: VerifiedToken) -> Result<UserContext, AuthError> {
        let key: TokenHash = Sha256::digest(token.as_bytes()).into();
        let asked_at = Instant::now();
        if let Some(context) = self.cache().get(&key, asked_at) {
            tracing::debug!("identity confirmation reused from cache");
            return Ok(context);
        }
        let answer = self.ask(token).await?;
        let context = merge(answer, verified.context)?;
        if let Some(until) = cache_until(asked_at, self.ttl, verified.expires_at) {
            self.cache().insert(key, context.clone(), until, Instant::now());
        }
        Ok(context)
    }

    #[tracing::instrument(name = "identity_validate", skip_all, fields(url = %self.url))]
    async fn ask(&self, token: &str) -> Result<Answer, AuthError> {
        let unavailable = |what: &str| AuthError::IdentityUnavailable(format!("identity service {what}"));
        let client = self.client.get().await?;
        let response = client
            .post(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .map_err(|error| {
                tracing::warn!(%error, timeout = error.is_timeout(), "identity service unreachable");
                unavailable(if error.is_timeout() { "timed out" } else { "unreachable" })
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            tracing::debug!(%status, "identity service refused the token");
            return Err(rejected());
        }
        if !status.is_success() {
            tracing::warn!(%status, "identity service answered with an error status");
            return Err(unavailable("failed"));
        }
        let body = read_limited(response, MAX_BODY_BYTES).await.map_err(|error| {
            tracing::warn!(%error, "identity service answer unreadable");
            unavailable("answer unreadable")
        })?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|error| {
            // serde's message names the offending field and position, never its value.
            tracing::warn!(%error, "identity service answer malformed");
            unavailable("answer malformed")
        })?;
        if !answer.valid {
            tracing::debug!("identity service answered valid=false");
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserId;

    fn ctx(org: Option<Uuid>) -> UserContext {
        UserContext {
            user_id: UserId::new(Uuid::new_v4()),
            email: None,
            organization_id: org.map(OrgId::new),
            roles: vec!["viewer".into()],
            expires_at: None,
        }
    }

    fn answer(json: serde_json::Value) -> Answer {
        serde_json::from_value(json).unwrap()
    }

    fn invalid<T: std::fmt::Debug>(r: Result<T, AuthError>) -> bool {
        matches!(r, Err(AuthError::Invalid(_)))
    }

    #[test]
    fn an_answer_needs_a_validity_flag_and_uuids() {
        assert!(serde_json::from_str::<Answer>(r#"{"user_id": null}"#).is_err());
        assert!(serde_json::from_str::<Answer>(r#"{"valid": true, "user_id": "bob"}"#).is_err());
        assert!(serde_json::from_str::<Answer>(r#"{"valid": true, "roles": "admin"}"#).is_err());
        assert!(serde_json::from_str::<Answer>(r#"{"valid": true, "extra": 1}"#).is_ok());
    }

    #[test]
    fn valid_false_is_a_refusal() {
        assert!(invalid(merge(answer(serde_json::json!({"valid": false})), ctx(None))));
    }

    #[test]
    fn an_answer_about_another_user_is_refused() {
        let a = answer(serde_json::json!({"valid": true, "user_id": Uuid::new_v4()}));
        assert!(invalid(merge(a, ctx(None))));
    }

    #[test]
    fn an_answer_about_another_organization_is_refused() {
        let a = answer(serde_json::json!({"valid": true, "tenant_id": Uuid::new_v4()}));
        assert!(invalid(merge(a, ctx(Some(Uuid::new_v4())))));
    }

    #[test]
    fn the_answer_completes_the_organization_and_replaces_roles() {
        let (org, caller) = (Uuid::new_v4(), ctx(None));
        let a = answer(serde_json::json!({
            "valid": true, "user_id": caller.user_id.as_uuid(), "organization_id": org,
            "roles": ["Admin", ""], "email": "a@b.fr"
        }));
        let merged = merge(a, caller).unwrap();
        assert_eq!(merged.organization_id.map(|o| o.as_uuid()), Some(org));
        assert_eq!(merged.roles, ["admin"]);
        assert_eq!(merged.email.as_deref(), Some("a@b.fr"));
    }

    #[test]
    fn an_answer_without_roles_keeps_the_token_roles() {
        let merged = merge(answer(serde_json::json!({"valid": true})), ctx(None)).unwrap();
        assert_eq!(merged.roles, ["viewer"]);
    }

    #[test]
    fn contradictory_organizations_in_one_answer_are_not_trusted() {
        let a =
            answer(serde_json::json!({"valid": true, "organization_id": Uuid::new_v4(), "tenant_id": Uuid::new_v4()}));
        assert!(matches!(merge(a, ctx(None)), Err(AuthError::IdentityUnavailable(_))));
    }

    #[test]
    fn an_entry_is_served_until_it_expires_then_dropped() {
        let (mut cache, now) = (ConfirmationCache::new(8), Instant::now());
        cache.insert([1; 32], ctx(None), now + Duration::from_secs(10), now);
        assert!(cache.get(&[1; 32], now + Duration::from_secs(9)).is_some());
        assert!(cache.get(&[1; 32], now + Duration::from_secs(10)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_never_grows_past_its_capacity() {
        let (mut cache, now) = (ConfirmationCache::new(3), Instant::now());
        for i in 0..3u8 {
            cache.insert([i; 32], ctx(None), now + Duration::from_secs(10 + u64::from(i)), now);
        }
        cache.insert([9; 32], ctx(None), now + Duration::from_secs(60), now);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&[0; 32], now).is_none(), "the entry expiring soonest is evicted");
        assert!(cache.get(&[9; 32], now).is_some());
    }

    #[test]
    fn expired_entries_are_evicted_first() {
        let (mut cache, now) = (ConfirmationCache::new(2), Instant::now());
        cache.insert([1; 32], ctx(None), now + Duration::from_secs(1), now);
        cache.insert([2; 32], ctx(None), now + Duration::from_secs(100), now);
        let later = now + Duration::from_secs(5);
        cache.insert([3; 32], ctx(None), later + Duration::from_secs(10), later);
        assert!(cache.get(&[2; 32], later).is_some());
        assert!(cache.get(&[3; 32], later).is_some());
    }

    #[test]
    fn a_confirmation_never_outlives_the_token() {
        let now = Instant::now();
        let unix_now = jsonwebtoken::get_current_timestamp();
        let ttl = Duration::from_secs(300);
        let until = cache_until(now, ttl, unix_now + 5).unwrap();
        assert!(until <= now + Duration::from_secs(5));
        assert_eq!(cache_until(now, ttl, unix_now + 3600), Some(now + ttl));
        assert_eq!(cache_until(now, ttl, unix_now.saturating_sub(1)), None);
        assert_eq!(cache_until(now, Duration::ZERO, unix_now + 3600), None);
        assert_eq!(cache_until(now, ttl, u64::MAX), Some(now + ttl));
    }
}
