//! Bucket policies: the JSON policy language as S3 evaluates it for a bucket. Pure code: a
//! document is parsed and checked once ([`Policy::parse`]), then [`Policy::decide`] answers
//! one request's [`Facts`] — explicit `Deny` wins over any `Allow`; no matching statement
//! leaves the decision to ownership and ACLs (the access check, `access/`).
//!
//! Supported: `Effect`, `Principal`/`NotPrincipal` (`*`, `{"AWS": …}` naming access keys,
//! bare or as `arn:aws:iam::KEY:…`, and `CanonicalUser`), `Action`/`NotAction` and
//! `Resource`/`NotResource` with `*` and `?` wildcards, and `Condition` with the string,
//! numeric, date, `Bool`, `IpAddress`/`NotIpAddress`, `Null` and ARN operators, their
//! `…IfExists` forms and the `ForAnyValue:`/`ForAllValues:` qualifiers (see [`eval`] for the
//! condition keys a request carries).

mod actions;
mod eval;

pub(crate) use actions::{action_of, request_keys, POLICY_ACTIONS};
pub(crate) use eval::{Decision, Facts};

use serde_json::Value;

/// The most bytes a bucket policy may hold, as S3 allows (20 KiB).
pub(crate) const MAX_POLICY_BYTES: usize = 20 * 1024;

/// A policy document that could not be accepted, with what is wrong in it (S3's
/// `MalformedPolicy`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub(crate) struct Malformed(pub(crate) String);

fn bad(msg: impl Into<String>) -> Malformed {
    Malformed(msg.into())
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// Who a statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Principals {
    /// Everyone, anonymous requests included (`"*"` or `{"AWS": "*"}`).
    Any,
    /// These access keys (an `arn:aws:iam::KEY:…` names `KEY`); other principal kinds
    /// (`Service`, `Federated`) name nobody here.
    Keys(Vec<String>),
}

impl Principals {
    fn names(&self, who: Option<&str>) -> bool {
        match self {
            Principals::Any => true,
            Principals::Keys(keys) => who.is_some_and(|w| keys.iter().any(|k| k == w)),
        }
    }
}

/// One statement of a policy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    /// The principals, and whether it is `NotPrincipal` (everyone but them).
    pub(crate) principals: (Principals, bool),
    /// Action patterns, lower-cased (`s3:getobject`, `s3:get*`, `*`), and whether `NotAction`.
    pub(crate) actions: (Vec<String>, bool),
    /// Resource patterns (`arn:aws:s3:::bucket/prefix*`), and whether `NotResource`.
    pub(crate) resources: (Vec<String>, bool),
    /// Every condition must hold.
    pub(crate) conditions: Vec<eval::Condition>,
}

/// A checked bucket policy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Policy {
    pub(crate) statements: Vec<Statement>,
}

/// A string or a list of strings (how the language writes most of its values).
fn strings(v: &Value, what: &str) -> Result<Vec<String>, Malformed> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad(format!("{what} must hold strings"))),
            })
            .collect(),
        _ => Err(bad(format!("{what} must be a string or a non-empty list of strings"))),
    }
}

/// The access key an `AWS` or `CanonicalUser` principal names.
fn principal_key(s: &str) -> String {
    match s.strip_prefix("arn:aws:iam::") {
        Some(rest) => rest.split(':').next().unwrap_or_default().to_owned(),
        None => s.to_owned(),
    }
}

fn principals(v: &Value) -> Result<Principals, Malformed> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Any),
        Value::Object(map) if !map.is_empty() => {
            let mut keys = Vec::new();
            for (kind, names) in map {
                let names = strings(names, "a principal")?;
                match kind.as_str() {
                    "AWS" | "CanonicalUser" => {
                        if names.iter().any(|n| n == "*") {
                            return Ok(Principals::Any);
                        }
                        keys.extend(names.iter().map(|n| principal_key(n)));
                    }
                    "Service" | "Federated" => {}
                    other => return Err(bad(format!("unknown principal kind {other:?}: use AWS or CanonicalUser"))),
                }
            }
            Ok(Principals::Keys(keys))
        }
        _ => Err(bad("Principal must be \"*\" or an object such as {\"AWS\": [\"ACCESS_KEY\"]}")),
    }
}

