//! Object listing with prefix, delimiter and resumable pagination.

use crate::error::MetaResult;
use crate::keys;
use crate::store::{RocksMeta, Step};
use crate::types::{decode, Manifest};

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last modified, ms since epoch.
    pub modified_ms: i64,
    /// Its ACL header ([`crate::ACL_HEADER`]), if it has one: the listing names its owner.
    pub acl: Option<String>,
}

/// A page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, in key order.
    pub entries: Vec<ListEntry>,
    /// Common prefixes (when a delimiter was given), in order.
    pub common_prefixes: Vec<String>,
    /// More results follow.
    pub truncated: bool,
    /// Last key or common prefix returned (S3 `NextMarker`).
    pub last: Option<String>,
    /// Opaque position to resume from (feed back as `ListQuery::resume`).
    pub resume: Option<Vec<u8>>,
}

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by the part after `prefix` up to this delimiter.
    pub delimiter: Option<String>,
    /// Only keys strictly after this key (S3 `StartAfter` / `Marker`).
    pub start_after: Option<String>,
    /// Resume position from a previous page (wins over `start_after`).
    pub resume: Option<Vec<u8>>,
    /// Maximum number of entries + common prefixes.
    pub max: usize,
}

impl RocksMeta {
    /// List objects of `bucket`. The bucket must exist (checked by the caller).
    pub(crate) fn local_list_objects(&self, bucket: &str, q: &ListQuery) -> MetaResult<ListPage> {
        let bp = keys::bucket_prefix(bucket);
        let full_prefix = keys::object_key(bucket, q.prefix.as_bytes());
        let mut start = full_prefix.clone();
        let after = match (&q.resume, q.start_after.as_deref()) {
            (Some(r), _) => Some(r.clone()),
            (None, Some(sa)) => {
                let mut r = sa.as_bytes().to_vec();
                r.push(0);
                Some(r)
            }
            _ => None,
        };
        if let Some(r) = after {
            let mut s = bp.clone();
            s.extend_from_slice(&r);
            if s > start {
                start = s;
            }
        }
        let mut page = ListPage::default();
        if q.max == 0 {
            return Ok(page);
        }
        let delim = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let plen = bp.len() + q.prefix.len();
        self.scan_with_seek(RocksMeta::objects_cf_name(), &full_prefix, &start, |k, v| {
            let rest = &k[plen..];
            let common = delim.and_then(|d| find(rest, d.as_bytes()).map(|p| p + d.len()));
            if page.entries.len() + page.common_prefixes.len() == q.max {
                page.truncated = true;
                return Ok(Step::Stop);
            }
            if let Some(cut) = common {
                let cp_bytes = &k[bp.len()..plen + cut];
                let cp = String::from_utf8_lossy(cp_bytes).into_owned();
                let mut resume = cp_bytes.to_vec();
                resume.push(keys::AFTER_UTF8);
                let mut seek = bp.clone();
                seek.extend_from_slice(&resume);
                page.last = Some(cp.clone());
                page.resume = Some(resume);
                page.common_prefixes.push(cp);
                return Ok(Step::Seek(seek));
            }
            let m: Manifest = decode("manifest", v)?;
            let key_bytes = &k[bp.len()..];
            let key = String::from_utf8_lossy(key_bytes).into_owned();
            let mut resume = key_bytes.to_vec();
            resume.push(0);
            page.last = Some(key.clone());
            page.resume = Some(resume);
            let acl = crate::acl::acl_of(&m.headers);
            page.entries.push(ListEntry {
                key,
                size: m.size,
                etag: m.etag,
                modified_ms: m.modified_ms,
                acl,
            });
            Ok(Step::Next)
        })?;
        if !page.truncated {
            page.resume = None;
        }
        Ok(page)
    }
}

/// Position of `needle` in `hay` (an empty needle is never found).
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
