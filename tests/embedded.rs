//! Real-process tests of the embedded store (`kintsugi server`), driven with
//! boto3 (scripts in `tests/s3/`), the aws cli, rclone and s3cmd.
//!
//! Every test starts its own server on temp dirs and a free port, so tests run
//! side by side, two at a time (`common::slot`, `KINTSUGI_TEST_JOBS`).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{files_under, poll, pseudo_random, slot, shard_id, Opts, RssSampler, Server, KIB, MIB};

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn md5_raw(data: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    Md5::digest(data).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// S3 multipart ETag of `data` cut in `part`-byte parts.
fn multipart_etag(data: &[u8], part: usize) -> String {
    let md5s: Vec<u8> = data.chunks(part).flat_map(md5_raw).collect();
    format!("{}-{}", md5_hex(&md5s), data.len().div_ceil(part))
}

fn elapsed(t: Instant, what: &str) {
    eprintln!("[timing] {what}: {:.1}s", t.elapsed().as_secs_f64());
}

/// Objects with seeds for `data.py`; keys name their size.
fn objects(prefix: &str, sizes: &[u64]) -> Vec<(String, u64, u64)> {
    sizes.iter().enumerate().map(|(i, &n)| (format!("{prefix}/{i:02}-{n}"), 100 + i as u64, n)).collect()
}

/// `RESULT <key> <outcome>` lines printed by `data.py verify-unavailable`.
fn results(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

// ---------------------------------------------------------------- boto3 ---

#[test]
fn boto3_round_trips_sizes_ranges_metadata_copy_multipart() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::small_chunks());
    s.py("roundtrip.py", &["roundtrip", &(256 * KIB).to_string()]);
    s.assert_tree_clean("after the round trips");
    elapsed(t, "boto3 round trips");
}

#[test]
fn boto3_listing_1500_keys_v2_and_v1_paging() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("listing.py", &["listing"]);
    elapsed(t, "listing");
}

// ----------------------------------------------------------- other tools ---

#[test]
fn aws_cli_cp_ls_head_object() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    let dir = s.scratch();
    let big = pseudo_random(11, (20 * MIB + 12345) as usize);
    let up = dir.join("big.bin");
    fs::write(&up, &big).expect("writing upload file");
    fs::write(dir.join("small.txt"), b"hello from the aws cli\n").expect("writing small file");

    let aws = |args: &[&str]| {
        let mut c = s.command("aws");
        c.arg("--endpoint-url").arg(&s.endpoint).args(args);
        s.run_ok(c, &format!("aws {}", args.join(" ")))
    };
    aws(&["s3", "mb", "s3://aws-bucket"]);
    aws(&["s3", "cp", "--no-progress", up.to_str().expect("utf-8 path"), "s3://aws-bucket/dir/big.bin"]);
    aws(&["s3", "cp", "--no-progress", dir.join("small.txt").to_str().expect("utf-8 path"), "s3://aws-bucket/small.txt"]);

    let ls = aws(&["s3", "ls", "s3://aws-bucket/dir/"]);
    assert!(
        ls.lines().any(|l| l.ends_with(" big.bin") && l.split_whitespace().nth(2) == Some(&big.len().to_string())),
        "aws s3 ls does not show big.bin with its size {}:\n{ls}",
        big.len()
    );
    let ls_root = aws(&["s3", "ls", "s3://aws-bucket/"]);
    assert!(ls_root.contains("PRE dir/") && ls_root.contains("small.txt"), "aws s3 ls of the bucket root:\n{ls_root}");
    let buckets = aws(&["s3", "ls"]);
    assert!(buckets.contains("aws-bucket"), "aws s3 ls (buckets):\n{buckets}");

    let head = aws(&["s3api", "head-object", "--bucket", "aws-bucket", "--key", "dir/big.bin"]);
    let v: serde_json::Value = serde_json::from_str(&head).expect("head-object prints JSON");
    assert_eq!(v["ContentLength"].as_u64(), Some(big.len() as u64), "head-object ContentLength: {head}");
    // The aws cli uploads files over 8 MiB in 8 MiB parts.
    let want_etag = format!("\"{}\"", multipart_etag(&big, 8 * MIB as usize));
    assert_eq!(v["ETag"].as_str(), Some(want_etag.as_str()), "head-object ETag (multipart, 8 MiB parts): {head}");

    let down = dir.join("down.bin");
    aws(&["s3", "cp", "--no-progress", "s3://aws-bucket/dir/big.bin", down.to_str().expect("utf-8 path")]);
    let got = fs::read(&down).expect("reading downloaded file");
    assert!(got == big, "aws s3 cp download differs: {} bytes vs {} (md5 {} vs {})", got.len(), big.len(), md5_hex(&got), md5_hex(&big));

    aws(&["s3", "rm", "s3://aws-bucket/small.txt"]);
    let ls_root = aws(&["s3", "ls", "s3://aws-bucket/"]);
    assert!(!ls_root.contains("small.txt"), "small.txt still listed after aws s3 rm:\n{ls_root}");
    elapsed(t, "aws cli");
}

/// Files of a small directory tree: (relative path, contents).
fn sample_tree() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.txt", b"alpha\n".to_vec()),
        ("empty.txt", Vec::new()),
        ("sub/b.bin", pseudo_random(21, MIB as usize)),
        ("sub/deeper/c.bin", pseudo_random(22, (3 * MIB + 5) as usize)),
        ("sub/deeper/space name.txt", b"spaces and unicode \xc3\xa9\n".to_vec()),
    ]
}

fn write_tree(dir: &Path, tree: &[(&str, Vec<u8>)]) {
    for (rel, data) in tree {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, data).expect("writing tree file");
    }
}

fn assert_tree_eq(dir: &Path, tree: &[(&str, Vec<u8>)], what: &str) {
    let got: BTreeSet<PathBuf> = files_under(dir).into_iter().map(|p| p.strip_prefix(dir).expect("under").to_path_buf()).collect();
    let want: BTreeSet<PathBuf> = tree.iter().map(|(r, _)| PathBuf::from(r)).collect();
    assert_eq!(got, want, "{what}: file set");
    for (rel, data) in tree {
        let b = fs::read(dir.join(rel)).expect("reading downloaded file");
        assert!(&b == data, "{what}: {rel} differs ({} bytes vs {})", b.len(), data.len());
    }
}

#[test]
fn rclone_copy_up_and_back_and_check() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    let dir = s.scratch();
    let (src, back) = (dir.join("src"), dir.join("back"));
    let tree = sample_tree();
    write_tree(&src, &tree);
    let rclone_cmd = |args: &[&str]| {
        let mut c = s.rclone();
        c.args(args);
        c
    };
    let rclone = |args: &[&str]| s.run_ok(rclone_cmd(args), &format!("rclone {}", args.join(" ")));
    let p = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    rclone(&["mkdir", "k:rclone-bucket"]);
    rclone(&["copy", &p(&src), "k:rclone-bucket/data"]);
    rclone(&["check", &p(&src), "k:rclone-bucket/data"]);
    let listed = rclone(&["lsf", "-R", "--files-only", "k:rclone-bucket/data"]);
    let listed: BTreeSet<&str> = listed.lines().collect();
    let want: BTreeSet<&str> = tree.iter().map(|(r, _)| *r).collect();
    assert_eq!(listed, want, "rclone lsf -R");
    rclone(&["copy", "k:rclone-bucket/data", &p(&back)]);
    assert_tree_eq(&back, &tree, "rclone copy back");
    // check must notice a difference, or it proves nothing.
    fs::write(src.join("a.txt"), b"changed\n").expect("modifying a.txt");
    let out = rclone_cmd(&["check", &p(&src), "k:rclone-bucket/data"]).output().expect("running rclone check");
    assert!(!out.status.success(), "rclone check did not notice a changed file");
    elapsed(t, "rclone");
}

