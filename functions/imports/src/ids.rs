//! A created row's record id, derived from the import and the row number: a UUID v8 whose first
//! 8 bytes are a SHA-256 of the organization and import ids and whose last 8 are the row number.
//!
//! Deterministic, so a chunk retried after a crash creates each row under the id its first
//! attempt used, and `attribute_not_exists` makes the second write fail instead of duplicating
//! it. Readable back, so a unique value whose owner is a record of this import names the row
//! of the file that holds it ("duplicate of row 57") without any lookup.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Bits of the UUID that v8 reserves (version nibble, variant bits): masked before comparing.
const MASK: [u8; 16] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

fn import_prefix(org: Uuid, import: Uuid) -> [u8; 8] {
    let mut hash = Sha256::new();
    hash.update(b"hub-import-row");
    hash.update(org.as_bytes());
    hash.update(import.as_bytes());
    let digest = hash.finalize();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    prefix
}

/// The id of the record row `row` of import `import` creates.
pub fn row_id(org: Uuid, import: Uuid, row: u64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&import_prefix(org, import));
    bytes[8..].copy_from_slice(&row.to_be_bytes());
    Uuid::new_v8(bytes)
}

/// The row of import `import` that created record `id`, if one did.
pub fn row_of(org: Uuid, import: Uuid, id: Uuid) -> Option<u64> {
    if id.get_version_num() != 8 {
        return None;
    }
    let bytes = id.as_bytes();
    let prefix = import_prefix(org, import);
    let same = (0..8).all(|i| bytes[i] & MASK[i] == prefix[i] & MASK[i]);
    if !same {
        return None;
    }
    let mut row = [0u8; 8];
    row.copy_from_slice(&bytes[8..]);
    row[0] &= MASK[8];
    Some(u64::from_be_bytes(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_id_is_stable_and_names_its_row_of_its_import_only() {
        let (org, import) = (Uuid::new_v4(), Uuid::new_v4());
        for row in [0, 1, 2, 57, 10_001, 250_000, (1 << 40) + 3] {
            let id = row_id(org, import, row);
            assert_eq!(id, row_id(org, import, row));
            assert_eq!(row_of(org, import, id), Some(row));
            assert_eq!(row_of(org, Uuid::new_v4(), id), None);
            assert_eq!(row_of(Uuid::new_v4(), import, id), None);
        }
        assert_ne!(row_id(org, import, 2), row_id(org, import, 3));
        assert_eq!(row_of(org, import, Uuid::new_v4()), None);
    }
}
