//! Configuration, from environment variables only, read once per container in `main`.
//!
//! A missing or malformed setting fails init with a message naming the variable, so a broken
//! deployment shows up in the first cold start's log rather than as odd behaviour later.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {name} is required but not set")]
    Missing { name: &'static str },
    #[error("configuration: {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A source of settings. The process environment in production; a map in unit tests, so tests
/// never mutate the process-wide environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self { vars: std::env::vars().collect() }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// The value, with surrounding blanks trimmed; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() }),
        }
    }

    /// A comma-separated list; blanks between commas are dropped.
    pub fn list_or(&self, name: &str, default: &[&str]) -> Vec<String> {
        match self.get(name) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(raw) => raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        }
    }
}

/// Where and how records are stored.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `HUB_TABLE`: the business table.
    pub table: String,
    /// `HUB_CURSOR_SECRET`: HMAC key that signs list cursors (at least 32 bytes).
    pub cursor_secret: Vec<u8>,
}

impl StoreConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let table = env.required("HUB_TABLE")?.to_string();
        let cursor_secret = env.required("HUB_CURSOR_SECRET")?.as_bytes().to_vec();
        if cursor_secret.len() < 32 {
            return Err(ConfigError::Invalid { name: "HUB_CURSOR_SECRET", reason: "must be at least 32 bytes".into() });
        }
        Ok(Self { table, cursor_secret })
    }
}

/// How the HTTP adapter treats requests.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `HUB_MAX_BODY_BYTES` (default 262144): larger bodies get 413 before any parsing.
    pub max_body_bytes: usize,
    /// `HUB_CORS_ALLOWED_ORIGINS`: comma-separated exact origins; `*` is refused on purpose
    /// (credentials are sent with every call).
    pub cors_allowed_origins: Vec<String>,
}

impl HttpConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_body_bytes = env.parse_or("HUB_MAX_BODY_BYTES", 256 * 1024)?;
        let cors_allowed_origins = env.list_or("HUB_CORS_ALLOWED_ORIGINS", &[]);
        if cors_allowed_origins.iter().any(|o| o == "*") {
            return Err(ConfigError::Invalid {
                name: "HUB_CORS_ALLOWED_ORIGINS",
                reason: "`*` is not allowed; list the frontend origins".into(),
            });
        }
        if let Some(bad) =
            cors_allowed_origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(ConfigError::Invalid {
                name: "HUB_CORS_ALLOWED_ORIGINS",
                reason: format!("`{bad}` is not an origin (scheme://host[:port])"),
            });
        }
        Ok(Self { max_body_bytes, cors_allowed_origins })
    }
}

/// How tokens are verified. See the README's configuration reference.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_HS256_SECRET`: the shared secret the Identity Service signs HS256 tokens with.
    pub hs256_secret: Option<Vec<u8>>,
    /// `JWT_JWKS_URL`: where RS256/ES256 public keys are published.
    pub jwks_url: Option<String>,
    /// `JWT_ISSUER`: required `iss`, when set.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: required `aud`, when set.
    pub audience: Option<String>,
    /// `JWT_LEEWAY_SECONDS` (default 30): clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// `JWT_USER_CLAIMS` (default `sub,user_id`): the first present one names the user.
    pub user_claims: Vec<String>,
    /// `JWT_ORG_CLAIMS` (default `organization_id,tenant_id`).
    pub org_claims: Vec<String>,
    /// `JWT_EMAIL_CLAIM` (default `email`).
    pub email_claim: String,
    /// `JWT_ROLES_CLAIM` (default `roles`): an array of strings.
    pub roles_claim: String,
    /// `JWT_JWKS_MIN_REFRESH_SECONDS` (default 60): an unknown `kid` refetches the JWKS at most
    /// this often, so a flood of forged kids cannot turn into a flood of fetches.
    pub jwks_min_refresh: Duration,
    /// `IDENTITY_VALIDATE_URL`: when set, every token is also confirmed there (POST `{"token"}`).
    pub validate_url: Option<String>,
    /// `IDENTITY_TIMEOUT_MS` (default 3000).
    pub identity_timeout: Duration,
    /// `IDENTITY_CACHE_SECONDS` (default 300, at most 300): how long a confirmation is reused.
    pub identity_cache_ttl: Duration,
}