#[test]
fn s3cmd_put_get_ls() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    let dir = s.scratch();
    let host = format!("127.0.0.1:{}", s.port);
    let cfg = dir.join("s3cfg");
    fs::write(
        &cfg,
        format!(
            "[default]\naccess_key = {ak}\nsecret_key = {sk}\nhost_base = {host}\nhost_bucket = {host}\n\
             use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n",
            ak = s.access_key,
            sk = s.secret_key
        ),
    )
    .expect("writing s3cmd config");
    let small = pseudo_random(31, 100_000);
    let big = pseudo_random(32, (20 * MIB + 3) as usize); // s3cmd goes multipart above 15 MiB
    fs::write(dir.join("small.bin"), &small).expect("write");
    fs::write(dir.join("big.bin"), &big).expect("write");
    let s3cmd = |args: &[&str]| {
        let mut c = s.command("s3cmd");
        c.arg("-c").arg(&cfg).args([
            &format!("--host={host}"),
            "--host-bucket=",
            "--no-ssl",
            &format!("--access_key={}", s.access_key),
            &format!("--secret_key={}", s.secret_key),
            "--region=us-east-1",
        ]);
        c.args(args).env("HOME", &dir);
        let out = c.output().expect("running s3cmd");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // s3cmd retries failed requests on its own (not configurable in 2.x): a retry is a failure here.
        assert!(
            out.status.success() && !stderr.contains("Retrying"),
            "s3cmd {} failed ({}):\n{stdout}\n{stderr}",
            args.join(" "),
            out.status
        );
        stdout.into_owned()
    };
    let p = |n: &str| dir.join(n).to_str().expect("utf-8 path").to_owned();
    s3cmd(&["mb", "s3://s3cmd-bucket"]);
    s3cmd(&["put", &p("small.bin"), "s3://s3cmd-bucket/small.bin"]);
    s3cmd(&["put", &p("big.bin"), "s3://s3cmd-bucket/sub/big.bin"]);
    let ls = s3cmd(&["ls", "-r", "s3://s3cmd-bucket"]);
    for (name, len) in [("s3://s3cmd-bucket/small.bin", small.len()), ("s3://s3cmd-bucket/sub/big.bin", big.len())] {
        assert!(
            ls.lines().any(|l| l.ends_with(name) && l.split_whitespace().any(|w| w == len.to_string())),
            "s3cmd ls -r does not list {name} with size {len}:\n{ls}"
        );
    }
    s3cmd(&["get", "--force", "s3://s3cmd-bucket/small.bin", &p("small.back")]);
    s3cmd(&["get", "--force", "s3://s3cmd-bucket/sub/big.bin", &p("big.back")]);
    assert!(fs::read(p("small.back")).expect("read") == small, "s3cmd get small.bin differs");
    assert!(fs::read(p("big.back")).expect("read") == big, "s3cmd get big.bin differs");
    s3cmd(&["del", "s3://s3cmd-bucket/small.bin"]);
    let ls = s3cmd(&["ls", "-r", "s3://s3cmd-bucket"]);
    assert!(!ls.contains("small.bin"), "small.bin still listed after s3cmd del:\n{ls}");
    elapsed(t, "s3cmd");
}

// ------------------------------------------------------- auth, bad input ---

#[test]
fn auth_wrong_secret_unknown_key_anonymous_presigned_malformed_xml() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("auth.py", &["auth-bucket"]);
    elapsed(t, "auth");
}

/// Browser POST uploads signed with boto3's generate_presigned_post, posted as a browser does
/// (tests/s3/post.py): stored with their fields; a wrong key, size, expiry or signature stores
/// nothing.
#[test]
fn browser_post_uploads_store_what_their_signed_policy_allows() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("post.py", &["posted"]);
    elapsed(t, "post");
}

/// Additional checksums verified on a PUT are kept and answered; a multipart upload with a
/// checksum algorithm keeps its parts' and makes the object's (tests/s3/checksums.py).
#[test]
fn verified_checksums_are_kept_and_answered_on_put_get_head_copy_and_attributes() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("checksums.py", &["sums"]);
    s.py("checksums.py", &["mpsums", "multipart"]);
    elapsed(t, "checksums");
}

#[test]
fn aws_chunked_streaming_uploads_signed_and_trailer() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("chunked.py", &["chunked"]);
    elapsed(t, "aws-chunked");
}

/// boto3 after an empty PUT: see tests/s3/empty_put.py.
#[test]
fn boto3_put_after_an_empty_put_on_the_same_connection_does_not_stall() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("empty_put.py", &["empty-put"]);
    elapsed(t, "empty PUT then PUT");
}

/// A signed request after a PUT answered early (404/403/400, body never sent) on the same
/// connection is never refused: see tests/s3/expect_reuse.py. 3,000 rounds with a raw
/// HTTP/1.1 client and 3,000 with boto3.
#[test]
fn signed_request_after_an_early_answer_on_the_same_connection_is_never_refused() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("expect_reuse.py", &["expect-reuse", "3000"]);
    elapsed(t, "early answers then reuse");
}

/// A PUT answered before its body was read (here: its bucket does not exist) gets that
/// answer, not a broken pipe: the server reads away the rest of the body (up to 64 MiB)
/// instead of closing the connection under a client that is still sending it. Our CLI sends
/// the body at once (no `Expect: 100-continue`), as many S3 clients do.
#[test]
fn a_put_refused_before_its_body_is_read_gets_the_answer_not_a_broken_pipe() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    let f = s.scratch().join("refused");
    fs::write(&f, pseudo_random(78, 24 * MIB as usize)).expect("writing test file");
    let f = f.to_str().expect("utf-8 path");
    for round in 0..5 {
        let out = s
            .command(common::BIN)
            .args(["put", "-q", f, "s3://no-such-bucket/k", "--part-size", "64MiB", "--endpoint", &s.endpoint])
            .output()
            .expect("running kintsugi put");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "round {round}: a PUT into a missing bucket succeeded");
        assert!(err.contains("NoSuchBucket"), "round {round}: the client did not get the answer: {err}");
    }
    assert!(s.is_running(), "server died");
    elapsed(t, "PUTs refused before their body was read");
}

/// Conditional reads, writes (If-None-Match: `*`, If-Match on PUT and completion), copy-source
/// conditions and UploadPartCopy, with boto3 and the aws cli; then a compare-and-swap counter
/// and a create race that only atomic conditional commits pass. See tests/s3/conditional.py.
/// Then what is not built yet (SSE, object lock where the bucket has none, partNumber of a multipart object)
/// is refused and stores nothing: tests/s3/corners.py. Listing details, request ids and a
/// repeated completion: tests/s3/answers.py.
#[test]
fn conditional_reads_writes_and_copies() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("conditional.py", &["reads", "conditional"]);
    s.py("conditional.py", &["writes", "cond-writes"]);
    s.py("conditional.py", &["counter", "cond-count", "n", "6", "8", &s.endpoint]);
    s.py("corners.py", &["corners"]);
    s.py("answers.py", &["answers"]);
    // The aws cli: a copy-source condition and a ranged part copy.
    let src = s.scratch().join("cli-src");
    std::fs::write(&src, common::pseudo_random(5, 6 << 20)).expect("write source");
    s.run_ok(s.aws(&["s3", "cp", src.to_str().expect("utf-8"), "s3://cond-writes/cli-src"]), "aws s3 cp");
    let refused = s.aws(&["s3api", "copy-object", "--bucket", "cond-writes", "--key", "cli-copy", "--copy-source", "cond-writes/cli-src", "--copy-source-if-none-match", "*"]).output().expect("aws");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("PreconditionFailed"), "aws copy-object --copy-source-if-none-match '*': {err}");
    let up = s.run_ok(s.aws(&["s3api", "create-multipart-upload", "--bucket", "cond-writes", "--key", "cli-mp", "--query", "UploadId", "--output", "text"]), "aws create-multipart-upload");
    let up = up.trim();
    let part = s.run_ok(
        s.aws(&["s3api", "upload-part-copy", "--bucket", "cond-writes", "--key", "cli-mp", "--upload-id", up, "--part-number", "1", "--copy-source", "cond-writes/cli-src", "--copy-source-range", "bytes=1-1000", "--query", "CopyPartResult.ETag", "--output", "text"]),
        "aws upload-part-copy",
    );
    let parts = format!(r#"{{"Parts":[{{"PartNumber":1,"ETag":{}}}]}}"#, part.trim());
    s.run_ok(s.aws(&["s3api", "complete-multipart-upload", "--bucket", "cond-writes", "--key", "cli-mp", "--upload-id", up, "--multipart-upload", &parts]), "aws complete");
    let back = s.scratch().join("cli-back");
    s.run_ok(s.aws(&["s3", "cp", "s3://cond-writes/cli-mp", back.to_str().expect("utf-8")]), "aws s3 cp back");
    assert_eq!(std::fs::read(&back).expect("read back"), common::pseudo_random(5, 6 << 20)[1..1001].to_vec(), "the part copied bytes 1-1000");
    elapsed(t, "conditional requests");
}

