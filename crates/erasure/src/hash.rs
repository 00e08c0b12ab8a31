//! BLAKE3 per chunk, and one hash per shard over its chunk hashes.

/// BLAKE3 of one chunk.
pub type ChunkHash = [u8; 32];

/// BLAKE3 of a chunk's bytes.
pub fn chunk_hash(chunk: &[u8]) -> ChunkHash {
    *blake3::hash(chunk).as_bytes()
}

/// The shard hash kept in the manifest: BLAKE3 over the shard's chunk hashes
/// in order, domain-separated so it can never equal a chunk hash.
pub fn shard_hash(chunk_hashes: &[ChunkHash]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("kintsugi shard hash v1");
    for c in chunk_hashes {
        h.update(c);
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_hash_depends_on_every_chunk_and_order() {
        let a = chunk_hash(b"a");
        let b = chunk_hash(b"b");
        assert_ne!(shard_hash(&[a, b]), shard_hash(&[b, a]));
        assert_ne!(shard_hash(&[a]), shard_hash(&[a, b]));
        assert_ne!(shard_hash(&[a]), a);
        assert_eq!(chunk_hash(b""), *blake3::hash(b"").as_bytes());
    }
}
