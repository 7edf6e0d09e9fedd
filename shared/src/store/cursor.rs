//! Opaque list cursors, signed and bound to the organization and the query.
//!
//! A cursor carries the last key a page consumed. Unsigned, it would let a caller start a Query
//! at any key, including one in another organization's partition; so it is an HMAC-SHA256 over
//! the query's fingerprint (which starts with the organization) and the key. A forged, tampered
//! or foreign cursor fails verification and the request gets 400.

use crate::error::AppError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The position a page stopped at: the base-table key of the last item it consumed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub pk: String,
    pub sk: String,
}

#[derive(Clone)]
pub struct CursorSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

impl CursorSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, fingerprint: &str, payload: &[u8]) -> HmacSha256 {
        // new_from_slice accepts any key length for HMAC; the error arm cannot happen.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(&(fingerprint.len() as u64).to_be_bytes());
        mac.update(fingerprint.as_bytes());
        mac.update(payload);
        mac
    }

    pub fn sign(&self, fingerprint: &str, position: &Position) -> String {
        let payload = serde_json::to_vec(position).unwrap_or_default();
        let tag = self.mac(fingerprint, &payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    pub fn verify(&self, fingerprint: &str, cursor: &str) -> Result<Position, AppError> {
        let invalid = || AppError::bad_request("INVALID_CURSOR", "the cursor is not valid for this query");
        let (payload_b64, tag_b64) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| invalid())?;
        // verify_slice compares in constant time.
        self.mac(fingerprint, &payload).verify_slice(&tag).map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos() -> Position {
        Position { pk: "ORG#a#CONTACT#ALL".into(), sk: "2025-01-01T00:00:00.000Z#x".into() }
    }

    #[test]
    fn a_signed_cursor_verifies_for_its_own_query() {
        let s = CursorSigner::new(b"k".repeat(32));
        let c = s.sign("org-a|all", &pos());
        assert_eq!(s.verify("org-a|all", &c).unwrap(), pos());
    }

    #[test]
    fn a_cursor_from_another_query_or_organization_is_refused() {
        let s = CursorSigner::new(b"k".repeat(32));
        let c = s.sign("org-a|all", &pos());
        assert_eq!(s.verify("org-b|all", &c).unwrap_err().status(), 400);
        assert_eq!(s.verify("org-a|type=patient", &c).unwrap_err().status(), 400);
    }

    #[test]
    fn a_tampered_or_forged_cursor_is_refused() {
        let s = CursorSigner::new(b"k".repeat(32));
        let c = s.sign("f", &pos());
        let (payload, tag) = c.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"pk":"ORG#b","sk":"x"}"#);
        for bad in [
            format!("{forged_payload}.{tag}"),
            format!("{payload}.AAAA"),
            "garbage".to_string(),
            String::new(),
            CursorSigner::new(b"other".repeat(8)).sign("f", &pos()),
        ] {
            assert_eq!(s.verify("f", &bad).unwrap_err().code(), "INVALID_CURSOR", "{bad}");
        }
    }
}
