//! What a request is, as a policy sees it ([`Facts`]), and the `Condition` block.
//!
//! Condition keys a request carries (names are case-insensitive, as in S3):
//! `aws:SecureTransport`, `aws:SourceIp`, `aws:CurrentTime`, `aws:EpochTime`,
//! `aws:UserAgent`, `aws:Referer`, `aws:username` and `aws:userid` (the access key),
//! `aws:PrincipalType` (`Anonymous` or `User`), `s3:authType`, `s3:signatureversion`, and
//! `s3:prefix`, `s3:delimiter`, `s3:max-keys`, `s3:x-amz-acl`, the `s3:x-amz-grant-*` headers
//! (`read`, `write`, `read-acp`, `write-acp`, `full-control`), `s3:x-amz-content-sha256`,
//! `s3:x-amz-copy-source`, `s3:x-amz-metadata-directive`, `s3:x-amz-storage-class`,
//! `s3:x-amz-server-side-encryption`, `s3:versionid` when the request has them. A key the
//! request lacks makes its condition false, except under `…IfExists` and `Null`.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{bad, strings, wildcard, Malformed};

/// A policy's verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A matching statement denies it: refused, whoever asks.
    Deny,
    /// A matching statement allows it (and none denies).
    Allow,
    /// No statement matches: ownership decides.
    Silent,
}

/// One request as a policy sees it.
#[derive(Clone, Debug)]
pub(crate) struct Facts<'a> {
    /// The access key that signed it (`None`: anonymous).
    pub(crate) principal: Option<&'a str>,
    /// The action, as `s3:GetObject`.
    pub(crate) action: &'a str,
    /// The resource, as `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub(crate) resource: String,
    /// Whether it came over HTTPS.
    pub(crate) secure: bool,
    /// The client's address, when known.
    pub(crate) source_ip: Option<IpAddr>,
    /// When it is evaluated.
    pub(crate) now: SystemTime,
    /// Other condition keys, lower-cased, with their values.
    pub(crate) keys: Vec<(String, String)>,
}

impl Facts<'_> {
    /// The values of condition key `key` (lower-cased), if the request has it.
    fn values(&self, key: &str) -> Option<Vec<String>> {
        let one = |s: String| Some(vec![s]);
        match key {
            "aws:securetransport" => one(self.secure.to_string()),
            "aws:sourceip" => self.source_ip.map(|ip| vec![unmap(ip, 128).0.to_string()]),
            "aws:currenttime" => one(s3s::dto::Timestamp::from(self.now).format_to_string()),
            "aws:epochtime" => one(self.now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string()),
            "aws:username" | "aws:userid" => self.principal.map(|p| vec![p.to_owned()]),
            "aws:principaltype" => one(if self.principal.is_some() { "User" } else { "Anonymous" }.to_owned()),
            _ => {
                let v: Vec<String> = self.keys.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect();
                (!v.is_empty()).then_some(v)
            }
        }
    }
}

trait FormatTimestamp {
    fn format_to_string(&self) -> String;
}