/// Exactly one of `a` and `b` is present; its value and whether it was `b` (the `Not` form).
fn one_of<'a>(st: &'a serde_json::Map<String, Value>, a: &str, b: &str) -> Result<(&'a Value, bool), Malformed> {
    match (st.get(a), st.get(b)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(bad(format!("a statement has both {a} and {b}"))),
        (None, None) => Err(bad(format!("a statement has neither {a} nor {b}"))),
    }
}

/// Whether `pattern` could name `bucket` or something in it. Checking a document, so a
/// loose answer is harmless: evaluation matches exactly.
fn resource_in_bucket(pattern: &str, bucket: &str) -> bool {
    let Some(rest) = pattern.strip_prefix("arn:aws:s3:::") else { return false };
    let bucket_part = rest.split('/').next().unwrap_or_default();
    let before_star = bucket_part.split('*').next().unwrap_or_default();
    wildcard(bucket_part, bucket, false) || (bucket_part.contains('*') && bucket.starts_with(before_star))
}

fn statement(v: &Value, bucket: &str) -> Result<Statement, Malformed> {
    let Value::Object(st) = v else { return Err(bad("every statement must be an object")) };
    for key in st.keys() {
        if !matches!(key.as_str(), "Sid" | "Effect" | "Principal" | "NotPrincipal" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition") {
            return Err(bad(format!("unknown field {key:?} in a statement")));
        }
    }
    if st.get("Sid").is_some_and(|s| !s.is_string()) {
        return Err(bad("Sid must be a string"));
    }
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(bad("Effect must be \"Allow\" or \"Deny\"")),
    };
    let (p, not_p) = one_of(st, "Principal", "NotPrincipal")?;
    let principals = (principals(p)?, not_p);
    if not_p && effect == Effect::Allow {
        return Err(bad("NotPrincipal may only be used with \"Effect\": \"Deny\""));
    }
    let (a, not_a) = one_of(st, "Action", "NotAction")?;
    let actions: Vec<String> = strings(a, "Action")?.iter().map(|s| s.to_ascii_lowercase()).collect();
    for action in &actions {
        if action != "*" && !action.starts_with("s3:") {
            return Err(bad(format!("Policy has invalid action: {action:?} (actions are s3:NAME, with * wildcards)")));
        }
    }
    let (r, not_r) = one_of(st, "Resource", "NotResource")?;
    let resources = strings(r, "Resource")?;
    if resources.iter().any(|r| r.contains("${")) {
        return Err(bad("policy variables (${...}) are not supported: name the resources literally"));
    }
    for res in &resources {
        if res != "*" && !resource_in_bucket(res, bucket) {
            return Err(bad(format!("Policy has invalid resource: {res:?} is not in bucket {bucket} (write arn:aws:s3:::{bucket} or arn:aws:s3:::{bucket}/KEY)")));
        }
    }
    let conditions = match st.get("Condition") {
        None => Vec::new(),
        Some(c) => eval::conditions(c)?,
    };
    Ok(Statement { effect, principals, actions: (actions, not_a), resources: (resources, not_r), conditions })
}

