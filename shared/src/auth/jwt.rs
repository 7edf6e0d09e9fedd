//! Local token verification: the bearer header, the algorithm allow-list, the signature and
//! registered claims (through `jsonwebtoken`), and the mapping of the Identity Service's claim
//! dialects onto a `UserContext`.
//!
//! Everything here is pure: the key is handed in by the caller, which knows where it came from.

use super::authenticator::AuthError;
use super::context::{OrgId, UserContext, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Real tokens are about a kilobyte; the cap keeps a hostile header from costing base64 and JSON
/// work proportional to the 10 MB API Gateway would let through.
const MAX_TOKEN_LEN: usize = 8 * 1024;

fn invalid(reason: &'static str) -> AuthError {
    AuthError::Invalid(reason.to_string())
}

/// The token of an `Authorization: Bearer <jwt>` header.
pub(super) fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.map(str::trim).filter(|v| !v.is_empty()).ok_or(AuthError::Missing)?;
    let (scheme, token) =
        value.split_once(|c: char| c.is_ascii_whitespace()).ok_or_else(|| invalid("malformed authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid("unsupported authorization scheme"));
    }
    let token = token.trim();
    let well_formed = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().filter(|&b| b == b'.').count() == 2
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if well_formed { Ok(token) } else { Err(invalid("malformed token")) }
}

/// Where the key that may verify a token comes from, decided by its header before any key is
/// looked up. Only three algorithms get this far, each bound to one key source: HS256 to the
/// configured secret, RS256 and ES256 to the JWKS. That binding is what makes the HMAC/public-key
/// confusion impossible: a public key is never handed to an HMAC check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeySource {
    SharedSecret,
    Jwks { kid: String, alg: Algorithm },
}

pub(super) fn key_source(token: &str) -> Result<KeySource, AuthError> {
    // `none` is not an `Algorithm` variant, so an unsigned token already fails here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
    match header.alg {
        Algorithm::HS256 => Ok(KeySource::SharedSecret),
        alg @ (Algorithm::RS256 | Algorithm::ES256) => {
            let kid = header.kid.filter(|k| !k.is_empty()).ok_or_else(|| invalid("token names no signing key"))?;
            Ok(KeySource::Jwks { kid, alg })
        }
        _ => Err(invalid("unsupported algorithm")),
    }
}

/// Which claims name the user, organization, email and roles: the Identity Service's
/// implementations disagree (models.md), so the names come from configuration.
#[derive(Debug, Clone)]
pub(super) struct ClaimNames {
    pub user: Vec<String>,
    pub org: Vec<String>,
    pub email: String,
    pub roles: String,
}

/// A token whose signature and registered claims have been checked.
#[derive(Debug, Clone)]
pub(super) struct VerifiedToken {
    pub context: UserContext,
    /// `exp`, in seconds since the Unix epoch: nothing derived from the token may outlive it.
    pub expires_at: u64,
}

pub(super) struct Verifier {
    hs256: Validation,
    rs256: Validation,
    es256: Validation,
    names: ClaimNames,
}

impl Verifier {
    pub(super) fn new(issuer: Option<&str>, audience: Option<&str>, leeway_secs: u64, names: ClaimNames) -> Self {
        let rules = |alg| {
            let mut v = Validation::new(alg);
            v.leeway = leeway_secs;
            v.validate_exp = true;
            v.validate_nbf = true;
            let mut required = vec!["exp"];
            // jsonwebtoken only compares `iss`/`aud` when the token carries them; a configured
            // value must also make the claim mandatory, or dropping it would bypass the check.
            if let Some(iss) = issuer {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            match audience {
                Some(aud) => {
                    v.set_audience(&[aud]);
                    required.push("aud");
                }
                // Without a configured audience there is nothing to compare with; jsonwebtoken
                // would otherwise refuse every token that names one.
                None => v.validate_aud = false,
            }
            v.set_required_spec_claims(&required);
            v
        };
        Self { hs256: rules(Algorithm::HS256), rs256: rules(Algorithm::RS256), es256: rules(Algorithm::ES256), names }
    }

    pub(super) fn verify(&self, token: &str, key: &DecodingKey, alg: Algorithm) -> Result<VerifiedToken, AuthError> {
        let validation = match alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::RS256 => &self.rs256,
            Algorithm::ES256 => &self.es256,
            _ => return Err(invalid("unsupported algorithm")),
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map_err(|e| AuthError::Invalid(refusal_reason(e.kind()).to_string()))?;
        let expires_at = data.claims.get("exp").and_then(numeric_date).ok_or_else(|| invalid("malformed claims"))?;
        let mut context = user_context(&data.claims, &self.names)?;
        context.expires_at = Some(expires_at);
        Ok(VerifiedToken { context, expires_at })
    }
}

/// A short reason for the client: enough to tell an expired session from a broken integration,
/// nothing that helps forge a token.
fn refusal_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not yet valid",
        ErrorKind::InvalidSignature => "invalid signature",
        ErrorKind::InvalidIssuer => "invalid issuer",
        ErrorKind::InvalidAudience => "invalid audience",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "unsupported algorithm",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "token has no expiry",
            "iss" => "invalid issuer",
            "aud" => "invalid audience",
            _ => "malformed claims",
        },
        ErrorKind::InvalidClaimFormat(_) => "malformed claims",
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => "invalid signature",
        _ => "malformed token",
    }
}

