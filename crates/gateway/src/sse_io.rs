//! Server-side encryption on the data path: how an encrypted version is described among its
//! stored headers, the stream that seals a body before it is erasure-coded, and the read of a
//! plaintext range of a stored version (the sealing itself is `sse.rs`).
//!
//! An encrypted version carries two internal headers, never answered to clients:
//! `x-kintsugi-sse` = `1 S3 <wrapped key, base64>` or `1 C <wrapped key, base64>`, and, for a
//! multipart object, `x-kintsugi-sse-parts` = the plaintext lengths of its parts' sealed
//! streams, comma-separated in part order. The manifest's `size` is the plaintext length; its
//! segments hold the sealed streams, one after the other.

use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use kintsugi_cluster::Store;
use kintsugi_meta::Manifest;
use md5::{Digest, Md5};
use tokio::sync::mpsc;

use crate::error::{GatewayError, GwResult};
use crate::get::read_range;
use crate::sse::{self, Key, Opener, SealError, Sealer, CHUNK, SALT, TAG, WRAPPED};

/// The internal header describing an encrypted version.
pub const HEADER: &str = "x-kintsugi-sse";
/// The internal header listing an encrypted multipart object's part lengths.
pub const PARTS_HEADER: &str = "x-kintsugi-sse-parts";
/// The internal header listing every multipart object's part lengths (GET by partNumber),
/// kept since this version.
pub const PART_SIZES_HEADER: &str = "x-kintsugi-parts";

/// Whose key wraps a version's data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The cluster master key (SSE-S3).
    S3,
    /// The customer's key, sent with every request (SSE-C).
    C,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::S3 => "S3",
            Self::C => "C",
        }
    }

    /// What the wrapping binds the data key to.
    fn aad(self) -> &'static [u8] {
        match self {
            Self::S3 => b"kintsugi-sse-1 S3",
            Self::C => b"kintsugi-sse-1 C",
        }
    }
}

/// A stored version's (or upload's) encryption: its mode and wrapped data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Whose key wraps the data key.
    pub mode: Mode,
    wrapped: [u8; WRAPPED],
}

impl Sealed {
    /// A fresh data key for a new version, and its description wrapped under `kek`.
    pub fn new(mode: Mode, kek: &Key) -> Result<(Key, Self), SealError> {
        let data_key: Key = sse::random()?;
        Ok((data_key, Self { mode, wrapped: sse::wrap(kek, &data_key, mode.aad())? }))
    }

    /// The data key (`Auth`: `kek` is not the key it was wrapped with).
    pub fn data_key(&self, kek: &Key) -> Result<Key, SealError> {
        sse::unwrap(kek, &self.wrapped, self.mode.aad())
    }

    /// The header that stores it.
    pub fn header(&self) -> (String, String) {
        (HEADER.to_owned(), format!("1 {} {}", self.mode.name(), base64::engine::general_purpose::STANDARD.encode(self.wrapped)))
    }

    /// The encryption among stored `headers` (`None`: stored plain).
    pub fn of(headers: &[(String, String)]) -> GwResult<Option<Self>> {
        let Some((_, v)) = headers.iter().find(|(k, _)| k == HEADER) else { return Ok(None) };
        let bad = || GatewayError::Internal(format!("a stored {HEADER} header is malformed: {v:?}"));
        let mut it = v.split(' ');
        let (Some("1"), Some(mode), Some(b64), None) = (it.next(), it.next(), it.next(), it.next()) else { return Err(bad()) };
        let mode = match mode {
            "S3" => Mode::S3,
            "C" => Mode::C,
            _ => return Err(bad()),
        };
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| bad())?;
        let wrapped: [u8; WRAPPED] = raw.try_into().map_err(|_| bad())?;
        Ok(Some(Self { mode, wrapped }))
    }
}

/// The internal header naming the multipart upload a version was completed from (a repeated
/// CompleteMultipartUpload is answered from it), kept since this version.
pub const UPLOAD_HEADER: &str = "x-kintsugi-upload";

/// Internal header of an upload record created with an additional checksum: the algorithm
/// and type its parts' checksums make (`sha256 COMPOSITE`; `s3/part_sums.rs`).
pub const UPLOAD_CHECKSUM_HEADER: &str = "x-kintsugi-checksum";
/// Internal header of a multipart object completed with checksums: its parts' checksums in
/// part order, comma-separated (base64 has no comma).
pub const PART_CHECKSUMS_HEADER: &str = "x-kintsugi-part-checksums";

/// Internal header of an upload record: the access key that created it (its initiator, who may
/// list its parts and abort it without a grant, as S3 lets it); dropped from the object.
pub const INITIATOR_HEADER: &str = "x-kintsugi-initiator";