/// Object and bucket tagging with boto3 and the aws cli (tests/s3/tagging.py), kept across a
/// restart.
#[test]
fn tags_of_objects_and_buckets_follow_s3_and_survive_a_restart() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    s.py("tagging.py", &["set", "tags"]);
    let out = s.run_ok(s.aws(&["s3api", "get-object-tagging", "--bucket", "tags", "--key", "kept", "--output", "json"]), "aws get-object-tagging");
    assert!(out.contains("\"keep\"") && out.contains("\"me\""), "aws cli reads the tags: {out}");
    s.run_ok(s.aws(&["s3api", "put-object-tagging", "--bucket", "tags", "--key", "obj", "--tagging", "TagSet=[{Key=cli,Value=yes}]"]), "aws put-object-tagging");
    let out = s.run_ok(s.aws(&["s3api", "get-object-tagging", "--bucket", "tags", "--key", "obj", "--output", "json"]), "aws get-object-tagging");
    assert!(out.contains("\"cli\"") && out.contains("\"yes\""), "tags set by the aws cli: {out}");
    s.restart();
    s.py("tagging.py", &["still", "tags"]);
    elapsed(t, "tagging");
}

/// Bucket versioning with boto3 and the aws cli (tests/s3/versioning.py): versions kept,
/// read, listed, paged and deleted as S3 does, across a restart.
#[test]
fn versions_are_kept_listed_and_deleted_as_s3_does_and_survive_a_restart() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    s.py("versioning.py", &["set", "vers"]);
    let out = s.run_ok(s.aws(&["s3api", "list-object-versions", "--bucket", "vers", "--prefix", "kept", "--output", "json"]), "aws list-object-versions");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let listed: Vec<(&str, &str)> = v["Versions"].as_array().expect("versions").iter().filter_map(|x| Some((x["VersionId"].as_str()?, x["ETag"].as_str()?))).collect();
    assert_eq!(listed.len(), 3, "{out}");
    assert_eq!(listed[2].0, "null", "{out}");
    let back = s.scratch().join("v-older");
    s.run_ok(s.aws(&["s3api", "get-object", "--bucket", "vers", "--key", "kept", "--version-id", listed[1].0, back.to_str().expect("utf-8")]), "aws get-object --version-id");
    let bytes = std::fs::read(&back).expect("read back");
    assert_eq!((bytes.len(), format!("\"{}\"", md5_hex(&bytes))), (1 << 20, listed[1].1.to_owned()), "the aws cli reads the older version as listed");
    let out = s.run_ok(s.aws(&["s3api", "get-bucket-versioning", "--bucket", "vers", "--output", "json"]), "aws get-bucket-versioning");
    assert!(out.contains("\"Enabled\""), "{out}");
    // rclone lists the older versions of `kept` beside it, named by their time.
    let mut cmd = s.rclone();
    cmd.args(["lsf", "--s3-versions", "--include", "kept*", "k:vers"]);
    let out = s.run_ok(cmd, "rclone lsf --s3-versions");
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"kept") && names.iter().filter(|n| n.starts_with("kept-v")).count() >= 1, "rclone sees the versions of kept: {out}");
    s.restart();
    s.py("versioning.py", &["still", "vers"]);
    elapsed(t, "versioning");
}

/// Object lock with boto3 and the aws cli (tests/s3/object_lock.py): retention, legal holds,
/// the bypass and the default retention refuse deletes as S3 does, and still do after a
/// restart.
#[test]
fn locked_versions_refuse_deletion_as_s3_does_and_stay_locked_across_a_restart() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    let out = s.py("object_lock.py", &["set", "locked"]);
    let comp = out.lines().find_map(|l| l.strip_prefix("ids ")).and_then(|l| l.split_whitespace().nth(1)).expect("ids line").to_owned();
    let out = s.run_ok(s.aws(&["s3api", "get-object-retention", "--bucket", "locked", "--key", "comp", "--version-id", &comp, "--output", "json"]), "aws get-object-retention");
    assert!(out.contains("\"COMPLIANCE\""), "{out}");
    let out = s.run_ok(s.aws(&["s3api", "get-object-lock-configuration", "--bucket", "locked", "--output", "json"]), "aws get-object-lock-configuration");
    assert!(out.contains("\"GOVERNANCE\"") && out.contains("\"Enabled\""), "{out}");
    let refused = s.aws(&["s3api", "delete-object", "--bucket", "locked", "--key", "comp", "--version-id", &comp, "--bypass-governance-retention"]).output().expect("aws");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("AccessDenied"), "the aws cli deleted a COMPLIANCE version: {err}");
    s.restart();
    s.py("object_lock.py", &["still", "locked"]);
    elapsed(t, "object lock");
}

/// Bucket lifecycle with boto3 and the aws cli (tests/s3/lifecycle.py): configurations
/// checked and read back as S3 does, then carried out by the lifecycle worker on a two-second
/// day — expiration with filters, noncurrent versions, lone delete markers, unfinished uploads,
/// object lock holding a version — counted in `admin status` and `/metrics`.
#[test]
fn lifecycle_rules_are_kept_and_carried_out_on_a_short_day() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts { flags: vec!["--lifecycle-day=2s".into(), "--lifecycle-interval=500ms".into()], ..Opts::default() });
    s.py("lifecycle.py", &["rules", "lc-rules"]);
    s.run_ok(s.aws(&["s3", "mb", "s3://lc-cli"]), "aws s3 mb");
    let cfg = r#"{"Rules":[{"ID":"cli","Status":"Enabled","Filter":{"Prefix":"x/"},"Expiration":{"Days":90}}]}"#;
    s.run_ok(s.aws(&["s3api", "put-bucket-lifecycle-configuration", "--bucket", "lc-cli", "--lifecycle-configuration", cfg]), "aws put-bucket-lifecycle-configuration");
    let out = s.run_ok(s.aws(&["s3api", "get-bucket-lifecycle-configuration", "--bucket", "lc-cli", "--output", "json"]), "aws get-bucket-lifecycle-configuration");
    assert!(out.contains("\"cli\"") && out.contains("\"Days\": 90"), "aws cli reads the rules: {out}");
    s.py("lifecycle.py", &["expire", "lc-run"]);
    let st = s.admin_json(&["status"]);
    let lc = &st["lifecycle"];
    assert!(lc["buckets"].as_u64() >= Some(4), "buckets with rules: {lc:#}");
    assert!(lc["expired_current"].as_u64() >= Some(3) && lc["expired_noncurrent"].as_u64() >= Some(3), "{lc:#}");
    assert!(lc["delete_markers_removed"].as_u64() >= Some(1) && lc["uploads_aborted"].as_u64() >= Some(1), "{lc:#}");
    assert!(lc["held_by_lock"].as_u64() >= Some(1), "object lock held a version: {lc:#}");
    assert!(s.metric("kintsugi_lifecycle_expired_total{action=\"current\"}") >= 3.0);
    assert!(s.metric("kintsugi_lifecycle_expired_total{action=\"upload\"}") >= 1.0);
    let text = s.run_ok(s.kintsugi(&["admin", "status"]), "kintsugi admin status");
    assert!(text.contains("lifecycle:") && text.contains("upload(s) aborted"), "{text}");
    elapsed(t, "lifecycle");
}

