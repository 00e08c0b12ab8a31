use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

fn facts<'a>(who: Option<&'a str>, action: &'a str, resource: &str) -> Facts<'a> {
    Facts {
        principal: who,
        action,
        resource: resource.to_owned(),
        secure: false,
        source_ip: Some("127.0.0.1".parse().expect("ip")),
        now: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        keys: Vec::new(),
    }
}

fn policy(statements: &str) -> Policy {
    Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#), "b").expect("policy")
}

#[test]
fn explicit_deny_wins_over_any_allow() {
    let p = policy(
        r#"[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Deny","Principal":{"AWS":["TEAM"]},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/keep/*"}]"#,
    );
    assert_eq!(p.decide(&facts(Some("TEAM"), "s3:GetObject", "arn:aws:s3:::b/keep/x")), Decision::Allow);
    assert_eq!(p.decide(&facts(Some("TEAM"), "s3:DeleteObject", "arn:aws:s3:::b/keep/x")), Decision::Deny);
    assert_eq!(p.decide(&facts(Some("OTHER"), "s3:DeleteObject", "arn:aws:s3:::b/keep/x")), Decision::Allow);
    assert_eq!(p.decide(&facts(None, "s3:DeleteObject", "arn:aws:s3:::b/other")), Decision::Allow, "* names anonymous callers too");
    assert_eq!(p.decide(&facts(None, "s3:ListBucket", "arn:aws:s3:::b")), Decision::Silent, "b/* does not name the bucket");
}

