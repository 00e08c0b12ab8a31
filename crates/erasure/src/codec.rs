//! The codec trait, its Reed-Solomon implementation, and the stripe-level
//! encode/decode helpers the PUT and GET pipelines use.
//!
//! Every manifest and shard header records a [`CodecId`], so a faster codec
//! can be added later without breaking stored data: old ids stay decodable.

use std::fmt;
use std::sync::Arc;

use reed_solomon_erasure::galois_8::ReedSolomon;

use crate::error::CodecError;
use crate::hash::{chunk_hash, ChunkHash};
use crate::layout::Scheme;

/// Stable identifier of a codec, stored in manifests and shard headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecId {
    /// Systematic Reed-Solomon over GF(2^8) (`reed-solomon-erasure`, SIMD).
    ReedSolomonGf8,
}

impl CodecId {
    /// The byte stored on disk.
    pub fn as_u8(self) -> u8 {
        match self {
            CodecId::ReedSolomonGf8 => 1,
        }
    }

    /// Parse a stored byte.
    pub fn from_u8(id: u8) -> Result<Self, CodecError> {
        match id {
            1 => Ok(CodecId::ReedSolomonGf8),
            _ => Err(CodecError::UnknownCodec { id }),
        }
    }
}

/// An erasure code over one stripe: k data chunks → m parity chunks, and back.
/// All chunks of a stripe have the same length.
pub trait Codec: Send + Sync + fmt::Debug {
    /// Which codec this is.
    fn id(&self) -> CodecId;
    /// Its k+m.
    fn scheme(&self) -> Scheme;
    /// Compute `parity` (m chunks) from `data` (k chunks).
    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError>;
    /// Fill every `None` slot (data and parity) from at least k present ones.
    fn reconstruct(&self, slots: &mut [Option<Vec<u8>>]) -> Result<(), CodecError>;
    /// Fill only the missing data slots (cheaper when parity is not needed).
    fn reconstruct_data(&self, slots: &mut [Option<Vec<u8>>]) -> Result<(), CodecError>;
}

/// Reed-Solomon over GF(2^8), systematic: data chunks are stored as they are.
pub struct ReedSolomonCodec {
    scheme: Scheme,
    rs: ReedSolomon,
}

impl fmt::Debug for ReedSolomonCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReedSolomonCodec({})", self.scheme)
    }
}

impl ReedSolomonCodec {
    /// A codec for `scheme`.
    pub fn new(scheme: Scheme) -> Result<Self, CodecError> {
        let rs = ReedSolomon::new(usize::from(scheme.k), usize::from(scheme.m)).map_err(|_| CodecError::InvalidScheme {
            k: usize::from(scheme.k),
            m: usize::from(scheme.m),
            max: crate::layout::MAX_SHARDS,
        })?;
        Ok(Self { scheme, rs })
    }

    fn check_slots(&self, slots: &[Option<Vec<u8>>]) -> Result<(), CodecError> {
        if slots.len() != self.scheme.total() {
            return Err(CodecError::BadChunks { detail: format!("{} slots for a {} code", slots.len(), self.scheme) });
        }
        let have = slots.iter().filter(|s| s.is_some()).count();
        let k = usize::from(self.scheme.k);
        if have < k {
            return Err(CodecError::TooFewChunks { have, need: k });
        }
        let mut lens = slots.iter().flatten().map(Vec::len);
        let first = lens.next().unwrap_or(0);
        if first == 0 || lens.any(|l| l != first) {
            return Err(CodecError::BadChunks { detail: "chunks are empty or of unequal length".into() });
        }
        Ok(())
    }
}

fn rs_err(e: reed_solomon_erasure::Error) -> CodecError {
    use reed_solomon_erasure::Error as E;
    match e {
        E::TooFewShardsPresent => CodecError::TooFewChunks { have: 0, need: 0 },
        other => CodecError::BadChunks { detail: format!("{other:?}") },
    }
}

impl Codec for ReedSolomonCodec {
    fn id(&self) -> CodecId {
        CodecId::ReedSolomonGf8
    }

