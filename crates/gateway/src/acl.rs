//! Access control lists as S3 has them, without I/O: who a grant names, what it permits, the
//! canned ACLs, the `x-amz-grant-*` headers, and how a stored ACL is spelled.
//!
//! A bucket's ACL is kept as a metadata record (`bucket-acl/<bucket>`), an object version's
//! as the internal header [`HEADER`] of its manifest, so it goes wherever the version goes
//! (archived, restored, deleted, rebuilt from shard labels). Both hold [`Acl::encode`]'s text.
//! A bucket or version without one has the default: its owner's `FULL_CONTROL`.
//!
//! Evaluation (`access/mod.rs`, `access/grants.rs`): admin keys and the bucket's owner need no grant (the owner
//! of a bucket always controls it and every object in it, as S3's `BucketOwnerEnforced`
//! does); an explicit `Deny` of the bucket's policy wins over any grant; otherwise a request
//! the policy does not allow is allowed when a grant permits it ([`permission_for`]). An
//! object written by another principal is owned by its writer, who may always read and change
//! its ACL. Grants are ignored while the bucket's ownership is `BucketOwnerEnforced`, and
//! public ones (`AllUsers`, `AuthenticatedUsers`) while its public access block has
//! `IgnorePublicAcls`.

use serde::{Deserialize, Serialize};

/// The internal manifest header holding an object version's ACL.
pub use kintsugi_meta::ACL_HEADER as HEADER;

/// The canonical id answered for the owner of the admin keys' buckets (they have no one
/// owner; stored as the empty id).
pub const ADMIN_OWNER: &str = "kintsugi-admin-keys";

/// The URI prefix of S3's predefined groups.
const GROUPS: &str = "http://acs.amazonaws.com/groups/";

/// What a grant permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Perm {
    /// Everything below.
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
    /// List a bucket; read an object.
    #[serde(rename = "READ")]
    Read,
    /// Write and delete objects in a bucket (meaningless on an object, but kept, as S3 does).
    #[serde(rename = "WRITE")]
    Write,
    /// Read the ACL.
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    /// Change the ACL.
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
}

impl Perm {
    /// S3's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Perm::FullControl => "FULL_CONTROL",
            Perm::Read => "READ",
            Perm::Write => "WRITE",
            Perm::ReadAcp => "READ_ACP",
            Perm::WriteAcp => "WRITE_ACP",
        }
    }

    /// From S3's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Perm::FullControl, Perm::Read, Perm::Write, Perm::ReadAcp, Perm::WriteAcp].into_iter().find(|p| p.as_str() == s)
    }

    /// Whether a grant of `self` permits `wanted`.
    fn covers(self, wanted: Perm) -> bool {
        self == Perm::FullControl || self == wanted
    }
}

/// S3's predefined groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Group {
    /// Anyone, signed or not.
    AllUsers,
    /// Any request signed by a key of this store.
    AuthenticatedUsers,
    /// S3's log delivery group (kept and answered; Kintsugi delivers no logs).
    LogDelivery,
}

impl Group {
    /// The group's URI.
    pub fn uri(self) -> String {
        match self {
            Group::AllUsers => format!("{GROUPS}global/AllUsers"),
            Group::AuthenticatedUsers => format!("{GROUPS}global/AuthenticatedUsers"),
            Group::LogDelivery => format!("{GROUPS}s3/LogDelivery"),
        }
    }

    /// A group from its URI.
    pub fn parse(uri: &str) -> Option<Self> {
        [Group::AllUsers, Group::AuthenticatedUsers, Group::LogDelivery].into_iter().find(|g| g.uri() == uri)
    }
}

/// Whom a grant names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// A principal by its canonical id: its access key id.
    #[serde(rename = "id")]
    User(String),
    /// A predefined group.
    #[serde(rename = "group")]
    Group(Group),
}

/// One grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Whom.
    pub grantee: Grantee,
    /// What.
    pub perm: Perm,
}

