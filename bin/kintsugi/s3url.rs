//! `s3://bucket/key` locations and local paths on the command line.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};

/// A place data can come from or go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `s3://bucket[/key-or-prefix]`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key or prefix ("" for the bucket root).
        key: String,
    },
    /// `-`: stdin or stdout.
    Std,
    /// A local file or directory.
    Local(PathBuf),
}

impl Location {
    /// Parse a command-line argument.
    pub fn parse(s: &str) -> Result<Self> {
        if s == "-" {
            return Ok(Location::Std);
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("{s:?} names no bucket; write s3://BUCKET/KEY");
            }
            return Ok(Location::S3 { bucket: bucket.to_owned(), key: key.to_owned() });
        }
        if s.contains("://") {
            bail!("{s:?}: only s3:// URLs and local paths are understood");
        }
        Ok(Location::Local(PathBuf::from(s)))
    }
}

/// Parse an argument that must be `s3://bucket[/key]`.
pub fn s3(s: &str) -> Result<(String, String)> {
    match Location::parse(s)? {
        Location::S3 { bucket, key } => Ok((bucket, key)),
        _ => bail!("{s:?} is not an S3 location; write s3://BUCKET/KEY"),
    }
}

/// The local path a downloaded key lands on under `dir`, or `None` when the
/// key would escape `dir` (`..`, absolute paths, empty components): object
/// keys are data, and never get to choose where a file is written.
pub fn safe_join(dir: &Path, rel_key: &str) -> Option<PathBuf> {
    if rel_key.is_empty() || rel_key.contains('\0') || rel_key.ends_with('/') {
        return None;
    }
    let rel = Path::new(rel_key);
    let mut out = dir.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(Location::parse("s3://b/k/x").expect("p"), Location::S3 { bucket: "b".into(), key: "k/x".into() });
        assert_eq!(Location::parse("s3://b").expect("p"), Location::S3 { bucket: "b".into(), key: "".into() });
        assert_eq!(Location::parse("-").expect("p"), Location::Std);
        assert_eq!(Location::parse("./f").expect("p"), Location::Local("./f".into()));
        assert!(Location::parse("s3://").is_err());
        assert!(Location::parse("http://x").is_err());
    }

    #[test]
    fn keys_never_escape() {
        let d = Path::new("/tmp/out");
        assert_eq!(safe_join(d, "a/b.txt"), Some(PathBuf::from("/tmp/out/a/b.txt")));
        for bad in ["../x", "a/../../x", "/etc/passwd", "", "dir/", "a\0b"] {
            assert_eq!(safe_join(d, bad), None, "{bad:?}");
        }
    }
}
