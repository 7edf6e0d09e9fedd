//! What the authentication tests stand on, all of it real: key pairs generated at test time (no
//! key is committed), JWTs minted and signed here with aws-lc-rs (independently of the
//! `jsonwebtoken` code under test, so any token shape can be forged), and a small HTTP/1.1 server
//! on an ephemeral loopback port that plays the Identity Service's JWKS and validation endpoints
//! and counts what it is asked.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hub_shared::config::{AuthConfig, Env};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const SECRET: &str = "test-only-hs256-secret-0123456789abcdef";
pub const ISSUER: &str = "https://identity.hub.test";
pub const AUDIENCE: &str = "hub-backend";

/// An `AuthConfig` as `main` would read it: HS256 secret, issuer and audience, plus `extra`
/// settings (a later pair overrides an earlier one; an empty value unsets it).
pub fn auth_config(extra: &[(&str, &str)]) -> AuthConfig {
    let mut pairs = vec![("JWT_HS256_SECRET", SECRET), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)];
    pairs.extend_from_slice(extra);
    AuthConfig::from_env(&Env::from_pairs(pairs)).unwrap_or_else(|e| panic!("test config: {e}"))
}

/// Seconds since the Unix epoch, as JWT dates count them.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Sleeps until the wall clock has passed `unix_secs` (plus a margin for sub-second rounding).
pub async fn sleep_past(unix_secs: u64) {
    let target = UNIX_EPOCH + Duration::from_secs(unix_secs) + Duration::from_millis(300);
    if let Ok(wait) = target.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// Keys

pub struct RsaKey {
    pub kid: String,
    pair: RsaKeyPair,
}

impl RsaKey {
    pub fn generate(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(rsa::KeySize::Rsa2048).unwrap_or_else(|e| panic!("RSA keygen: {e}"));
        Self { kid: kid.into(), pair }
    }

    pub fn jwk(&self) -> Value {
        let parts = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64url(&parts.n), "e": b64url(&parts.e)})
    }

    /// The public key as SubjectPublicKeyInfo DER, the form a PEM file holds.
    pub fn public_spki_der(&self) -> Vec<u8> {
        let der = self.pair.public_key().as_der().unwrap_or_else(|e| panic!("SPKI: {e}"));
        der.as_ref().to_vec()
    }

    /// The public key as a PKCS#1 `RSAPublicKey` DER.
    pub fn public_pkcs1_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The public key as the PEM text a server would publish.
    pub fn public_pem(&self) -> String {
        let body = STANDARD.encode(self.public_spki_der());
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    fn sign(&self, encoding: &'static dyn signature::RsaEncoding, message: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair.sign(encoding, &SystemRandom::new(), message, &mut sig).unwrap_or_else(|e| panic!("RSA sign: {e}"));
        sig
    }
}

pub struct EcKey {
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl EcKey {
    pub fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap_or_else(|e| panic!("EC keygen: {e}"));
        Self { kid: kid.into(), pair }
    }

    pub fn jwk(&self) -> Value {
        // Uncompressed point: 0x04 || x || y, 32 bytes each on P-256.
        let point = self.pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        json!({"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64url(x), "y": b64url(y)})
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig = self.pair.sign(&SystemRandom::new(), message).unwrap_or_else(|e| panic!("EC sign: {e}"));
        sig.as_ref().to_vec()
    }
}

/// Key pairs shared by every test of the binary: RSA generation is the slow part of a test.
pub fn rsa_key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| RsaKey::generate("rsa-1"))
}

pub fn second_rsa_key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| RsaKey::generate("rsa-2"))
}

pub fn ec_key() -> &'static EcKey {
    static KEY: OnceLock<EcKey> = OnceLock::new();
    KEY.get_or_init(|| EcKey::generate("ec-1"))
}

pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// How a minted token is signed. The header's `alg` is whatever the test writes, so a token can
/// claim one algorithm and be signed with another.
pub enum Signer<'a> {
    /// No signature at all (`header.payload.`).
    Unsigned,
    Hs256(&'a [u8]),
    Hs384(&'a [u8]),
    Rs256(&'a RsaKey),
    Ps256(&'a RsaKey),
    Es256(&'a EcKey),
}

pub fn mint(header: &Value, claims: &Value, signer: Signer<'_>) -> String {
    let message = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let signature = match signer {
        Signer::Unsigned => Vec::new(),
        Signer::Hs256(secret) => {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), message.as_bytes()).as_ref().to_vec()
        }
        Signer::Hs384(secret) => {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, secret), message.as_bytes()).as_ref().to_vec()
        }
        Signer::Rs256(key) => key.sign(&signature::RSA_PKCS1_SHA256, message.as_bytes()),
        Signer::Ps256(key) => key.sign(&signature::RSA_PSS_SHA256, message.as_bytes()),
        Signer::Es256(key) => key.sign(message.as_bytes()),
    };
    format!("{message}.{}", b64url(&signature))
}

pub fn header(alg: &str, kid: Option<&str>) -> Value {
    match kid {
        Some(kid) => json!({"alg": alg, "typ": "JWT", "kid": kid}),
        None => json!({"alg": alg, "typ": "JWT"}),
    }
}

/// Claims the default `auth_config` accepts: valid for an hour, right issuer and audience.
pub fn claims(user: uuid::Uuid, org: Option<uuid::Uuid>) -> Value {
    let mut c = json!({
        "sub": user.to_string(),
        "email": "someone@example.test",
        "roles": ["Member"],
        "iat": now(),
        "exp": now() + 3600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    });
    if let Some(org) = org {
        c["organization_id"] = json!(org.to_string());
    }
    c
}

/// An HS256 token with the test secret.
pub fn hs256(claims: &Value) -> String {
    mint(&header("HS256", None), claims, Signer::Hs256(SECRET.as_bytes()))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The `token` of a validation request body.
    pub fn token(&self) -> Option<String> {
        let body: Value = serde_json::from_slice(&self.body).ok()?;
        body.get("token")?.as_str().map(String::from)
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self { status, body: body.to_string().into_bytes(), delay: Duration::ZERO }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self { status, body: body.as_bytes().to_vec(), delay: Duration::ZERO }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A server on `127.0.0.1:<ephemeral>` answering every request with `handler`. Stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"));
        let hits = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, counter) = (Arc::clone(&handler), Arc::clone(&counter));
                tokio::spawn(async move {
                    // A client that hangs up mid-request is the client's business.
                    let _ = serve(stream, handler, counter).await;
                });
            }
        });
        Self { addr, hits, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback URL nothing listens on: the port was free a moment ago and is closed now.
pub async fn closed_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"));
    drop(listener);
    format!("http://{addr}{path}")
}

async fn serve(mut stream: TcpStream, handler: Handler, hits: Arc<AtomicUsize>) -> std::io::Result<()> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let content_length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);

    hits.fetch_add(1, Ordering::SeqCst);
    let reply = handler(&Request { method, path, body });
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&reply.body).await?;
    stream.shutdown().await
}

/// A JWKS endpoint serving `keys`.
pub async fn jwks_server(keys: Value) -> TestServer {
    TestServer::start(move |_| Reply::json(200, &keys)).await
}

/// The Identity Service's answer for a valid token of `user` in `org`.
pub fn valid_answer(user: uuid::Uuid, org: Option<uuid::Uuid>, roles: &[&str]) -> Value {
    json!({"valid": true, "user_id": user, "email": "someone@example.test", "tenant_id": org, "roles": roles})
}