    fn scheme(&self) -> Scheme {
        self.scheme
    }

    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError> {
        if data.len() != usize::from(self.scheme.k) || parity.len() != usize::from(self.scheme.m) {
            return Err(CodecError::BadChunks {
                detail: format!("{} data and {} parity chunks for a {} code", data.len(), parity.len(), self.scheme),
            });
        }
        self.rs.encode_sep(data, parity).map_err(rs_err)
    }

    fn reconstruct(&self, slots: &mut [Option<Vec<u8>>]) -> Result<(), CodecError> {
        self.check_slots(slots)?;
        self.rs.reconstruct(slots).map_err(rs_err)
    }

    fn reconstruct_data(&self, slots: &mut [Option<Vec<u8>>]) -> Result<(), CodecError> {
        self.check_slots(slots)?;
        self.rs.reconstruct_data(slots).map_err(rs_err)
    }
}

/// A codec instance for a stored codec id and scheme.
pub fn codec_for(id: CodecId, scheme: Scheme) -> Result<Arc<dyn Codec>, CodecError> {
    match id {
        CodecId::ReedSolomonGf8 => Ok(Arc::new(ReedSolomonCodec::new(scheme)?)),
    }
}

/// One encoded stripe: k+m chunks of equal length and their BLAKE3 hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedStripe {
    /// Chunks by shard index (0..k data, k..k+m parity).
    pub chunks: Vec<Vec<u8>>,
    /// BLAKE3 of each chunk.
    pub hashes: Vec<ChunkHash>,
}

/// Cut `data` into k chunks of `chunk_len` bytes (the tail zero-padded),
/// compute m parity chunks and hash all k+m.
pub fn encode_stripe(codec: &dyn Codec, data: &[u8], chunk_len: u32) -> Result<EncodedStripe, CodecError> {
    let s = codec.scheme();
    let (k, m) = (usize::from(s.k), usize::from(s.m));
    let cl = chunk_len as usize;
    if cl == 0 || data.len() > k * cl {
        return Err(CodecError::DataTooLong { len: data.len(), k, chunk_len });
    }
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(k + m);
    for i in 0..k {
        let start = (i * cl).min(data.len());
        let end = ((i + 1) * cl).min(data.len());
        let mut c = Vec::with_capacity(cl);
        c.extend_from_slice(&data[start..end]);
        c.resize(cl, 0);
        chunks.push(c);
    }
    let mut parity: Vec<Vec<u8>> = (0..m).map(|_| vec![0u8; cl]).collect();
    {
        let data_refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let mut parity_refs: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
        codec.encode(&data_refs, &mut parity_refs)?;
    }
    chunks.extend(parity);
    let hashes = chunks.iter().map(|c| chunk_hash(c)).collect();
    Ok(EncodedStripe { chunks, hashes })
}

