//! What the access check and the HTTP front end leave in a request's extensions for the
//! handlers: where it came from, and what the check decided that the handler must honour.

use std::collections::HashSet;
use std::net::IpAddr;

/// Where a request came from (put in its extensions by the HTTP front end).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client {
    /// The client's address.
    pub(crate) ip: IpAddr,
    /// Whether it came over HTTPS.
    pub(crate) secure: bool,
    /// Whether it may carry a customer key (SSE-C): over HTTPS, or over HTTP to a gateway
    /// started with `--sse-c-over-http` (see `access/transport.rs`).
    pub(crate) sse_c: bool,
}

/// Keys (with the version id each names, if any) of a DeleteObjects request the caller may
/// not delete (put in its extensions by the check; the handler answers them `AccessDenied`
/// one by one, as S3 does).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeniedKeys(pub(crate) HashSet<(String, Option<String>)>);

/// Put in a GetObject or HeadObject request's extensions when its caller may read the object
/// but not list the key (`listing_of`): a missing key is then 403, not 404.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HideMissing;

/// Put in a DeleteObject or PutObjectRetention request's extensions when it asks to bypass
/// GOVERNANCE retention (`x-amz-bypass-governance-retention: true`) and its caller may
/// (`s3:BypassGovernanceRetention` on the object: admin keys and the bucket's owner always,
/// others where the bucket's policy allows it) — and in a DeleteObjects request's of an admin
/// key. Without it the bypass is ignored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MayBypass;

/// Put in a GetObject or HeadObject request's extensions when its caller reads through a
/// policy (not as the bucket's owner): which of the version's lock headers it may see (S3
/// shows them only to callers allowed s3:GetObjectRetention / s3:GetObjectLegalHold).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockVisible {
    pub(crate) retention: bool,
    pub(crate) legal_hold: bool,
}

/// The (key, version id) pairs of a DeleteObjects request whose caller may bypass GOVERNANCE
/// retention for them (decided key by key, as the policy's resources name objects).
#[derive(Clone, Debug, Default)]
pub(crate) struct BypassKeys(pub(crate) HashSet<(String, Option<String>)>);
