//! Access keys as principals, on a real `kintsugi server`: `kintsugi admin key create/list/
//! delete`, buckets owned by the key that made them, the admin API for admin keys only, and
//! all of it kept across a restart. The S3 side is driven by boto3 (`tests/s3/access.py`),
//! the aws cli and Kintsugi's own CLI.

mod common;

use std::process::{Command, Output};

use common::{scripts_dir, slot, Opts, Server};

/// A key made by `kintsugi admin key create`.
struct Key {
    ak: String,
    sk: String,
}

fn create_key(s: &Server, name: &str, admin: bool) -> Key {
    let mut args = vec!["key", "create", "--name", name];
    if admin {
        args.push("--admin");
    }
    let v = s.admin_json(&args);
    assert_eq!(v["name"], name, "{v}");
    assert_eq!(v["admin"], admin, "{v}");
    let ak = v["access_key"].as_str().expect("access_key").to_owned();
    let sk = v["secret_key"].as_str().expect("secret_key").to_owned();
    assert_eq!((ak.len(), sk.len()), (20, 40), "{v}");
    Key { ak, sk }
}

/// `cmd` signed with `key` instead of the server's root key.
fn as_key(mut cmd: Command, key: &Key) -> Command {
    cmd.env("AWS_ACCESS_KEY_ID", &key.ak).env("AWS_SECRET_ACCESS_KEY", &key.sk);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("running a client")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Run `tests/s3/<script>` signed with the server's root key (the keys a script uses are its
/// arguments); it must succeed.
fn script(s: &Server, script: &str, args: &[&str]) {
    let mut cmd = s.command("python3");
    cmd.arg(scripts_dir().join(script)).args(args).current_dir(scripts_dir());
    let out = run(cmd);
    assert!(out.status.success(), "{script} {args:?} failed:\n{}\n--- server log ---\n{}", text(&out), s.log_tail(40));
}

fn access_py(s: &Server, args: &[&str]) {
    script(s, "access.py", args);
}

#[test]
fn keys_are_principals_owning_their_buckets_and_only_admin_keys_administer() {
    let _g = slot();
    let mut s = Server::start(Opts::default());
    let team = create_key(&s, "team", false);
    let other = create_key(&s, "other", false);

    // The list names every key and never a secret.
    let listed = s.admin_json(&["key", "list"]);
    let keys = listed["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 3, "{listed}");
    let admin_of = |ak: &str| keys.iter().find(|k| k["access_key"] == ak).map(|k| k["admin"].clone());
    assert_eq!(admin_of(&s.access_key), Some(serde_json::Value::Bool(true)), "the root key is an admin key: {listed}");
    assert_eq!(admin_of(&team.ak), Some(serde_json::Value::Bool(false)), "{listed}");
    let raw = listed.to_string();
    assert!(!raw.contains(&team.sk) && !raw.contains(&s.secret_key), "key list shows a secret: {raw}");

    access_py(&s, &["matrix", &team.ak, &team.sk, &other.ak, &other.sk]);

    // Kintsugi's CLI and the aws cli see the same rules.
    let ls = run(as_key(s.kintsugi(&["ls"]), &team));
    assert!(ls.status.success(), "{}", text(&ls));
    let out = String::from_utf8_lossy(&ls.stdout);
    assert!(out.contains("team-b") && !out.contains("root-b") && !out.contains("other-b"), "team's `kintsugi ls`: {out}");
    let mut aws = s.command("aws");
    aws.args(["--endpoint-url", &s.endpoint, "s3", "cp", "s3://root-b/secret.txt", "-"]);
    let got = run(as_key(aws, &team));
    assert!(!got.status.success() && !String::from_utf8_lossy(&got.stdout).contains("the admin's"), "aws cli read another's object: {}", text(&got));
    assert!(text(&got).contains("403") || text(&got).contains("AccessDenied") || text(&got).contains("Forbidden"), "{}", text(&got));

    // Only admin keys use the admin API, whatever the call.
    for args in [&["admin", "status"][..], &["admin", "key", "list"], &["admin", "key", "create", "--name", "sneaky", "--admin"], &["admin", "key", "delete", &other.ak]] {
        let o = run(as_key(s.kintsugi(args), &team));
        assert!(!o.status.success(), "a plain key ran `kintsugi {}`: {}", args.join(" "), text(&o));
        assert!(text(&o).contains("not an admin key"), "`kintsugi {}` as team: {}", args.join(" "), text(&o));
    }
    assert_eq!(s.admin_json(&["key", "list"])["keys"].as_array().map(Vec::len), Some(3), "the refused calls changed no key");
    let (code, _) = s.http_get("/kintsugi-admin/v1/status").expect("unsigned admin call");
    assert_eq!(code, 403, "an unsigned admin call");

    // A second admin key administers; the last admin key cannot be deleted.
    let ops = create_key(&s, "ops", true);
    let st = run(as_key(s.kintsugi(&["admin", "status", "--json"]), &ops));
    assert!(st.status.success(), "the new admin key: {}", text(&st));
    s.admin_json(&["key", "delete", &ops.ak]);
    let last = run(s.kintsugi(&["admin", "key", "delete", &s.access_key]));
    assert!(!last.status.success() && text(&last).contains("last admin key"), "deleting the last admin key: {}", text(&last));
    let nope = run(s.kintsugi(&["admin", "key", "delete", "AKNOSUCHKEY000000000"]));
    assert!(!nope.status.success() && text(&nope).contains("no access key"), "{}", text(&nope));

    // Deleting a key stops it at once; keys and owners survive a restart.
    s.admin_json(&["key", "delete", &team.ak]);
    access_py(&s, &["still", &other.ak, &other.sk, &team.ak, &team.sk]);
    s.restart();
    access_py(&s, &["still", &other.ak, &other.sk, &team.ak, &team.sk]);
    assert_eq!(s.admin_json(&["key", "list"])["keys"].as_array().map(Vec::len), Some(2), "root and other remain");
}

/// Bucket policies (tests/s3/policy.py with boto3 and unsigned HTTP; the aws cli here): a
/// plain key's bucket opened to another key and to anonymous callers, an explicit Deny that
/// binds its owner, and a policy kept across a restart.
#[test]
fn bucket_policies_grant_deny_and_open_buckets_to_anonymous_callers() {
    let _g = slot();
    let mut s = Server::start(Opts::default());
    let owner = create_key(&s, "owner", false);
    let team = create_key(&s, "team", false);
    script(&s, "policy.py", &["rules", "pol", &owner.ak, &owner.sk, &team.ak, &team.sk]);
    script(&s, "policy.py", &["controls", "ctl", &owner.ak, &owner.sk, &team.ak, &team.sk]);
    script(&s, "policy.py", &["versions", "polv", &owner.ak, &owner.sk, &team.ak, &team.sk]);
    script(&s, "policy.py", &["lock", "poll", &owner.ak, &owner.sk, &team.ak, &team.sk]);

    // The aws cli sets and reads a policy; a public object is served to an unsigned GET,
    // also after a restart.
    let aws = |args: &[&str], key: &Key| run(as_key(s.aws(args), key));
    let o = aws(&["s3", "mb", "s3://pol-cli"], &owner);
    assert!(o.status.success(), "{}", text(&o));
    let src = s.scratch().join("pol-cli-src");
    std::fs::write(&src, b"public bytes").expect("write");
    let o = aws(&["s3", "cp", &src.display().to_string(), "s3://pol-cli/open/x"], &owner);
    assert!(o.status.success(), "{}", text(&o));
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol-cli/open/*"}]}"#;
    let o = aws(&["s3api", "put-bucket-policy", "--bucket", "pol-cli", "--policy", policy], &owner);
    assert!(o.status.success(), "aws s3api put-bucket-policy: {}", text(&o));
    let o = aws(&["s3api", "get-bucket-policy", "--bucket", "pol-cli", "--output", "json"], &owner);
    assert!(o.status.success() && text(&o).contains("pol-cli/open/*"), "aws s3api get-bucket-policy: {}", text(&o));
    let o = aws(&["s3api", "get-bucket-policy", "--bucket", "pol-cli"], &team);
    assert!(!o.status.success() && text(&o).contains("AccessDenied"), "another key read the policy: {}", text(&o));
    for when in ["before a restart", "after a restart"] {
        let (code, body) = s.http_get("/pol-cli/open/x").expect("unsigned GET");
        assert_eq!((code, body.as_str()), (200, "public bytes"), "an unsigned GET of a public object {when}");
        let (code, _) = s.http_get("/pol-cli/").expect("unsigned listing");
        assert_eq!(code, 403, "an unsigned listing {when}");
        if when.starts_with("before") {
            s.restart();
        }
    }
}

/// ACLs (tests/s3/acl.py with boto3 and unsigned requests; the aws cli here): canned ACLs and
/// grants to keys on buckets, objects and versions, objects owned by their writers, and the
/// switches that turn grants off; a grant is kept across a restart.
#[test]
fn acls_grant_buckets_objects_and_versions_to_keys_and_to_everyone() {
    let _g = slot();
    let mut s = Server::start(Opts::default());
    let owner = create_key(&s, "owner", false);
    let team = create_key(&s, "team", false);
    script(&s, "acl.py", &["grants", "acl", &owner.ak, &owner.sk, &team.ak, &team.sk]);

    // The aws cli makes an object public and reads its ACL back; an unsigned GET reads it,
    // also after a restart, and an unsigned listing of the private bucket is refused.
    let aws = |args: &[&str], key: &Key| run(as_key(s.aws(args), key));
    let o = aws(&["s3", "mb", "s3://acl-cli"], &owner);
    assert!(o.status.success(), "{}", text(&o));
    let src = s.scratch().join("acl-cli-src");
    std::fs::write(&src, b"granted bytes").expect("write");
    let o = aws(&["s3", "cp", &src.display().to_string(), "s3://acl-cli/x"], &owner);
    assert!(o.status.success(), "{}", text(&o));
    let (code, _) = s.http_get("/acl-cli/x").expect("unsigned GET");
    assert_eq!(code, 403, "an unsigned GET of a private object");
    let o = aws(&["s3api", "put-object-acl", "--bucket", "acl-cli", "--key", "x", "--acl", "public-read"], &owner);
    assert!(o.status.success(), "aws s3api put-object-acl: {}", text(&o));
    let o = aws(&["s3api", "get-object-acl", "--bucket", "acl-cli", "--key", "x", "--output", "json"], &owner);
    assert!(o.status.success() && text(&o).contains("groups/global/AllUsers"), "aws s3api get-object-acl: {}", text(&o));
    let o = aws(&["s3api", "put-bucket-acl", "--bucket", "acl-cli", "--grant-read", &format!("id={}", team.ak)], &owner);
    assert!(o.status.success(), "aws s3api put-bucket-acl --grant-read: {}", text(&o));
    for when in ["before a restart", "after a restart"] {
        let (code, body) = s.http_get("/acl-cli/x").expect("unsigned GET");
        assert_eq!((code, body.as_str()), (200, "granted bytes"), "an unsigned GET of a public-read object {when}");
        let (code, _) = s.http_get("/acl-cli/").expect("unsigned listing");
        assert_eq!(code, 403, "an unsigned listing {when}");
        let o = run(as_key(s.aws(&["s3", "ls", "s3://acl-cli/"]), &team));
        assert!(o.status.success() && text(&o).contains(" x"), "the team key lists through its READ grant {when}: {}", text(&o));
        if when.starts_with("before") {
            s.restart();
        }
    }
}
