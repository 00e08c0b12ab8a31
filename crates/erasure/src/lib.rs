//! Kintsugi's erasure codec: how a segment is cut into stripes and chunks,
//! how k data chunks get m parity chunks, and how every chunk is hashed.
//! Pure: no I/O, no async, no clock.
//!
//! Vocabulary (see ARCHITECTURE.md): a **segment** is a contiguous piece of an
//! object; a **stripe** is k data chunks of `chunk_size` bytes (the last
//! stripe of a segment is shorter: its chunks are `ceil(len / k)` bytes, the
//! last one zero-padded) plus m parity chunks; a **shard** is all chunks of one
//! index of one segment, stored as one file.
//!
//! ```
//! use kintsugi_erasure::{codec_for, decode_stripe, encode_stripe, CodecId, Layout, Scheme};
//! let scheme: Scheme = "4+2".parse().unwrap();
//! let layout = Layout::new(scheme, 64).unwrap();
//! let codec = codec_for(CodecId::ReedSolomonGf8, scheme).unwrap();
//! let data = b"hello, erasure-coded world".to_vec();
//! let geom = layout.stripe(data.len() as u64, 0).unwrap();
//! let enc = encode_stripe(codec.as_ref(), &data, geom.chunk_len).unwrap();
//! // Lose any two chunks: the data comes back.
//! let mut slots: Vec<Option<Vec<u8>>> = enc.chunks.into_iter().map(Some).collect();
//! slots[0] = None;
//! slots[3] = None;
//! assert_eq!(decode_stripe(codec.as_ref(), &mut slots, geom.data_len).unwrap(), data);
//! ```
#![deny(unsafe_code)]

mod codec;
mod coding;
mod error;
mod hash;
mod layout;

pub use codec::{codec_for, decode_stripe, encode_stripe, Codec, CodecId, EncodedStripe, ReedSolomonCodec};
pub use coding::Coding;
pub use error::CodecError;
pub use hash::{chunk_hash, shard_hash, ChunkHash};
pub use layout::{Layout, Scheme, StripeGeom, DEFAULT_CHUNK_SIZE, MAX_SHARDS};