/// A JWT NumericDate; fractional seconds are allowed by RFC 7519 and truncated.
fn numeric_date(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
}

/// The first of `names` the claims carry; `null` counts as absent.
fn first_present<'a>(claims: &'a Map<String, Value>, names: &[String]) -> Option<&'a Value> {
    names.iter().filter_map(|n| claims.get(n)).find(|v| !v.is_null())
}

fn uuid_claim(value: &Value) -> Option<Uuid> {
    value.as_str().and_then(|s| Uuid::try_parse(s).ok())
}

pub(super) fn user_context(claims: &Map<String, Value>, names: &ClaimNames) -> Result<UserContext, AuthError> {
    let user_id = first_present(claims, &names.user)
        .and_then(uuid_claim)
        .map(UserId::new)
        .ok_or_else(|| invalid("token does not name a valid user"))?;
    // No organization is a valid token (the caller gets 403 on business endpoints); a malformed
    // one is not, or a typo in the Identity Service would silently demote callers.
    let organization_id = match first_present(claims, &names.org) {
        None => None,
        Some(v) => Some(uuid_claim(v).map(OrgId::new).ok_or_else(|| invalid("token names an invalid organization"))?),
    };
    let email = match claims.get(&names.email) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("malformed claims")),
    };
    let roles = match claims.get(&names.roles) {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => parse_roles(v).ok_or_else(|| invalid("malformed claims"))?,
    };
    Ok(UserContext { user_id, email, organization_id, roles, expires_at: None })
}

