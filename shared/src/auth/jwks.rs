//! RS256/ES256 public keys from the Identity Service's JWKS, cached for the container's life.
//!
//! The set is fetched on first need (never in init) and again when a token names a `kid` the
//! cache does not know, which is how a key rotation reaches a warm container. Those refetches are
//! rate-limited: a `kid` is chosen by whoever writes the token, and forged ones must not turn into
//! a flood of fetches against the Identity Service.

use super::authenticator::AuthError;
use super::fetch::{LazyClient, read_limited};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A JWKS holds a handful of keys; anything near this is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_KEYS: usize = 64;

/// The kinds of public key a token may be verified with, one per accepted algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
}

impl KeyKind {
    fn algorithm(self) -> Algorithm {
        match self {
            Self::Rsa => Algorithm::RS256,
            Self::EcP256 => Algorithm::ES256,
        }
    }
}

#[derive(Debug, Clone)]
struct PublicKey {
    kind: KeyKind,
    key: Arc<DecodingKey>,
}

/// One JWK as published; every member optional so that one odd key cannot make the whole set
/// unreadable.
#[derive(Debug, Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// The usable signing keys of a JWKS document, by `kid`. Keys that cannot verify an RS256 or
/// ES256 signature are left out: symmetric (`oct`) keys above all, which would otherwise let a
/// published value act as an HMAC secret.
fn parse_key_set(body: &[u8]) -> Result<HashMap<String, PublicKey>, serde_json::Error> {
    let set: RawJwkSet = serde_json::from_slice(body)?;
    let mut keys = HashMap::new();
    for value in set.keys.into_iter().take(MAX_KEYS) {
        let Ok(jwk) = serde_json::from_value::<RawJwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.kid.clone().filter(|k| !k.is_empty()) else {
            continue;
        };
        match usable_key(&jwk) {
            Some(key) if !keys.contains_key(&kid) => {
                keys.insert(kid, key);
            }
            Some(_) => tracing::debug!(%kid, "duplicate kid in the JWKS; the first key is kept"),
            None => tracing::debug!(%kid, "JWKS key skipped: not an RS256 or ES256 signing key"),
        }
    }
    Ok(keys)
}

fn usable_key(jwk: &RawJwk) -> Option<PublicKey> {
    if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let (kind, key) = match (jwk.kty.as_deref()?, jwk.crv.as_deref()) {
        ("RSA", _) => (KeyKind::Rsa, DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?),
        ("EC", Some("P-256")) => {
            let (x, y) = (jwk.x.as_deref()?, jwk.y.as_deref()?);
            // A P-256 coordinate is 32 bytes, i.e. 43 unpadded base64url characters.
            if x.len() != 43 || y.len() != 43 {
                return None;
            }
            (KeyKind::EcP256, DecodingKey::from_ec_components(x, y).ok()?)
        }
        _ => return None,
    };
    // A key that declares its algorithm may only be used with that one.
    let declared_ok = matches!(
        (jwk.alg.as_deref(), kind),
        (None, _) | (Some("RS256"), KeyKind::Rsa) | (Some("ES256"), KeyKind::EcP256)
    );
    declared_ok.then(|| PublicKey { kind, key: Arc::new(key) })
}

#[derive(Debug, Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    last_failed: bool,
}

pub(super) struct JwksCache {
    url: reqwest::Url,
    min_refresh: Duration,
    client: Arc<LazyClient>,
    keys: RwLock<HashMap<String, PublicKey>>,
    /// Held across a fetch, so concurrent misses wait for one fetch instead of starting several.
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl JwksCache {
    pub(super) fn new(url: reqwest::Url, min_refresh: Duration, client: Arc<LazyClient>) -> Self {
        Self {
            url,
            min_refresh,
            client,
            keys: RwLock::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        }
    }

    /// The key named `kid`, checked against the token's algorithm.
    pub(super) async fn key_for(&self, kid: &str, alg: Algorithm) -> Result<Arc<DecodingKey>, AuthError> {
        if let Some(key) = self.cached(kid) {
            return matching(key, alg);
        }
        let mut state = self.refresh.lock().await;
        if let Some(key) = self.cached(kid) {
            return matching(key, alg);
        }
        if let Some(at) = state.last_attempt
            && at.elapsed() < self.min_refresh
        {
            tracing::debug!(kid, "unknown kid; JWKS refetch skipped (rate limit)");
            return Err(if state.last_failed {
                AuthError::IdentityUnavailable("signing keys unavailable".into())
            } else {
                AuthError::Invalid("unknown signing key".into())
            });
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                state.last_failed = false;
                tracing::info!(keys = keys.len(), "JWKS fetched");
                *self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
            }
            Err(error) => {
                // Keys already cached stay in use: an outage must not log out every caller.
                state.last_failed = true;
                return Err(error);
            }
        }
        drop(state);
        match self.cached(kid) {
            Some(key) => matching(key, alg),
            None => {
                tracing::debug!(kid, "kid not in the JWKS");
                Err(AuthError::Invalid("unknown signing key".into()))
            }
        }
    }