/// An ACL: its owner and grants, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The owner's canonical id (an access key id; empty: the admin keys).
    pub owner: String,
    /// The grants.
    pub grants: Vec<Grant>,
}

/// The stored spelling, versioned.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    #[serde(flatten)]
    acl: Acl,
}

/// The most grants one ACL may hold, as S3 allows.
pub const MAX_GRANTS: usize = 100;

/// What is wrong with an ACL a request asks for (each is S3's error code and a message).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclError {
    /// A grant S3 cannot read.
    #[error("{0}")]
    Malformed(String),
    /// A grant naming something that is not a grantee of this store.
    #[error("{0}")]
    InvalidArgument(String),
    /// A grant by e-mail address (keys have none here).
    #[error("{0}")]
    Email(String),
    /// A canned ACL together with grants.
    #[error("{0}")]
    Both(String),
    /// A stored ACL this version cannot read.
    #[error("a stored ACL cannot be read: {0}")]
    Stored(String),
}

impl Acl {
    /// The default ACL: the owner's `FULL_CONTROL`.
    pub fn private(owner: &str) -> Self {
        Self { owner: owner.to_owned(), grants: vec![Grant { grantee: Grantee::User(owner.to_owned()), perm: Perm::FullControl }] }
    }

    /// A canned ACL (`bucket_owner` matters for `bucket-owner-read` and
    /// `bucket-owner-full-control`, which on a bucket are `private`). `None`: no such canned ACL.
    /// The owner's `FULL_CONTROL` comes last, as Ceph answers them (S3 clients and tests read
    /// them in any order, or in that one).
    pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> Option<Self> {
        let mut acl = Self { owner: owner.to_owned(), grants: Vec::new() };
        let mut add = |grantee: Grantee, perm: Perm| acl.grants.push(Grant { grantee, perm });
        match name {
            "private" => {}
            "public-read" => add(Grantee::Group(Group::AllUsers), Perm::Read),
            "public-read-write" => {
                add(Grantee::Group(Group::AllUsers), Perm::Read);
                add(Grantee::Group(Group::AllUsers), Perm::Write);
            }
            "authenticated-read" => add(Grantee::Group(Group::AuthenticatedUsers), Perm::Read),
            "aws-exec-read" => {}
            "log-delivery-write" => {
                add(Grantee::Group(Group::LogDelivery), Perm::Write);
                add(Grantee::Group(Group::LogDelivery), Perm::ReadAcp);
            }
            "bucket-owner-read" if bucket_owner != owner => add(Grantee::User(bucket_owner.to_owned()), Perm::Read),
            "bucket-owner-full-control" if bucket_owner != owner => add(Grantee::User(bucket_owner.to_owned()), Perm::FullControl),
            "bucket-owner-read" | "bucket-owner-full-control" => {}
            _ => return None,
        }
        acl.grants.push(Grant { grantee: Grantee::User(owner.to_owned()), perm: Perm::FullControl });
        Some(acl)
    }