impl AuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let hs256_secret = env.get("JWT_HS256_SECRET").map(|s| s.as_bytes().to_vec());
        if let Some(secret) = &hs256_secret
            && secret.len() < 32
        {
            return Err(ConfigError::Invalid { name: "JWT_HS256_SECRET", reason: "must be at least 32 bytes".into() });
        }
        let jwks_url = env.get("JWT_JWKS_URL").map(String::from);
        if hs256_secret.is_none() && jwks_url.is_none() {
            return Err(ConfigError::Missing { name: "JWT_HS256_SECRET (or JWT_JWKS_URL)" });
        }
        let cache_secs: u64 = env.parse_or("IDENTITY_CACHE_SECONDS", 300)?;
        if cache_secs > 300 {
            return Err(ConfigError::Invalid { name: "IDENTITY_CACHE_SECONDS", reason: "at most 300".into() });
        }
        Ok(Self {
            hs256_secret,
            jwks_url,
            issuer: env.get("JWT_ISSUER").map(String::from),
            audience: env.get("JWT_AUDIENCE").map(String::from),
            leeway: Duration::from_secs(env.parse_or("JWT_LEEWAY_SECONDS", 30)?),
            user_claims: env.list_or("JWT_USER_CLAIMS", &["sub", "user_id"]),
            org_claims: env.list_or("JWT_ORG_CLAIMS", &["organization_id", "tenant_id"]),
            email_claim: env.get("JWT_EMAIL_CLAIM").unwrap_or("email").to_string(),
            roles_claim: env.get("JWT_ROLES_CLAIM").unwrap_or("roles").to_string(),
            jwks_min_refresh: Duration::from_secs(env.parse_or("JWT_JWKS_MIN_REFRESH_SECONDS", 60)?),
            validate_url: env.get("IDENTITY_VALIDATE_URL").map(String::from),
            identity_timeout: Duration::from_millis(env.parse_or("IDENTITY_TIMEOUT_MS", 3000)?),
            identity_cache_ttl: Duration::from_secs(cache_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_table_is_named_in_the_error() {
        let err = StoreConfig::from_env(&Env::from_pairs([("HUB_CURSOR_SECRET", "x".repeat(40))]));
        assert!(err.unwrap_err().to_string().contains("HUB_TABLE"));
    }

    #[test]
    fn a_short_cursor_secret_is_refused() {
        let env = Env::from_pairs([("HUB_TABLE", "t"), ("HUB_CURSOR_SECRET", "short")]);
        assert!(StoreConfig::from_env(&env).unwrap_err().to_string().contains("HUB_CURSOR_SECRET"));
    }

    #[test]
    fn auth_needs_a_key_source() {
        let err = AuthConfig::from_env(&Env::default()).unwrap_err().to_string();
        assert!(err.contains("JWT_HS256_SECRET"));
    }

    #[test]
    fn a_malformed_number_names_its_variable() {
        let env = Env::from_pairs([("JWT_HS256_SECRET", "s".repeat(32)), ("JWT_LEEWAY_SECONDS", "soon".to_string())]);
        assert!(AuthConfig::from_env(&env).unwrap_err().to_string().contains("JWT_LEEWAY_SECONDS"));
    }

    #[test]
    fn claim_names_default_to_both_identity_service_dialects() {
        let env = Env::from_pairs([("JWT_HS256_SECRET", "s".repeat(32))]);
        let cfg = AuthConfig::from_env(&env).unwrap();
        assert_eq!(cfg.user_claims, ["sub", "user_id"]);
        assert_eq!(cfg.org_claims, ["organization_id", "tenant_id"]);
    }

    #[test]
    fn wildcard_cors_is_refused() {
        let env = Env::from_pairs([("HUB_CORS_ALLOWED_ORIGINS", "*")]);
        assert!(HttpConfig::from_env(&env).is_err());
    }
}
