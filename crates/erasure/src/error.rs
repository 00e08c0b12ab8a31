//! Codec errors.

/// What went wrong in the codec or in a layout computation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// k+m is not a usable erasure-coding scheme.
    #[error("invalid erasure-coding scheme {k}+{m}: need k >= 1, m >= 1 and k+m <= {max}")]
    InvalidScheme {
        /// Data shards asked for.
        k: usize,
        /// Parity shards asked for.
        m: usize,
        /// Largest k+m supported.
        max: usize,
    },
    /// The text is not `K+M`.
    #[error("{text:?} is not an erasure-coding scheme; write it as K+M, e.g. 4+2")]
    SchemeSyntax {
        /// What was given.
        text: String,
    },
    /// The chunk size is out of range.
    #[error("chunk size {size} is out of range; use {min}..={max} bytes")]
    InvalidChunkSize {
        /// Given size.
        size: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// A stored codec id this build does not know.
    #[error("unknown codec id {id}; the data was written by a newer Kintsugi")]
    UnknownCodec {
        /// The id.
        id: u8,
    },
    /// A stripe index past the end of the segment.
    #[error("stripe {stripe} is past the end of a segment of {segment_len} bytes ({stripes} stripes)")]
    StripeOutOfRange {
        /// Asked-for stripe.
        stripe: u64,
        /// Segment length.
        segment_len: u64,
        /// Stripes in the segment.
        stripes: u64,
    },
    /// Data does not fit the chunk length given.
    #[error("{len} bytes do not fit in {k} chunks of {chunk_len} bytes")]
    DataTooLong {
        /// Data length.
        len: usize,
        /// Data chunks.
        k: usize,
        /// Chunk length.
        chunk_len: u32,
    },
    /// Chunks handed to the codec have the wrong count or unequal lengths.
    #[error("bad chunk set: {detail}")]
    BadChunks {
        /// What was wrong.
        detail: String,
    },
    /// Fewer than k chunks survive: the stripe cannot be rebuilt.
    #[error("only {have} of the {need} chunks needed to rebuild the stripe are present")]
    TooFewChunks {
        /// Chunks present.
        have: usize,
        /// k.
        need: usize,
    },
}