/// Lower-cased role codes. Anything but an array of strings is refused rather than read as "no
/// roles": no roles means member, which can write, so a garbled `["viewer"]` must not become that.
pub(super) fn parse_roles(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|r| r.as_str().map(|s| s.trim().to_lowercase()))
        .filter(|r| r.as_deref() != Some(""))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn names() -> ClaimNames {
        ClaimNames {
            user: vec!["sub".into(), "user_id".into()],
            org: vec!["organization_id".into(), "tenant_id".into()],
            email: "email".into(),
            roles: "roles".into(),
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn hs256(claims: &Value) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    fn claims_of(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn reason(r: Result<impl std::fmt::Debug, AuthError>) -> String {
        match r.unwrap_err() {
            AuthError::Invalid(reason) => reason,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_bearer_token_is_taken_whatever_the_scheme_case() {
        assert_eq!(bearer_token(Some("Bearer a.b.c")).unwrap(), "a.b.c");
        assert_eq!(bearer_token(Some("bEaReR   a.b.c  ")).unwrap(), "a.b.c");
    }

    #[test]
    fn no_header_or_a_blank_one_is_missing() {
        assert!(matches!(bearer_token(None), Err(AuthError::Missing)));
        assert!(matches!(bearer_token(Some("  ")), Err(AuthError::Missing)));
    }

    #[test]
    fn other_schemes_and_malformed_tokens_are_invalid() {
        for header in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer a.b",
            "Bearer a.b.c.d",
            "Bearer a.b.c d",
            "Bearer a.b+c.d",
            "a.b.c",
        ] {
            assert!(matches!(bearer_token(Some(header)), Err(AuthError::Invalid(_))), "{header}");
        }
        let huge = format!("Bearer {}.b.c", "a".repeat(MAX_TOKEN_LEN));
        assert!(matches!(bearer_token(Some(&huge)), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn each_algorithm_is_bound_to_one_key_source() {
        let token = hs256(&json!({"exp": now() + 60}));
        assert_eq!(key_source(&token).unwrap(), KeySource::SharedSecret);

        let mut header = Header::new(Algorithm::HS384);
        header.kid = Some("k".into());
        let hs384 = encode(&header, &json!({"exp": now() + 60}), &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(reason(key_source(&hs384)), "unsupported algorithm");
    }

    #[test]
    fn an_unsigned_token_is_refused_before_any_key_is_chosen() {
        use base64::Engine as _;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&json!({"exp": now() + 60})));
        assert_eq!(reason(key_source(&token)), "malformed token");
    }

    #[test]
    fn issuer_and_audience_become_mandatory_once_configured() {
        let verifier = Verifier::new(Some("idp"), Some("hub"), 0, names());
        let key = DecodingKey::from_secret(SECRET);
        let user = Uuid::new_v4().to_string();
        let no_iss = hs256(&json!({"sub": user, "exp": now() + 60, "aud": "hub"}));
        assert_eq!(reason(verifier.verify(&no_iss, &key, Algorithm::HS256)), "invalid issuer");
        let no_aud = hs256(&json!({"sub": user, "exp": now() + 60, "iss": "idp"}));
        assert_eq!(reason(verifier.verify(&no_aud, &key, Algorithm::HS256)), "invalid audience");
        let ok = hs256(&json!({"sub": user, "exp": now() + 60, "iss": "idp", "aud": ["other", "hub"]}));
        assert!(verifier.verify(&ok, &key, Algorithm::HS256).is_ok());
    }

    #[test]
    fn an_audience_is_ignored_when_none_is_configured() {
        let verifier = Verifier::new(None, None, 0, names());
        let token = hs256(&json!({"sub": Uuid::new_v4().to_string(), "exp": now() + 60, "aud": "anything"}));
        assert!(verifier.verify(&token, &DecodingKey::from_secret(SECRET), Algorithm::HS256).is_ok());
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let verifier = Verifier::new(None, None, 0, names());
        let token = hs256(&json!({"sub": Uuid::new_v4().to_string()}));
        assert_eq!(
            reason(verifier.verify(&token, &DecodingKey::from_secret(SECRET), Algorithm::HS256)),
            "token has no expiry"
        );
    }

    #[test]
    fn the_expiry_is_reported_for_the_caches_and_to_the_caller() {
        let verifier = Verifier::new(None, None, 0, names());
        let exp = now() + 120;
        let token = hs256(&json!({"sub": Uuid::new_v4().to_string(), "exp": exp}));
        let verified = verifier.verify(&token, &DecodingKey::from_secret(SECRET), Algorithm::HS256).unwrap();
        assert_eq!(verified.expires_at, exp);
        assert_eq!(verified.context.expires_at, Some(exp));
    }

    #[test]
    fn the_first_present_user_claim_wins() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let ctx = user_context(&claims_of(json!({"sub": a.to_string(), "user_id": b.to_string()})), &names()).unwrap();
        assert_eq!(ctx.user_id.as_uuid(), a);
        let ctx = user_context(&claims_of(json!({"sub": null, "user_id": b.to_string()})), &names()).unwrap();
        assert_eq!(ctx.user_id.as_uuid(), b);
    }

    #[test]
    fn a_missing_or_non_uuid_user_is_refused() {
        for claims in [json!({}), json!({"sub": "alice"}), json!({"sub": 42}), json!({"user_id": ""})] {
            assert_eq!(reason(user_context(&claims_of(claims), &names())), "token does not name a valid user");
        }
    }

    #[test]
    fn an_organization_is_optional_but_must_be_a_uuid() {
        let user = Uuid::new_v4().to_string();
        let ctx = user_context(&claims_of(json!({"sub": user})), &names()).unwrap();
        assert_eq!(ctx.organization_id, None);
        let org = Uuid::new_v4();
        let ctx = user_context(&claims_of(json!({"sub": user, "tenant_id": org.to_string()})), &names()).unwrap();
        assert_eq!(ctx.organization_id.map(|o| o.as_uuid()), Some(org));
        let bad = claims_of(json!({"sub": user, "organization_id": "acme"}));
        assert!(matches!(user_context(&bad, &names()), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn roles_are_lower_cased_and_default_to_none() {
        let user = Uuid::new_v4().to_string();
        let ctx = user_context(&claims_of(json!({"sub": user, "roles": ["Admin", " Viewer "]})), &names()).unwrap();
        assert_eq!(ctx.roles, ["admin", "viewer"]);
        let ctx = user_context(&claims_of(json!({"sub": user})), &names()).unwrap();
        assert!(ctx.roles.is_empty());
    }

    #[test]
    fn garbled_roles_are_refused_rather_than_read_as_member() {
        let user = Uuid::new_v4().to_string();
        for roles in [json!("viewer"), json!([1]), json!({"viewer": true})] {
            let claims = claims_of(json!({"sub": user, "roles": roles}));
            assert!(matches!(user_context(&claims, &names()), Err(AuthError::Invalid(_))));
        }
    }

    #[test]
    fn configured_claim_names_are_used() {
        let names = ClaimNames {
            user: vec!["uid".into()],
            org: vec!["org".into()],
            email: "mail".into(),
            roles: "groups".into(),
        };
        let (user, org) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = claims_of(json!({
            "uid": user.to_string(), "org": org.to_string(), "mail": "a@b.fr", "groups": ["Nurse"],
            "sub": "ignored", "roles": "ignored"
        }));
        let ctx = user_context(&claims, &names).unwrap();
        assert_eq!(ctx.user_id.as_uuid(), user);
        assert_eq!(ctx.organization_id.map(|o| o.as_uuid()), Some(org));
        assert_eq!(ctx.email.as_deref(), Some("a@b.fr"));
        assert_eq!(ctx.roles, ["nurse"]);
    }
}
