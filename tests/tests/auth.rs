//! Token authentication, black-box through `Authenticator`: real JWTs signed with keys generated
//! for this run, a real JWKS endpoint and a real Identity Service validation endpoint on loopback.

use hub_shared::AppError;
use hub_shared::auth::{AuthError, Authenticator, UserContext};
use hub_tests::auth_support::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

fn authenticator(extra: &[(&str, &str)]) -> Authenticator {
    Authenticator::new(auth_config(extra)).unwrap_or_else(|e| panic!("{e}"))
}

async fn check(auth: &Authenticator, token: &str) -> Result<UserContext, AuthError> {
    auth.authenticate(Some(&bearer(token))).await
}

#[track_caller]
fn assert_invalid(result: Result<UserContext, AuthError>, reason: &str) {
    match result {
        Err(AuthError::Invalid(r)) => assert!(r.contains(reason), "refused for `{r}`, expected `{reason}`"),
        other => panic!("expected a refusal for `{reason}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_unavailable(result: Result<UserContext, AuthError>) {
    match result {
        Err(e @ AuthError::IdentityUnavailable(_)) => assert_eq!(AppError::from(e).status(), 503),
        other => panic!("expected IdentityUnavailable, got {other:?}"),
    }
}

fn ids() -> (Uuid, Uuid) {
    (Uuid::new_v4(), Uuid::new_v4())
}

// --- The header -------------------------------------------------------------------------------

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() {
    let auth = authenticator(&[]);
    let err = auth.authenticate(None).await.unwrap_err();
    assert!(matches!(err, AuthError::Missing));
    assert_eq!(AppError::from(err).status(), 401);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let token = hs256(&claims(user, Some(org)));
    assert!(auth.authenticate(Some(&format!("bearer {token}"))).await.is_ok());
    assert!(auth.authenticate(Some(&format!("BEARER {token}"))).await.is_ok());
    assert_invalid(auth.authenticate(Some(&format!("Basic {token}"))).await, "scheme");
    assert_invalid(auth.authenticate(Some("Bearer not-a-jwt")).await, "malformed");
    assert_invalid(auth.authenticate(Some(&token)).await, "malformed");
}

#[tokio::test]
async fn a_valid_hs256_token_gives_the_caller_with_lower_cased_roles() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let ctx = check(&auth, &hs256(&claims(user, Some(org)))).await.unwrap();
    assert_eq!(ctx.user_id.as_uuid(), user);
    assert_eq!(ctx.organization_id.map(|o| o.as_uuid()), Some(org));
    assert_eq!(ctx.email.as_deref(), Some("someone@example.test"));
    assert_eq!(ctx.roles, ["member"]);
}

// --- Time -------------------------------------------------------------------------------------

#[tokio::test]
async fn an_expired_token_is_refused() {
    let auth = authenticator(&[("JWT_LEEWAY_SECONDS", "0")]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    c["exp"] = json!(now() - 10);
    let err = check(&auth, &hs256(&c)).await;
    assert_invalid(err, "expired");
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let auth = authenticator(&[("JWT_LEEWAY_SECONDS", "0")]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    c["nbf"] = json!(now() + 60);
    assert_invalid(check(&auth, &hs256(&c)).await, "not yet valid");
}

#[tokio::test]
async fn a_token_without_an_expiry_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    c.as_object_mut().unwrap().remove("exp");
    assert_invalid(check(&auth, &hs256(&c)).await, "no expiry");
}

#[tokio::test]
async fn leeway_is_honoured_on_exp_and_nbf() {
    let auth = authenticator(&[("JWT_LEEWAY_SECONDS", "30")]);
    let (user, org) = ids();
    let with = |field: &str, value: u64| {
        let mut c = claims(user, Some(org));
        c[field] = json!(value);
        hs256(&c)
    };
    assert!(check(&auth, &with("exp", now() - 10)).await.is_ok(), "expired 10 s ago, within 30 s of leeway");
    assert!(check(&auth, &with("nbf", now() + 10)).await.is_ok(), "valid in 10 s, within 30 s of leeway");
    assert_invalid(check(&auth, &with("exp", now() - 60)).await, "expired");
    assert_invalid(check(&auth, &with("nbf", now() + 60)).await, "not yet valid");
}

// --- Signatures and algorithms ----------------------------------------------------------------

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let c = claims(user, Some(org));
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned = mint(&header(alg, None), &c, Signer::Unsigned);
        assert_invalid(check(&auth, &unsigned).await, "malformed");
        // The same, carrying a signature made with the real secret.
        let signed = mint(&header(alg, None), &c, Signer::Hs256(SECRET.as_bytes()));
        assert_invalid(check(&auth, &signed).await, "malformed");
    }
    // An HS256 header with the signature stripped.
    let stripped = mint(&header("HS256", None), &c, Signer::Unsigned);
    assert_invalid(check(&auth, &stripped).await, "signature");
}

