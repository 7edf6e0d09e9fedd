//! Dev tokens: HS256 JWTs shaped like the Identity Service's, for local use and tests.

use serde_json::{Map, Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// What goes into a token. Claim names are the defaults the functions accept
/// (`sub`, `organization_id`, `email`, `roles`).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `None` mints a token without an organization (refused by business endpoints with 403).
    pub organization_id: Option<String>,
    pub user_id: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// Seconds from now to `exp`; negative for an already expired token.
    pub ttl_seconds: i64,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The claims of a request, issued at `now`.
pub fn claims(request: &TokenRequest, now: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(request.user_id));
    if let Some(org) = &request.organization_id {
        claims.insert("organization_id".into(), json!(org));
    }
    if let Some(email) = &request.email {
        claims.insert("email".into(), json!(email));
    }
    claims.insert("roles".into(), json!(request.roles));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(request.ttl_seconds)));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    if let Some(iss) = &request.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = &request.audience {
        claims.insert("aud".into(), json!(aud));
    }
    claims
}

/// Signs `claims` with HS256.
pub fn sign_hs256(claims: &Map<String, Value>, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret))
}

/// Mints a token for `request`, valid from now.
pub fn mint_hs256(request: &TokenRequest, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
    sign_hs256(&claims(request, now()), secret)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

    #[test]
    fn a_minted_token_verifies_with_the_secret_and_carries_the_claims() {
        let request = TokenRequest {
            organization_id: Some("org-1".into()),
            user_id: "user-1".into(),
            email: Some("a@b.test".into()),
            roles: vec!["admin".into()],
            ttl_seconds: 600,
            issuer: Some("iss".into()),
            audience: Some("aud".into()),
        };
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = mint_hs256(&request, secret).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&["iss"]);
        validation.set_audience(&["aud"]);
        let data = decode::<Map<String, Value>>(&token, &DecodingKey::from_secret(secret), &validation).unwrap();
        assert_eq!(data.claims["organization_id"], "org-1");
        assert_eq!(data.claims["sub"], "user-1");
        assert_eq!(data.claims["roles"], json!(["admin"]));
    }

    #[test]
    fn a_token_without_organization_has_no_such_claim() {
        let request = TokenRequest {
            organization_id: None,
            user_id: "u".into(),
            email: None,
            roles: vec![],
            ttl_seconds: -10,
            issuer: None,
            audience: None,
        };
        let c = claims(&request, 1000);
        assert!(!c.contains_key("organization_id"));
        assert_eq!(c["exp"], 990);
    }
}
