//! Uploads and downloads for the CLI: single PUT for small bodies, parallel
//! multipart for large ones (retried per part, aborted on error or Ctrl-C so
//! no upload is left behind), parallel ranged GETs for large downloads, and
//! progress bars on a terminal. Memory stays bounded by `parallel × part size`.

use std::io::IsTerminal;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use kintsugi_client::{Body, ClientError, PutOptions, S3Client};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// S3's part-count limit.
const MAX_PARTS: u64 = 10_000;
/// Bytes handed to the HTTP body at a time (progress granularity).
const SLICE: usize = 256 * 1024;

/// How transfers run.
#[derive(Clone, Debug)]
pub struct TransferOpts {
    /// Multipart part size (also the single-PUT threshold).
    pub part_size: u64,
    /// Parts or ranges in flight at once.
    pub parallel: usize,
    /// No progress bars.
    pub quiet: bool,
    /// Content-Type for uploads.
    pub content_type: Option<String>,
}

/// A progress bar on stderr, hidden when not a terminal or when quiet.
pub fn bar(total: u64, label: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(label.to_owned());
    pb
}

/// Split bytes into a stream of slices that advance `pb` as they are sent.
fn counted(data: Bytes, pb: &ProgressBar) -> Body {
    let len = data.len() as u64;
    let pb = pb.clone();
    let slices: Vec<Bytes> = (0..data.len()).step_by(SLICE).map(|i| data.slice(i..(i + SLICE).min(data.len()))).collect();
    let stream = futures::stream::iter(slices).map(move |s| {
        pb.inc(s.len() as u64);
        Ok::<_, std::io::Error>(s)
    });
    Body::Stream { len, stream: Box::pin(stream) }
}

async fn with_retries<T, F, Fut>(what: &str, mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < 4 => {
                tracing::warn!(what, attempt, error = %e, "transient error; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn effective_part_size(size: u64, part: u64) -> u64 {
    part.max(size.div_ceil(MAX_PARTS)).max(5 * 1024 * 1024)
}

/// Run a multipart upload whose parts come from `next_part` (called with
/// the part number, returns `None` at the end); aborts it on any error or
/// Ctrl-C so nothing is left on the server.
async fn multipart<F, Fut>(s3: &S3Client, bucket: &str, key: &str, opts: &TransferOpts, pb: &ProgressBar, next_part: F) -> Result<String>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Bytes>>>,
{
    let put = PutOptions { content_type: opts.content_type.clone(), ..PutOptions::default() };
    let upload_id = s3.create_multipart(bucket, key, &put).await.with_context(|| format!("starting multipart upload of s3://{bucket}/{key}"))?;
    let run = async {
        let parts = futures::stream::unfold((1u32, next_part), |(n, mut next)| async move {
            match next(n).await {
                Ok(Some(b)) => Some((Ok((n, b)), (n + 1, next))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (n + 1, next))),
            }
        });
        let mut done: Vec<(u32, String)> = parts
            .map(|r| async {
                let (n, data) = r?;
                let len = data.len() as u64;
                let etag = with_retries("upload part", || s3.upload_part(bucket, key, &upload_id, n, Body::Bytes(data.clone())))
                    .await
                    .with_context(|| format!("uploading part {n}"))?;
                pb.inc(len);
                Ok::<_, anyhow::Error>((n, etag))
            })
            .buffer_unordered(opts.parallel.max(1))
            .try_collect()
            .await?;
        done.sort();
        let etag = with_retries("complete upload", || s3.complete_multipart(bucket, key, &upload_id, &done)).await?;
        Ok::<_, anyhow::Error>(etag)
    };
    let outcome = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    match outcome {
        Ok(etag) => Ok(etag),
        Err(e) => {
            pb.abandon();
            match s3.abort_multipart(bucket, key, &upload_id).await {
                Ok(()) => Err(e.context(format!("upload of s3://{bucket}/{key} aborted"))),
                Err(ae) => Err(e.context(format!(
                    "upload of s3://{bucket}/{key} failed and aborting upload {upload_id} failed too ({ae}); remove it with an S3 tool"
                ))),
            }
        }
    }
}

/// Upload a local file.
pub async fn upload_file(s3: &S3Client, path: &Path, bucket: &str, key: &str, opts: &TransferOpts, pb: &ProgressBar) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    pb.set_length(size);
    let part = effective_part_size(size, opts.part_size);
    if size <= opts.part_size.max(5 * 1024 * 1024) {
        let f = tokio::fs::File::from_std(file);
        let pbc = pb.clone();
        let stream = tokio_util_stream(f, size).inspect_ok(move |b| pbc.inc(b.len() as u64));
        let put = PutOptions { content_type: opts.content_type.clone(), ..PutOptions::default() };
        let tag = s3
            .put_object(bucket, key, Body::Stream { len: size, stream: Box::pin(stream) }, &put)
            .await
            .with_context(|| format!("uploading {} to s3://{bucket}/{key}", path.display()))?;
        return Ok(tag);
    }
    let file = Arc::new(file);
    let parts = size.div_ceil(part);
    multipart(s3, bucket, key, opts, pb, move |n| {
        let file = file.clone();
        async move {
            let idx = u64::from(n) - 1;
            if idx >= parts {
                return Ok(None);
            }
            let off = idx * part;
            let len = usize::try_from(part.min(size - off)).context("part too large")?;
            let data = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, off).map(|()| Bytes::from(buf))
            })
            .await??;
            Ok(Some(data))
        }
    })
    .await
}