/// Whether a stored header is an upload's own (its checksum algorithm, its initiator), which
/// the object made from it does not keep.
pub fn upload_only(name: &str) -> bool {
    name == UPLOAD_CHECKSUM_HEADER || name == INITIATOR_HEADER
}

/// The access key that created an upload, from its record's headers (`None`: an anonymous
/// request, or an upload created before initiators were kept).
pub fn initiator(headers: &[(String, String)]) -> Option<String> {
    headers.iter().find(|(k, _)| k == INITIATOR_HEADER).map(|(_, v)| v.clone()).filter(|k| !k.is_empty())
}

/// Whether a stored header is internal (never answered, never copied to another version).
pub fn is_internal(name: &str) -> bool {
    [HEADER, PARTS_HEADER, PART_SIZES_HEADER, UPLOAD_HEADER, UPLOAD_CHECKSUM_HEADER, PART_CHECKSUMS_HEADER, INITIATOR_HEADER, kintsugi_meta::ACL_HEADER].contains(&name)
}

/// The plaintext lengths of a multipart object's parts, in order, when it kept them.
pub fn part_lengths(headers: &[(String, String)]) -> Option<Vec<u64>> {
    let (_, v) = headers.iter().find(|(k, _)| k == PART_SIZES_HEADER || k == PARTS_HEADER)?;
    v.split(',').map(|s| s.parse::<u64>().ok()).collect()
}

/// The plaintext lengths of the sealed streams of an encrypted `manifest`, checked against
/// what its segments hold.
fn streams(m: &Manifest) -> GwResult<Vec<u64>> {
    let lens = match m.headers.iter().find(|(k, _)| k == PARTS_HEADER) {
        Some((_, v)) => v.split(',').map(|s| s.parse::<u64>()).collect::<Result<Vec<_>, _>>().map_err(|_| GatewayError::Internal(format!("a stored {PARTS_HEADER} header is malformed")))?,
        None => vec![m.size],
    };
    let sealed: u64 = lens.iter().map(|&p| sse::sealed_len(p)).sum();
    let stored: u64 = m.segments.iter().map(|s| s.len).sum();
    if lens.iter().sum::<u64>() != m.size || sealed != stored {
        return Err(GatewayError::Internal(format!(
            "the encrypted object holds {stored} bytes where its {} plaintext bytes seal to {sealed}: its metadata does not describe it (rebuilt from shard labels?)",
            m.size
        )));
    }
    Ok(lens)
}

/// What a sealing stream learnt of the plaintext once it ended.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain {
    /// MD5 of the plaintext (the ETag).
    pub md5: [u8; 16],
    /// Its length.
    pub size: u64,
}

/// Where a sealing stream leaves the plaintext's summary when it ends.
pub type PlainSummary = Arc<Mutex<Option<Plain>>>;

/// A body sealed as it streams; `summary` holds the plaintext's MD5 and size once it ended.
pub struct Sealing<S> {
    inner: S,
    sealer: Option<Sealer>,
    md5: Md5,
    size: u64,
    summary: PlainSummary,
}

impl<S> Sealing<S> {
    /// Seal `inner` under `data_key`.
    pub fn new(inner: S, data_key: &Key) -> Result<(Self, PlainSummary), SealError> {
        let summary = Arc::new(Mutex::new(None));
        Ok((Self { inner, sealer: Some(Sealer::new(data_key)?), md5: Md5::new(), size: 0, summary: summary.clone() }, summary))
    }
}

impl<S, E> Stream for Sealing<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.sealer.is_none() {
                return Poll::Ready(None);
            }
            match std::task::ready!(self.inner.poll_next_unpin(cx)) {
                Some(Ok(b)) => {
                    self.md5.update(&b);
                    self.size += b.len() as u64;
                    let mut out = Vec::with_capacity(b.len() + SALT + TAG);
                    let this = &mut *self;
                    if let Some(s) = this.sealer.as_mut() {
                        if let Err(e) = s.push(&b, &mut out) {
                            return Poll::Ready(Some(Err(e.to_string())));
                        }
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e.to_string()))),
                None => {
                    let this = &mut *self;
                    let mut out = Vec::with_capacity(CHUNK + SALT + TAG);
                    if let Some(s) = this.sealer.take() {
                        if let Err(e) = s.finish(&mut out) {
                            return Poll::Ready(Some(Err(e.to_string())));
                        }
                    }
                    let md5: [u8; 16] = std::mem::take(&mut this.md5).finalize().into();
                    if let Ok(mut g) = this.summary.lock() {
                        *g = Some(Plain { md5, size: this.size });
                    }
                    return Poll::Ready(Some(Ok(Bytes::from(out))));
                }
            }
        }
    }
}

