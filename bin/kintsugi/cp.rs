//! `kintsugi cp`: one file or object, or whole trees (`--recursive`) between a local
//! directory and S3 or between two S3 locations, several transfers at once.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use futures::TryStreamExt;

use crate::cli::{key_for_file, with_client, XferArgs};
use crate::clientconf::{self, ConnArgs};
use crate::s3url::{self, Location};
use crate::transfer::{self, Sink, TransferOpts};

/// `kintsugi cp`
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct CpArgs {
    /// Source: local path, -, or s3://BUCKET/KEY.
    pub(crate) src: String,
    /// Destination: local path, -, or s3://BUCKET/KEY.
    pub(crate) dst: String,
    /// Copy a directory tree or a whole prefix.
    #[arg(long, short)]
    pub(crate) recursive: bool,
    #[command(flatten)]
    pub(crate) xfer: XferArgs,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))? {
        let e = e.with_context(|| format!("reading directory {}", dir.display()))?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn join_key(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        format!("{prefix}{rel}")
    } else {
        format!("{prefix}/{rel}")
    }
}

/// `kintsugi cp`
pub fn copy(a: CpArgs) -> Result<()> {
    let src = Location::parse(&a.src)?;
    let dst = Location::parse(&a.dst)?;
    let opts = a.xfer.opts()?;
    let recursive = a.recursive;
    with_client(&a.conn, |s3| async move {
        match (src, dst) {
            (Location::Local(p), Location::S3 { bucket, key }) if recursive => {
                let mut files = Vec::new();
                walk(&p, &mut files)?;
                files.sort();
                let total: u64 = files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
                let pb = transfer::bar(total, &format!("{} files", files.len()), opts.quiet);
                let per_file = TransferOpts { parallel: (opts.parallel / 2).max(1), quiet: true, ..opts.clone() };
                let base = p.clone();
                run_jobs(files, opts.parallel, &pb, |f, fpb| {
                    let rel = f.strip_prefix(&base).unwrap_or(&f).to_string_lossy().replace('\\', "/");
                    let k = join_key(&key, &rel);
                    let (s3, bucket, per_file) = (&s3, &bucket, &per_file);
                    async move { transfer::upload_file(s3, &f, bucket, &k, per_file, &fpb).await.map(|_| ()) }
                })
                .await?;
                pb.finish_and_clear();
                Ok(())
            }
            (Location::S3 { bucket, key }, Location::Local(p)) if recursive => {
                let objs = s3.list_all(&bucket, &key).await.with_context(|| format!("listing s3://{bucket}/{key}"))?;
                let total: u64 = objs.iter().map(|o| o.size).sum();
                let pb = transfer::bar(total, &format!("{} objects", objs.len()), opts.quiet);
                let per_file = TransferOpts { parallel: (opts.parallel / 2).max(1), quiet: true, ..opts.clone() };
                let mut jobs = Vec::new();
                for o in objs {
                    let rel = o.key.strip_prefix(&key).unwrap_or(&o.key).trim_start_matches('/');
                    match s3url::safe_join(&p, rel) {
                        Some(dest) => jobs.push((o.key.clone(), dest)),
                        None => eprintln!("skipping s3://{bucket}/{}: the key cannot be a safe local path", o.key),
                    }
                }
                run_jobs(jobs, opts.parallel, &pb, |(k, dest), fpb| {
                    let (s3, bucket, per_file) = (&s3, &bucket, &per_file);
                    async move { transfer::download(s3, bucket, &k, Sink::File(dest), None, per_file, &fpb).await.map(|_| ()) }
                })
                .await?;
                pb.finish_and_clear();
                Ok(())
            }
            (Location::S3 { bucket: sb, key: sk }, Location::S3 { bucket: db, key: dk }) if recursive => {
                let objs = s3.list_all(&sb, &sk).await?;
                for o in objs {
                    let rel = o.key.strip_prefix(&sk).unwrap_or(&o.key).trim_start_matches('/');
                    let target = join_key(&dk, rel);
                    s3.copy_object(&sb, &o.key, &db, &target).await.with_context(|| format!("copying {} to {target}", o.key))?;
                }
                Ok(())
            }
            (_, _) if recursive => bail!("--recursive copies a local directory to S3, S3 to a local directory, or S3 to S3"),
            (Location::Local(p), Location::S3 { bucket, key }) => {
                if p.is_dir() {
                    bail!("{} is a directory; use --recursive", p.display());
                }
                let k = key_for_file(&key, &p);
                let pb = transfer::bar(0, &k, opts.quiet);
                transfer::upload_file(&s3, &p, &bucket, &k, &opts, &pb).await?;
                pb.finish_and_clear();
                Ok(())
            }
            (Location::Std, Location::S3 { bucket, key }) => {
                if key.is_empty() || key.ends_with('/') {
                    bail!("uploading standard input needs a full key: s3://BUCKET/KEY");
                }
                let pb = transfer::bar(0, &key, opts.quiet);
                transfer::upload_stdin(&s3, &bucket, &key, &opts, &pb).await?;
                pb.finish_and_clear();
                Ok(())
            }
            (Location::S3 { bucket, key }, dst @ (Location::Local(_) | Location::Std)) => {
                let sink = match dst {
                    Location::Local(p) if p.is_dir() => {
                        Sink::File(p.join(key.rsplit('/').next().filter(|s| !s.is_empty()).context("the key ends in /")?))
                    }
                    Location::Local(p) => Sink::File(p),
                    _ => Sink::Stdout,
                };
                let pb = transfer::bar(0, &key, opts.quiet);
                transfer::download(&s3, &bucket, &key, sink, None, &opts, &pb).await?;
                pb.finish_and_clear();
                Ok(())
            }
            (Location::S3 { bucket: sb, key: sk }, Location::S3 { bucket: db, key: dk }) => {
                let dk = if dk.is_empty() || dk.ends_with('/') { format!("{dk}{}", sk.rsplit('/').next().unwrap_or(&sk)) } else { dk };
                s3.copy_object(&sb, &sk, &db, &dk).await.with_context(|| format!("copying s3://{sb}/{sk} to s3://{db}/{dk}"))?;
                Ok(())
            }
            _ => bail!("cp needs an s3:// location on at least one side (local to local is what `cp` is for)"),
        }
    })
}

/// Run `jobs`, at most `parallel` at once, each with a hidden progress bar
/// whose bytes are added to `pb` when it finishes; stops at the first error.
async fn run_jobs<T, F, Fut>(jobs: Vec<T>, parallel: usize, pb: &indicatif::ProgressBar, f: F) -> Result<()>
where
    F: Fn(T, indicatif::ProgressBar) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    futures::stream::iter(jobs.into_iter().map(Ok))
        .try_for_each_concurrent(parallel.max(1), |job| {
            let fpb = indicatif::ProgressBar::hidden();
            let fut = f(job, fpb.clone());
            async move {
                fut.await?;
                pb.inc(fpb.position());
                Ok(())
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_tree() {
        assert_eq!(join_key("p", "a/b"), "p/a/b");
        assert_eq!(join_key("p/", "a"), "p/a");
        assert_eq!(join_key("", "a"), "a");
    }
}