    fn cached(&self, kid: &str) -> Option<PublicKey> {
        self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(kid).cloned()
    }

    #[tracing::instrument(name = "jwks_fetch", skip_all, fields(url = %self.url))]
    async fn fetch(&self) -> Result<HashMap<String, PublicKey>, AuthError> {
        let unavailable = |what: &str| AuthError::IdentityUnavailable(format!("signing keys unavailable: {what}"));
        let client = self.client.get().await?;
        let response =
            client.get(self.url.clone()).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(
                |error| {
                    tracing::warn!(%error, "JWKS fetch failed");
                    unavailable("request failed")
                },
            )?;
        let status = response.status();
        if !status.is_success() {
            tracing::warn!(%status, "JWKS fetch answered with an error status");
            return Err(unavailable("error status"));
        }
        let body = read_limited(response, MAX_BODY_BYTES).await.map_err(|error| {
            tracing::warn!(%error, "JWKS body unreadable");
            unavailable("unreadable answer")
        })?;
        parse_key_set(&body).map_err(|error| {
            tracing::warn!(%error, "JWKS is not a key set");
            unavailable("unreadable answer")
        })
    }
}

fn matching(key: PublicKey, alg: Algorithm) -> Result<Arc<DecodingKey>, AuthError> {
    if key.kind.algorithm() == alg {
        Ok(key.key)
    } else {
        tracing::debug!(?alg, kind = ?key.kind, "token algorithm does not match its key's type");
        Err(AuthError::Invalid("signing key does not match the algorithm".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Shapes only: these keys are never used to verify anything.
    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn keys(v: serde_json::Value) -> HashMap<String, PublicKey> {
        parse_key_set(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn rsa_and_p256_signing_keys_are_kept_by_kid() {
        let set = keys(json!({"keys": [
            {"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": X, "y": Y},
        ]}));
        assert_eq!(set["r"].kind, KeyKind::Rsa);
        assert_eq!(set["e"].kind, KeyKind::EcP256);
    }

    #[test]
    fn symmetric_encryption_and_foreign_algorithm_keys_are_left_out() {
        let set = keys(json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "pss", "alg": "PS256", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": X, "y": Y},
            {"kty": "EC", "kid": "es-as-rs", "crv": "P-256", "alg": "RS256", "x": X, "y": Y},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": X},
            {"kty": "RSA", "n": N, "e": "AQAB"},
            "not an object",
        ]}));
        assert!(set.is_empty(), "{:?}", set.keys().collect::<Vec<_>>());
    }

    #[test]
    fn the_first_of_two_keys_with_one_kid_is_kept() {
        let set = keys(json!({"keys": [
            {"kty": "RSA", "kid": "k", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "k", "crv": "P-256", "x": X, "y": Y},
        ]}));
        assert_eq!(set["k"].kind, KeyKind::Rsa);
    }

    #[test]
    fn a_document_that_is_not_a_key_set_is_an_error() {
        assert!(parse_key_set(b"<html>").is_err());
        assert!(parse_key_set(br#"{"keys": 3}"#).is_err());
    }

    #[test]
    fn a_key_only_serves_its_own_algorithm() {
        let set = keys(json!({"keys": [{"kty": "RSA", "kid": "r", "n": N, "e": "AQAB"}]}));
        assert!(matching(set["r"].clone(), Algorithm::RS256).is_ok());
        assert!(matches!(matching(set["r"].clone(), Algorithm::ES256), Err(AuthError::Invalid(_))));
        assert!(matches!(matching(set["r"].clone(), Algorithm::HS256), Err(AuthError::Invalid(_))));
    }
}