/// Read a file as a stream of byte chunks, failing if it is not `size` bytes.
fn tokio_util_stream(f: tokio::fs::File, size: u64) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    futures::stream::unfold((f, 0u64), move |(mut f, sent)| async move {
        if sent >= size {
            return None;
        }
        let want = usize::try_from((size - sent).min(SLICE as u64)).unwrap_or(SLICE);
        let mut buf = BytesMut::with_capacity(want);
        while buf.len() < want {
            match f.read_buf(&mut buf).await {
                Ok(0) => {
                    let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while uploading");
                    return Some((Err(e), (f, size)));
                }
                Ok(_) => {}
                Err(e) => return Some((Err(e), (f, size))),
            }
        }
        let n = buf.len() as u64;
        Some((Ok(buf.freeze()), (f, sent + n)))
    })
}

async fn read_full<R: AsyncRead + Unpin>(r: &mut R, want: usize) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(want);
    while buf.len() < want {
        if r.read_buf(&mut buf).await.context("reading standard input")? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

/// Upload standard input (size unknown): one PUT if it fits in a part, else multipart.
pub async fn upload_stdin(s3: &S3Client, bucket: &str, key: &str, opts: &TransferOpts, pb: &ProgressBar) -> Result<String> {
    let part = usize::try_from(opts.part_size.max(5 * 1024 * 1024)).context("part size too large")?;
    let mut stdin = tokio::io::stdin();
    let first = read_full(&mut stdin, part).await?;
    if first.len() < part {
        let put = PutOptions { content_type: opts.content_type.clone(), ..PutOptions::default() };
        return s3
            .put_object(bucket, key, counted(first, pb), &put)
            .await
            .with_context(|| format!("uploading standard input to s3://{bucket}/{key}"));
    }
    let stdin = Arc::new(tokio::sync::Mutex::new((stdin, Some(first))));
    multipart(s3, bucket, key, opts, pb, move |_n| {
        let stdin = stdin.clone();
        async move {
            let mut g = stdin.lock().await;
            if let Some(b) = g.1.take() {
                return Ok(Some(b));
            }
            let b = read_full(&mut g.0, part).await?;
            Ok(if b.is_empty() { None } else { Some(b) })
        }
    })
    .await
}

/// Where a download goes.
pub enum Sink {
    /// Standard output.
    Stdout,
    /// A file (written under a temporary name, then renamed).
    File(PathBuf),
}

/// Download an object (or `range` of it).
pub async fn download(s3: &S3Client, bucket: &str, key: &str, sink: Sink, range: Option<(u64, Option<u64>)>, opts: &TransferOpts, pb: &ProgressBar) -> Result<u64> {
    let what = format!("s3://{bucket}/{key}");
    match sink {
        Sink::Stdout => {
            let obj = s3.get_object(bucket, key, range).await.with_context(|| format!("downloading {what}"))?;
            pb.set_length(obj.info.content_length);
            let expect = obj.info.content_length;
            let mut out = tokio::io::stdout();
            let mut n = 0u64;
            let mut stream = Box::pin(obj.into_stream());
            while let Some(c) = stream.next().await {
                let c = c.with_context(|| format!("downloading {what}"))?;
                out.write_all(&c).await.context("writing standard output")?;
                n += c.len() as u64;
                pb.inc(c.len() as u64);
            }
            out.flush().await.context("writing standard output")?;
            if n != expect {
                bail!("downloading {what}: got {n} bytes, expected {expect}");
            }
            Ok(n)
        }
        Sink::File(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "download".into());
            let tmp = dir.join(format!(".{name}.kintsugi-{:08x}.tmp", rand::random::<u32>()));
            let res = download_to(s3, bucket, key, &tmp, range, opts, pb).await;
            match res {
                Ok(n) => {
                    std::fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
                    Ok(n)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(e.context(format!("downloading {what} to {}", path.display())))
                }
            }
        }
    }
}

async fn download_to(s3: &S3Client, bucket: &str, key: &str, tmp: &Path, range: Option<(u64, Option<u64>)>, opts: &TransferOpts, pb: &ProgressBar) -> Result<u64> {
    let file = Arc::new(std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?);
    let (start, end) = match range {
        Some((s, Some(e))) => (s, e),
        Some((s, None)) => (s, s3.head_object(bucket, key).await?.size),
        None => (0, s3.head_object(bucket, key).await?.size),
    };
    let total = end.saturating_sub(start);
    pb.set_length(total);
    let part = opts.part_size.max(1);
    let pieces: Vec<(u64, u64)> = if total == 0 {
        Vec::new()
    } else {
        (start..end).step_by(usize::try_from(part).unwrap_or(usize::MAX)).map(|s| (s, (s + part).min(end))).collect()
    };
    let got: u64 = futures::stream::iter(pieces)
        .map(|(s, e)| {
            let file = file.clone();
            async move {
                with_retries("download range", || {
                    let file = file.clone();
                    async move {
                        let obj = s3.get_object(bucket, key, Some((s, Some(e)))).await?;
                        if obj.info.content_length != e - s {
                            return Err(ClientError::Body { detail: format!("asked for {} bytes, server sends {}", e - s, obj.info.content_length) });
                        }
                        let mut off = s;
                        let mut stream = Box::pin(obj.into_stream());
                        while let Some(c) = stream.next().await {
                            let c = c?;
                            file.write_all_at(&c, off - start).map_err(|e| ClientError::Body { detail: format!("writing: {e}") })?;
                            off += c.len() as u64;
                            pb.inc(c.len() as u64);
                        }
                        if off != e {
                            return Err(ClientError::Body { detail: format!("range {s}-{e}: body ended at {off}") });
                        }
                        Ok(e - s)
                    }
                })
                .await
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .try_fold(0u64, |a, n| async move { Ok(a + n) })
        .await?;
    file.sync_all().context("flushing the downloaded file")?;
    Ok(got)
}