#[tokio::test]
async fn a_token_signed_with_the_wrong_hs256_secret_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let forged =
        mint(&header("HS256", None), &claims(user, Some(org)), Signer::Hs256(b"another-secret-of-at-least-32-bytes!!"));
    assert_invalid(check(&auth, &forged).await, "signature");
}

#[tokio::test]
async fn a_token_whose_payload_was_swapped_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let genuine = hs256(&claims(user, Some(org)));
    let other = hs256(&claims(user, Some(Uuid::new_v4())));
    let parts: Vec<&str> = genuine.split('.').collect();
    let other_payload = other.split('.').nth(1).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    assert_invalid(check(&auth, &tampered).await, "signature");
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rs256_public_key_is_refused() {
    let rsa = rsa_key();
    let server = jwks_server(jwks(&[rsa.jwk()])).await;
    let jwks_only = authenticator(&[("JWT_HS256_SECRET", ""), ("JWT_JWKS_URL", &server.url("/jwks"))]);
    let both = authenticator(&[("JWT_JWKS_URL", &server.url("/jwks"))]);
    let (user, org) = ids();
    let c = claims(user, Some(org));

    // The setup accepts the key for what it is...
    let genuine = mint(&header("RS256", Some(&rsa.kid)), &c, Signer::Rs256(rsa));
    assert!(check(&jwks_only, &genuine).await.is_ok());
    assert!(check(&both, &genuine).await.is_ok());

    // ...and never as an HMAC secret, in any of the forms an attacker can download.
    let pem = rsa.public_pem();
    let secrets: [(&str, &[u8]); 3] =
        [("PEM", pem.as_bytes()), ("SPKI DER", &rsa.public_spki_der()), ("PKCS#1 DER", &rsa.public_pkcs1_der())];
    for (form, secret) in secrets {
        for kid in [None, Some(rsa.kid.as_str())] {
            let forged = mint(&header("HS256", kid), &c, Signer::Hs256(secret));
            let jwks_only_result = check(&jwks_only, &forged).await;
            assert!(
                matches!(jwks_only_result, Err(AuthError::Invalid(_))),
                "{form}, kid {kid:?}: {jwks_only_result:?}"
            );
            assert_invalid(check(&both, &forged).await, "signature");
        }
    }
}

#[tokio::test]
async fn algorithms_outside_the_allow_list_are_refused() {
    let (rsa, ec) = (rsa_key(), ec_key());
    let server = jwks_server(jwks(&[rsa.jwk(), ec.jwk()])).await;
    let auth = authenticator(&[("JWT_JWKS_URL", &server.url("/jwks"))]);
    let (user, org) = ids();
    let c = claims(user, Some(org));
    let tokens = [
        mint(&header("HS384", None), &c, Signer::Hs384(SECRET.as_bytes())),
        mint(&header("PS256", Some(&rsa.kid)), &c, Signer::Ps256(rsa)),
        mint(&header("RS512", Some(&rsa.kid)), &c, Signer::Rs256(rsa)),
        mint(&header("ES384", Some(&ec.kid)), &c, Signer::Es256(ec)),
        mint(&header("EdDSA", Some(&ec.kid)), &c, Signer::Es256(ec)),
    ];
    for token in tokens {
        assert_invalid(check(&auth, &token).await, "unsupported algorithm");
    }
    assert_eq!(server.hits(), 0, "a refused algorithm needs no key");
}