impl FormatTimestamp for s3s::dto::Timestamp {
    fn format_to_string(&self) -> String {
        let mut out = Vec::new();
        match self.format(s3s::dto::TimestampFormat::DateTime, &mut out) {
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// The condition keys a request here can carry (lower-cased); a policy naming another is
/// refused, so a Deny never silently fails to apply.
const KNOWN_KEYS: [&str; 26] = [
    "aws:securetransport",
    "aws:sourceip",
    "aws:currenttime",
    "aws:epochtime",
    "aws:useragent",
    "aws:referer",
    "aws:username",
    "aws:userid",
    "aws:principaltype",
    "s3:authtype",
    "s3:signatureversion",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:x-amz-acl",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-storage-class",
    "s3:x-amz-server-side-encryption",
    "s3:versionid",
];

fn known_key(key: &str) -> bool {
    KNOWN_KEYS.contains(&key)
}

/// How a condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    StrEq { fold: bool },
    StrLike,
    Num(std::cmp::Ordering, bool),
    Date(std::cmp::Ordering, bool),
    Bool,
    Ip,
    Null,
}

/// One test of a `Condition` block: operator, key and the values it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    op: Op,
    /// The negated form (`StringNotEquals`, `NotIpAddress`, …).
    negated: bool,
    /// `…IfExists`: true when the request lacks the key.
    if_exists: bool,
    /// `ForAllValues:` (every request value must match) rather than any one.
    for_all: bool,
    /// `ForAnyValue:` (an explicit any-one: a missing key never matches, negated or not).
    for_any: bool,
    /// The key, lower-cased.
    key: String,
    values: Vec<String>,
}

fn op_of(name: &str) -> Option<(Op, bool)> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    Some(match name {
        "StringEquals" => (Op::StrEq { fold: false }, false),
        "StringNotEquals" => (Op::StrEq { fold: false }, true),
        "StringEqualsIgnoreCase" => (Op::StrEq { fold: true }, false),
        "StringNotEqualsIgnoreCase" => (Op::StrEq { fold: true }, true),
        "StringLike" | "ArnLike" | "ArnEquals" => (Op::StrLike, false),
        "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => (Op::StrLike, true),
        "NumericEquals" => (Op::Num(Equal, true), false),
        "NumericNotEquals" => (Op::Num(Equal, true), true),
        "NumericLessThan" => (Op::Num(Less, false), false),
        "NumericLessThanEquals" => (Op::Num(Less, true), false),
        "NumericGreaterThan" => (Op::Num(Greater, false), false),
        "NumericGreaterThanEquals" => (Op::Num(Greater, true), false),
        "DateEquals" => (Op::Date(Equal, true), false),
        "DateNotEquals" => (Op::Date(Equal, true), true),
        "DateLessThan" => (Op::Date(Less, false), false),
        "DateLessThanEquals" => (Op::Date(Less, true), false),
        "DateGreaterThan" => (Op::Date(Greater, false), false),
        "DateGreaterThanEquals" => (Op::Date(Greater, true), false),
        "Bool" => (Op::Bool, false),
        "IpAddress" => (Op::Ip, false),
        "NotIpAddress" => (Op::Ip, true),
        "Null" => (Op::Null, false),
        _ => return None,
    })
}

/// An address range, `a.b.c.d/n` or an IPv6 one (a bare address is one address).
fn cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how an IPv4 client arrives on a
/// dual-stack socket) as the IPv4 address it is; a range of them likewise.
fn unmap(ip: IpAddr, len: u8) -> (IpAddr, u8) {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if len >= 96 => (IpAddr::V4(v4), len - 96),
            _ => (ip, len),
        },
        v4 => (v4, len),
    }
}

fn in_cidr(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let (ip, _) = unmap(ip, 128);
    let (net, len) = unmap(net, len);
    let (a, b, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)) << 96, u128::from(u32::from(b)) << 96, len),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), len),
        _ => return false,
    };
    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
    a & mask == b & mask
}

fn date(s: &str) -> Option<i128> {
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    let t = s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::DateTime, s).ok()?;
    Some(time::OffsetDateTime::from(t).unix_timestamp_nanos())
}

fn compare(ord: std::cmp::Ordering, or_equal: bool, got: std::cmp::Ordering) -> bool {
    got == ord || (or_equal && got == std::cmp::Ordering::Equal)
}