#[test]
fn principals_are_access_keys_bare_or_as_arns() {
    let p = policy(r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::TEAM:root","ANN"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#);
    for who in ["TEAM", "ANN"] {
        assert_eq!(p.decide(&facts(Some(who), "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Allow, "{who}");
    }
    assert_eq!(p.decide(&facts(Some("BOB"), "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Silent);
    assert_eq!(p.decide(&facts(None, "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Silent, "a key list does not name anonymous callers");
    let not = policy(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"TEAM"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}"#);
    assert_eq!(not.decide(&facts(Some("TEAM"), "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Silent);
    assert_eq!(not.decide(&facts(Some("BOB"), "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Deny);
    assert_eq!(not.decide(&facts(None, "s3:ListBucket", "arn:aws:s3:::b")), Decision::Deny);
}

#[test]
fn actions_fold_case_and_resources_do_not() {
    let p = policy(r#"{"Effect":"Allow","Principal":"*","Action":["S3:get*"],"NotResource":"arn:aws:s3:::b/Secret/*"}"#);
    assert_eq!(p.decide(&facts(None, "s3:GetObject", "arn:aws:s3:::b/public")), Decision::Allow);
    assert_eq!(p.decide(&facts(None, "s3:GetObject", "arn:aws:s3:::b/Secret/x")), Decision::Silent);
    assert_eq!(p.decide(&facts(None, "s3:GetObject", "arn:aws:s3:::b/secret/x")), Decision::Allow, "resources are case-sensitive");
    assert_eq!(p.decide(&facts(None, "s3:PutObject", "arn:aws:s3:::b/public")), Decision::Silent);
    let not = policy(r#"{"Effect":"Allow","Principal":"*","NotAction":"s3:Delete*","Resource":"arn:aws:s3:::b/*"}"#);
    assert_eq!(not.decide(&facts(None, "s3:PutObject", "arn:aws:s3:::b/k")), Decision::Allow);
    assert_eq!(not.decide(&facts(None, "s3:DeleteObject", "arn:aws:s3:::b/k")), Decision::Silent);
}

#[test]
fn wildcards_match_runs_and_single_characters() {
    for (p, s, want) in [
        ("a*c", "abbbc", true),
        ("a*c", "ab", false),
        ("*", "", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*x*y*", "..x..y..", true),
        ("*x*y*", "..y..x..", false),
        ("arn:aws:s3:::b/home/*/docs/*", "arn:aws:s3:::b/home/ann/docs/cv.pdf", true),
        // Stars and question marks in the string are plain characters.
        ("a*", "a*b", true),
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/*x", true),
        ("arn:aws:s3:::b/priv/*", "arn:aws:s3:::b/priv/*x", true),
        ("a?", "a*", true),
        ("a*c", "a*b", false),
    ] {
        assert_eq!(wildcard(p, s, false), want, "{p} {s}");
    }
    assert!(wildcard("S3:GET*", "s3:getobject", true));
    // Many stars against a long string stay fast (no exponential back-tracking).
    assert!(!wildcard(&"*a".repeat(50), &"a".repeat(10_000).replace("aa", "ab"), false));
}

#[test]
fn conditions_on_transport_address_prefix_and_time() {
    let p = policy(
        r#"[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
            {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["home/*",""]},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","127.0.0.1/32"]}}},
            {"Effect":"Allow","Principal":"*","Action":"s3:GetBucketTagging","Resource":"arn:aws:s3:::b","Condition":{"DateLessThan":{"aws:CurrentTime":"2023-11-14T23:00:00Z"},"NumericGreaterThanEquals":{"aws:EpochTime":1700000000}}}]"#,
    );
    assert_eq!(p.decide(&facts(Some("OWNER"), "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Deny, "plain HTTP is refused to everyone");
    let mut tls = facts(Some("OWNER"), "s3:GetObject", "arn:aws:s3:::b/k");
    tls.secure = true;
    assert_eq!(p.decide(&tls), Decision::Silent);
    let mut list = facts(None, "s3:ListBucket", "arn:aws:s3:::b");
    assert_eq!(p.decide(&list), Decision::Silent, "a listing without a prefix has no s3:prefix");
    list.keys.push(("s3:prefix".into(), "home/ann/".into()));
    assert_eq!(p.decide(&list), Decision::Allow);
    list.source_ip = Some("192.168.1.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(p.decide(&list), Decision::Silent, "not from the allowed networks");
    list.source_ip = Some("::ffff:10.1.2.3".parse::<IpAddr>().expect("ip"));
    assert_eq!(p.decide(&list), Decision::Allow, "an IPv4 client on a dual-stack socket");
    list.keys[0].1 = "etc/".into();
    assert_eq!(p.decide(&list), Decision::Silent);
    let mut tags = facts(None, "s3:GetBucketTagging", "arn:aws:s3:::b");
    assert_eq!(p.decide(&tags), Decision::Allow, "1700000000 is 2023-11-14T22:13:20Z");
    tags.now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    assert_eq!(p.decide(&tags), Decision::Silent);
}

#[test]
fn missing_keys_fail_plain_operators_and_pass_negated_ifexists_and_null() {
    let cond = |c: &str| policy(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{c}}}"#));
    let put = |acl: Option<&str>| {
        let mut f = facts(Some("TEAM"), "s3:PutObject", "arn:aws:s3:::b/k");
        if let Some(a) = acl {
            f.keys.push(("s3:x-amz-acl".into(), a.into()));
        }
        f
    };
    let eq = cond(r#"{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#);
    assert_eq!(eq.decide(&put(Some("bucket-owner-full-control"))), Decision::Allow);
    assert_eq!(eq.decide(&put(Some("private"))), Decision::Silent);
    assert_eq!(eq.decide(&put(None)), Decision::Silent);
    let not = cond(r#"{"StringNotEquals":{"s3:x-amz-acl":"public-read"}}"#);
    assert_eq!(not.decide(&put(None)), Decision::Allow, "a negated operator holds for a missing key");
    assert_eq!(not.decide(&put(Some("public-read"))), Decision::Silent);
    let if_exists = cond(r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#);
    assert_eq!(if_exists.decide(&put(None)), Decision::Allow);
    assert_eq!(if_exists.decide(&put(Some("public-read"))), Decision::Silent);
    let null = cond(r#"{"Null":{"s3:x-amz-acl":"true"}}"#);
    assert_eq!(null.decide(&put(None)), Decision::Allow);
    assert_eq!(null.decide(&put(Some("private"))), Decision::Silent);
    let any_not = cond(r#"{"ForAnyValue:StringNotEquals":{"s3:x-amz-acl":"public-read"}}"#);
    assert_eq!(any_not.decide(&put(None)), Decision::Silent, "ForAnyValue: over a missing key never matches, negated or not");
    assert_eq!(any_not.decide(&put(Some("private"))), Decision::Allow);
    let all = cond(r#"{"ForAllValues:StringEquals":{"s3:x-amz-acl":"private"}}"#);
    assert_eq!(all.decide(&put(None)), Decision::Allow, "ForAllValues: over no values holds");
    let anon = cond(r#"{"StringEquals":{"aws:PrincipalType":"Anonymous"}}"#);
    assert_eq!(anon.decide(&put(None)), Decision::Silent);
    let mut a = put(None);
    a.principal = None;
    assert_eq!(anon.decide(&a), Decision::Allow);
}

#[test]
fn documents_s3_would_refuse_are_malformed() {
    let ok = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#;
    assert!(Policy::parse(&format!(r#"{{"Statement":[{ok}]}}"#), "b").is_ok());
    for (doc, why) in [
        ("not json", "not JSON"),
        ("[]", "must be a JSON object"),
        (r#"{"Version":"2012-10-17"}"#, "needs a Statement"),
        (r#"{"Version":"2020-01-01","Statement":[]}"#, "Version"),
        (r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#, "Effect"),
        (r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#, "neither Principal"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#, "invalid resource"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::b/*"}]}"#, "invalid action"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringSortOf":{"s3:prefix":"x"}}}]}"#, "unknown condition operator"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/99"}}}]}"#, "not a value"),
        (r#"{"Statement":[{"Effect":"Allow","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#, "NotPrincipal"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Extra":1}]}"#, "unknown field"),
        (r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"NumericLessThan":{"s3:TlsVersion":1.2}}}]}"#, "invalid condition key"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}]}"#, "policy variables"),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"${aws:username}/*"}}}]}"#, "policy variables"),
    ] {
        let e = Policy::parse(doc, "b").expect_err(doc);
        assert!(e.0.contains(why), "{doc}: {e}");
    }
    let huge = format!(r#"{{"Statement":[{ok}],"Id":"{}"}}"#, "x".repeat(MAX_POLICY_BYTES));
    assert!(Policy::parse(&huge, "b").expect_err("huge").0.contains("at most"));
    assert!(Policy::parse(&format!(r#"{{"Statement":[{}]}}"#, ok.replace("b/*", "*")), "b").is_ok(), "arn:aws:s3:::* names every bucket");
}

#[test]
fn a_policy_is_public_when_star_is_allowed_without_an_address_condition() {
    let open = policy(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#);
    assert!(open.is_public());
    let narrowed = policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#);
    assert!(!narrowed.is_public());
    let keys = policy(r#"{"Effect":"Allow","Principal":{"AWS":"TEAM"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#);
    assert!(!keys.is_public());
    for cond in [
        r#"{"IpAddress":{"aws:SourceIp":["0.0.0.0/0"]}}"#,
        r#"{"IpAddress":{"aws:SourceIp":["::ffff:0:0/96"]}}"#,
        r#"{"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}"#,
        r#"{"ForAllValues:StringEquals":{"aws:username":"TEAM"}}"#,
        r#"{"StringEqualsIfExists":{"aws:username":"TEAM"}}"#,
        r#"{"StringLike":{"aws:userid":"*"}}"#,
    ] {
        let p = policy(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{cond}}}"#));
        assert!(p.is_public(), "{cond} lets everyone in");
    }
    let named = policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:username":"TEAM"}}}"#);
    assert!(!named.is_public());
}

#[test]
fn ipv4_mapped_addresses_and_ranges_are_their_ipv4_selves() {
    let p = policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"::ffff:10.0.0.0/104"}}}"#);
    let mut f = facts(None, "s3:GetObject", "arn:aws:s3:::b/k");
    f.source_ip = Some("10.9.8.7".parse::<IpAddr>().expect("ip"));
    assert_eq!(p.decide(&f), Decision::Allow);
    f.source_ip = Some("::ffff:10.9.8.7".parse::<IpAddr>().expect("ip"));
    assert_eq!(p.decide(&f), Decision::Allow);
    f.source_ip = Some("11.0.0.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(p.decide(&f), Decision::Silent);
}

#[test]
fn an_unreadable_policy_stands_for_deny_all() {
    let p = Policy::deny_all();
    for who in [None, Some("OWNER")] {
        assert_eq!(p.decide(&facts(who, "s3:GetObject", "arn:aws:s3:::b/k")), Decision::Deny);
        assert_eq!(p.decide(&facts(who, "s3:ListBucket", "arn:aws:s3:::b")), Decision::Deny);
    }
}