#[tokio::test]
async fn a_key_source_that_is_not_configured_is_refused() {
    let rsa = rsa_key();
    let hs_only = authenticator(&[]);
    let (user, org) = ids();
    let rs256 = mint(&header("RS256", Some(&rsa.kid)), &claims(user, Some(org)), Signer::Rs256(rsa));
    assert_invalid(check(&hs_only, &rs256).await, "unsupported algorithm");

    let server = jwks_server(jwks(&[rsa.jwk()])).await;
    let jwks_only = authenticator(&[("JWT_HS256_SECRET", ""), ("JWT_JWKS_URL", &server.url("/jwks"))]);
    assert_invalid(check(&jwks_only, &hs256(&claims(user, Some(org)))).await, "unsupported algorithm");
}

// --- Issuer and audience ----------------------------------------------------------------------

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    c["iss"] = json!("https://evil.example");
    assert_invalid(check(&auth, &hs256(&c)).await, "issuer");
    c.as_object_mut().unwrap().remove("iss");
    assert_invalid(check(&auth, &hs256(&c)).await, "issuer");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    c["aud"] = json!("another-service");
    assert_invalid(check(&auth, &hs256(&c)).await, "audience");
    c["aud"] = json!(["another-service", "a-third"]);
    assert_invalid(check(&auth, &hs256(&c)).await, "audience");
    c.as_object_mut().unwrap().remove("aud");
    assert_invalid(check(&auth, &hs256(&c)).await, "audience");
    c["aud"] = json!(["another-service", AUDIENCE]);
    assert!(check(&auth, &hs256(&c)).await.is_ok(), "one of several audiences is enough");
}

// --- Claims -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_without_an_organization_is_accepted_without_one() {
    let auth = authenticator(&[]);
    let user = Uuid::new_v4();
    let ctx = check(&auth, &hs256(&claims(user, None))).await.unwrap();
    assert_eq!(ctx.user_id.as_uuid(), user);
    assert_eq!(ctx.organization_id, None);
    assert_eq!(ctx.org().map_err(|e| e.status()), Err(403), "business endpoints then answer 403");
}

#[tokio::test]
async fn the_tenant_id_and_user_id_dialect_is_accepted() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    let c = json!({
        "user_id": user.to_string(), "tenant_id": org.to_string(), "roles": ["VIEWER"],
        "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE,
    });
    let ctx = check(&auth, &hs256(&c)).await.unwrap();
    assert_eq!(ctx.user_id.as_uuid(), user);
    assert_eq!(ctx.organization_id.map(|o| o.as_uuid()), Some(org));
    assert_eq!(ctx.roles, ["viewer"]);
    assert_eq!(ctx.email, None);
}

#[tokio::test]
async fn a_non_uuid_subject_is_refused() {
    let auth = authenticator(&[]);
    let (user, org) = ids();
    for sub in [json!("12345"), json!("alice"), json!(12345)] {
        let mut c = claims(user, Some(org));
        c["sub"] = sub;
        // `user_id` is not consulted: `sub` is present, and the first present claim decides.
        c["user_id"] = json!(user.to_string());
        assert_invalid(check(&auth, &hs256(&c)).await, "user");
    }
    let mut c = claims(user, Some(org));
    c["organization_id"] = json!("acme");
    assert_invalid(check(&auth, &hs256(&c)).await, "organization");
}

#[tokio::test]
async fn claim_names_follow_the_configuration() {
    let auth =
        authenticator(&[("JWT_USER_CLAIMS", "uid"), ("JWT_ORG_CLAIMS", "practice"), ("JWT_ROLES_CLAIM", "groups")]);
    let (user, org) = ids();
    let c = json!({
        "uid": user.to_string(), "practice": org.to_string(), "groups": ["Admin"],
        "sub": "not-a-uuid-and-ignored", "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE,
    });
    let ctx = check(&auth, &hs256(&c)).await.unwrap();
    assert_eq!((ctx.user_id.as_uuid(), ctx.organization_id.map(|o| o.as_uuid())), (user, Some(org)));
    assert!(ctx.is_admin());
}

