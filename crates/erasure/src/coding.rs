//! [`Coding`]: how a segment was encoded, in the one form every layer uses — the manifest
//! (metadata), the shard header (disk), and the rebuild request (wire).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec::{codec_for, Codec, CodecId};
use crate::error::CodecError;
use crate::layout::{Layout, Scheme};

/// Codec id, k, m and chunk size of a segment. Serialized (postcard) as its four fields in
/// this order, the same bytes as the `(u8, u8, u8, u32)` the wire carried before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Coding {
    /// Codec id ([`CodecId::as_u8`]).
    pub codec: u8,
    /// Data shards per stripe.
    pub k: u8,
    /// Parity shards per stripe.
    pub m: u8,
    /// Full chunk size in bytes.
    pub chunk_size: u32,
}

impl Coding {
    /// The coding of segments written with `codec` over `layout`.
    pub fn new(codec: CodecId, layout: &Layout) -> Self {
        Self { codec: codec.as_u8(), k: layout.scheme.k, m: layout.scheme.m, chunk_size: layout.chunk_size }
    }

    /// Its k+m scheme (an error for values no valid segment has).
    pub fn scheme(&self) -> Result<Scheme, CodecError> {
        Scheme::new(self.k, self.m)
    }

    /// Its stripe geometry.
    pub fn layout(&self) -> Result<Layout, CodecError> {
        Layout::new(self.scheme()?, self.chunk_size)
    }

    /// Its codec, ready to encode and decode.
    pub fn codec(&self) -> Result<Arc<dyn Codec>, CodecError> {
        codec_for(CodecId::from_u8(self.codec)?, self.scheme()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_layout_and_rejects_nonsense() {
        let layout = Layout::new(Scheme::new(4, 2).expect("scheme"), 65536).expect("layout");
        let c = Coding::new(CodecId::ReedSolomonGf8, &layout);
        assert_eq!(c, Coding { codec: 1, k: 4, m: 2, chunk_size: 65536 });
        assert_eq!(c.layout().expect("layout"), layout);
        assert_eq!(c.codec().expect("codec").id(), CodecId::ReedSolomonGf8);
        assert!(Coding { codec: 9, ..c }.codec().is_err(), "unknown codec id");
        assert!(Coding { k: 0, ..c }.layout().is_err(), "k = 0");
    }
}
