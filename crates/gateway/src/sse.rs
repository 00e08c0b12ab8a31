//! Server-side encryption's sealing, applied to an object's bytes *before* erasure coding, so
//! shards hold only ciphertext (no I/O here; the streams that use it are `sse_io.rs`).
//!
//! Every object version has its own random 256-bit data key, stored only wrapped
//! (AES-256-GCM) by a key-encryption key: the cluster master key kept with the metadata
//! (SSE-S3), or the customer's key, which is never stored (SSE-C). An object's bytes are one
//! *sealed stream* (a single PUT) or one per part (multipart):
//!
//! ```text
//! salt (16 random bytes) | chunk 0 | chunk 1 | … | chunk n-1
//! chunk i = AES-256-GCM(stream key, nonce(i, last), plaintext[i*64KiB..][..64KiB]) ‖ tag (16)
//! stream key = HMAC-SHA256(data key, "kintsugi-sse-1 stream" ‖ salt)
//! nonce(i, last) = i as u64 big-endian ‖ 00 00 00 ‖ (1 if last else 0)
//! ```
//!
//! The salt gives every stream its own key, so a part uploaded twice under one number never
//! reuses a nonce; the last-chunk flag makes a truncated stream fail to open; an empty stream
//! is one empty last chunk. A range is read by opening only the chunks it touches.
//! Cryptography is `ring`'s; nothing here is home-made but the framing.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes of the salt that starts a sealed stream.
pub const SALT: usize = 16;
/// Bytes of the tag after every chunk.
pub const TAG: usize = 16;
/// Bytes of a wrapped data key: nonce (12) ‖ ciphertext (32) ‖ tag (16).
pub const WRAPPED: usize = 12 + 32 + TAG;

/// A sealing or opening failure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// A wrapped key or chunk did not authenticate: the wrong key, or altered bytes.
    #[error("the data does not authenticate under this key (a wrong key, or altered bytes)")]
    Auth,
    /// A stream is shorter or longer than its plaintext length says.
    #[error("a sealed stream has {got} bytes where {want} were expected")]
    Length {
        /// Bytes found.
        got: u64,
        /// Bytes its plaintext length implies.
        want: u64,
    },
    /// The system's random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// A 256-bit key.
pub type Key = [u8; 32];

/// A fresh random key (or salt) from the system's generator.
pub fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut k = [0u8; N];
    SystemRandom::new().fill(&mut k).map_err(|_| SealError::Random)?;
    Ok(k)
}

fn aead(key: &Key) -> LessSafeKey {
    // A 32-byte key is always valid for AES-256-GCM.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!("AES-256-GCM takes 32-byte keys")))
}

/// Wrap `data_key` under `kek`; `aad` binds it to its use (the mode).
pub fn wrap(kek: &Key, data_key: &Key, aad: &[u8]) -> Result<[u8; WRAPPED], SealError> {
    let nonce: [u8; 12] = random()?;
    let mut sealed = data_key.to_vec();
    aead(kek).seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut sealed).map_err(|_| SealError::Auth)?;
    let mut out = [0u8; WRAPPED];
    out[..12].copy_from_slice(&nonce);
    out[12..].copy_from_slice(&sealed);
    Ok(out)
}

/// Unwrap a data key (`Auth`: the wrong key-encryption key, or altered bytes).
pub fn unwrap(kek: &Key, wrapped: &[u8], aad: &[u8]) -> Result<Key, SealError> {
    if wrapped.len() != WRAPPED {
        return Err(SealError::Auth);
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&wrapped[..12]);
    let mut buf = wrapped[12..].to_vec();
    let plain = aead(kek).open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf).map_err(|_| SealError::Auth)?;
    let mut k = [0u8; 32];
    k.copy_from_slice(plain.get(..32).ok_or(SealError::Auth)?);
    Ok(k)
}

fn stream_key(data_key: &Key, salt: &[u8]) -> LessSafeKey {
    let mac = hmac::Key::new(hmac::HMAC_SHA256, data_key);
    let mut ctx = hmac::Context::with_key(&mac);
    ctx.update(b"kintsugi-sse-1 stream");
    ctx.update(salt);
    let tag = ctx.sign();
    let mut k = [0u8; 32];
    k.copy_from_slice(&tag.as_ref()[..32]);
    aead(&k)
}