// --- JWKS -------------------------------------------------------------------------------------

#[tokio::test]
async fn rs256_and_es256_tokens_are_accepted_with_keys_from_the_jwks() {
    let (rsa, ec) = (rsa_key(), ec_key());
    let server = jwks_server(jwks(&[rsa.jwk(), ec.jwk()])).await;
    let auth = authenticator(&[("JWT_HS256_SECRET", ""), ("JWT_JWKS_URL", &server.url("/jwks"))]);
    let (user, org) = ids();
    let c = claims(user, Some(org));

    let rs = check(&auth, &mint(&header("RS256", Some(&rsa.kid)), &c, Signer::Rs256(rsa))).await.unwrap();
    let es = check(&auth, &mint(&header("ES256", Some(&ec.kid)), &c, Signer::Es256(ec))).await.unwrap();
    for ctx in [rs, es] {
        assert_eq!(ctx.user_id.as_uuid(), user);
        assert_eq!(ctx.organization_id.map(|o| o.as_uuid()), Some(org));
    }
    assert_eq!(server.hits(), 1, "the key set is fetched once and cached");

    let other = second_rsa_key();
    let wrong_key = mint(&header("RS256", Some(&rsa.kid)), &c, Signer::Rs256(other));
    assert_invalid(check(&auth, &wrong_key).await, "signature");
    let no_kid = mint(&header("RS256", None), &c, Signer::Rs256(rsa));
    assert_invalid(check(&auth, &no_kid).await, "signing key");
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_refetch_and_refetches_are_rate_limited() {
    let (first, second) = (rsa_key(), second_rsa_key());
    let published = Arc::new(Mutex::new(jwks(&[first.jwk()])));
    let served = Arc::clone(&published);
    let server = TestServer::start(move |_| Reply::json(200, &served.lock().unwrap())).await;
    let auth = authenticator(&[("JWT_JWKS_URL", &server.url("/jwks")), ("JWT_JWKS_MIN_REFRESH_SECONDS", "2")]);
    let (user, org) = ids();
    let c = claims(user, Some(org));
    let signed_by = |key: &RsaKey, kid: &str| mint(&header("RS256", Some(kid)), &c, Signer::Rs256(key));

    assert!(check(&auth, &signed_by(first, &first.kid)).await.is_ok());
    assert_eq!(server.hits(), 1);

    // The Identity Service rotates in a second key. Within the refresh interval, neither the new
    // kid nor a flood of forged ones reaches the server.
    *published.lock().unwrap() = jwks(&[first.jwk(), second.jwk()]);
    assert_invalid(check(&auth, &signed_by(second, &second.kid)).await, "unknown signing key");
    for i in 0..25 {
        assert_invalid(check(&auth, &signed_by(second, &format!("forged-{i}"))).await, "unknown signing key");
    }
    assert_eq!(server.hits(), 1, "refetches are rate limited");

    // Past the interval, the unknown kid triggers exactly one refetch, which finds the new key.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(check(&auth, &signed_by(second, &second.kid)).await.is_ok());
    assert_eq!(server.hits(), 2);
    for i in 0..25 {
        assert_invalid(check(&auth, &signed_by(second, &format!("forged-{i}"))).await, "unknown signing key");
    }
    assert!(check(&auth, &signed_by(first, &first.kid)).await.is_ok());
    assert!(check(&auth, &signed_by(second, &second.kid)).await.is_ok());
    assert_eq!(server.hits(), 2, "known keys and forged kids cost no further fetch");
}

#[tokio::test]
async fn a_key_whose_type_does_not_match_the_token_algorithm_is_refused() {
    let (rsa, ec) = (rsa_key(), ec_key());
    let server = jwks_server(jwks(&[rsa.jwk(), ec.jwk()])).await;
    let auth = authenticator(&[("JWT_JWKS_URL", &server.url("/jwks"))]);
    let (user, org) = ids();
    let c = claims(user, Some(org));
    let es256_naming_rsa_key = mint(&header("ES256", Some(&rsa.kid)), &c, Signer::Es256(ec));
    assert_invalid(check(&auth, &es256_naming_rsa_key).await, "does not match");
    let rs256_naming_ec_key = mint(&header("RS256", Some(&ec.kid)), &c, Signer::Rs256(rsa));
    assert_invalid(check(&auth, &rs256_naming_ec_key).await, "does not match");
    let hs256_naming_rsa_key = mint(&header("HS256", Some(&rsa.kid)), &c, Signer::Hs256(&rsa.public_spki_der()));
    assert_invalid(check(&auth, &hs256_naming_rsa_key).await, "signature");
}

#[tokio::test]
async fn a_jwk_declaring_another_algorithm_is_not_used() {
    let (rsa, ec) = (rsa_key(), ec_key());
    let mut rsa_jwk = rsa.jwk();
    rsa_jwk["alg"] = json!("PS256");
    let mut oct = json!({"kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
    oct["alg"] = json!("HS256");
    let server = jwks_server(jwks(&[rsa_jwk, ec.jwk(), oct])).await;
    let auth = authenticator(&[("JWT_JWKS_URL", &server.url("/jwks"))]);
    let (user, org) = ids();
    let c = claims(user, Some(org));
    let token = mint(&header("RS256", Some(&rsa.kid)), &c, Signer::Rs256(rsa));
    assert_invalid(check(&auth, &token).await, "unknown signing key");
    assert!(check(&auth, &mint(&header("ES256", Some(&ec.kid)), &c, Signer::Es256(ec))).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_jwks_gives_unavailable_not_invalid() {
    let rsa = rsa_key();
    let auth = authenticator(&[("JWT_JWKS_URL", &closed_url("/jwks").await)]);
    let (user, org) = ids();
    let token = mint(&header("RS256", Some(&rsa.kid)), &claims(user, Some(org)), Signer::Rs256(rsa));
    assert_unavailable(check(&auth, &token).await);
    // HS256 tokens do not depend on the JWKS.
    assert!(check(&auth, &hs256(&claims(user, Some(org)))).await.is_ok());

    let broken = TestServer::start(|_| Reply::text(500, "oops")).await;
    let auth = authenticator(&[("JWT_JWKS_URL", &broken.url("/jwks"))]);
    assert_unavailable(check(&auth, &token).await);
}

#[tokio::test]
async fn building_the_authenticator_makes_no_network_call() {
    let jwks = jwks_server(jwks(&[rsa_key().jwk()])).await;
    let identity = TestServer::start(|req| {
        let _ = req.token();
        Reply::json(200, &json!({"valid": true}))
    })
    .await;
    let auth =
        authenticator(&[("JWT_JWKS_URL", &jwks.url("/jwks")), ("IDENTITY_VALIDATE_URL", &identity.url("/validate"))]);
    assert_eq!((jwks.hits(), identity.hits()), (0, 0));

    let (user, org) = ids();
    assert!(check(&auth, &hs256(&claims(user, Some(org)))).await.is_ok());
    assert_eq!((jwks.hits(), identity.hits()), (0, 1), "an HS256 token needs no JWKS");
}

// --- Remote validation ------------------------------------------------------------------------

/// An Identity Service that answers `valid: true` for the user and organization of the token it
/// is given (read from the token itself, as a real one would from its session store), unless
/// `refuse` says otherwise.
async fn identity_service(refuse: impl Fn(&str) -> bool + Send + Sync + 'static) -> TestServer {
    TestServer::start(move |req| {
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/validate"));
        let Some(token) = req.token() else { return Reply::text(400, "no token") };
        if refuse(&token) {
            return Reply::json(200, &json!({"valid": false}));
        }
        let claims = payload(&token);
        let org = claims["organization_id"].as_str().and_then(|o| Uuid::parse_str(o).ok());
        let user = claims["sub"].as_str().and_then(|u| Uuid::parse_str(u).ok()).unwrap_or_default();
        Reply::json(200, &valid_answer(user, org, &["member"]))
    })
    .await
}

fn payload(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn with_identity(server: &TestServer, extra: &[(&str, &str)]) -> Authenticator {
    let url = server.url("/validate");
    let mut pairs = vec![("IDENTITY_VALIDATE_URL", url.as_str())];
    pairs.extend_from_slice(extra);
    authenticator(&pairs)
}

#[tokio::test]
async fn a_confirmed_token_is_cached_and_not_sent_again() {
    let server = identity_service(|_| false).await;
    let auth = with_identity(&server, &[]);
    let (user, org) = ids();
    let token = hs256(&claims(user, Some(org)));
    let first = check(&auth, &token).await.unwrap();
    let second = check(&auth, &token).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(server.hits(), 1, "the second call is served from the cache");
}

#[tokio::test]
async fn a_refused_token_is_not_cached() {
    let server = identity_service(|_| true).await;
    let auth = with_identity(&server, &[]);
    let (user, org) = ids();
    let token = hs256(&claims(user, Some(org)));
    assert_invalid(check(&auth, &token).await, "rejected");
    assert_invalid(check(&auth, &token).await, "rejected");
    assert_eq!(server.hits(), 2, "every attempt asks again");
}

#[tokio::test]
async fn a_401_or_403_answer_is_a_refusal() {
    for status in [401, 403] {
        let server = TestServer::start(move |_| Reply::json(status, &json!({"detail": "nope"}))).await;
        let auth = with_identity(&server, &[]);
        let (user, org) = ids();
        let err = check(&auth, &hs256(&claims(user, Some(org)))).await;
        assert_invalid(err, "rejected");
    }
}

#[tokio::test]
async fn an_unreachable_identity_service_gives_unavailable_not_invalid() {
    let url = closed_url("/validate").await;
    let auth = authenticator(&[("IDENTITY_VALIDATE_URL", &url)]);
    let (user, org) = ids();
    assert_unavailable(check(&auth, &hs256(&claims(user, Some(org)))).await);
}

#[tokio::test]
async fn a_5xx_or_unreadable_answer_gives_unavailable_and_is_not_cached() {
    let failing = Arc::new(AtomicBool::new(true));
    let answers = [
        // An error status is an outage even when its body looks like a confirmation.
        Reply::json(500, &json!({"valid": true})),
        Reply::json(502, &json!({"valid": true})),
        Reply::text(503, ""),
        Reply::text(200, "<html>maintenance</html>"),
        Reply::json(200, &json!({"valid": "yes"})),
        Reply::json(200, &json!({"user_id": "someone"})),
    ];
    for broken in answers {
        let flag = Arc::clone(&failing);
        flag.store(true, Ordering::SeqCst);
        let server = TestServer::start(move |req| {
            if flag.load(Ordering::SeqCst) {
                broken.clone()
            } else {
                let user = payload(&req.token().unwrap_or_default())["sub"].as_str().unwrap_or_default().to_string();
                Reply::json(200, &json!({"valid": true, "user_id": user}))
            }
        })
        .await;
        let auth = with_identity(&server, &[]);
        let (user, org) = ids();
        let token = hs256(&claims(user, Some(org)));
        assert_unavailable(check(&auth, &token).await);

        // Once the service recovers, the same token is asked about again and accepted.
        failing.store(false, Ordering::SeqCst);
        assert!(check(&auth, &token).await.is_ok());
        assert_eq!(server.hits(), 2);
    }
}

#[tokio::test]
async fn a_slow_identity_service_gives_unavailable() {
    let server = TestServer::start(|_| Reply::json(200, &json!({"valid": true})).after(Duration::from_secs(2))).await;
    let auth = with_identity(&server, &[("IDENTITY_TIMEOUT_MS", "300")]);
    let (user, org) = ids();
    let started = std::time::Instant::now();
    assert_unavailable(check(&auth, &hs256(&claims(user, Some(org)))).await);
    assert!(started.elapsed() < Duration::from_millis(1500), "the timeout is honoured");
}

#[tokio::test]
async fn two_tokens_sharing_a_long_prefix_are_never_confused_by_the_cache() {
    let (user, org) = ids();
    // Same header, same claims up to the last one: the tokens share most of their text.
    let token_with = |nonce: &str| {
        let mut c = claims(user, Some(org));
        c["a_padding"] = json!("p".repeat(2000));
        c["zz_nonce"] = json!(nonce);
        hs256(&c)
    };
    let (accepted, refused) = (token_with("first"), token_with("other"));
    let common = accepted.bytes().zip(refused.bytes()).take_while(|(a, b)| a == b).count();
    assert!(common > 2000, "the tokens share a {common}-character prefix");

    let accepted_copy = accepted.clone();
    let server = identity_service(move |token| token != accepted_copy).await;
    let auth = with_identity(&server, &[]);
    assert!(check(&auth, &accepted).await.is_ok());
    assert_invalid(check(&auth, &refused).await, "rejected");
    assert!(check(&auth, &accepted).await.is_ok());
    assert_invalid(check(&auth, &refused).await, "rejected");
    assert_eq!(server.hits(), 3, "only the accepted token was served from the cache");
}

#[tokio::test]
async fn a_cached_confirmation_ends_when_the_token_expires() {
    let server = identity_service(|_| false).await;
    let auth = with_identity(&server, &[("JWT_LEEWAY_SECONDS", "0")]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    let exp = now() + 3;
    c["exp"] = json!(exp);
    let token = hs256(&c);
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok());
    assert_eq!(server.hits(), 1);

    sleep_past(exp + 1).await;
    assert_invalid(check(&auth, &token).await, "expired");
    assert_eq!(server.hits(), 1, "refused locally, never from a stale cache entry");
}

#[tokio::test]
async fn a_cached_confirmation_never_outlives_the_token_even_within_leeway() {
    // With leeway the token still verifies locally after `exp`; the cache must not vouch for it
    // any more, so the Identity Service is asked again, and its refusal now counts.
    let revoked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&revoked);
    let server = identity_service(move |_| flag.load(Ordering::SeqCst)).await;
    let auth = with_identity(&server, &[("JWT_LEEWAY_SECONDS", "30"), ("IDENTITY_CACHE_SECONDS", "300")]);
    let (user, org) = ids();
    let mut c = claims(user, Some(org));
    let exp = now() + 3;
    c["exp"] = json!(exp);
    let token = hs256(&c);
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok());
    assert_eq!(server.hits(), 1);

    sleep_past(exp).await;
    revoked.store(true, Ordering::SeqCst);
    assert_invalid(check(&auth, &token).await, "rejected");
    assert_eq!(server.hits(), 2, "the expired cache entry was not used");
}

#[tokio::test]
async fn a_remote_answer_naming_another_organization_is_refused() {
    let (user, org) = ids();
    let server = TestServer::start(move |_| Reply::json(200, &valid_answer(user, Some(Uuid::new_v4()), &[]))).await;
    let auth = with_identity(&server, &[]);
    assert_invalid(check(&auth, &hs256(&claims(user, Some(org)))).await, "does not match");
    assert_invalid(check(&auth, &hs256(&claims(user, Some(org)))).await, "does not match");
    assert_eq!(server.hits(), 2, "not cached");
}

#[tokio::test]
async fn a_remote_answer_naming_another_user_is_refused() {
    let (user, org) = ids();
    let server = TestServer::start(move |_| Reply::json(200, &valid_answer(Uuid::new_v4(), Some(org), &[]))).await;
    let auth = with_identity(&server, &[]);
    assert_invalid(check(&auth, &hs256(&claims(user, Some(org)))).await, "does not match");
}

#[tokio::test]
async fn the_identity_service_roles_replace_the_token_roles_and_complete_its_organization() {
    let (user, org) = ids();
    let server = TestServer::start(move |_| Reply::json(200, &valid_answer(user, Some(org), &["Viewer"]))).await;
    let auth = with_identity(&server, &[]);
    let mut c = claims(user, None);
    c["roles"] = json!(["admin"]);
    let ctx = check(&auth, &hs256(&c)).await.unwrap();
    assert_eq!(ctx.roles, ["viewer"], "real-time roles win over the token's");
    assert!(!ctx.is_admin());
    assert_eq!(ctx.organization_id.map(|o| o.as_uuid()), Some(org));
}