/// Small objects are kept with the metadata (tests/s3/inline.py): every size around the
/// inline limit reads back through every path that writes or reads bytes; no shard file holds
/// an inline object's bytes and the metadata does; `stat`, `admin status`, the ledger's
/// recount and `/metrics` say so; all of it survives kill -9. Started again with
/// `--inline-max 0`, new small objects are coded and the inline ones still read.
#[test]
fn small_objects_are_kept_with_the_metadata() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    s.py("inline.py", &["write", "inl"]);
    // A marker inside random bytes (which no compression folds away).
    let marker = format!("KINTSUGI-INLINE-{}", common::random_string(12));
    let mut body = common::pseudo_random(5, 8000);
    body[4000..4000 + marker.len()].copy_from_slice(marker.as_bytes());
    let src = s.scratch().join("marked");
    fs::write(&src, &body).expect("write source");
    let src = src.to_string_lossy().into_owned();
    s.run_ok(s.aws(&["s3", "cp", &src, "s3://inl/marked"]), "aws s3 cp");
    assert_eq!(files_holding(&s.shard_files(), marker.as_bytes()), 0, "an inline object's bytes are on no disk");
    assert!(files_holding(&common::files_under(&s.meta_dir()), marker.as_bytes()) > 0, "an inline object's bytes are in the metadata");
    let stat = s.run_ok(s.kintsugi(&["stat", "s3://inl/marked"]), "kintsugi stat");
    assert!(stat.contains("kept with the metadata (inline, no shards), ok"), "{stat}");
    let st = s.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["recount"]["matches"], true, "the ledger and a recount disagree: {st:#}");
    let inline = st["ledger"]["inline_segments"].as_u64().unwrap_or(0);
    // obj-1..obj-16384 (5, one deleted), copy-4096, mpu-copy, shrank, sse, 2 versions, marked.
    assert_eq!(inline, 11, "inline objects in the ledger: {st:#}");
    assert!(s.metric("kintsugi_inline_writes_total") >= 14.0, "every small PUT wrote inline");
    assert_eq!(s.metric("kintsugi_inline_objects"), 11.0);
    let text = s.run_ok(s.kintsugi(&["admin", "status"]), "kintsugi admin status");
    assert!(text.contains("small objects:   11 kept with the metadata"), "{text}");
    s.kill9();
    s.restart();
    s.py("inline.py", &["still", "inl"]);
    let back = s.scratch().join("marked.back");
    s.run_ok(s.aws(&["s3", "cp", "s3://inl/marked", &back.to_string_lossy()]), "aws s3 cp back");
    assert_eq!(fs::read(&back).expect("read back"), body, "the marked object after kill -9");
    // Without inline objects: a new small object is coded; the inline ones still read.
    s.add_flags(&["--inline-max", "0"]);
    s.restart();
    s.run_ok(s.aws(&["s3", "cp", &src, "s3://inl/coded"]), "aws s3 cp");
    let stat = s.run_ok(s.kintsugi(&["stat", "s3://inl/coded"]), "kintsugi stat");
    assert!(stat.contains("6/6 shards healthy") && !stat.contains("inline"), "{stat}");
    s.py("inline.py", &["still", "inl"]);
    assert_eq!(s.admin_json(&["repair", "status", "--recount"])["recount"]["matches"], true);
    elapsed(t, "inline");
}

/// How many of `files` hold `needle`.
fn files_holding(files: &[PathBuf], needle: &[u8]) -> usize {
    files.iter().filter(|f| fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))).count()
}

/// Server-side encryption with boto3 and the aws cli (tests/s3/sse.py), over HTTPS as SSE-C
/// requires: SSE-S3, SSE-C and default bucket encryption on every write and read path, refused
/// as S3 refuses — and no shard on any disk holds a byte of the plaintext, while a plain
/// object's shards do. Still readable after a restart. A plain-HTTP server refuses every
/// request that carries a customer key.
#[test]
fn encrypted_objects_read_back_and_their_shards_hold_only_ciphertext() {
    let _g = slot();
    let t = Instant::now();
    let marker = format!("KINTSUGI-SECRET-{}", common::random_string(12));
    let plain = Server::start(Opts::default());
    plain.py("sse.py", &["plain", "sse-p", &marker]);
    drop(plain);
    let pki = tempfile::tempdir().expect("pki dir");
    let cert = common::tls::self_signed(pki.path(), "sse");
    let mut s = Server::start(Opts { flags: cert.flags(), ..Opts::default() });
    assert!(s.endpoint.starts_with("https://"), "{}", s.endpoint);
    s.py("sse.py", &["write", "sse-b", &marker]);
    // The aws cli's own SSE flags.
    let src = s.scratch().join("cli-src");
    fs::write(&src, marker.repeat(5000)).expect("write source");
    let key_file = s.scratch().join("sse-c.key");
    fs::write(&key_file, [9u8; 32]).expect("write key");
    let key_arg = format!("fileb://{}", key_file.display());
    s.run_ok(s.aws(&["s3", "cp", src.to_str().expect("utf-8"), "s3://sse-b/cli-s3", "--sse", "AES256"]), "aws s3 cp --sse");
    s.run_ok(s.aws(&["s3", "cp", src.to_str().expect("utf-8"), "s3://sse-b/cli-c", "--sse-c", "AES256", "--sse-c-key", &key_arg]), "aws s3 cp --sse-c");
    let back = s.scratch().join("cli-back");
    s.run_ok(s.aws(&["s3", "cp", "s3://sse-b/cli-c", back.to_str().expect("utf-8"), "--sse-c", "AES256", "--sse-c-key", &key_arg]), "aws s3 cp --sse-c (read)");
    assert_eq!(fs::read(&back).expect("read back"), fs::read(&src).expect("source"), "the aws cli reads its SSE-C object back");
    let head = s.run_ok(s.aws(&["s3api", "head-object", "--bucket", "sse-b", "--key", "cli-s3", "--output", "json"]), "aws s3api head-object");
    assert!(head.contains("\"ServerSideEncryption\": \"AES256\""), "{head}");
    // A plain object with another marker: its shards show it, so the scan below can fail.
    let plain_marker = format!("KINTSUGI-PLAIN-{}", common::random_string(12));
    let plain = s.scratch().join("plain-src");
    fs::write(&plain, plain_marker.repeat(5000)).expect("write plain");
    s.run_ok(s.aws(&["s3", "cp", plain.to_str().expect("utf-8"), "s3://sse-b/plain"]), "aws s3 cp");
    let files = s.shard_files();
    assert!(files_holding(&files, plain_marker.as_bytes()) > 0, "a plain object's plaintext is in its shards");
    assert_eq!(files_holding(&files, marker.as_bytes()), 0, "a shard holds the plaintext of an encrypted object");
    s.restart();
    s.py("sse.py", &["still", "sse-b", &marker]);
    elapsed(t, "sse");
}

/// Bucket CORS rules with boto3 and the aws cli, browsers' preflights and the CORS headers of
/// signed requests (tests/s3/cors.py).
#[test]
fn cors_rules_answer_preflights_and_decorate_requests() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("cors.py", &["cors"]);
    s.run_ok(s.aws(&["s3", "mb", "s3://cors-cli"]), "aws s3 mb");
    let cfg = r#"{"CORSRules":[{"AllowedOrigins":["https://cli.test"],"AllowedMethods":["GET"]}]}"#;
    s.run_ok(s.aws(&["s3api", "put-bucket-cors", "--bucket", "cors-cli", "--cors-configuration", cfg]), "aws put-bucket-cors");
    let out = s.run_ok(s.aws(&["s3api", "get-bucket-cors", "--bucket", "cors-cli", "--output", "json"]), "aws get-bucket-cors");
    assert!(out.contains("https://cli.test"), "aws cli reads the rules: {out}");
    elapsed(t, "cors");
}

/// Virtual-hosted-style addressing with `--domain`: boto3 addressing buckets by host name,
/// presigned URLs, unsigned requests by Host, path-style clients beside them
/// (tests/s3/vhost.py); a bad `--domain` stops the start with the reason.
#[test]
fn buckets_are_addressed_by_host_name_under_a_domain() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts { flags: vec!["--domain".into(), "kintsugi.test".into()], ..Opts::default() });
    s.py("vhost.py", &["kintsugi.test", "vhost-b"]);
    let out = s.kintsugi(&["server", "--data", "/nonexistent", "--domain", "s3.test:9000"]).output().expect("kintsugi server");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("not a DNS name"), "a domain with a port: {text}");
    elapsed(t, "virtual-hosted addressing");
}

#[test]
fn invalid_bucket_names_are_rejected() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    s.py("names.py", &[]);
    s.assert_tree_clean("after bucket-name checks");
    elapsed(t, "bucket names");
}