/// The `Condition` block of a statement.
pub(crate) fn conditions(v: &Value) -> Result<Vec<Condition>, Malformed> {
    let Value::Object(ops) = v else { return Err(bad("Condition must be an object of operators")) };
    let mut out = Vec::new();
    for (name, tests) in ops {
        let (qualifier, rest) = match name.split_once(':') {
            Some((q @ ("ForAnyValue" | "ForAllValues"), rest)) => (Some(q), rest),
            Some(_) => return Err(bad(format!("unknown condition qualifier in {name:?}: use ForAnyValue: or ForAllValues:"))),
            None => (None, name.as_str()),
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (b, true),
            _ => (rest, false),
        };
        let (op, negated) = op_of(base).ok_or_else(|| bad(format!("unknown condition operator {name:?}")))?;
        let Value::Object(tests) = tests else { return Err(bad(format!("{name} must map condition keys to values"))) };
        for (key, values) in tests {
            let values = match values {
                Value::Bool(b) => vec![b.to_string()],
                Value::Number(n) => vec![n.to_string()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s.clone()),
                        Value::Bool(b) => Ok(b.to_string()),
                        Value::Number(n) => Ok(n.to_string()),
                        _ => Err(bad(format!("{name} {key}: values must be strings, numbers or booleans"))),
                    })
                    .collect::<Result<_, _>>()?,
                other => strings(other, key)?,
            };
            for value in &values {
                let ok = match op {
                    Op::Num(..) => value.parse::<f64>().is_ok(),
                    Op::Date(..) => date(value).is_some(),
                    Op::Bool | Op::Null => matches!(value.to_ascii_lowercase().as_str(), "true" | "false"),
                    Op::Ip => cidr(value).is_some(),
                    Op::StrEq { .. } | Op::StrLike => true,
                };
                if !ok {
                    return Err(bad(format!("{name} {key}: {value:?} is not a value this operator compares")));
                }
            }
            let key = key.to_ascii_lowercase();
            if key.contains("${") || values.iter().any(|v| v.contains("${")) {
                return Err(bad(format!("{name} {key}: policy variables (${{...}}) are not supported: write the values literally")));
            }
            if !known_key(&key) {
                return Err(bad(format!("Policy has an invalid condition key: {key} (this server knows {})", KNOWN_KEYS.join(", "))));
            }
            out.push(Condition { op, negated, if_exists, for_all: qualifier == Some("ForAllValues"), for_any: qualifier == Some("ForAnyValue"), key, values });
        }
    }
    Ok(out)
}

impl Condition {
    /// Whether this condition holds for `f`.
    pub(crate) fn holds(&self, f: &Facts<'_>) -> bool {
        let got = f.values(&self.key);
        if self.op == Op::Null {
            let want_missing = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return got.is_none() == want_missing;
        }
        let Some(got) = got else {
            // A missing key: `…IfExists`, ForAllValues (over no values) and a plain negated
            // operator hold; anything else (ForAnyValue: included) does not, as S3 evaluates.
            return self.if_exists || self.for_all || (self.negated && !self.for_any);
        };
        let one = |g: &str| self.values.iter().any(|want| self.matches(g, want));
        let matched = if self.for_all { got.iter().all(|g| one(g)) } else { got.iter().any(|g| one(g)) };
        matched != self.negated
    }

    fn matches(&self, got: &str, want: &str) -> bool {
        match self.op {
            Op::StrEq { fold: false } => got == want,
            Op::StrEq { fold: true } => got.eq_ignore_ascii_case(want),
            Op::StrLike => wildcard(want, got, false),
            Op::Num(ord, or_equal) => match (got.parse::<f64>(), want.parse::<f64>()) {
                (Ok(g), Ok(w)) => g.partial_cmp(&w).is_some_and(|o| compare(ord, or_equal, o)),
                _ => false,
            },
            Op::Date(ord, or_equal) => match (date(got), date(want)) {
                (Some(g), Some(w)) => compare(ord, or_equal, g.cmp(&w)),
                _ => false,
            },
            Op::Bool => got.eq_ignore_ascii_case(want),
            Op::Ip => match (got.parse::<IpAddr>(), cidr(want)) {
                (Ok(ip), Some(net)) => in_cidr(ip, net),
                _ => false,
            },
            Op::Null => false,
        }
    }

    /// Whether this condition narrows a statement to known callers (an address range, a
    /// network, an account), so a `*` principal under it is not public.
    pub(crate) fn narrows_callers(&self) -> bool {
        // A negated test, `…IfExists` and ForAllValues: all hold for a caller without the key
        // (an anonymous one), so they narrow nothing.
        if self.negated || self.if_exists || self.for_all {
            return false;
        }
        match self.key.as_str() {
            // An address range narrows when it is at most a /8 of IPv4 (a /32 of IPv6), as an
            // IPv4 client sees it: wider ones, or several of them, may cover everyone.
            "aws:sourceip" => {
                self.op == Op::Ip
                    && self.values.iter().all(|v| {
                        cidr(v).is_some_and(|(net, len)| match unmap(net, len) {
                            (IpAddr::V4(_), len) => len >= 8,
                            (IpAddr::V6(_), len) => len >= 32,
                        })
                    })
            }
            "aws:userid" | "aws:username" => matches!(self.op, Op::StrEq { .. } | Op::StrLike) && self.values.iter().all(|v| !v.contains('*') && !v.contains('?')),
            _ => false,
        }
    }
}