/// The plaintext summary of a sealing stream that has ended.
pub fn summary(s: &PlainSummary) -> GwResult<Plain> {
    s.lock().ok().and_then(|g| *g).ok_or_else(|| GatewayError::Internal("an encrypted body ended without its summary".into()))
}

/// A stream of an object's plaintext bytes.
pub type PlainBody = Pin<Box<dyn Stream<Item = Result<Bytes, GatewayError>> + Send + Sync + 'static>>;

/// Write `body` as the bytes of a new version or part: sealed under the data key of `seal`
/// when one is given, plain otherwise. The `Written` size and MD5 are the plaintext's either
/// way; the second value is the ETag to store (the MD5, keyed for SSE-C).
pub async fn write_body_sealed<S, E>(store: &Arc<Store>, body: S, owner: crate::put::Owner, seal: Option<(&Key, Mode)>) -> GwResult<(crate::put::Written, [u8; 16])>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let Some((dk, mode)) = seal else {
        let w = crate::put::write_body(store, body, owner, None).await?;
        let etag = w.md5;
        return Ok((w, etag));
    };
    let (sealing, sum) = Sealing::new(body, dk).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let max = crate::put::MAX_UPLOAD;
    let mut written = crate::put::write_body_up_to(store, sealing, owner, None, sse::sealed_len(max), false).await?;
    let plain = summary(&sum)?;
    if plain.size > max {
        // Within the sealed bound but past the plaintext one: nothing is kept.
        let ids: Vec<u128> = written.segments.iter().map(|s| s.id).collect();
        if let Err(e) = store.meta_call(move |m| m.intents_to_garbage(&ids)).await {
            tracing::warn!(error = %e, "could not hand a refused encrypted PUT's shards to GC; the intent sweep collects them later");
        }
        return Err(GatewayError::EntityTooLarge { size: plain.size, max });
    }
    written.size = plain.size;
    written.md5 = plain.md5;
    let etag = if mode == Mode::C { sse::keyed_etag(dk, &plain.md5) } else { plain.md5 };
    Ok((written, etag))
}

/// Plaintext `range` of `manifest`: opened with `data_key` when it is encrypted, read as it
/// is otherwise.
pub fn read_plain(store: Arc<Store>, bucket: String, key: String, manifest: Arc<Manifest>, data_key: Option<Key>, range: Range<u64>) -> GwResult<PlainBody> {
    Ok(match data_key {
        Some(dk) => Box::pin(open_range(store, bucket, key, manifest, dk, range)?),
        None => Box::pin(read_range(store, bucket, key, manifest, range)),
    })
}

/// Stream plaintext `range` of the encrypted version `manifest` (data key `data_key`),
/// opening only the chunks it touches. Errors mid-stream end the body early.
pub fn open_range(
    store: Arc<Store>,
    bucket: String,
    key: String,
    manifest: Arc<Manifest>,
    data_key: Key,
    range: Range<u64>,
) -> GwResult<impl Stream<Item = Result<Bytes, GatewayError>> + Send + Sync + 'static> {
    let lens = streams(&manifest)?;
    let (tx, rx) = mpsc::channel::<GwResult<Bytes>>(2);
    tokio::spawn(async move {
        if let Err(e) = produce(&store, &bucket, &key, &manifest, &lens, &data_key, range, &tx).await {
            tracing::error!(bucket, key, error = %e, "GET of an encrypted object failed mid-stream");
            let _ = tx.send(Err(e)).await;
        }
    });
    Ok(crate::get::RxStream(rx))
}