#[test]
fn odd_keys_stay_inside_the_store_and_key_length_limit() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    let passwd_before = fs::read("/etc/passwd").ok();
    let long_ok = "k".repeat(1024);
    let long_utf8_ok = "é".repeat(512); // 1,024 bytes
    let too_long = "k".repeat(1025);
    let too_long_utf8 = "é".repeat(513); // 1,026 bytes in 513 characters
    let keys: Vec<(&str, &str)> = vec![
        ("../escape", "ok"),
        ("../../etc/passwd", "ok"),
        ("../../../../../../../../../tmp/kintsugi-escape", "ok"),
        ("a/../../b", "ok"),
        ("..", "ok"),
        ("./dot/./x", "ok"),
        ("//double//slash", "ok"),
        ("back\\..\\..\\slash", "ok"),
        ("shards/00/00000000000000000000000000000000-00.shard", "ok"),
        ("kintsugi-disk.json", "ok"),
        ("ключ/日本語/🎉 emoji", "ok"),
        ("percent%2F..%2Fencoded", "ok"),
        ("nul\u{0}byte", "ok-or-rejected"),
        (&long_ok, "ok"),
        (&long_utf8_ok, "ok"),
        (&too_long, "KeyTooLongError"),
        (&too_long_utf8, "KeyTooLongError"),
    ];
    let mut failures = Vec::new();
    for (key, expect) in &keys {
        let out = s.py_output("keys.py", &["odd-keys", &hex(key.as_bytes()), expect]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let shown: String = key.chars().take(60).collect();
        if !out.status.success() {
            failures.push(format!(
                "key {shown:?} ({} bytes, expect {expect}):\n{stdout}{}",
                key.len(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if let Some(r) = stdout.lines().find(|l| l.starts_with("RESULT ")) {
            eprintln!("key {shown:?}: {r}");
        }
        let stray = s.tree_problems();
        if !stray.is_empty() {
            failures.push(format!("after key {shown:?}: stray files:\n  {}", stray.join("\n  ")));
        }
    }
    assert_eq!(fs::read("/etc/passwd").ok(), passwd_before, "/etc/passwd changed");
    assert!(!Path::new("/tmp/kintsugi-escape").exists(), "/tmp/kintsugi-escape was created");
    assert!(failures.is_empty(), "{} of {} odd keys misbehaved:\n\n{}", failures.len(), keys.len(), failures.join("\n\n"));
    elapsed(t, "odd keys");
}

#[test]
fn truncated_body_creates_no_object() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    s.py("truncated.py", &["trunc"]);
    assert!(s.is_running(), "server died on truncated bodies\n{}", s.log_tail(30));
    s.assert_tree_clean("after truncated bodies");
    elapsed(t, "truncated bodies");
}

/// S3's limits, answered as S3 does: a PUT or part announcing more than 5 GiB is refused
/// (EntityTooLarge) before its body is read — before, the server took up to the whole body
/// into shards first — and DeleteObjects of more than 1000 keys is MalformedXML.
#[test]
fn uploads_over_5_gib_and_deletes_of_over_1000_keys_are_refused_as_s3_does() {
    let _g = slot();
    let mut s = Server::start(Opts::default());
    s.py("limits.py", &["limits"]);
    assert!(s.is_running(), "server died on the limits\n{}", s.log_tail(30));
    s.assert_tree_clean("after refused uploads");
}

// --------------------------------------------------------------- failures ---

/// 21 objects of mixed sizes: 20 up to 20 MiB and one of three segments.
fn mixed_sizes() -> Vec<u64> {
    vec![
        1,
        1000,
        64 * KIB,
        256 * KIB - 1,
        256 * KIB,
        MIB,
        MIB + 1,
        2 * MIB + 17,
        3 * MIB,
        4 * MIB - 1,
        5 * MIB,
        7 * MIB + 3,
        8 * MIB,
        10 * MIB,
        12 * MIB + 5,
        16 * MIB,
        20 * MIB,
        333,
        777_777,
        MIB + 256 * KIB,
        130 * MIB + 12345, // three segments, the last one partial
    ]
}

#[test]
fn degraded_two_disks_removed_every_object_reads_exact() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    let objs = objects("mixed", &mixed_sizes());
    let manifest = s.manifest("mixed", "degraded", &objs);
    let manifest = manifest.to_str().expect("utf-8 path");
    s.py("data.py", &["write", manifest]);
    s.py("data.py", &["verify", manifest]);
    let before = s.metrics();

    for i in [1, 4] {
        fs::remove_dir_all(s.disk_dir(i)).expect("removing a disk dir");
    }
    // Right away (the disk check may not have run yet): missing shard files.
    s.py("data.py", &["verify", manifest]);
    let m = s.metrics();
    let delta = |k: &str| m[k] - before[k];
    assert!(delta("kintsugi_degraded_stripe_reads_total") > 0.0, "no degraded stripe reads counted: {m:?}");
    // Either the reads found the shard files missing, or the disk monitor (every 2 s) had already
    // marked both disks failed and the reads went straight to parity.
    assert!(
        delta("kintsugi_shard_missing_total") > 0.0 || m["kintsugi_disks_failed"] == 2.0,
        "neither missing shards counted nor the disks marked failed: {m:?}"
    );

    let failed = poll(Duration::from_secs(10), Duration::from_millis(200), || (s.metric("kintsugi_disks_failed") == 2.0).then_some(()));
    assert!(failed.is_some(), "kintsugi_disks_failed did not reach 2 within 10 s: {:?}", s.metrics());
    s.py("data.py", &["verify", manifest]);
    // Range reads decode partial stripes from parity.
    s.py("data.py", &["ranges", manifest, &MIB.to_string(), &(64 * MIB).to_string()]);
    // With 4 of 6 disks a segment could hold only 4 shards (never two on one disk): fewer than
    // the write quorum (k+1), so a new PUT is refused with 503 and leaves nothing behind.
    let files_before = s.shard_files().len();
    let f = s.scratch().join("after-loss");
    fs::write(&f, pseudo_random(77, 3 * MIB as usize)).expect("writing test file");
    let mut put = s.command(common::BIN);
    put.args(["put", "-q", f.to_str().expect("utf-8"), "s3://degraded/after-loss", "--endpoint", &s.endpoint]);
    let out = put.output().expect("running kintsugi put");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a PUT with 2 of 6 disks failed must be refused");
    assert!(err.contains("503") || err.contains("ServiceUnavailable") || err.contains("SlowDown"), "{err}");
    let stat = s.command(common::BIN).args(["stat", "s3://degraded/after-loss", "--endpoint", &s.endpoint]).output().expect("stat");
    assert!(!stat.status.success(), "a refused PUT left an object");
    let gone = poll(Duration::from_secs(30), Duration::from_millis(250), || (s.shard_files().len() == files_before).then_some(()));
    assert!(gone.is_some(), "the refused PUT left shard files: {} before, {} now", files_before, s.shard_files().len());
    assert!(s.is_running(), "server died");

    // A restart with two registered disk dirs missing still serves everything.
    let status = s.sigterm(Duration::from_secs(35));
    assert_eq!(status.code(), Some(0), "SIGTERM exit status with 2 disks gone");
    s.restart();
    assert_eq!(s.metric("kintsugi_disks_failed"), 2.0, "missing disks after restart");
    s.py("data.py", &["verify", manifest]);
    elapsed(t, "degraded, 2 disks removed");
}

/// A disk that fails is repair's work at once, not at its next interval: with
/// `--repair-interval` an hour and a seventh disk free beside every segment's six, the
/// shards of a removed disk are rebuilt within a minute (the disk monitor finds the loss).
#[test]
fn a_failed_disk_starts_repair_at_once() {
    let _g = slot();
    let flags = vec!["--repair-interval=1h".into(), "--inline-max=0".into()];
    let s = Server::start(Opts { disks: 7, ec: Some("4+2".into()), chunk_size: Some(65536), flags, ..Opts::default() });
    let objs = objects("wake", &[1, 300 * KIB, 3 * MIB + 17]);
    let manifest = s.manifest("wake", "wake", &objs);
    let manifest = manifest.to_str().expect("utf-8 path");
    s.py("data.py", &["write", manifest]);
    assert!(!files_under(&s.disk_dir(3).join("shards")).is_empty(), "disk 3 holds no shard");
    fs::remove_dir_all(s.disk_dir(3)).expect("removing a disk dir");
    let mut last = serde_json::Value::Null;
    let healed = poll(Duration::from_secs(60), Duration::from_millis(500), || {
        last = s.admin_json(&["repair", "status"]);
        (last["full_redundancy"] == true && last["shards_rebuilt"].as_u64() > Some(0)).then_some(())
    });
    assert!(healed.is_some(), "no repair within a minute of the disk's loss (the interval is an hour): {last:#}");
    s.py("data.py", &["verify", manifest]);
}

/// Flip bytes in the first chunk of a shard file; returns (offset, original bytes).
fn flip_first_chunk(path: &Path) -> (u64, Vec<u8>) {
    let f = fs::OpenOptions::new().read(true).write(true).open(path).expect("opening shard file");
    let mut header = [0u8; 128];
    f.read_exact_at(&mut header, 0).expect("reading shard header");
    assert_eq!(&header[..8], b"KSGSHARD", "{} is not a shard file", path.display());
    let data_len = u64::from_le_bytes(header[64..72].try_into().expect("8 bytes"));
    assert!(data_len >= 1024, "{}: only {data_len} data bytes", path.display());
    let off = 128 + 100;
    let mut orig = vec![0u8; 16];
    f.read_exact_at(&mut orig, off).expect("reading chunk bytes");
    let flipped: Vec<u8> = orig.iter().map(|b| b ^ 0x5A).collect();
    f.write_all_at(&flipped, off).expect("corrupting chunk bytes");
    f.sync_all().expect("fsync corrupted shard");
    (off, orig)
}

fn read_at(path: &Path, off: u64, len: usize) -> Option<Vec<u8>> {
    let f = fs::File::open(path).ok()?;
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, off).ok()?;
    Some(b)
}

#[test]
fn corruption_is_detected_repaired_and_three_lost_disks_never_give_wrong_bytes() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::small_chunks());
    // Every object spans at least one full stripe, so every shard has a full first chunk.
    let sizes = [256 * KIB, 300 * KIB, MIB, MIB + 12345, 2 * MIB, 3 * MIB + 1, 5 * MIB, 6 * MIB + 7];
    let objs = objects("c", &sizes);
    let manifest = s.manifest("corrupt", "corrupt", &objs);
    let manifest = manifest.to_str().expect("utf-8 path");
    s.py("data.py", &["write", manifest]);

    let mut by_segment: std::collections::BTreeMap<String, Vec<(u8, PathBuf)>> = Default::default();
    for f in s.shard_files() {
        let (seg, idx) = shard_id(&f);
        by_segment.entry(seg).or_default().push((idx, f));
    }
    assert_eq!(by_segment.len(), sizes.len(), "expected one segment per object");
    // Two bad shards per segment (= m), chosen so a plain read reaches both:
    // a data shard plus the first parity shard, or two data shards.
    let pairs = [(0u8, 4u8), (1, 2), (3, 4), (0, 3)];
    let mut flipped = Vec::new();
    for (n, shards) in by_segment.values().enumerate() {
        assert_eq!(shards.len(), 6, "segment with {} shard files", shards.len());
        let (a, b) = pairs[n % pairs.len()];
        for (idx, path) in shards {
            if *idx == a || *idx == b {
                let original = fs::read(path).expect("reading shard");
                let (off, orig) = flip_first_chunk(path);
                flipped.push((path.clone(), off, orig, original));
            }
        }
    }
    assert_eq!(flipped.len(), 2 * sizes.len());

    s.py("data.py", &["verify", manifest]);
    let corrupt = s.metric("kintsugi_shard_corrupt_total");
    assert!(corrupt >= flipped.len() as f64, "kintsugi_shard_corrupt_total = {corrupt}, {} shards were corrupted", flipped.len());

    // Read-repair rewrites every corrupted file.
    // The counter is raised after the rewritten file is in place: wait for both.
    let repaired = poll(Duration::from_secs(30), Duration::from_millis(250), || {
        (flipped.iter().all(|(p, off, orig, _)| read_at(p, *off, orig.len()).as_ref() == Some(orig))
            && s.metric("kintsugi_shard_repaired_total") >= flipped.len() as f64)
            .then_some(())
    });
    let still_bad: Vec<String> = flipped
        .iter()
        .filter(|(p, off, orig, _)| read_at(p, *off, orig.len()).as_ref() != Some(orig))
        .map(|(p, ..)| p.display().to_string())
        .collect();
    assert!(
        repaired.is_some(),
        "{} of {} corrupted shard files not rewritten within 30 s: {still_bad:?}\nmetrics: {:?}",
        still_bad.len(),
        flipped.len(),
        s.metrics()
    );
    let identical = flipped.iter().filter(|(p, _, _, original)| fs::read(p).ok().as_ref() == Some(original)).count();
    eprintln!("repaired files byte-identical to the originals: {identical} of {}", flipped.len());
    for (p, _, _, original) in &flipped {
        let len = fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, original.len() as u64, "repaired {} has another length", p.display());
    }
    let m = s.metrics();
    assert!(m["kintsugi_shard_repaired_total"] >= flipped.len() as f64, "kintsugi_shard_repaired_total too low: {m:?}");

    // A second read finds nothing new.
    let corrupt_before = m["kintsugi_shard_corrupt_total"];
    let missing_before = m["kintsugi_shard_missing_total"];
    s.py("data.py", &["verify", manifest]);
    let m = s.metrics();
    assert_eq!(m["kintsugi_shard_corrupt_total"], corrupt_before, "a read after repair still found corruption");
    assert_eq!(m["kintsugi_shard_missing_total"], missing_before, "a read after repair found missing shards");

    // Missing shard files on healthy disks (m per segment) are rebuilt too.
    let mut removed = Vec::new();
    for (n, shards) in by_segment.values().enumerate() {
        let (a, b) = pairs[(n + 1) % pairs.len()];
        for (idx, path) in shards {
            if *idx == a || *idx == b {
                let original = fs::read(path).expect("reading shard");
                fs::remove_file(path).expect("removing a shard file");
                removed.push((path.clone(), original));
            }
        }
    }
    s.py("data.py", &["verify", manifest]);
    s.py("data.py", &["ranges", manifest, &(256 * KIB).to_string()]);
    let m2 = s.metrics();
    assert!(m2["kintsugi_shard_missing_total"] >= missing_before + removed.len() as f64, "missing shards not counted: {m2:?}");
    let back = poll(Duration::from_secs(30), Duration::from_millis(250), || {
        removed.iter().all(|(p, original)| fs::read(p).ok().as_ref() == Some(original)).then_some(())
    });
    let absent: Vec<_> =
        removed.iter().filter(|(p, o)| fs::read(p).ok().as_ref() != Some(o)).map(|(p, _)| p.display().to_string()).collect();
    assert!(back.is_some(), "{} of {} deleted shard files not rebuilt (identically) within 30 s: {absent:?}", absent.len(), removed.len());

    // Three disks gone: more than m; reads must fail, never return wrong bytes.
    for i in [0, 2, 5] {
        fs::remove_dir_all(s.disk_dir(i)).expect("removing a disk dir");
    }
    let check = |round: &str, require_503: bool| {
        let out = s.py("data.py", &["verify-unavailable", manifest]);
        let res = results(&out);
        eprintln!("{round}: {res:?}");
        assert_eq!(res.len(), objs.len(), "one RESULT per object:\n{out}");
        for (key, outcome) in &res {
            assert!(outcome != "exact" && outcome != "WRONG", "{round}: {key} read back ({outcome}) with 3 of 6 shards gone");
            if let Some(code) = outcome.strip_prefix("http-") {
                assert!(code.starts_with("503"), "{round}: {key} failed with HTTP {code}; README promises 503 ServiceUnavailable");
            }
        }
        if require_503 {
            let not_503: Vec<_> = res.iter().filter(|(_, o)| !o.starts_with("http-503")).collect();
            assert!(
                not_503.is_empty(),
                "{round}: README says GETs fail with 503 ServiceUnavailable when more than m disks are gone, and the \
                 server already marked 3 of 6 disks failed, yet these GETs started a 200 response and then broke it off: {not_503:?}"
            );
        }
    };
    // Before the 2 s disk check the server only finds out while streaming: a cut-off body is acceptable.
    check("before the disk check", false);
    let marked = poll(Duration::from_secs(10), Duration::from_millis(200), || (s.metric("kintsugi_disks_failed") == 3.0).then_some(()));
    assert!(marked.is_some(), "kintsugi_disks_failed did not reach 3 within 10 s: {:?}", s.metrics());
    check("after the disk check", true);
    assert!(s.is_running(), "server died");
    elapsed(t, "corruption + 3 disks lost");
}