impl Policy {
    /// Parse and check `doc` as the policy of `bucket`: well-formed JSON of at most 20 KiB,
    /// a `Version` S3 knows (if given), statements with an effect, principals, actions and
    /// resources of this bucket, and conditions this evaluator knows.
    pub(crate) fn parse(doc: &str, bucket: &str) -> Result<Policy, Malformed> {
        if doc.len() > MAX_POLICY_BYTES {
            return Err(bad(format!("a bucket policy may hold at most {MAX_POLICY_BYTES} bytes; this one has {}", doc.len())));
        }
        let v: Value = serde_json::from_str(doc).map_err(|e| bad(format!("the policy is not JSON: {e}")))?;
        let Value::Object(top) = v else { return Err(bad("the policy must be a JSON object")) };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(bad(format!("unknown field {key:?} in the policy")));
            }
        }
        match top.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => return Err(bad("Version must be \"2012-10-17\" (or the older \"2008-10-17\")")),
        }
        let statements = match top.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().map(|s| statement(s, bucket)).collect::<Result<Vec<_>, _>>()?,
            Some(one @ Value::Object(_)) => vec![statement(one, bucket)?],
            _ => return Err(bad("the policy needs a Statement: an object or a non-empty list of them")),
        };
        Ok(Policy { statements })
    }

    /// A policy that denies everything to everyone (what a stored document this version
    /// cannot read stands for).
    pub(crate) fn deny_all() -> Policy {
        Policy {
            statements: vec![Statement {
                effect: Effect::Deny,
                principals: (Principals::Any, false),
                actions: (vec!["*".to_owned()], false),
                resources: (vec!["*".to_owned()], false),
                conditions: Vec::new(),
            }],
        }
    }

    /// What this policy says of one request: `Deny` if a matching statement denies it,
    /// else `Allow` if one allows it, else `Silent`.
    pub(crate) fn decide(&self, f: &Facts<'_>) -> Decision {
        let mut allowed = false;
        for st in &self.statements {
            if !st.applies(f) {
                continue;
            }
            match st.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Silent
        }
    }

    /// Whether the policy lets everyone in: an `Allow` for principal `*` whose conditions do
    /// not narrow it to known callers (a source address or network). GetBucketPolicyStatus.
    pub(crate) fn is_public(&self) -> bool {
        self.statements.iter().any(|st| {
            st.effect == Effect::Allow && st.principals == (Principals::Any, false) && st.conditions.iter().all(|c| !c.narrows_callers())
        })
    }
}

impl Statement {
    fn applies(&self, f: &Facts<'_>) -> bool {
        let (p, not_p) = &self.principals;
        if p.names(f.principal) == *not_p {
            return false;
        }
        let (a, not_a) = &self.actions;
        if a.iter().any(|pat| wildcard(pat, f.action, true)) == *not_a {
            return false;
        }
        let (r, not_r) = &self.resources;
        if r.iter().any(|pat| pat == "*" || wildcard(pat, &f.resource, false)) == *not_r {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(f))
    }
}

/// `pattern` against `s`: `*` matches any run of characters, `?` any one character.
pub(crate) fn wildcard(pattern: &str, s: &str, fold_case: bool) -> bool {
    let fold = |c: char| if fold_case { c.to_ascii_lowercase() } else { c };
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let s: Vec<char> = s.chars().map(fold).collect();
    // Greedy match with one back-track point: linear in practice, never exponential.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        // A `*` in the pattern is always a wildcard, even against a `*` in the string.
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Parse `doc` as the policy of bucket `b` and, if it parses, decide a few requests with it
/// (anonymous and signed, with the condition keys `query` carries): what the fuzz target
/// `bucket_policy` runs. `None`: the document was refused.
pub fn probe(doc: &str, query: &str) -> Option<bool> {
    let policy = Policy::parse(doc, "b").ok()?;
    let keys = request_keys("ListObjects", Some(query), &http::HeaderMap::new());
    for (who, action, resource) in [(None, "s3:GetObject", "arn:aws:s3:::b/k*?"), (Some("KEY"), "s3:ListBucket", "arn:aws:s3:::b")] {
        let f = Facts { principal: who, action, resource: resource.to_owned(), secure: false, source_ip: "::ffff:10.0.0.1".parse().ok(), now: std::time::SystemTime::now(), keys: keys.clone() };
        let _ = policy.decide(&f);
    }
    Some(policy.is_public())
}

#[cfg(test)]
mod tests;
