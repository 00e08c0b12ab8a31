//! The S3-like client commands: mb, rb, ls, put, get, rm, stat, config (cp: `cp.rs`).
//! They speak plain S3 (SigV4 over HTTP), so they work against any S3 server;
//! `stat` adds Kintsugi's erasure layout when the endpoint is Kintsugi.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use futures::StreamExt;
use kintsugi_client::S3Client;
use serde::Serialize;

use crate::clientconf::{self, ConnArgs, Resolved};
use crate::cp::{copy, CpArgs};
use crate::s3url::{self, Location};
use crate::transfer::{self, Sink, TransferOpts};
use crate::units;

/// Transfer flags shared by put, get and cp.
#[derive(Debug, Clone, Args)]
pub struct XferArgs {
    /// Multipart part size (files larger than this go multipart), e.g. 16MiB.
    #[arg(long, default_value = "16MiB")]
    part_size: String,
    /// Parts (or files, with --recursive) transferred in parallel.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Content-Type of uploaded objects.
    #[arg(long)]
    content_type: Option<String>,
}

impl XferArgs {
    pub(crate) fn opts(&self) -> Result<TransferOpts> {
        Ok(TransferOpts {
            part_size: units::parse_size(&self.part_size)?,
            parallel: self.parallel.max(1),
            quiet: self.quiet,
            content_type: self.content_type.clone(),
        })
    }
}

/// `kintsugi mb`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct MbArgs {
    /// s3://BUCKET
    bucket: String,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi rb`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct RbArgs {
    /// s3://BUCKET
    bucket: String,
    /// Delete every object in the bucket first.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi ls`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct LsArgs {
    /// s3://BUCKET[/PREFIX]; without it, list buckets.
    location: Option<String>,
    /// List every key under the prefix (no grouping by "/").
    #[arg(long, short)]
    recursive: bool,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi put`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct PutArgs {
    /// Local file, or - for standard input.
    src: String,
    /// s3://BUCKET/KEY (a trailing / appends the file name).
    dst: String,
    #[command(flatten)]
    xfer: XferArgs,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi get`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct GetArgs {
    /// s3://BUCKET/KEY
    src: String,
    /// Local file (default: the key's last component), or - for standard output.
    dst: Option<String>,
    /// Only bytes START-END (inclusive, as in HTTP), or START- to the end.
    #[arg(long)]
    range: Option<String>,
    #[command(flatten)]
    xfer: XferArgs,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi rm`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct RmArgs {
    /// s3://BUCKET/KEY (or a prefix with --recursive).
    target: String,
    /// Delete every key under the prefix.
    #[arg(long, short)]
    recursive: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi stat`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct StatArgs {
    /// s3://BUCKET/KEY
    target: String,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
    /// Read and verify every chunk of every shard (slower), not just headers and hash tables.
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// `kintsugi config`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Write a profile to the client config file.
    Set(ConfigSetArgs),
    /// Show the profiles (secrets masked) and the file's path.
    Show,
}

/// `kintsugi config set`
#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    /// Profile name.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Endpoint URL.
    #[arg(long)]
    endpoint: String,
    /// Access key id.
    #[arg(long)]
    access_key: String,
    /// Secret key.
    #[arg(long)]
    secret_key: String,
    /// Region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// PEM certificates to trust for an https:// endpoint, besides the system's roots.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Add what to do to an S3 error (credentials, endpoint).
fn explain(e: anyhow::Error, conn: &Resolved) -> anyhow::Error {
    let code = e.chain().find_map(|c| c.downcast_ref::<kintsugi_client::ClientError>()).map(|c| (c.code().map(str::to_owned), c.status()));
    match code {
        Some((Some(c), _)) if c == "InvalidAccessKeyId" || c == "SignatureDoesNotMatch" || c == "AccessDenied" => {
            e.context(format!("the server refused the credentials: {}", conn.source))
        }
        Some((None, None)) => e.context(format!("endpoint {} (set with --endpoint, AWS_ENDPOINT_URL or the profile)", conn.endpoint)),
        _ => e,
    }
}

pub(crate) fn with_client<F, Fut, T>(conn: &ConnArgs, f: F) -> Result<T>
where
    F: FnOnce(S3Client) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let resolved = clientconf::resolve(conn)?;
    let client = resolved.client()?;
    runtime()?.block_on(f(client)).map_err(|e| explain(e, &resolved))
}

fn bucket_only(s: &str) -> Result<String> {
    let (b, k) = s3url::s3(s)?;
    if !k.is_empty() {
        bail!("{s:?}: give just s3://BUCKET");
    }
    Ok(b)
}

/// `kintsugi mb`
pub fn mb(a: MbArgs) -> Result<()> {
    let b = bucket_only(&a.bucket)?;
    with_client(&a.conn, |s3| async move {
        s3.create_bucket(&b).await.with_context(|| format!("creating bucket {b}"))?;
        println!("created s3://{b}");
        Ok(())
    })
}

/// `kintsugi rb`
pub fn rb(a: RbArgs) -> Result<()> {
    let b = bucket_only(&a.bucket)?;
    with_client(&a.conn, |s3| async move {
        if a.force {
            delete_prefix(&s3, &b, "").await?;
        }
        s3.delete_bucket(&b).await.with_context(|| format!("removing bucket {b} (use --force to delete its objects first)"))?;
        println!("removed s3://{b}");
        Ok(())
    })
}

#[derive(Serialize)]
struct LsEntry {
    key: String,
    size: u64,
    etag: String,
    last_modified: String,
}

#[derive(Serialize)]
struct LsJson {
    bucket: String,
    prefix: String,
    objects: Vec<LsEntry>,
    prefixes: Vec<String>,
}

/// `kintsugi ls`
pub fn ls(a: LsArgs) -> Result<()> {
    let loc = a.location.as_deref().map(s3url::s3).transpose()?;
    with_client(&a.conn, |s3| async move {
        let Some((bucket, prefix)) = loc else {
            let buckets = s3.list_buckets().await.context("listing buckets")?;
            if a.json {
                let v: Vec<BTreeMap<&str, &str>> =
                    buckets.iter().map(|b| BTreeMap::from([("name", b.name.as_str()), ("created", b.created.as_str())])).collect();
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "buckets": v }))?);
            } else {
                for b in buckets {
                    println!("{}  s3://{}", b.created, b.name);
                }
            }
            return Ok(());
        };
        let delim = if a.recursive { None } else { Some("/") };
        let mut out = LsJson { bucket: bucket.clone(), prefix: prefix.clone(), objects: Vec::new(), prefixes: Vec::new() };
        let mut token: Option<String> = None;
        loop {
            let page = s3
                .list_objects_v2(&bucket, &prefix, delim, token.as_deref(), 1000)
                .await
                .with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
            for p in page.prefixes {
                if !a.json {
                    println!("{:>30}  PRE {p}", "");
                }
                out.prefixes.push(p);
            }
            for o in page.objects {
                if !a.json {
                    println!("{}  {:>12}  {}", o.last_modified, o.size, o.key);
                }
                out.objects.push(LsEntry { key: o.key, size: o.size, etag: o.etag, last_modified: o.last_modified });
            }
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if a.json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Ok(())
    })
}

