//! The `kintsugi` CLI client and `kintsugi bench` against a real
//! `kintsugi server` process (and, for the bench's verifier, a deliberately
//! corrupting S3 test double).

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A `kintsugi` client command against `s`, with no config file of the user's in the way.
fn kcmd(s: &Server, args: &[&str]) -> Command {
    let mut c = s.command(BIN);
    c.env("KINTSUGI_CONFIG", s.scratch().join("no-such-client-config.toml"))
        .env("AWS_ENDPOINT_URL", &s.endpoint)
        .env_remove("KINTSUGI_PROFILE")
        .args(args);
    c
}

fn run(s: &Server, args: &[&str]) -> String {
    s.run_ok(kcmd(s, args), &format!("kintsugi {}", args.join(" ")))
}

fn run_fail(s: &Server, args: &[&str]) -> Output {
    let out = kcmd(s, args).output().expect("running kintsugi");
    assert!(!out.status.success(), "kintsugi {args:?} should have failed:\n{}", String::from_utf8_lossy(&out.stdout));
    out
}

fn write_file(p: &Path, data: &[u8]) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(p, data).expect("writing test file");
}

/// Write `size` pseudo-random bytes in 1 MiB steps (no huge buffer).
fn write_big(p: &Path, size: u64, seed: u64) {
    let mut f = fs::File::create(p).expect("create");
    let mut left = size;
    let mut i = 0;
    while left > 0 {
        let n = left.min(MIB);
        f.write_all(&pseudo_random(seed + i, n as usize)).expect("write");
        left -= n;
        i += 1;
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (fa, fb) = (fs::File::open(a).expect("open a"), fs::File::open(b).expect("open b"));
    if fa.metadata().expect("meta").len() != fb.metadata().expect("meta").len() {
        return false;
    }
    let (mut ra, mut rb) = (BufReader::with_capacity(1 << 20, fa), BufReader::with_capacity(1 << 20, fb));
    loop {
        let (ba, bb) = (ra.fill_buf().expect("read a").to_vec(), rb.fill_buf().expect("read b"));
        let n = ba.len().min(bb.len());
        if n == 0 {
            return ba.len() == bb.len();
        }
        if ba[..n] != bb[..n] {
            return false;
        }
        ra.consume(n);
        rb.consume(n);
    }
}

#[test]
fn put_get_cp_rm_ls_stat_round_trips_and_pipes() {
    let _g = slot();
    let s = Server::start(Opts::default());
    let dir = s.scratch();
    run(&s, &["mb", "s3://cli-rt"]);
    let sizes: [(&str, u64); 4] = [("zero", 0), ("one", 1), ("five-mib", 5 * MIB), ("big-300mib", 300 * MIB)];
    for (i, (name, size)) in sizes.iter().enumerate() {
        let src = dir.join(name);
        write_big(&src, *size, 100 + i as u64);
        let t = Instant::now();
        run(&s, &["put", "-q", "--part-size", "16MiB", "--parallel", "4", src.to_str().expect("utf8"), &format!("s3://cli-rt/d/{name}")]);
        let back = dir.join(format!("{name}.back"));
        run(&s, &["get", "-q", &format!("s3://cli-rt/d/{name}"), back.to_str().expect("utf8")]);
        assert!(same_file(&src, &back), "{name}: downloaded bytes differ");
        eprintln!("{name}: put+get in {:.1}s", t.elapsed().as_secs_f64());
    }
    // The 300 MiB file went multipart (ETag "-N") and came back through parallel ranged GETs.
    let stat: Value = serde_json::from_str(&run(&s, &["stat", "--json", "s3://cli-rt/d/big-300mib"])).expect("stat json");
    assert!(stat["etag"].as_str().expect("etag").ends_with("-19"), "300 MiB in 16 MiB parts: {stat}");
    assert_eq!(stat["size"], 300 * MIB);

    // Pipes: stdin (bigger than a part, so multipart from a stream) and stdout.
    let piped = dir.join("piped");
    write_big(&piped, 12 * MIB + 7, 7);
    let mut child = kcmd(&s, &["put", "-q", "--part-size", "5MiB", "-", "s3://cli-rt/piped"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn put -");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let mut f = fs::File::open(&piped).expect("open");
        std::io::copy(&mut f, &mut stdin).expect("feeding stdin");
    }
    assert!(child.wait().expect("wait").success(), "put - failed");
    let out = kcmd(&s, &["get", "-q", "s3://cli-rt/piped", "-"]).output().expect("get -");
    assert!(out.status.success());
    assert_eq!(out.stdout, fs::read(&piped).expect("read"), "stdin → S3 → stdout changed the bytes");
    let out = kcmd(&s, &["get", "-q", "--range", "10-19", "s3://cli-rt/piped", "-"]).output().expect("get range");
    assert_eq!(out.stdout, fs::read(&piped).expect("read")[10..20].to_vec());

    // cp in every direction, then rm and ls.
    run(&s, &["cp", "-q", "s3://cli-rt/d/five-mib", "s3://cli-rt/copy/five"]);
    let back = dir.join("five.copy");
    run(&s, &["cp", "-q", "s3://cli-rt/copy/five", back.to_str().expect("utf8")]);
    assert!(same_file(&dir.join("five-mib"), &back));
    run(&s, &["cp", "-q", dir.join("one").to_str().expect("utf8"), "s3://cli-rt/copy/"]);
    let listing = run(&s, &["ls", "s3://cli-rt/copy/"]);
    assert!(listing.contains("copy/five") && listing.contains("copy/one"), "{listing}");
    let top = run(&s, &["ls", "s3://cli-rt"]);
    assert!(top.contains("PRE d/") && top.contains("PRE copy/") && top.contains("piped"), "{top}");
    run(&s, &["rm", "s3://cli-rt/piped"]);
    run(&s, &["rm", "--recursive", "s3://cli-rt/copy/"]);
    let ls: Value = serde_json::from_str(&run(&s, &["ls", "--recursive", "--json", "s3://cli-rt"])).expect("ls json");
    let keys: Vec<&str> = ls["objects"].as_array().expect("objects").iter().map(|o| o["key"].as_str().expect("key")).collect();
    assert_eq!(keys, vec!["d/big-300mib", "d/five-mib", "d/one", "d/zero"]);
    let out = run_fail(&s, &["rb", "s3://cli-rt"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("BucketNotEmpty"));
    run(&s, &["rb", "--force", "s3://cli-rt"]);
    assert!(!run(&s, &["ls"]).contains("cli-rt"));
}

#[test]
fn recursive_copy_of_a_200_file_tree_up_and_down() {
    let _g = slot();
    let s = Server::start(Opts::default());
    let up = s.scratch().join("tree");
    let mut files = Vec::new();
    for i in 0..200u64 {
        let rel = format!("d{}/sub{}/file-{i:03}.bin", i % 5, i % 3);
        let data = pseudo_random(i, (i as usize * 997) % 70_000);
        write_file(&up.join(&rel), &data);
        files.push((rel, data));
    }
    run(&s, &["mb", "s3://tree"]);
    run(&s, &["cp", "-q", "--recursive", up.to_str().expect("utf8"), "s3://tree/up"]);
    let down = s.scratch().join("down");
    run(&s, &["cp", "-q", "-r", "s3://tree/up/", down.to_str().expect("utf8")]);
    let mut got: Vec<PathBuf> = files_under(&down);
    got.sort();
    assert_eq!(got.len(), 200, "files downloaded");
    for (rel, data) in &files {
        assert_eq!(&fs::read(down.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")), data, "{rel}");
    }
}

#[test]
fn sigint_during_multipart_upload_leaves_no_pending_upload() {
    let _g = slot();
    let s = Server::start(Opts::default());
    run(&s, &["mb", "s3://sigint"]);
    // From a pipe the test holds open: the upload is certainly still running when the signal
    // comes, however fast the machine (a file could be uploaded before a probe saw it).
    let mut child = kcmd(&s, &["put", "-q", "--part-size", "5MiB", "--parallel", "1", "-", "s3://sigint/big"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn put");
    let mut stdin = child.stdin.take().expect("stdin");
    for i in 0..12 {
        stdin.write_all(&pseudo_random(3 + i, MIB as usize)).expect("feeding the upload");
    }
    let pending = || s.py("pending_uploads.py", &["sigint"]).trim().parse::<u32>().expect("count");
    let seen = poll(Duration::from_secs(60), Duration::from_millis(50), || (pending() > 0).then_some(()));
    assert!(seen.is_some(), "the multipart upload never appeared");
    let rc = send_signal(child.id(), "INT");
    assert_eq!(rc, 0, "sending SIGINT");
    // The abort happens while the pipe is still open (so the end of input cannot complete the
    // upload first); the process then exits once its stdin reader sees the end.
    let aborted = poll(Duration::from_secs(30), Duration::from_millis(100), || (pending() == 0).then_some(()));
    drop(stdin);
    let st = child.wait().expect("wait");
    assert!(aborted.is_some(), "the interrupted upload was not aborted while its input was still open");
    assert!(!st.success(), "an interrupted upload must exit non-zero");
    assert_eq!(pending(), 0, "the interrupted upload was left pending on the server");
    let out = kcmd(&s, &["stat", "s3://sigint/big"]).output().expect("stat");
    assert!(!out.status.success(), "no object may appear from an interrupted upload");
}

/// Send a signal with kill(1) (the workspace denies unsafe code, so no libc::kill).
fn send_signal(pid: u32, sig: &str) -> i32 {
    Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().map(|s| s.code().unwrap_or(1)).unwrap_or(1)
}

#[test]
fn ls_works_right_after_first_server_start_with_no_flags() {
    let _g = slot();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("client.toml");
    let mut srv = Command::new(BIN)
        .args(["server", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("KINTSUGI_CONFIG", &conf)
        .env_remove("KINTSUGI_ACCESS_KEY")
        .env_remove("KINTSUGI_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let mut lines = BufReader::new(srv.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    while let Some(Ok(l)) = lines.next() {
        banner.push(l.clone());
        if l.starts_with("Client config:") {
            break;
        }
    }
    assert!(banner.iter().any(|l| l.starts_with("Secret key:")), "first start prints the generated secret: {banner:?}");
    // No flags, no AWS_* variables: the config file the server wrote is enough.
    let mut ls = Command::new(BIN);
    ls.arg("ls").env("KINTSUGI_CONFIG", &conf);
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "KINTSUGI_PROFILE"] {
        ls.env_remove(k);
    }
    let mb = Command::new(BIN).args(["mb", "s3://first"]).env("KINTSUGI_CONFIG", &conf).env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("AWS_ENDPOINT_URL").output().expect("mb");
    let out = ls.output().expect("ls");
    let _ = srv.kill();
    let _ = srv.wait();
    assert!(mb.status.success(), "mb: {}", String::from_utf8_lossy(&mb.stderr));
    assert!(out.status.success(), "ls: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("s3://first"));
    assert!(dir.path().join("kintsugi-data").join("disk6").is_dir(), "default layout: 6 disks under ./kintsugi-data");
}

#[test]
fn stat_json_lists_every_shard_and_reports_a_lost_disk() {
    let _g = slot();
    let s = Server::start(Opts::small_chunks());
    run(&s, &["mb", "s3://stat"]);
    let f = s.scratch().join("obj");
    write_big(&f, 3 * MIB + 5, 11);
    run(&s, &["put", "-q", f.to_str().expect("utf8"), "s3://stat/obj"]);
    let v: Value = serde_json::from_str(&run(&s, &["stat", "--json", "--verify", "s3://stat/obj"])).expect("json");
    let layout = &v["layout"];
    assert_eq!((layout["k"].as_u64(), layout["m"].as_u64()), (Some(4), Some(2)));
    let segs = layout["segments"].as_array().expect("segments");
    assert!(!segs.is_empty());
    let mut disks_used = std::collections::BTreeSet::new();
    for seg in segs {
        let shards = seg["shards"].as_array().expect("shards");
        assert_eq!(shards.len(), 6);
        for sh in shards {
            assert_eq!(sh["health"], "ok", "{sh}");
            assert_eq!(sh["node"], "local");
            disks_used.insert(sh["disk"].as_u64().expect("disk"));
        }
    }
    // Delete the disk that holds shard 0 of segment 0; stat must name the loss.
    let lost = segs[0]["shards"][0]["disk"].as_u64().expect("disk");
    fs::remove_dir_all(s.disk_dir(lost as usize - 1)).expect("rm disk");
    let v: Value = serde_json::from_str(&run(&s, &["stat", "--json", "s3://stat/obj"])).expect("json");
    let sh0 = &v["layout"]["segments"][0]["shards"][0];
    assert_eq!(sh0["disk"].as_u64(), Some(lost));
    assert_ne!(sh0["health"], "ok", "a shard on a deleted disk is reported: {sh0}");
    assert_eq!(v["layout"]["segments"][0]["healthy"].as_u64(), Some(5));
    // The data still reads back.
    let back = s.scratch().join("obj.back");
    run(&s, &["get", "-q", "s3://stat/obj", back.to_str().expect("utf8")]);
    assert!(same_file(&f, &back));
}

fn bench_json(stdout: &str) -> Value {
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("bench printed no JSON line");
    serde_json::from_str(line).expect("bench JSON line")
}

#[test]
fn bench_prints_table_and_json_with_zero_errors() {
    let _g = slot();
    let s = Server::start(Opts::default());
    let out = run(&s, &["bench", "--duration", "5s", "--size", "256KiB", "--concurrency", "4", "--phases", "put,get,mixed"]);
    for phase in ["PUT", "GET", "MIXED"] {
        assert!(out.lines().any(|l| l.starts_with(phase) && l.contains("MiB/s")), "no {phase} row:\n{out}");
    }
    let v = bench_json(&out);
    for p in v["phases"].as_array().expect("phases") {
        assert!(p["mib_per_s"].as_f64().expect("mib") > 0.0, "{p}");
        assert!(p["ops"].as_u64().expect("ops") > 0, "{p}");
        assert_eq!(p["errors"], 0, "{p}");
        assert_eq!(p["verify_failures"], 0, "{p}");
        assert!(p["p99_ms"].as_f64().expect("p99") >= p["p50_ms"].as_f64().expect("p50"));
    }
    // The bench cleaned up after itself.
    assert_eq!(run(&s, &["ls"]).trim(), "");
}

#[test]
fn bench_reports_corrupted_bytes_from_a_bad_server() {
    let mut double = Command::new("python3")
        .arg(scripts_dir().join("corrupting_server.py"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn test double");
    let mut line = String::new();
    BufReader::new(double.stdout.take().expect("stdout")).read_line(&mut line).expect("port line");
    let port: u16 = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("PORT n");
    let out = Command::new(BIN)
        .args(["bench", "--endpoint", &format!("http://127.0.0.1:{port}"), "--count", "20", "--size", "64KiB", "--concurrency", "2"])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("KINTSUGI_CONFIG", "/nonexistent/kintsugi-client.toml")
        .output()
        .expect("bench");
    let _ = double.kill();
    let _ = double.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "bench must fail when bytes come back wrong:\n{stdout}");
    let v = bench_json(&stdout);
    let get = v["phases"].as_array().expect("phases").iter().find(|p| p["phase"] == "get").expect("get phase");
    assert_eq!(get["verify_failures"], 20, "every corrupted GET is caught: {get}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not match"));
}

#[test]
fn errors_say_what_to_do() {
    let _g = slot();
    let s = Server::start(Opts::default());
    let out = kcmd(&s, &["ls"]).env("AWS_SECRET_ACCESS_KEY", "wrong-secret").output().expect("ls");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SignatureDoesNotMatch") && err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    // An endpoint nobody listens on (a port we just closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}");
    let out = kcmd(&s, &["ls", "--endpoint", &url]).output().expect("ls");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&url), "names the endpoint tried: {err}");
    let out = kcmd(&s, &["get", "s3://nobucket-here/k", "-"]).output().expect("get");
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchBucket"));
    let out = kcmd(&s, &["put", "/nonexistent/file", "s3://b-x/k"]).output().expect("put");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/file"));
}

/// The contract's spellings a new user tries first: client flags before the subcommand
/// (`kintsugi --endpoint URL mb s3://b`, as `aws --endpoint-url URL s3 mb`), a closed output
/// pipe (`kintsugi stat ... | head`), and a second server on the same directories.
#[test]
fn flags_before_the_subcommand_closed_pipes_and_locked_directories() {
    use std::os::unix::process::ExitStatusExt;
    let _g = slot();
    let s = Server::start(Opts::default());
    // No AWS_ENDPOINT_URL to fall back on: only the flag before the subcommand names the server.
    let before = |args: &[&str]| {
        let mut all = vec!["--endpoint", s.endpoint.as_str(), "--region", "us-east-1"];
        all.extend_from_slice(args);
        let mut c = kcmd(&s, &all);
        c.env_remove("AWS_ENDPOINT_URL");
        s.run_ok(c, &format!("kintsugi {}", all.join(" ")))
    };
    assert!(before(&["mb", "s3://before"]).contains("created s3://before"));
    let f = s.scratch().join("f");
    write_file(&f, b"before the subcommand");
    before(&["put", "-q", f.to_str().expect("utf8"), "s3://before/k"]);
    assert!(before(&["ls", "s3://before"]).contains('k'));
    let disks: Value = serde_json::from_str(&before(&["admin", "disk", "list", "--json"])).expect("disk list json");
    assert_eq!(disks["disks"].as_array().map(Vec::len), Some(6));
    // The flag after the subcommand wins over the one before it.
    let out = kcmd(&s, &["--endpoint", "http://127.0.0.1:1", "ls", "--endpoint", &s.endpoint]).output().expect("ls");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Output into a pipe whose reader is gone: the command ends quietly, as `ls | head` does.
    let mut child = kcmd(&s, &["stat", "s3://before/k"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("stat");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("stat");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "stat into a closed pipe: {err}");
    // The shell's status for a closed pipe (141), as `ls` gets; or done before it noticed.
    assert!(out.status.success() || out.status.code() == Some(141) || out.status.signal() == Some(13), "stat into a closed pipe: {:?} {err}", out.status);

    // A second server on the same metadata and disk directories stops at once and says why.
    let mut c = Command::new(BIN);
    c.arg("server");
    for i in 0..6 {
        c.arg("--data").arg(s.disk_dir(i));
    }
    c.arg("--meta").arg(s.meta_dir()).args(["--listen", "127.0.0.1:0"]);
    c.env("KINTSUGI_CONFIG", s.scratch().join("second-config.toml")).stdin(Stdio::null());
    let out = c.output().expect("second server");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second server on the same directories started: {err}");
    assert!(err.contains("in use by another kintsugi process"), "{err}");
    // The first one is unharmed.
    assert!(run(&s, &["get", "s3://before/k", "-"]).contains("before the subcommand"));
}

/// Replace every leaf of a JSON value with its type, keep one element of each array.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::from("null"),
    }
}

#[test]
fn help_and_json_shapes_are_pinned() {
    for cmd in [&[][..], &["server"], &["bench"], &["put"], &["get"], &["cp"], &["ls"], &["rm"], &["stat"], &["mb"], &["rb"], &["config", "set"], &["admin", "status"], &["admin", "disk", "list"], &["admin", "disk", "drain"], &["admin", "disk", "add"], &["admin", "node", "drain"], &["admin", "rebalance"], &["admin", "join-token"], &["admin", "gateway", "list"], &["admin", "gateway", "remove"], &["admin", "key", "create"], &["admin", "key", "list"], &["admin", "key", "delete"], &["gateway"], &["storage"]] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        // clap prints the current value of each env fallback; pin the help as a user without them sees it.
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KINTSUGI_")) {
            c.env_remove(k);
        }
        let out = c.args(&args).env("COLUMNS", "120").output().expect("help");
        assert!(out.status.success());
        let name = if cmd.is_empty() { "help".to_owned() } else { format!("help_{}", cmd.join("_")) };
        insta::assert_snapshot!(name, String::from_utf8_lossy(&out.stdout));
    }
    let _g = slot();
    let s = Server::start(Opts::default());
    run(&s, &["mb", "s3://shapes"]);
    let f = s.scratch().join("f");
    // Past the inline limit: stored as shards.
    write_file(&f, &b"shape".repeat(4000));
    run(&s, &["put", "-q", f.to_str().expect("utf8"), "s3://shapes/k"]);
    let stat: Value = serde_json::from_str(&run(&s, &["stat", "--json", "s3://shapes/k"])).expect("stat");
    insta::assert_json_snapshot!("stat_json_shape", shape(&stat));
    // Small: kept with the metadata.
    write_file(&f, b"shape");
    run(&s, &["put", "-q", f.to_str().expect("utf8"), "s3://shapes/small"]);
    let stat: Value = serde_json::from_str(&run(&s, &["stat", "--json", "s3://shapes/small"])).expect("stat");
    insta::assert_json_snapshot!("stat_inline_json_shape", shape(&stat));
    let ls: Value = serde_json::from_str(&run(&s, &["ls", "--json", "s3://shapes"])).expect("ls");
    insta::assert_json_snapshot!("ls_json_shape", shape(&ls));
    let buckets: Value = serde_json::from_str(&run(&s, &["ls", "--json"])).expect("ls buckets");
    insta::assert_json_snapshot!("ls_buckets_json_shape", shape(&buckets));
    let b = bench_json(&run(&s, &["bench", "--count", "4", "--size", "4KiB", "--concurrency", "1", "--json"]));
    insta::assert_json_snapshot!("bench_json_shape", shape(&b));
}

#[test]
fn admin_status_and_disk_list_show_a_failed_disk() {
    let _g = slot();
    let s = Server::start(Opts::default());
    let v: Value = serde_json::from_str(&run(&s, &["admin", "status", "--json"])).expect("status json");
    assert_eq!(v["ec"], "4+2");
    assert_eq!(v["disks"].as_array().expect("disks").len(), 6);
    assert!(v["disks"].as_array().expect("disks").iter().all(|d| d["state"] == "ok"), "{v}");
    insta::assert_json_snapshot!("admin_status_json_shape", shape(&v));
    fs::remove_dir_all(s.disk_dir(2)).expect("rm disk");
    // The disk monitor re-checks every 2 s.
    let failed = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        let v: Value = serde_json::from_str(&run(&s, &["admin", "disk", "list", "--json"])).ok()?;
        let d = v["disks"].as_array()?.iter().find(|d| d["id"] == 3)?.clone();
        (d["state"] == "failed").then_some(d)
    });
    assert!(failed.is_some(), "disk 3 never showed as failed");
    let text = run(&s, &["admin", "status"]);
    assert!(text.contains("1 failed") && text.contains("WARNING"), "{text}");
    let out = kcmd(&s, &["admin", "status"]).env("AWS_SECRET_ACCESS_KEY", "nope").output().expect("admin");
    assert!(!out.status.success(), "the admin API must refuse a bad signature");
    assert!(String::from_utf8_lossy(&out.stderr).contains("SignatureDoesNotMatch"));
}
