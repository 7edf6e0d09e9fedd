//! AES-256-GCM under per-person data keys (aws-lc-rs, the crypto library the SDK's TLS and
//! jsonwebtoken already link).
//!
//! A sealed value is `base64(nonce ‖ ciphertext ‖ tag)` with a fresh random 96-bit nonce, and is
//! bound by its associated data to where it is stored (organization, audit record, field, side
//! and person), so a ciphertext copied into another record or field does not open.
//! Key material never appears in `Debug` output or logs.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
#[error("cryptography failed: {0}")]
pub struct CryptoError(&'static str);

/// A person's 256-bit data key.
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; KEY_LEN],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A new random key from the system's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CryptoError("no randomness"))?;
        Ok(Self { bytes })
    }

    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        Some(Self { bytes: raw.try_into().ok()? })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn aead(&self) -> Result<LessSafeKey, CryptoError> {
        let key = UnboundKey::new(&AES_256_GCM, &self.bytes).map_err(|_| CryptoError("bad key"))?;
        Ok(LessSafeKey::new(key))
    }

    /// Encrypts `plaintext` bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError("no randomness"))?;
        let mut in_out = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| CryptoError("seal"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`DataKey::seal`] produced with the same `aad`; `None` if anything differs.
    pub fn open(&self, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
        let raw = STANDARD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = body.to_vec();
        let plain = self.aead().ok()?.open_in_place(nonce, Aad::from(aad), &mut in_out).ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let key = DataKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let sealed = key.seal(b"ctx", b"\"Dupont\"").unwrap_or_else(|e| panic!("{e}"));
        assert!(!sealed.contains("Dupont"));
        assert_eq!(key.open(b"ctx", &sealed).as_deref(), Some(&b"\"Dupont\""[..]));
        assert_eq!(key.open(b"other", &sealed), None, "bound to its context");
        let other = DataKey::generate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.open(b"ctx", &sealed), None, "another key cannot open it");
        assert_eq!(key.open(b"ctx", "not base64!"), None);
        assert_eq!(key.open(b"ctx", ""), None);
    }

    #[test]
    fn two_seals_of_one_value_differ_and_keys_do_not_debug_print() {
        let key = DataKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let a = key.seal(b"c", b"x").unwrap_or_else(|e| panic!("{e}"));
        let b = key.seal(b"c", b"x").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a, b, "fresh nonce each time");
        assert_eq!(format!("{key:?}"), "DataKey(..)");
        assert!(DataKey::from_bytes(key.as_bytes()).is_some());
        assert!(DataKey::from_bytes(&[0u8; 16]).is_none());
    }
}
