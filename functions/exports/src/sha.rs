//! A SHA-256 whose state can be stored between two invocations of the worker.
//!
//! An export file is written over several invocations (one multipart upload, part after part),
//! and its manifest gives the SHA-256 of the whole file. `sha2`'s hasher cannot be serialized,
//! and hashing the finished object again would read every byte back from S3 (a practice's
//! contacts can be gigabytes, more than one invocation's budget). So the running state is
//! kept here: the eight words of the compression function, the length so far and the bytes
//! of an incomplete block, committed with the position after each part; a redelivered step
//! starts again from the committed state, so the hash covers exactly the bytes of the file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

const INITIAL: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The state of a SHA-256 over the bytes seen so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningSha256 {
    state: [u32; 8],
    /// Bytes hashed so far, the incomplete block included.
    length: u64,
    /// The incomplete last block (under 64 bytes), base64.
    tail: String,
}

impl Default for RunningSha256 {
    fn default() -> Self {
        Self { state: INITIAL, length: 0, tail: String::new() }
    }
}

impl RunningSha256 {
    pub fn update(&mut self, data: &[u8]) {
        let mut pending = BASE64.decode(&self.tail).unwrap_or_default();
        self.length += data.len() as u64;
        let mut data = data;
        if !pending.is_empty() {
            let take = (64 - pending.len()).min(data.len());
            pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if pending.len() == 64 {
                sha2::compress256(&mut self.state, &[*GenericArray::from_slice(&pending)]);
                pending.clear();
            }
        }
        let whole = data.len() / 64 * 64;
        let blocks: Vec<GenericArray<u8, _>> =
            data[..whole].chunks_exact(64).map(|c| *GenericArray::from_slice(c)).collect();
        sha2::compress256(&mut self.state, &blocks);
        pending.extend_from_slice(&data[whole..]);
        self.tail = BASE64.encode(&pending);
    }

    /// The digest of everything hashed, lower-case hex (FIPS 180-4 padding).
    pub fn finish_hex(&self) -> String {
        let mut finished = self.clone();
        let bits = self.length.wrapping_mul(8);
        let pad_zeros = (119 - (self.length % 64) as usize) % 64;
        let mut padding = vec![0x80u8];
        padding.resize(1 + pad_zeros, 0);
        padding.extend_from_slice(&bits.to_be_bytes());
        finished.update(&padding);
        finished.state.iter().map(|word| format!("{word:08x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn reference(data: &[u8]) -> String {
        Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn it_equals_sha256_whatever_the_pieces_and_their_round_trips() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 5000] {
            let whole = &data[..len];
            let mut one = RunningSha256::default();
            one.update(whole);
            assert_eq!(one.finish_hex(), reference(whole), "{len} bytes at once");
            // Pieces of awkward sizes, the state stored and read back between each.
            let mut state = RunningSha256::default();
            for piece in whole.chunks(37) {
                let mut restored: RunningSha256 =
                    serde_json::from_str(&serde_json::to_string(&state).unwrap_or_default()).unwrap_or_default();
                restored.update(piece);
                state = restored;
            }
            assert_eq!(state.finish_hex(), reference(whole), "{len} bytes in pieces");
        }
        assert_eq!(
            RunningSha256::default().finish_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
