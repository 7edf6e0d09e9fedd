//! The HTTP client the authenticator shares between the JWKS fetch and the Identity Service's
//! validation call.
//!
//! It is built on first use, not in `main`: building a TLS client loads the system's CA
//! certificates, which costs millions of instructions of cold start that an HS256-only function
//! without remote validation never needs.

use super::authenticator::AuthError;
use std::time::Duration;
use tokio::sync::OnceCell;

/// A URL the authenticator may call. Tokens (and the keys that verify them) must not cross a
/// network in clear text, so plain `http` is only accepted on the loopback interface, where the
/// local stack and the tests run their Identity Service.
pub(super) fn check_url(name: &'static str, raw: &str) -> Result<reqwest::Url, crate::config::ConfigError> {
    let invalid = |reason: &str| crate::config::ConfigError::Invalid { name, reason: reason.into() };
    let url = reqwest::Url::parse(raw).map_err(|_| invalid("not a URL"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(invalid("must use https (plain http is only allowed on localhost)")),
        _ => Err(invalid("must be an https URL")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) struct LazyClient {
    cell: OnceCell<reqwest::Client>,
    timeout: Duration,
}

impl LazyClient {
    pub(super) fn new(timeout: Duration) -> Self {
        Self { cell: OnceCell::new(), timeout }
    }

    pub(super) async fn get(&self) -> Result<&reqwest::Client, AuthError> {
        self.cell
            .get_or_try_init(|| async {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout)
                    // A redirect would silently turn the validation POST into a GET elsewhere;
                    // a misconfigured URL should fail loudly instead.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
            })
            .await
            .map_err(|error| {
                tracing::warn!(%error, "could not build the identity HTTP client");
                AuthError::IdentityUnavailable("HTTP client unavailable".into())
            })
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// The body, refused past `limit` bytes: a broken or hostile endpoint must not be able to make a
/// 128 MB function buffer an unbounded answer.
pub(super) async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(ReadError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_are_accepted() {
        assert!(check_url("X", "https://identity.example.com/.well-known/jwks.json").is_ok());
    }

    #[test]
    fn plain_http_is_only_accepted_on_loopback() {
        assert!(check_url("X", "http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("X", "http://localhost:8080/jwks").is_ok());
        assert!(check_url("X", "http://[::1]:8080/jwks").is_ok());
        let err = check_url("JWT_JWKS_URL", "http://identity.internal/jwks").unwrap_err();
        assert!(err.to_string().contains("JWT_JWKS_URL"));
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        assert!(check_url("X", "ftp://identity.example.com/jwks").is_err());
        assert!(check_url("X", "not a url").is_err());
    }
}