/// Read `range` (in the sealed bytes) of the object whole.
async fn read_all(store: &Arc<Store>, bucket: &str, key: &str, manifest: &Arc<Manifest>, range: Range<u64>) -> GwResult<Vec<u8>> {
    let mut s = Box::pin(read_range(store.clone(), bucket.to_owned(), key.to_owned(), manifest.clone(), range));
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        out.extend_from_slice(&b?);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn produce(
    store: &Arc<Store>,
    bucket: &str,
    key: &str,
    manifest: &Arc<Manifest>,
    lens: &[u64],
    data_key: &Key,
    range: Range<u64>,
    tx: &mpsc::Sender<GwResult<Bytes>>,
) -> GwResult<()> {
    let open_err = |e: SealError| GatewayError::Internal(format!("an encrypted object could not be opened: {e}"));
    let (mut plain_at, mut sealed_at) = (0u64, 0u64);
    for &len in lens {
        let (stream_plain, stream_sealed) = (plain_at..plain_at + len, sealed_at);
        plain_at += len;
        sealed_at += sse::sealed_len(len);
        if stream_plain.end <= range.start || stream_plain.start >= range.end || len == 0 {
            continue;
        }
        let local = range.start.max(stream_plain.start) - stream_plain.start..range.end.min(stream_plain.end) - stream_plain.start;
        let span = sse::span(len, &local);
        // From the stream's first chunk on, the salt comes with the chunks in one read; else
        // it is read alone first.
        let from = if span.first == 0 { 0 } else { span.sealed.start };
        let mut body = Box::pin(read_range(store.clone(), bucket.to_owned(), key.to_owned(), manifest.clone(), stream_sealed + from..stream_sealed + span.sealed.end));
        let mut buf = bytes::BytesMut::with_capacity(CHUNK + TAG);
        let salt = if from == 0 {
            while buf.len() < SALT {
                match body.next().await {
                    Some(b) => buf.extend_from_slice(&b?),
                    None => return Err(open_err(SealError::Length { got: buf.len() as u64, want: SALT as u64 })),
                }
            }
            buf.split_to(SALT).to_vec()
        } else {
            read_all(store, bucket, key, manifest, stream_sealed..stream_sealed + SALT as u64).await?
        };
        let opener = Opener::new(data_key, &salt, len);
        let (mut index, mut skip, mut want) = (span.first, span.skip, local.end - local.start);
        let chunk_len = |i: u64| -> usize {
            let whole = (CHUNK + TAG) as u64;
            let tail = sse::sealed_len(len) - SALT as u64 - (sse::chunks(len) - 1) * whole;
            usize::try_from(if i + 1 == sse::chunks(len) { tail } else { whole }).unwrap_or(usize::MAX)
        };
        while index < span.end && want > 0 {
            let need = chunk_len(index);
            while buf.len() < need {
                match body.next().await {
                    Some(b) => buf.extend_from_slice(&b?),
                    None => return Err(open_err(SealError::Length { got: buf.len() as u64, want: need as u64 })),
                }
            }
            // Split without copying what follows.
            let mut sealed = buf.split_to(need);
            let n = opener.open(index, &mut sealed).map_err(open_err)?;
            sealed.truncate(n);
            let from = usize::try_from(skip).unwrap_or(usize::MAX).min(n);
            let to = n.min(from.saturating_add(usize::try_from(want).unwrap_or(usize::MAX)));
            let piece = sealed.freeze().slice(from..to);
            want -= piece.len() as u64;
            skip = 0;
            index += 1;
            if tx.send(Ok(piece)).await.is_err() {
                return Ok(()); // client went away
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_description_reads_back_and_bad_ones_are_errors() {
        let kek: Key = sse::random().expect("kek");
        let (dk, s) = Sealed::new(Mode::C, &kek).expect("new");
        let h = s.header();
        assert_eq!(h.0, HEADER);
        let back = Sealed::of(&[("content-type".into(), "x".into()), h]).expect("read").expect("some");
        assert_eq!(back, s);
        assert_eq!(back.data_key(&kek), Ok(dk));
        assert_eq!(Sealed::of(&[]).expect("plain"), None);
        for bad in ["2 S3 AAAA", "1 X AAAA", "1 S3 !!!", "1 S3 AAAA", "1 S3"] {
            assert!(Sealed::of(&[(HEADER.into(), bad.into())]).is_err(), "{bad}");
        }
        assert!(is_internal(HEADER) && is_internal(PARTS_HEADER) && !is_internal("cache-control"));
    }

    #[tokio::test]
    async fn a_sealing_stream_seals_what_it_is_given_and_sums_the_plaintext() {
        let dk: Key = sse::random().expect("dk");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let pieces: Vec<Result<Bytes, String>> = data.chunks(7000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let (s, sum) = Sealing::new(futures::stream::iter(pieces), &dk).expect("sealing");
        let sealed: Vec<u8> = s.map(|b| b.expect("piece").to_vec()).collect::<Vec<_>>().await.concat();
        assert_eq!(sealed.len() as u64, sse::sealed_len(data.len() as u64));
        let p = summary(&sum).expect("summary");
        assert_eq!((p.size, p.md5), (data.len() as u64, <[u8; 16]>::from(Md5::digest(&data))));
        let opener = Opener::new(&dk, &sealed[..SALT], data.len() as u64);
        let mut first = sealed[SALT..SALT + CHUNK + TAG].to_vec();
        let n = opener.open(0, &mut first).expect("open");
        assert_eq!(&first[..n], &data[..CHUNK]);
    }
}