#[test]
fn crash_mid_put_leaves_no_partial_object_and_orphans_are_collected() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts { gc_delay: Some(0), ..Opts::default() });
    let sizes = [100 * KIB, 1, 300 * KIB, MIB, 2 * MIB + 3, 3 * MIB, 4 * MIB + 11, 5 * MIB, 7 * MIB, 10 * MIB];
    let acked = objects("acked", &sizes);
    let manifest = s.manifest("acked", "crash", &acked);
    let manifest = manifest.to_str().expect("utf-8 path");
    s.py("data.py", &["write", manifest]);
    let baseline: BTreeSet<PathBuf> = s.shard_files().into_iter().collect();
    assert!(!baseline.is_empty(), "acknowledged objects left no shard files");
    let base_bytes = s.disk_bytes();

    const BIG: u64 = 500 * MIB;
    let mut put = s.py_spawn("data.py", &["big-put", "crash", "big", "999", &BIG.to_string()]);
    // ~200 MiB of object data is ~300 MiB of shards with 4+2.
    let reached = poll(Duration::from_secs(180), Duration::from_millis(20), || {
        if s.disk_bytes() >= base_bytes + 300 * MIB {
            return Some(true);
        }
        matches!(put.try_wait(), Ok(Some(_))).then_some(false)
    });
    match reached {
        Some(true) => {}
        Some(false) => {
            let out = put.wait_with_output().expect("PUT output");
            panic!(
                "the 500 MiB PUT ended before 200 MiB reached the disks: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => panic!("the 500 MiB PUT did not get 200 MiB to the disks within 180 s ({} bytes)", s.disk_bytes() - base_bytes),
    }
    eprintln!("killing the server with {} MiB of shards written", (s.disk_bytes() - base_bytes) / MIB);
    s.kill9();
    let _ = put.kill();
    let out = put.wait_with_output().expect("PUT output");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ok   PUT ETag"), "the PUT was acknowledged before the crash");
    let orphans = s.shard_files().len() + s.tmp_files().len() - baseline.len();
    eprintln!("orphan files after the crash: {orphans}");

    s.restart();
    let head = s.py("data.py", &["head", "crash", "big"]);
    match head.trim() {
        "absent" => {}
        h if h.starts_with(&format!("present {BIG} ")) => {
            s.py("data.py", &["big-get", "crash", "big", "999", &BIG.to_string()]);
        }
        h => panic!("interrupted PUT left a partial object: {h}"),
    }
    s.py("data.py", &["verify", manifest]);

    // gc-delay 0: the orphaned shards go, the acknowledged ones stay.
    let collected = poll(Duration::from_secs(20), Duration::from_millis(250), || {
        let now: BTreeSet<PathBuf> = s.shard_files().into_iter().collect();
        (now == baseline && s.tmp_files().is_empty()).then_some(())
    });
    let now: BTreeSet<PathBuf> = s.shard_files().into_iter().collect();
    let extra: Vec<_> = now.difference(&baseline).take(5).collect();
    let lost: Vec<_> = baseline.difference(&now).take(5).collect();
    assert!(
        collected.is_some(),
        "after 20 s: {} shard files (acknowledged objects need {}), {} files in tmp/; extra e.g. {extra:?}; lost e.g. {lost:?}; gc metric {}",
        now.len(),
        baseline.len(),
        s.tmp_files().len(),
        s.metric("kintsugi_gc_shards_deleted_total")
    );
    s.py("data.py", &["verify", manifest]);
    s.assert_tree_clean("after crash recovery");
    elapsed(t, "crash mid-PUT");
}

// ------------------------------------------------------- memory, shutdown ---

#[test]
fn memory_2gib_put_and_get_stay_under_512mib_rss() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    const SIZE: u64 = 2048 * MIB;
    let pid = s.pid();
    let start_rss = common::proc_status_kib(pid, "VmRSS:").unwrap_or(0);

    let sampler = RssSampler::start(pid, Duration::from_millis(50));
    let out = s.py("data.py", &["big-put", "mem", "two-gib", "4242", &SIZE.to_string()]);
    let (put_peak, put_n, hwm_after_put) = sampler.finish();
    eprint!("{out}");

    let sampler = RssSampler::start(pid, Duration::from_millis(50));
    let out = s.py("data.py", &["big-get", "mem", "two-gib", "4242", &SIZE.to_string()]);
    let (get_peak, get_n, hwm) = sampler.finish();
    eprint!("{out}");
    // Range reads across each of the 31 segment boundaries.
    s.py("data.py", &["big-ranges", "mem", "two-gib", "4242", &SIZE.to_string(), &(64 * MIB).to_string()]);

    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "PEAK RSS (2 GiB object): idle {:.1} MiB; PUT sampled peak VmRSS {:.1} MiB ({put_n} samples), VmHWM after PUT {:.1} MiB; \
         GET sampled peak VmRSS {:.1} MiB ({get_n} samples); final VmHWM {:.1} MiB",
        mib(start_rss),
        mib(put_peak),
        mib(hwm_after_put),
        mib(get_peak),
        mib(hwm)
    );
    assert!(put_n > 10 && get_n > 10, "too few RSS samples");
    let limit = 512 * 1024;
    assert!(hwm < limit, "server peak RSS (VmHWM) {:.1} MiB >= 512 MiB", mib(hwm));
    assert!(put_peak < limit && get_peak < limit, "sampled RSS over 512 MiB");
    elapsed(t, "2 GiB PUT+GET");
}