/// The ETag of an SSE-C version or part: its plaintext's MD5 keyed by the data key, so the
/// ETag (which listings show to whoever may list) does not give away the content's MD5.
pub fn keyed_etag(data_key: &Key, md5: &[u8; 16]) -> [u8; 16] {
    let mac = hmac::Key::new(hmac::HMAC_SHA256, data_key);
    let mut ctx = hmac::Context::with_key(&mac);
    ctx.update(b"kintsugi-sse-1 etag");
    ctx.update(md5);
    let mut out = [0u8; 16];
    out.copy_from_slice(&ctx.sign().as_ref()[..16]);
    out
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Chunks of a stream of `plain` bytes (an empty stream has one, empty).
pub fn chunks(plain: u64) -> u64 {
    plain.div_ceil(CHUNK as u64).max(1)
}

/// Bytes of the sealed stream of `plain` bytes.
pub fn sealed_len(plain: u64) -> u64 {
    SALT as u64 + plain + TAG as u64 * chunks(plain)
}

/// Seals a stream as its plaintext arrives.
pub struct Sealer {
    key: LessSafeKey,
    salt: Option<[u8; SALT]>,
    index: u64,
    buf: Vec<u8>,
}

impl Sealer {
    /// A new stream under `data_key`, with a fresh salt.
    pub fn new(data_key: &Key) -> Result<Self, SealError> {
        let salt: [u8; SALT] = random()?;
        Ok(Self { key: stream_key(data_key, &salt), salt: Some(salt), index: 0, buf: Vec::with_capacity(CHUNK) })
    }

    fn seal_chunk(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), SealError> {
        let mut chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + TAG));
        self.key.seal_in_place_append_tag(nonce(self.index, last), Aad::empty(), &mut chunk).map_err(|_| SealError::Auth)?;
        self.index += 1;
        out.extend_from_slice(&chunk);
        Ok(())
    }

    /// Take `data`; append to `out` what can be sealed now (a chunk is sealed once more
    /// bytes follow it, so the last one is known when it is sealed).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        if let Some(salt) = self.salt.take() {
            out.extend_from_slice(&salt);
        }
        let mut data = data;
        while !data.is_empty() {
            // A full chunk with more bytes after it is not the last one.
            if self.buf.len() == CHUNK {
                self.seal_chunk(false, out)?;
            }
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// End the stream: append the last chunk.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), SealError> {
        if let Some(salt) = self.salt.take() {
            out.extend_from_slice(&salt);
        }
        self.seal_chunk(true, out)
    }
}

/// Where the chunks a plaintext range touches lie in a sealed stream of `plain` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    /// First chunk.
    pub first: u64,
    /// One past the last chunk.
    pub end: u64,
    /// Their bytes in the sealed stream (after the salt).
    pub sealed: std::ops::Range<u64>,
    /// Plaintext bytes to skip in the first chunk opened.
    pub skip: u64,
}

/// The chunks holding plaintext `range` (non-empty, within `plain`) of a stream.
pub fn span(plain: u64, range: &std::ops::Range<u64>) -> ChunkSpan {
    let c = CHUNK as u64;
    let first = range.start / c;
    let end = range.end.div_ceil(c).max(first + 1).min(chunks(plain));
    let at = |i: u64| SALT as u64 + i * (c + TAG as u64);
    let sealed_end = if end == chunks(plain) { sealed_len(plain) } else { at(end) };
    ChunkSpan { first, end, sealed: at(first)..sealed_end, skip: range.start - first * c }
}

/// Opens the chunks of a stream in order.
pub struct Opener {
    key: LessSafeKey,
    chunks: u64,
}

impl Opener {
    /// The opener of a stream of `plain` bytes whose salt is `salt`, under `data_key`.
    pub fn new(data_key: &Key, salt: &[u8], plain: u64) -> Self {
        Self { key: stream_key(data_key, salt), chunks: chunks(plain) }
    }