fn parse_range(s: &str) -> Result<(u64, Option<u64>)> {
    let (a, b) = s.trim().trim_start_matches("bytes=").split_once('-').context("--range must be START-END or START-")?;
    let start: u64 = a.trim().parse().context("--range start")?;
    if b.trim().is_empty() {
        return Ok((start, None));
    }
    let end: u64 = b.trim().parse().context("--range end")?;
    if end < start {
        bail!("--range end {end} is before start {start}");
    }
    Ok((start, Some(end + 1)))
}

pub(crate) fn key_for_file(key: &str, file: &Path) -> String {
    if key.is_empty() || key.ends_with('/') {
        format!("{key}{}", file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    } else {
        key.to_owned()
    }
}

/// `kintsugi put`
pub fn put(a: PutArgs) -> Result<()> {
    let cp = CpArgs { src: a.src, dst: a.dst, recursive: false, xfer: a.xfer, conn: a.conn };
    match Location::parse(&cp.dst)? {
        Location::S3 { .. } => copy(cp),
        _ => bail!("put uploads to S3: the destination must be s3://BUCKET/KEY"),
    }
}

/// `kintsugi get`
pub fn get(a: GetArgs) -> Result<()> {
    let (bucket, key) = s3url::s3(&a.src)?;
    if key.is_empty() {
        bail!("{}: name an object, s3://BUCKET/KEY", a.src);
    }
    let dst = match a.dst {
        Some(d) => d,
        None => key.rsplit('/').next().filter(|s| !s.is_empty()).context("the key ends in /; give a destination file")?.to_owned(),
    };
    let range = a.range.as_deref().map(parse_range).transpose()?;
    let opts = a.xfer.opts()?;
    let sink = match Location::parse(&dst)? {
        Location::Std => Sink::Stdout,
        Location::Local(p) => Sink::File(p),
        Location::S3 { .. } => bail!("get downloads to a file or -; use cp for S3 to S3"),
    };
    with_client(&a.conn, |s3| async move {
        let pb = transfer::bar(0, &key, opts.quiet);
        transfer::download(&s3, &bucket, &key, sink, range, &opts, &pb).await?;
        pb.finish_and_clear();
        Ok(())
    })
}

async fn delete_prefix(s3: &S3Client, bucket: &str, prefix: &str) -> Result<usize> {
    let objs = s3.list_all(bucket, prefix).await.with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
    let n = objs.len();
    futures::stream::iter(objs)
        .map(|o| async move { s3.delete_object(bucket, &o.key).await.with_context(|| format!("deleting s3://{bucket}/{}", o.key)) })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(n)
}

/// `kintsugi rm`
pub fn rm(a: RmArgs) -> Result<()> {
    let (bucket, key) = s3url::s3(&a.target)?;
    with_client(&a.conn, |s3| async move {
        if a.recursive {
            let n = delete_prefix(&s3, &bucket, &key).await?;
            println!("deleted {n} objects under s3://{bucket}/{key}");
        } else {
            if key.is_empty() {
                bail!("name an object (s3://BUCKET/KEY), or use --recursive for a prefix");
            }
            s3.delete_object(&bucket, &key).await.with_context(|| format!("deleting s3://{bucket}/{key}"))?;
            println!("deleted s3://{bucket}/{key}");
        }
        Ok(())
    })
}

/// `kintsugi stat`
pub fn stat(a: StatArgs) -> Result<()> {
    let (bucket, key) = s3url::s3(&a.target)?;
    if key.is_empty() {
        bail!("name an object: s3://BUCKET/KEY");
    }
    with_client(&a.conn, |s3| async move {
        let info = s3.head_object(&bucket, &key).await.with_context(|| format!("s3://{bucket}/{key}"))?;
        let layout = crate::admin_client::object_layout(&s3, &bucket, &key, a.verify).await;
        let layout = match layout {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "no erasure layout (not a Kintsugi endpoint?)");
                None
            }
        };
        if a.json {
            let v = serde_json::json!({
                "bucket": bucket, "key": key, "size": info.size, "etag": info.etag,
                "content_type": info.content_type, "last_modified": info.last_modified,
                "metadata": info.metadata, "layout": layout,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        println!("s3://{bucket}/{key}");
        println!("  size:          {} ({})", info.size, units::human_bytes(info.size));
        println!("  etag:          {}", info.etag);
        println!("  content-type:  {}", info.content_type.as_deref().unwrap_or("-"));
        println!("  last-modified: {}", info.last_modified.as_deref().unwrap_or("-"));
        for (k, v) in &info.metadata {
            println!("  meta {k}: {v}");
        }
        if let Some(l) = layout {
            crate::admin_client::print_layout(&l);
        } else {
            println!("  (erasure layout: not available: it needs a Kintsugi endpoint and an admin key)");
        }
        Ok(())
    })
}

/// `kintsugi config`
pub fn config(c: ConfigCmd) -> Result<()> {
    match c {
        ConfigCmd::Set(a) => {
            let ca_bundle = a.ca_bundle.as_deref().map(crate::server::absolute).transpose()?;
            kintsugi_client::S3Client::with_ca_bundle(&a.endpoint, None, &a.region, ca_bundle.as_deref())?;
            let p = clientconf::save_profile(
                &a.profile,
                clientconf::Profile {
                    endpoint: a.endpoint,
                    access_key: a.access_key,
                    secret_key: a.secret_key,
                    region: a.region,
                    ca_bundle: ca_bundle.map(|c| c.display().to_string()),
                },
            )?;
            println!("saved profile {} in {}", a.profile, p.display());
            Ok(())
        }
        ConfigCmd::Show => {
            let p = clientconf::path()?;
            let cfg = clientconf::load()?;
            println!("# {}", p.display());
            for (name, prof) in cfg.profiles {
                let ca = prof.ca_bundle.map(|c| format!(" ca_bundle={c}")).unwrap_or_default();
                println!("[{name}] endpoint={} access_key={} secret_key=**** region={}{ca}", prof.endpoint, prof.access_key, prof.region);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_keys() {
        assert_eq!(parse_range("0-9").expect("r"), (0, Some(10)));
        assert_eq!(parse_range("bytes=5-").expect("r"), (5, None));
        assert!(parse_range("9-1").is_err());
        assert!(parse_range("x").is_err());
        assert_eq!(key_for_file("dir/", Path::new("/tmp/a.txt")), "dir/a.txt");
        assert_eq!(key_for_file("", Path::new("a.txt")), "a.txt");
        assert_eq!(key_for_file("k", Path::new("a.txt")), "k");
    }
}