#[test]
fn sigterm_when_idle_exits_zero_and_data_survives_restart() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    let objs = objects("keep", &[1, 1000, MIB, 3 * MIB + 7, 9 * MIB]);
    let manifest = s.manifest("keep", "sigterm", &objs);
    let manifest = manifest.to_str().expect("utf-8 path");
    s.py("data.py", &["write", manifest]);
    let status = s.sigterm(Duration::from_secs(35));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}\n{}", s.log_tail(20));
    s.restart();
    s.py("data.py", &["verify", manifest]);
    s.assert_tree_clean("after restart");
    elapsed(t, "SIGTERM idle");
}

#[test]
fn sigterm_lets_an_in_flight_put_finish() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts::default());
    const SIZE: u64 = 200 * MIB;
    let put = s.py_spawn("data.py", &["big-put", "inflight", "obj", "55", &SIZE.to_string()]);
    let started = poll(Duration::from_secs(60), Duration::from_millis(20), || (s.disk_bytes() >= 30 * MIB).then_some(()));
    assert!(started.is_some(), "PUT did not start writing within 60 s");
    let status = s.sigterm(Duration::from_secs(40));
    let out = put.wait_with_output().expect("PUT output");
    let put_ok = out.status.success();
    eprintln!("server exit: {status}; PUT exit: {}", out.status);
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM during a PUT\n{}", s.log_tail(20));
    assert!(
        put_ok,
        "README: SIGTERM lets in-flight requests finish, but the PUT failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.restart();
    s.py("data.py", &["big-get", "inflight", "obj", "55", &SIZE.to_string()]);
    elapsed(t, "SIGTERM during PUT");
}

#[test]
fn overwritten_and_deleted_objects_are_garbage_collected() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts { gc_delay: Some(0), ..Opts::default() });
    // "keep" is overwritten three times; everything else is deleted or aborted.
    for (n, seed) in [(0u64, 1u64), (1, 2), (2, 3), (3, 4)] {
        let m = s.manifest(&format!("keep{n}"), "gc-bucket", &[("keep".to_owned(), seed, 10 * MIB)]);
        s.py("data.py", &["write", m.to_str().expect("utf-8 path")]);
    }
    let gone = objects("gone", &[3 * MIB, 100 * KIB, MIB + 1]);
    let m = s.manifest("gone", "gc-bucket", &gone);
    s.py("data.py", &["write", m.to_str().expect("utf-8 path")]);
    let state = s.scratch().join("mpu.json");
    s.py("mpu.py", &["start", "gc-bucket", "aborted-upload", state.to_str().expect("utf-8 path")]);
    s.py("gc_ops.py", &["gc-bucket", state.to_str().expect("utf-8 path")]);

    // One live 10 MiB object = one segment = 6 shard files.
    // GC deletes the files before it drops the segment's garbage entry: wait for both.
    let done = poll(Duration::from_secs(20), Duration::from_millis(250), || {
        (s.shard_files().len() == 6 && s.metric("kintsugi_gc_pending") == 0.0).then_some(())
    });
    let files = s.shard_files();
    assert!(
        done.is_some(),
        "20 s after overwrites, deletes and an abort with --gc-delay 0 there are {} shard files; the one live object needs 6\nmetrics: {:?}",
        files.len(),
        s.metrics()
    );
    let segs: BTreeSet<String> = files.iter().map(|f| shard_id(f).0).collect();
    assert_eq!(segs.len(), 1, "shard files of more than one segment left: {segs:?}");
    let keep = s.manifest("keep-final", "gc-bucket", &[("keep".to_owned(), 4, 10 * MIB)]);
    s.py("data.py", &["verify", keep.to_str().expect("utf-8 path")]);
    assert_eq!(s.metric("kintsugi_gc_pending"), 0.0, "segments still pending GC");
    elapsed(t, "garbage collection");
}

