//! Stripe geometry: where each byte of a segment lives in which chunk of
//! which shard. Every stripe of a segment but the last holds exactly
//! `k * chunk_size` bytes; the last holds the rest in chunks of
//! `ceil(rest / k)` bytes (zero-padded), so small objects cost little space.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::error::CodecError;

/// Default chunk size: 256 KiB (RS encode is fastest at 64–256 KiB chunks).
pub const DEFAULT_CHUNK_SIZE: u32 = 256 * 1024;
/// Largest k+m (GF(2^8) Reed-Solomon allows up to 256; shard indexes are u8).
pub const MAX_SHARDS: usize = 255;
const MIN_CHUNK: u32 = 64;
const MAX_CHUNK: u32 = 16 * 1024 * 1024;

/// An erasure-coding scheme: k data and m parity shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheme {
    /// Data shards.
    pub k: u8,
    /// Parity shards.
    pub m: u8,
}

impl Scheme {
    /// A scheme with `k >= 1`, `m >= 1`, `k + m <= MAX_SHARDS`.
    pub fn new(k: u8, m: u8) -> Result<Self, CodecError> {
        let (ku, mu) = (usize::from(k), usize::from(m));
        if ku == 0 || mu == 0 || ku + mu > MAX_SHARDS {
            return Err(CodecError::InvalidScheme { k: ku, m: mu, max: MAX_SHARDS });
        }
        Ok(Self { k, m })
    }

    /// k + m.
    pub fn total(&self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.k, self.m)
    }
}

impl FromStr for Scheme {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || CodecError::SchemeSyntax { text: s.to_owned() };
        let (k, m) = s.trim().split_once('+').ok_or_else(syntax)?;
        let k: usize = k.trim().parse().map_err(|_| syntax())?;
        let m: usize = m.trim().parse().map_err(|_| syntax())?;
        let bad = || CodecError::InvalidScheme { k, m, max: MAX_SHARDS };
        Scheme::new(u8::try_from(k).map_err(|_| bad())?, u8::try_from(m).map_err(|_| bad())?)
    }
}

/// Scheme plus chunk size: everything needed to map segment bytes to chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// k+m.
    pub scheme: Scheme,
    /// Size of a full chunk in bytes.
    pub chunk_size: u32,
}

/// Where one stripe of a segment lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StripeGeom {
    /// Stripe number within the segment = chunk number within each shard.
    pub index: u64,
    /// Offset of the stripe's first data byte within the segment.
    pub data_offset: u64,
    /// Data bytes in the stripe (the last stripe may be short).
    pub data_len: u64,
    /// Offset of this stripe's chunk within each shard's chunk data.
    pub shard_offset: u64,
    /// Length of each of the stripe's k+m chunks.
    pub chunk_len: u32,
}

impl Layout {
    /// A layout; the chunk size must be within 64 B ..= 16 MiB.
    pub fn new(scheme: Scheme, chunk_size: u32) -> Result<Self, CodecError> {
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
            return Err(CodecError::InvalidChunkSize { size: chunk_size, min: MIN_CHUNK, max: MAX_CHUNK });
        }
        Ok(Self { scheme, chunk_size })
    }

    /// Data bytes in a full stripe: k × chunk size.
    pub fn stripe_data_size(&self) -> u64 {
        u64::from(self.scheme.k) * u64::from(self.chunk_size)
    }

    /// Stripes in a segment of `segment_len` bytes (0 for an empty segment).
    pub fn stripe_count(&self, segment_len: u64) -> u64 {
        segment_len.div_ceil(self.stripe_data_size())
    }

    /// Geometry of stripe `stripe` of a segment of `segment_len` bytes.
    pub fn stripe(&self, segment_len: u64, stripe: u64) -> Result<StripeGeom, CodecError> {
        let stripes = self.stripe_count(segment_len);
        if stripe >= stripes {
            return Err(CodecError::StripeOutOfRange { stripe, segment_len, stripes });
        }
        let full = self.stripe_data_size();
        let data_offset = stripe * full;
        let data_len = (segment_len - data_offset).min(full);
        let chunk_len = if data_len == full {
            self.chunk_size
        } else {
            // data_len < k * chunk_size, so this fits in u32.
            u32::try_from(data_len.div_ceil(u64::from(self.scheme.k))).unwrap_or(self.chunk_size)
        };
        Ok(StripeGeom { index: stripe, data_offset, data_len, shard_offset: stripe * u64::from(self.chunk_size), chunk_len })
    }

    /// The stripes that hold bytes `start..end` of a segment of `segment_len` bytes.
    pub fn stripes_for_range(&self, segment_len: u64, start: u64, end: u64) -> Range<u64> {
        let end = end.min(segment_len);
        if start >= end {
            return 0..0;
        }
        let full = self.stripe_data_size();
        start / full..end.div_ceil(full)
    }

    /// Bytes of chunk data one shard of a segment holds.
    pub fn shard_data_len(&self, segment_len: u64) -> u64 {
        let n = self.stripe_count(segment_len);
        if n == 0 {
            return 0;
        }
        let last = self.stripe(segment_len, n - 1).map(|g| u64::from(g.chunk_len)).unwrap_or(0);
        (n - 1) * u64::from(self.chunk_size) + last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_parsing() {
        assert_eq!("4+2".parse::<Scheme>(), Ok(Scheme { k: 4, m: 2 }));
        assert_eq!(" 10 + 4 ".parse::<Scheme>().map(|s| s.to_string()), Ok("10+4".into()));
        for bad in ["4", "4+", "+2", "a+b", "0+2", "4+0", "200+100", "-1+2", "4+2+1"] {
            assert!(bad.parse::<Scheme>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn geometry_covers_every_byte_once() {
        let l = Layout::new(Scheme::new(4, 2).expect("scheme"), 64).expect("layout");
        for len in [1u64, 63, 64, 255, 256, 257, 1000, 1024] {
            let n = l.stripe_count(len);
            let mut next = 0;
            for s in 0..n {
                let g = l.stripe(len, s).expect("stripe");
                assert_eq!(g.data_offset, next);
                assert!(g.data_len <= u64::from(g.chunk_len) * 4);
                assert!(g.data_len > u64::from(g.chunk_len) * 3 || s + 1 == n);
                assert_eq!(g.shard_offset, s * 64);
                next += g.data_len;
            }
            assert_eq!(next, len);
            assert!(l.stripe(len, n).is_err());
        }
        assert_eq!(l.stripe_count(0), 0);
        assert_eq!(l.shard_data_len(0), 0);
        assert_eq!(l.shard_data_len(257), 64 + 1);
        assert_eq!(l.stripes_for_range(1000, 0, 1000), 0..4);
        assert_eq!(l.stripes_for_range(1000, 256, 257), 1..2);
        assert_eq!(l.stripes_for_range(1000, 255, 256), 0..1);
        assert_eq!(l.stripes_for_range(1000, 5, 5), 0..0);
        assert_eq!(l.stripes_for_range(1000, 900, 5000), 3..4);
    }

    #[test]
    fn chunk_size_bounds() {
        let s = Scheme::new(4, 2).expect("scheme");
        assert!(Layout::new(s, 63).is_err());
        assert!(Layout::new(s, 64).is_ok());
        assert!(Layout::new(s, 32 * 1024 * 1024).is_err());
    }
}