/// Rebuild a stripe's data from any k present chunks (`None` = missing) and
/// return its first `data_len` bytes. Missing data slots are filled in.
pub fn decode_stripe(codec: &dyn Codec, slots: &mut [Option<Vec<u8>>], data_len: u64) -> Result<Vec<u8>, CodecError> {
    let k = usize::from(codec.scheme().k);
    if slots.iter().take(k).any(Option::is_none) {
        codec.reconstruct_data(slots)?;
    }
    let want = usize::try_from(data_len).map_err(|_| CodecError::BadChunks { detail: "stripe too large".into() })?;
    let mut out = Vec::with_capacity(want);
    for c in slots.iter().take(k).flatten() {
        let take = (want - out.len()).min(c.len());
        out.extend_from_slice(&c[..take]);
    }
    if out.len() != want {
        return Err(CodecError::BadChunks { detail: format!("chunks hold {} bytes, stripe has {want}", out.len()) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use proptest::prelude::*;

    fn rebuilds(k: u8, m: u8, len: usize, chunk: u32, lost: &[usize], corrupt: Option<(usize, usize)>) {
        let scheme = Scheme::new(k, m).expect("scheme");
        let layout = Layout::new(scheme, chunk).expect("layout");
        let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
        let data: Vec<u8> = (0..len).map(|i| (i * 131 + len) as u8).collect();
        let mut back = Vec::new();
        for s in 0..layout.stripe_count(len as u64) {
            let g = layout.stripe(len as u64, s).expect("geom");
            let piece = &data[g.data_offset as usize..(g.data_offset + g.data_len) as usize];
            let enc = encode_stripe(codec.as_ref(), piece, g.chunk_len).expect("encode");
            assert_eq!(enc.chunks.len(), scheme.total());
            assert!(enc.chunks.iter().all(|c| c.len() == g.chunk_len as usize));
            let mut chunks = enc.chunks.clone();
            if let Some((i, byte)) = corrupt {
                let n = chunks.len();
                let c = &mut chunks[i % n];
                let b = byte % c.len();
                c[b] ^= 0x5a;
                // Every corrupted chunk is caught by its hash.
                assert_ne!(chunk_hash(c), enc.hashes[i % enc.hashes.len()]);
            }
            let mut slots: Vec<Option<Vec<u8>>> = chunks.into_iter().map(Some).collect();
            let n = slots.len();
            for &i in lost {
                slots[i % n] = None;
            }
            if corrupt.is_none() {
                back.extend(decode_stripe(codec.as_ref(), &mut slots, g.data_len).expect("decode"));
                // Full reconstruction restores parity too, byte-exact.
                codec.reconstruct(&mut slots).expect("reconstruct");
                let full: Vec<Vec<u8>> = slots.into_iter().map(|s| s.expect("filled")).collect();
                assert_eq!(full, enc.chunks);
            }
        }
        if corrupt.is_none() {
            assert_eq!(back, data);
        }
    }

    #[test]
    fn edge_sizes() {
        for len in [0usize, 1, 63, 64, 65, 4 * 64 - 1, 4 * 64, 4 * 64 + 1, 10_000] {
            rebuilds(4, 2, len, 64, &[0, 5], None);
            rebuilds(4, 2, len, 64, &[2, 3], None);
        }
    }

    #[test]
    fn too_few_chunks_is_an_error_not_wrong_data() {
        let scheme = Scheme::new(4, 2).expect("scheme");
        let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
        let enc = encode_stripe(codec.as_ref(), b"some data here", 4).expect("encode");
        let mut slots: Vec<Option<Vec<u8>>> = enc.chunks.into_iter().map(Some).collect();
        slots[0] = None;
        slots[1] = None;
        slots[4] = None;
        assert!(matches!(decode_stripe(codec.as_ref(), &mut slots, 14), Err(CodecError::TooFewChunks { .. })));
        assert!(encode_stripe(codec.as_ref(), &[0u8; 17], 4).is_err());
        assert!(CodecId::from_u8(0).is_err());
        assert_eq!(CodecId::from_u8(CodecId::ReedSolomonGf8.as_u8()), Ok(CodecId::ReedSolomonGf8));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        /// For random k+m, sizes and loss patterns, any k of k+m chunks rebuild the exact bytes.
        #[test]
        fn any_k_of_n_rebuild(k in 2u8..=16, m in 1u8..=8, len in 0usize..20_000, chunk in 64u32..700,
                              lost in proptest::collection::vec(0usize..64, 0..8), seed in any::<u64>()) {
            let mut lost: Vec<usize> = lost.into_iter().map(|i| i % usize::from(k + m)).collect();
            lost.sort_unstable();
            lost.dedup();
            lost.truncate(usize::from(m));
            let _ = seed;
            rebuilds(k, m, len, chunk, &lost, None);
        }

        #[test]
        fn any_corruption_is_detected(k in 2u8..=16, m in 1u8..=8, len in 1usize..5_000, idx in 0usize..24, byte in 0usize..1000) {
            rebuilds(k, m, len, 64, &[], Some((idx, byte)));
        }

        #[test]
        fn boundary_sizes(k in 2u8..=16, m in 1u8..=8, which in 0usize..5) {
            let chunk = 64u32;
            let stripe = usize::from(k) * 64;
            let len = [1, chunk as usize - 1, chunk as usize, chunk as usize + 1, stripe + 1][which];
            let lost: Vec<usize> = (0..usize::from(m)).collect();
            rebuilds(k, m, len, chunk, &lost, None);
        }
    }
}
