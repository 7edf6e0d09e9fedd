//! The one entry point of authentication: an `Authorization` header in, a `UserContext` or an
//! `AuthError` out. Built once per container in `main`, without touching the network, and shared
//! by every invocation so that keys and confirmations are fetched once per container, not once
//! per request.

use super::context::UserContext;
use super::fetch::{LazyClient, check_url};
use super::jwks::JwksCache;
use super::jwt::{ClaimNames, KeySource, Verifier, bearer_token, key_source};
use super::remote::IdentityValidator;
use crate::config::{AuthConfig, ConfigError};
use crate::error::AppError;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::sync::Arc;
use std::time::Duration;

/// Leeway is there for clock skew between hosts, which NTP keeps to seconds; minutes of it would
/// quietly extend every token's life.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or a blank one.
    #[error("a bearer token is required")]
    Missing,
    /// A token that does not verify. The reason is short and safe to show the caller.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token could not be checked because the Identity Service (its JWKS or its validation
    /// endpoint) could not be reached or gave no usable answer. Not the caller's fault: 503.
    #[error("identity service unavailable: {0}")]
    IdentityUnavailable(String),
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing => AppError::unauthenticated("a bearer token is required"),
            AuthError::Invalid(reason) => AppError::unauthenticated(format!("invalid token: {reason}")),
            // The internal reason was logged where it happened; the client learns only to retry.
            AuthError::IdentityUnavailable(_) => {
                AppError::unavailable("the identity service is unavailable; try again shortly")
            }
        }
    }
}

pub struct Authenticator {
    verifier: Verifier,
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    identity: Option<IdentityValidator>,
}

impl Authenticator {
    /// Checks the settings and prepares the verifier. Makes no network call and builds no HTTP
    /// client: that happens on the first request that needs one.
    pub fn new(config: AuthConfig) -> Result<Self, ConfigError> {
        if config.leeway > MAX_LEEWAY {
            return Err(ConfigError::Invalid { name: "JWT_LEEWAY_SECONDS", reason: "at most 300".into() });
        }
        if let Some(secret) = &config.hs256_secret
            && secret.len() < MIN_SECRET_LEN
        {
            return Err(ConfigError::Invalid { name: "JWT_HS256_SECRET", reason: "must be at least 32 bytes".into() });
        }
        if config.hs256_secret.is_none() && config.jwks_url.is_none() {
            return Err(ConfigError::Missing { name: "JWT_HS256_SECRET (or JWT_JWKS_URL)" });
        }
        if config.user_claims.is_empty() {
            return Err(ConfigError::Invalid { name: "JWT_USER_CLAIMS", reason: "names no claim".into() });
        }
        let jwks_url = config.jwks_url.as_deref().map(|u| check_url("JWT_JWKS_URL", u)).transpose()?;
        let validate_url = config.validate_url.as_deref().map(|u| check_url("IDENTITY_VALIDATE_URL", u)).transpose()?;

        let client = Arc::new(LazyClient::new(config.identity_timeout));
        let names = ClaimNames {
            user: config.user_claims,
            org: config.org_claims,
            email: config.email_claim,
            roles: config.roles_claim,
        };
        Ok(Self {
            verifier: Verifier::new(
                config.issuer.as_deref(),
                config.audience.as_deref(),
                config.leeway.as_secs(),
                names,
            ),
            hs256: config.hs256_secret.as_deref().map(DecodingKey::from_secret),
            jwks: jwks_url.map(|url| JwksCache::new(url, config.jwks_min_refresh, Arc::clone(&client))),
            identity: validate_url.map(|url| IdentityValidator::new(url, config.identity_cache_ttl, client)),
        })
    }

    /// The verified caller of a request, from its `Authorization` header value.
    #[tracing::instrument(name = "authenticate", skip_all)]
    pub async fn authenticate(&self, authorization_header: Option<&str>) -> Result<UserContext, AuthError> {
        let result = self.verify(authorization_header).await;
        match &result {
            Ok(_) => {}
            Err(AuthError::Missing) => tracing::debug!("no bearer token"),
            Err(AuthError::Invalid(reason)) => tracing::info!(%reason, "token refused"),
            Err(AuthError::IdentityUnavailable(reason)) => {
                tracing::warn!(%reason, "token could not be checked")
            }
        }
        result
    }

    async fn verify(&self, header: Option<&str>) -> Result<UserContext, AuthError> {
        let token = bearer_token(header)?;
        let verified = match key_source(token)? {
            KeySource::SharedSecret => {
                let key = self.hs256.as_ref().ok_or_else(|| AuthError::Invalid("unsupported algorithm".into()))?;
                self.verifier.verify(token, key, Algorithm::HS256)?
            }
            KeySource::Jwks { kid, alg } => {
                let jwks = self.jwks.as_ref().ok_or_else(|| AuthError::Invalid("unsupported algorithm".into()))?;
                let key = jwks.key_for(&kid, alg).await?;
                self.verifier.verify(token, &key, alg)?
            }
        };
        match &self.identity {
            Some(identity) => identity.confirm(token, verified).await,
            None => Ok(verified.context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn config(pairs: &[(&str, &str)]) -> AuthConfig {
        let mut all = vec![("JWT_HS256_SECRET", "0123456789abcdef0123456789abcdef")];
        all.extend_from_slice(pairs);
        AuthConfig::from_env(&Env::from_pairs(all.iter().copied())).unwrap()
    }

    fn config_error(pairs: &[(&str, &str)]) -> String {
        match Authenticator::new(config(pairs)) {
            Ok(_) => panic!("expected a configuration error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_authenticator_is_shared_across_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Authenticator>();
    }

    #[test]
    fn building_it_contacts_nobody() {
        // Port 9 (discard) on loopback: nothing listens, and `new` must not notice.
        let cfg =
            config(&[("JWT_JWKS_URL", "http://127.0.0.1:9/jwks"), ("IDENTITY_VALIDATE_URL", "http://127.0.0.1:9/v")]);
        assert!(Authenticator::new(cfg).is_ok());
    }

    #[test]
    fn identity_urls_must_be_https_off_loopback() {
        assert!(config_error(&[("JWT_JWKS_URL", "http://idp.example.com/jwks")]).contains("JWT_JWKS_URL"));
        assert!(
            config_error(&[("IDENTITY_VALIDATE_URL", "http://idp.example.com/v")]).contains("IDENTITY_VALIDATE_URL")
        );
        assert!(Authenticator::new(config(&[("IDENTITY_VALIDATE_URL", "https://idp.example.com/v")])).is_ok());
    }

    #[test]
    fn a_leeway_of_minutes_is_refused() {
        assert!(config_error(&[("JWT_LEEWAY_SECONDS", "3600")]).contains("JWT_LEEWAY_SECONDS"));
    }

    #[test]
    fn a_short_secret_built_by_hand_is_refused() {
        let mut cfg = config(&[]);
        cfg.hs256_secret = Some(b"short".to_vec());
        assert!(matches!(Authenticator::new(cfg), Err(ConfigError::Invalid { name: "JWT_HS256_SECRET", .. })));
    }

    #[test]
    fn auth_errors_map_to_401_and_503() {
        assert_eq!(AppError::from(AuthError::Missing).status(), 401);
        assert_eq!(AppError::from(AuthError::Invalid("token expired".into())).status(), 401);
        let unavailable = AppError::from(AuthError::IdentityUnavailable("connect to 10.0.0.7 refused".into()));
        assert_eq!(unavailable.status(), 503);
        assert!(!unavailable.to_string().contains("10.0.0.7"), "internal detail leaked");
    }
}