    /// The ACL of `x-amz-grant-*` headers (`(permission, value)` pairs, the permission as in the
    /// header's name: `read`, `write`, `read-acp`, `write-acp`, `full-control`), each value a
    /// comma-separated list of `id="…"`, `uri="…"` or `emailAddress="…"`.
    pub fn from_headers<'a>(owner: &str, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, AclError> {
        let mut grants = Vec::new();
        for (name, value) in headers {
            let perm = match name {
                "read" => Perm::Read,
                "write" => Perm::Write,
                "read-acp" => Perm::ReadAcp,
                "write-acp" => Perm::WriteAcp,
                "full-control" => Perm::FullControl,
                other => return Err(AclError::InvalidArgument(format!("x-amz-grant-{other} is not a grant header"))),
            };
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (kind, who) = item.split_once('=').ok_or_else(|| AclError::InvalidArgument(format!("x-amz-grant-{name}: {item:?} is not type=\"value\"")))?;
                let who = who.trim().trim_matches('"');
                grants.push(Grant { grantee: grantee(kind.trim(), who)?, perm });
            }
        }
        Self::capped(owner, grants)
    }

    fn capped(owner: &str, grants: Vec<Grant>) -> Result<Self, AclError> {
        if grants.len() > MAX_GRANTS {
            return Err(AclError::Malformed(format!("an ACL may hold at most {MAX_GRANTS} grants; this one has {}", grants.len())));
        }
        Ok(Self { owner: owner.to_owned(), grants })
    }

    /// The ACL of a request body's grants (`(type, id, uri, email, permission)` of each), for an
    /// owner that never changes (the body's `Owner` is not read: S3 does not let it change).
    pub fn from_body<'a>(owner: &str, grants: impl IntoIterator<Item = BodyGrant<'a>>) -> Result<Self, AclError> {
        let mut out = Vec::new();
        for g in grants {
            let perm = g.perm.and_then(Perm::parse).ok_or_else(|| AclError::Malformed(format!("a grant's Permission {:?} is not one of FULL_CONTROL, READ, WRITE, READ_ACP, WRITE_ACP", g.perm.unwrap_or(""))))?;
            let grantee = match g.kind {
                "CanonicalUser" => grantee("id", g.id.unwrap_or(""))?,
                "Group" => grantee("uri", g.uri.unwrap_or(""))?,
                "AmazonCustomerByEmail" => grantee("emailAddress", g.email.unwrap_or(""))?,
                other => return Err(AclError::Malformed(format!("a grantee's xsi:type {other:?} is not CanonicalUser, Group or AmazonCustomerByEmail"))),
            };
            out.push(Grant { grantee, perm });
        }
        Self::capped(owner, out)
    }

    /// The canonical ids this ACL grants to (each must be a key of the store).
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.grants.iter().filter_map(|g| match &g.grantee {
            Grantee::User(id) => Some(id.as_str()),
            Grantee::Group(_) => None,
        })
    }

    /// Whether it grants anything to `AllUsers` or `AuthenticatedUsers`.
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| matches!(g.grantee, Grantee::Group(Group::AllUsers | Group::AuthenticatedUsers)))
    }

    /// Whether a grant permits `perm` to `who` (`None`: an anonymous request), public grants
    /// left out when `ignore_public`.
    pub fn permits(&self, who: Option<&str>, perm: Perm, ignore_public: bool) -> bool {
        self.grants.iter().any(|g| {
            g.perm.covers(perm)
                && match &g.grantee {
                    Grantee::User(id) => who == Some(id.as_str()),
                    Grantee::Group(Group::AllUsers) => !ignore_public,
                    Grantee::Group(Group::AuthenticatedUsers) => !ignore_public && who.is_some(),
                    Grantee::Group(Group::LogDelivery) => false,
                }
        })
    }

    /// The stored spelling.
    pub fn encode(&self) -> String {
        serde_json::to_string(&Stored { v: 1, acl: self.clone() }).unwrap_or_default()
    }

    /// What is stored for this ACL on something in a bucket owned by `bucket_owner`: its
    /// spelling, or `None` for the default (that owner's `FULL_CONTROL`), which is not stored.
    pub fn stored(&self, bucket_owner: &str) -> Option<String> {
        (*self != Self::private(bucket_owner)).then(|| self.encode())
    }

    /// An ACL from [`Acl::encode`]'s spelling.
    pub fn decode(s: &str) -> Result<Self, AclError> {
        let stored: Stored = serde_json::from_str(s).map_err(|e| AclError::Stored(e.to_string()))?;
        if stored.v != 1 {
            return Err(AclError::Stored(format!("version {} is newer than this build reads", stored.v)));
        }
        Ok(stored.acl)
    }

    /// An object version's ACL from its manifest headers (`None`: it has none, so it is
    /// `Acl::private` of its bucket's owner).
    pub fn of_headers(headers: &[(String, String)]) -> Result<Option<Self>, AclError> {
        headers.iter().find(|(k, _)| k == HEADER).map(|(_, v)| Self::decode(v)).transpose()
    }
}