    /// Open chunk `index` in place (its ciphertext and tag); returns its plaintext length.
    pub fn open(&self, index: u64, sealed: &mut [u8]) -> Result<usize, SealError> {
        let last = index + 1 == self.chunks;
        let plain = self.key.open_in_place(nonce(index, last), Aad::empty(), sealed).map_err(|_| SealError::Auth)?;
        Ok(plain.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &Key, data: &[u8], pieces: usize) -> Vec<u8> {
        let mut s = Sealer::new(key).expect("sealer");
        let mut out = Vec::new();
        for p in data.chunks(pieces.max(1)) {
            s.push(p, &mut out).expect("push");
        }
        s.finish(&mut out).expect("finish");
        out
    }

    fn open_range(key: &Key, sealed: &[u8], plain: u64, range: std::ops::Range<u64>) -> Result<Vec<u8>, SealError> {
        let sp = span(plain, &range);
        let opener = Opener::new(key, &sealed[..SALT], plain);
        let mut out = Vec::new();
        let mut at = usize::try_from(sp.sealed.start).expect("fits");
        for i in sp.first..sp.end {
            let n = (CHUNK + TAG).min(sealed.len() - at);
            let mut c = sealed[at..at + n].to_vec();
            let len = opener.open(i, &mut c)?;
            out.extend_from_slice(&c[..len]);
            at += n;
        }
        let skip = usize::try_from(sp.skip).expect("fits");
        Ok(out[skip..skip + usize::try_from(range.end - range.start).expect("fits")].to_vec())
    }

    #[test]
    fn streams_seal_to_their_length_and_every_range_opens() {
        let key: Key = random().expect("key");
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for pieces in [1, 1000, CHUNK, 5 * CHUNK] {
                let sealed = seal(&key, &data, pieces);
                assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len} in pieces of {pieces}");
                assert!(data.len() < 32 || !sealed.windows(32).any(|w| w == &data[..32]), "plaintext shows through");
                let ranges: Vec<std::ops::Range<u64>> = if len == 0 { vec![] } else { vec![0..len as u64, 0..1, len as u64 - 1..len as u64, (len as u64 / 2)..len as u64] };
                for r in ranges {
                    assert_eq!(open_range(&key, &sealed, len as u64, r.clone()).expect("open"), data[r.start as usize..r.end as usize].to_vec(), "len {len} range {r:?}");
                }
            }
        }
    }

    #[test]
    fn a_wrong_key_an_altered_byte_or_a_cut_stream_does_not_open() {
        let key: Key = random().expect("key");
        let data = vec![7u8; 2 * CHUNK + 5];
        let sealed = seal(&key, &data, 4096);
        let other: Key = random().expect("key");
        assert_eq!(open_range(&other, &sealed, data.len() as u64, 0..10), Err(SealError::Auth));
        let mut bad = sealed.clone();
        bad[SALT + 3] ^= 1;
        assert_eq!(open_range(&key, &bad, data.len() as u64, 0..10), Err(SealError::Auth));
        // A stream cut after its second chunk: that chunk was not sealed as the last.
        let cut = &sealed[..SALT + 2 * (CHUNK + TAG)];
        assert_eq!(open_range(&key, cut, 2 * CHUNK as u64, CHUNK as u64..2 * CHUNK as u64), Err(SealError::Auth));
        // Two streams under one key never share a stream key (their salts differ).
        assert_ne!(seal(&key, &data, 4096)[SALT..SALT + 64], sealed[SALT..SALT + 64]);
    }

    #[test]
    fn data_keys_wrap_and_unwrap_only_under_their_key_and_use() {
        let (kek, dk): (Key, Key) = (random().expect("kek"), random().expect("dk"));
        let w = wrap(&kek, &dk, b"S3").expect("wrap");
        assert_eq!(unwrap(&kek, &w, b"S3"), Ok(dk));
        assert_eq!(unwrap(&kek, &w, b"C"), Err(SealError::Auth), "bound to its use");
        assert_eq!(unwrap(&random().expect("k"), &w, b"S3"), Err(SealError::Auth));
        assert_eq!(unwrap(&kek, &w[1..], b"S3"), Err(SealError::Auth));
    }

    #[test]
    fn spans_cover_the_chunks_of_a_range() {
        let c = CHUNK as u64;
        let t = TAG as u64;
        let s = SALT as u64;
        assert_eq!(span(10, &(0..10)), ChunkSpan { first: 0, end: 1, sealed: s..s + 10 + t, skip: 0 });
        assert_eq!(span(3 * c, &(c + 5..c + 6)), ChunkSpan { first: 1, end: 2, sealed: s + c + t..s + 2 * (c + t), skip: 5 });
        assert_eq!(span(3 * c, &(c..3 * c)).end, 3);
        assert_eq!(span(3 * c, &(c..3 * c)).sealed.end, sealed_len(3 * c));
    }
}