#[test]
fn multipart_upload_in_progress_survives_crash_and_clean_restart() {
    let _g = slot();
    let t = Instant::now();
    let mut s = Server::start(Opts { gc_delay: Some(0), ..Opts::default() });
    let st1 = s.scratch().join("mpu1.json");
    let st2 = s.scratch().join("mpu2.json");
    let (st1, st2) = (st1.to_str().expect("utf-8 path"), st2.to_str().expect("utf-8 path"));
    s.py("mpu.py", &["start", "mpu", "after-crash", st1]);
    let files_before = s.shard_files().len();
    s.kill9();
    s.restart();
    s.py("mpu.py", &["start", "mpu", "after-sigterm", st2]);
    let status = s.sigterm(Duration::from_secs(35));
    assert_eq!(status.code(), Some(0), "SIGTERM exit status");
    s.restart();
    // Give startup recovery and GC (delay 0, 1 s period) time to act on anything
    // they wrongly consider garbage: wait until nothing is pending, then one more period.
    let idle = poll(Duration::from_secs(15), Duration::from_millis(250), || (s.metric("kintsugi_gc_pending") == 0.0).then_some(()));
    assert!(idle.is_some(), "GC backlog did not drain: {:?}", s.metrics());
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.shard_files().len() >= files_before, "shard files of an unfinished multipart upload were deleted across a restart");
    s.py("mpu.py", &["finish", "mpu", "after-crash", st1]);
    s.py("mpu.py", &["finish", "mpu", "after-sigterm", st2]);
    elapsed(t, "multipart across restarts");
}

#[test]
fn get_in_flight_during_overwrite_returns_the_old_bytes() {
    let _g = slot();
    let t = Instant::now();
    let s = Server::start(Opts::default());
    const SIZE: u64 = 64 * MIB;
    s.py("data.py", &["big-put", "ovr", "obj", "1", &SIZE.to_string()]);
    let mut get = s.py_spawn("data.py", &["slow-get", "ovr", "obj", "1", &SIZE.to_string()]);
    let stdout = get.stdout.take().expect("slow-get stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(first, "STARTED", "slow GET did not start");
    s.py("data.py", &["big-put", "ovr", "obj", "2", &SIZE.to_string()]);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = get.wait_with_output().expect("slow-get output");
    assert!(
        out.status.success(),
        "the GET that began before the overwrite failed or returned other bytes:\n{}\n{}",
        rest.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    s.py("data.py", &["big-get", "ovr", "obj", "2", &SIZE.to_string()]);
    elapsed(t, "overwrite during GET");
}

/// The tree check used after odd keys must itself be able to fail.
#[test]
fn harness_tree_check_detects_stray_files() {
    let _g = slot();
    let s = Server::start(Opts::default());
    s.assert_tree_clean("fresh server");
    let strays = [
        s.disk_dir(2).join("etc-passwd"),
        s.disk_dir(0).join("shards").join("ab").join("not-a-shard.txt"),
        s.root().join("cwd").join("escaped"),
        s.base().join("x").join("escaped"),
        s.base().join("escaped"),
    ];
    for f in &strays {
        fs::write(f, b"x").expect("writing stray file");
        assert!(!s.tree_problems().is_empty(), "the tree check missed {}", f.display());
        fs::remove_file(f).expect("removing stray file");
    }
    s.assert_tree_clean("after cleanup");
}

#[test]
fn concurrent_writers_and_a_hot_key_stay_consistent_and_leak_nothing() {
    let _g = slot();
    let t = Instant::now();
    // Every object as shards, so that the shard files on the disks tell what leaked.
    let s = Server::start(Opts { gc_delay: Some(0), flags: vec!["--inline-max=0".into()], ..Opts::default() });
    let out = s.py("parallel_clients.py", &["parallel"]);
    let n: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("NONEMPTY_OBJECTS "))
        .and_then(|v| v.trim().parse().ok())
        .expect("parallel_clients.py prints NONEMPTY_OBJECTS");
    // Every live non-empty object here is one segment of 6 shards; the 23
    // overwritten versions of the hot key must all be collected.
    let want = 6 * n;
    let done = poll(Duration::from_secs(20), Duration::from_millis(250), || (s.shard_files().len() == want).then_some(()));
    assert!(
        done.is_some(),
        "{} shard files 20 s after the run with --gc-delay 0; {n} live objects need {want}\nmetrics: {:?}",
        s.shard_files().len(),
        s.metrics()
    );
    elapsed(t, "concurrency");
}

/// A client that never finishes its request headers (slowloris, or a stalled client) is
/// disconnected after `--header-timeout`, one whose body stalls after `--body-timeout`;
/// other clients are served meanwhile. Before hyper
/// was given a timer its header timeout was silently off and such a connection stayed open.
#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use std::io::{Read, Write};
    let _g = common::slot();
    let s = Server::start(Opts { flags: vec!["--header-timeout".into(), "1s".into(), "--body-timeout".into(), "2s".into()], ..Opts::default() });
    let addr = format!("127.0.0.1:{}", s.port);
    let mut slow = std::net::TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"GET /bucket/key HTTP/1.1\r\nHost: x\r\nX-Slow: a").expect("partial headers");
    // Meanwhile a whole request on another connection is answered (unsigned: 403).
    let mut other = std::net::TcpStream::connect(&addr).expect("connect");
    other.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("request");
    other.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");
    let mut answer = Vec::new();
    other.read_to_end(&mut answer).expect("answer");
    assert!(answer.starts_with(b"HTTP/1.1 403"), "{}", String::from_utf8_lossy(&answer));
    slow.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");
    let mut buf = Vec::new();
    match slow.read_to_end(&mut buf) {
        Ok(_) => assert!(buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&buf)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            panic!("a client that never finished its headers was still connected after 20 s\n{}", s.log_tail(10))
        }
        Err(_) => {} // reset by the server: disconnected too
    }
    // HTTP/2 with prior knowledge would bypass the header timeout (hyper has none for it) and
    // no S3 client speaks it: its preface is refused, not answered with HTTP/2 settings.
    let mut h2 = std::net::TcpStream::connect(&addr).expect("connect");
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").expect("preface");
    h2.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");
    let mut buf = Vec::new();
    match h2.read_to_end(&mut buf) {
        Ok(_) => assert!(buf.is_empty() || buf.starts_with(b"HTTP/1.1 "), "an HTTP/2 preface was answered: {buf:?}"),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            panic!("an HTTP/2 connection was still open after 20 s (answered {buf:?})\n{}", s.log_tail(10))
        }
        Err(_) => {}
    }
    // A request whose body stops arriving is answered 400 RequestTimeout after --body-timeout
    // and closed, freeing its request slot.
    s.py("body_timeout.py", &[]);
}

/// The metadata directory holds every access key's secret: only its owner may enter it, even
/// when it already existed with looser permissions.
#[test]
fn the_metadata_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let _g = common::slot();
    let mut s = Server::start(Opts::default());
    let dir = s.meta_dir();
    let mode = |d: &Path| fs::metadata(d).expect("meta dir").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "metadata directory mode {:o}", mode(&dir));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("loosen");
    s.restart();
    assert_eq!(mode(&dir), 0o700, "metadata directory mode {:o} after a restart", mode(&dir));
}