/// One grant of a request body, as borrowed from s3s's types.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyGrant<'a> {
    /// `xsi:type`.
    pub kind: &'a str,
    /// `ID`.
    pub id: Option<&'a str>,
    /// `URI`.
    pub uri: Option<&'a str>,
    /// `EmailAddress`.
    pub email: Option<&'a str>,
    /// `Permission`.
    pub perm: Option<&'a str>,
}

fn grantee(kind: &str, who: &str) -> Result<Grantee, AclError> {
    match kind {
        "id" if who == ADMIN_OWNER => Ok(Grantee::User(String::new())),
        "id" if !who.is_empty() => Ok(Grantee::User(who.to_owned())),
        "uri" => Group::parse(who).map(Grantee::Group).ok_or_else(|| AclError::InvalidArgument(format!("{who:?} is not a group URI S3 defines (AllUsers, AuthenticatedUsers, LogDelivery)"))),
        "emailAddress" => Err(AclError::Email(format!(
            "The e-mail address you provided ({who}) does not match any account on record: Kintsugi's keys have no e-mail addresses, grant by id (the access key id)"
        ))),
        _ => Err(AclError::InvalidArgument(format!("{kind}={who:?} names no grantee: use id=\"ACCESS_KEY_ID\" or uri=\"{GROUPS}global/AllUsers\""))),
    }
}

/// Which level an operation's ACL permission is checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The bucket's ACL.
    Bucket,
    /// The object version's ACL.
    Object,
}

/// The ACL permission that lets a principal other than the bucket's owner do `op` (s3s's
/// operation name), and where it is checked, as S3 maps ACL permissions to actions; `None`:
/// no ACL grants it (only the owner and a policy can).
pub fn permission_for(op: &str) -> Option<(Level, Perm)> {
    Some(match op {
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "ListMultipartUploads" | "HeadBucket" => (Level::Bucket, Perm::Read),
        "PutObject" | "PostObject" | "CopyObject" | "DeleteObject" | "DeleteObjects" | "CreateMultipartUpload" | "UploadPart" | "UploadPartCopy" | "CompleteMultipartUpload" => {
            (Level::Bucket, Perm::Write)
        }
        "GetBucketAcl" => (Level::Bucket, Perm::ReadAcp),
        "PutBucketAcl" => (Level::Bucket, Perm::WriteAcp),
        "GetObject" | "HeadObject" => (Level::Object, Perm::Read),
        "GetObjectAcl" => (Level::Object, Perm::ReadAcp),
        "PutObjectAcl" => (Level::Object, Perm::WriteAcp),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_expand_as_s3_does() {
        let acl = Acl::canned("public-read-write", "ALT", "MAIN").expect("canned");
        assert_eq!(acl.grants.len(), 3);
        assert!(acl.permits(None, Perm::Write, false) && acl.permits(None, Perm::Read, false));
        assert!(!acl.permits(None, Perm::Read, true), "IgnorePublicAcls");
        assert!(!acl.permits(None, Perm::ReadAcp, false));
        assert!(acl.permits(Some("ALT"), Perm::WriteAcp, false), "the owner's FULL_CONTROL");
        let acl = Acl::canned("bucket-owner-full-control", "ALT", "MAIN").expect("canned");
        assert!(acl.permits(Some("MAIN"), Perm::ReadAcp, false));
        assert_eq!(Acl::canned("bucket-owner-read", "MAIN", "MAIN"), Some(Acl::private("MAIN")), "one's own bucket: private");
        let auth = Acl::canned("authenticated-read", "MAIN", "MAIN").expect("canned");
        assert!(auth.permits(Some("ANY"), Perm::Read, false) && !auth.permits(None, Perm::Read, false));
        assert!(auth.is_public() && !Acl::private("MAIN").is_public());
        assert_eq!(Acl::canned("world-writable", "MAIN", "MAIN"), None);
    }

    #[test]
    fn grant_headers_are_read_and_bad_ones_refused() {
        let acl = Acl::from_headers("MAIN", [("read", "id=ALT, uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""), ("write-acp", "id=\"ALT\"")]).expect("headers");
        assert_eq!(acl.grants.len(), 3);
        assert!(acl.permits(Some("ALT"), Perm::WriteAcp, false) && !acl.permits(Some("ALT"), Perm::Write, false));
        assert!(acl.permits(None, Perm::Read, false));
        assert_eq!(acl.users().collect::<Vec<_>>(), ["ALT", "ALT"]);
        assert!(matches!(Acl::from_headers("M", [("read", "emailAddress=\"a@b\"")]), Err(AclError::Email(_))));
        assert!(matches!(Acl::from_headers("M", [("read", "uri=http://example.com/x")]), Err(AclError::InvalidArgument(_))));
        assert!(matches!(Acl::from_headers("M", [("read", "ALT")]), Err(AclError::InvalidArgument(_))));
        assert!(matches!(Acl::from_headers("M", [("read", "id=")]), Err(AclError::InvalidArgument(_))));
    }

    #[test]
    fn body_grants_are_read_and_bad_ones_refused() {
        let g = |kind, id, perm| BodyGrant { kind, id, perm, ..BodyGrant::default() };
        let acl = Acl::from_body("MAIN", [g("CanonicalUser", Some("ALT"), Some("READ_ACP"))]).expect("body");
        assert_eq!(acl.grants, vec![Grant { grantee: Grantee::User("ALT".into()), perm: Perm::ReadAcp }]);
        assert!(matches!(Acl::from_body("MAIN", [g("CanonicalUser", Some("ALT"), Some("ALL"))]), Err(AclError::Malformed(_))));
        assert!(matches!(Acl::from_body("MAIN", [g("Robot", Some("ALT"), Some("READ"))]), Err(AclError::Malformed(_))));
        assert_eq!(Acl::from_body("MAIN", []).expect("empty").grants, vec![], "every grant revoked, the owner's too");
        let many = vec![g("CanonicalUser", Some("ALT"), Some("READ")); MAX_GRANTS];
        assert_eq!(Acl::from_body("MAIN", many.clone()).expect("at the cap").grants.len(), MAX_GRANTS);
        let more = [many, vec![g("CanonicalUser", Some("ALT"), Some("READ"))]].concat();
        assert!(matches!(Acl::from_body("MAIN", more), Err(AclError::Malformed(_))), "one grant past the cap");
    }

    #[test]
    fn the_stored_spelling_round_trips_and_is_versioned() {
        let acl = Acl::canned("public-read", "ALT", "MAIN").expect("canned");
        assert_eq!(Acl::decode(&acl.encode()), Ok(acl.clone()));
        let headers = vec![("cache-control".to_owned(), "x".to_owned()), (HEADER.to_owned(), acl.encode())];
        assert_eq!(Acl::of_headers(&headers), Ok(Some(acl)));
        assert_eq!(Acl::of_headers(&headers[..1]), Ok(None));
        assert!(matches!(Acl::decode(r#"{"v":2,"owner":"A","grants":[]}"#), Err(AclError::Stored(_))));
        assert!(matches!(Acl::decode("garbage"), Err(AclError::Stored(_))));
    }

    #[test]
    fn operations_map_to_the_permissions_s3_names() {
        assert_eq!(permission_for("ListObjectsV2"), Some((Level::Bucket, Perm::Read)));
        assert_eq!(permission_for("DeleteObject"), Some((Level::Bucket, Perm::Write)));
        assert_eq!(permission_for("GetObject"), Some((Level::Object, Perm::Read)));
        assert_eq!(permission_for("PutObjectAcl"), Some((Level::Object, Perm::WriteAcp)));
        assert_eq!(permission_for("PutBucketPolicy"), None);
        assert_eq!(permission_for("GetObjectTagging"), None);
        assert_eq!(permission_for("AbortMultipartUpload"), None, "S3 grants it by no ACL (the bucket's owner and the upload's initiator: access::grants)");
    }
}
