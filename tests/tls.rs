//! HTTPS on the S3 endpoint (issue 17): `kintsugi server` and `kintsugi gateway` with
//! `--tls-cert/--tls-key`, reached by the aws cli, boto3 and the kintsugi CLI with the
//! certificates they are told to trust and refused by those not told; a renewed certificate
//! swapped in by SIGHUP; a follower forwarding an admin change to the leader over HTTPS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::tls::{ca_signed, replace, self_signed};
use common::{poll, Opts, Server};

fn assert_fails(out: std::process::Output, what: &str, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what} succeeded; it must not\n{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains(needle), "{what}: stderr does not mention {needle:?}:\n{stderr}");
    stderr
}

#[test]
fn s3_clients_reach_the_server_over_https_only_with_trust_and_sighup_swaps_the_certificate() {
    let _g = common::slot();
    let pki = tempfile::tempdir().expect("pki dir");
    let first = ca_signed(pki.path(), "first");
    let mut srv = Server::start(Opts { flags: first.flags(), ..Opts::default() });
    assert!(srv.endpoint.starts_with("https://"), "the banner names an https endpoint: {}", srv.endpoint);
    // Clients trust the CA only, not the chain file the server was given.
    srv.ca_bundle = Some(first.trust.clone());

    // boto3 (AWS_CA_BUNDLE), with a multipart upload.
    srv.py("tls.py", &["ok", "tls", "boto3"]);
    // The aws cli with --ca-bundle.
    let src = srv.scratch().join("src.bin");
    std::fs::write(&src, common::pseudo_random(7, 300_000)).expect("write src");
    let back = srv.scratch().join("back.bin");
    let mut cp = srv.aws(&["s3", "cp", src.to_str().expect("utf-8"), "s3://tls/aws-cli"]);
    cp.env_remove("AWS_CA_BUNDLE").args(["--ca-bundle", first.trust.to_str().expect("utf-8")]);
    srv.run_ok(cp, "aws s3 cp up over https");
    srv.run_ok(srv.aws(&["s3", "cp", "s3://tls/aws-cli", back.to_str().expect("utf-8")]), "aws s3 cp down over https");
    assert_eq!(std::fs::read(&back).expect("read back"), std::fs::read(&src).expect("read src"), "aws cli round trip");
    // rclone with --ca-cert, and s3cmd with --ca-certs (neither reads AWS_CA_BUNDLE here).
    let trust = first.trust.to_str().expect("utf-8").to_owned();
    let scratch = srv.scratch();
    let rclone = |args: &[&str]| {
        let mut c = srv.rclone();
        c.env_remove("AWS_CA_BUNDLE").args(["--ca-cert", &trust]).args(args);
        srv.run_ok(c, &format!("rclone {} over https", args.join(" ")))
    };
    let (via_rclone, via_s3cmd) = (scratch.join("rclone.bin"), scratch.join("s3cmd.bin"));
    rclone(&["copyto", src.to_str().expect("utf-8"), "k:tls/rclone"]);
    rclone(&["copyto", "k:tls/rclone", via_rclone.to_str().expect("utf-8")]);
    assert_eq!(std::fs::read(&via_rclone).expect("read back"), std::fs::read(&src).expect("read src"), "rclone round trip over https");
    let host = format!("127.0.0.1:{}", srv.port);
    let s3cfg = scratch.join("s3cfg");
    std::fs::write(&s3cfg, format!("[default]\nhost_base = {host}\nhost_bucket = {host}\nuse_https = True\nsignature_v2 = False\nbucket_location = us-east-1\n")).expect("s3cmd config");
    let s3cmd = |args: &[&str]| {
        let mut c = srv.command("s3cmd");
        c.env_remove("AWS_CA_BUNDLE").env("HOME", &scratch).arg("-c").arg(&s3cfg).args([
            &format!("--host={host}"),
            "--host-bucket=",
            "--ssl",
            "--check-certificate",
            &format!("--ca-certs={trust}"),
            &format!("--access_key={}", srv.access_key),
            &format!("--secret_key={}", srv.secret_key),
            "--region=us-east-1",
        ]);
        c.args(args);
        srv.run_ok(c, &format!("s3cmd {} over https", args.join(" ")))
    };
    s3cmd(&["put", src.to_str().expect("utf-8"), "s3://tls/s3cmd"]);
    s3cmd(&["get", "--force", "s3://tls/s3cmd", via_s3cmd.to_str().expect("utf-8")]);
    assert_eq!(std::fs::read(&via_s3cmd).expect("read back"), std::fs::read(&src).expect("read src"), "s3cmd round trip over https");
    // The kintsugi CLI: with --ca-bundle, and through the profile the server wrote (it trusts
    // the --tls-cert file, whose chain ends in the CA).
    let mut get = srv.kintsugi(&["get", "-q", "s3://tls/aws-cli", "-"]);
    get.env_remove("AWS_CA_BUNDLE").args(["--ca-bundle", first.trust.to_str().expect("utf-8")]);
    let out = get.output().expect("kintsugi get");
    assert!(out.status.success() && out.stdout == std::fs::read(&src).expect("src"), "kintsugi get --ca-bundle: {}", String::from_utf8_lossy(&out.stderr));
    let with_profile = |args: &[&str], ca_env: Option<&std::path::Path>| {
        let mut ls = std::process::Command::new(common::BIN);
        ls.args(args).env("KINTSUGI_CONFIG", srv.root().join("client-config.toml"));
        for k in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE", "AWS_PROFILE"] {
            ls.env_remove(k);
        }
        if let Some(ca) = ca_env {
            ls.env("AWS_CA_BUNDLE", ca);
        }
        ls
    };
    let listed = srv.run_ok(with_profile(&["ls", "s3://tls"], None), "kintsugi ls with the profile the server wrote");
    assert!(listed.contains("aws-cli"), "{listed}");
    // AWS_CA_BUNDLE adds to the profile's bundle (another CA's certificate does not make the
    // server untrusted); a profile named with --profile keeps its own bundle whatever the
    // environment names (a missing file is then not even read).
    let untrusted = self_signed(&pki.path().join("stranger"), "stranger");
    srv.run_ok(with_profile(&["ls", "s3://tls"], Some(&untrusted.trust)), "kintsugi ls with the profile and another AWS_CA_BUNDLE");
    let missing = pki.path().join("missing.pem");
    srv.run_ok(with_profile(&["ls", "--profile", "default", "s3://tls"], Some(&missing)), "kintsugi ls --profile default with a missing AWS_CA_BUNDLE");
    assert_fails(with_profile(&["ls", "s3://tls"], Some(&missing)).output().expect("kintsugi ls"), "kintsugi ls with a missing AWS_CA_BUNDLE", "missing.pem");

    // Without trust every client refuses the certificate; the CLI says what to pass.
    srv.ca_bundle = Some(untrusted.trust.clone());
    srv.py("tls.py", &["refused"]);
    assert_fails(srv.kintsugi(&["ls", "s3://tls"]).output().expect("kintsugi ls"), "kintsugi ls trusting a stranger", "--ca-bundle");
    assert_fails(srv.aws(&["s3", "ls", "s3://tls"]).output().expect("aws s3 ls"), "aws s3 ls trusting a stranger", "SSL");
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let mut tcp = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    tcp.write_all(b"GET /tls HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP was answered: {}", String::from_utf8_lossy(&answer));

    // A renewed certificate from another CA, swapped in with SIGHUP while the server runs.
    let second = ca_signed(&pki.path().join("second"), "second");
    replace(&second.cert, &first.cert);
    replace(&second.key, &first.key);
    srv.signal("-HUP");
    srv.ca_bundle = Some(second.trust.clone());
    let swapped = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        srv.py_output("tls.py", &["ok", "tls", "renewed"]).status.success().then_some(())
    });
    assert!(swapped.is_some(), "the renewed certificate is not served after SIGHUP\n{}", srv.log_tail(20));
    srv.ca_bundle = Some(first.trust.clone());
    srv.py("tls.py", &["refused"]);
    assert!(srv.is_running(), "SIGHUP stopped the server");

    // A broken pair on SIGHUP is refused with a log line; the renewed certificate stays.
    std::fs::write(&first.key, "not a key\n").expect("break key");
    srv.signal("-HUP");
    let logged = poll(Duration::from_secs(10), Duration::from_millis(100), || srv.log_tail(50).contains("still serving the previous TLS certificate").then_some(()));
    assert!(logged.is_some(), "a bad key on SIGHUP was not reported\n{}", srv.log_tail(20));
    srv.ca_bundle = Some(second.trust.clone());
    srv.py("tls.py", &["ok", "tls", "after-bad-reload"]);
    assert!(srv.is_running(), "a bad certificate on SIGHUP stopped the server");
}

#[test]
fn a_bad_certificate_or_key_stops_the_start_with_the_file_named() {
    let _g = common::slot();
    let pki = tempfile::tempdir().expect("pki dir");
    let good = self_signed(pki.path(), "good");
    let bad = pki.path().join("empty.crt");
    std::fs::write(&bad, "").expect("write");
    let other = self_signed(pki.path(), "other");
    let data = tempfile::tempdir().expect("data");
    for (cert, key, needle) in [(&bad, &good.key, "empty.crt"), (&good.cert, &bad, "empty.crt"), (&good.cert, &other.key, "good.crt")] {
        let out = std::process::Command::new(common::BIN)
            .args(["server", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path().join("d"))
            .arg("--meta")
            .arg(data.path().join("meta"))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .env("KINTSUGI_CONFIG", data.path().join("client.toml"))
            .output()
            .expect("kintsugi server");
        let err = assert_fails(out, "a server with an unusable certificate", needle);
        assert!(err.contains("--tls-cert"), "{err}");
    }
}

/// `kintsugi server` started with no keys given, as `make run` does: the child and the endpoint
/// its banner names.
fn start_keyless(data: &std::path::Path, extra: &[String]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args(["server", "--listen", "127.0.0.1:0", "--ec", "1+1", "--data"]).arg(data.join("d1")).arg("--data").arg(data.join("d2")).arg("--meta").arg(data.join("meta")).args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with("KINTSUGI_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("KINTSUGI_CONFIG", data.join("client.toml")).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("kintsugi server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let endpoint = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(ep) = l.strip_prefix("S3 endpoint: ") {
                    break ep.trim().to_owned();
                }
            }
            _ => panic!("kintsugi server ended before naming its endpoint"),
        }
    };
    // Keep draining so the banner's pipe never fills.
    std::thread::spawn(move || for _ in lines {});
    (child, endpoint)
}

#[test]
fn a_restart_with_or_without_https_brings_the_profile_it_wrote_up_to_date() {
    let _g = common::slot();
    let dir = tempfile::tempdir().expect("dir");
    let pki = self_signed(&dir.path().join("pki"), "srv");
    let through_profile = |args: &[&str], what: &str| {
        let mut c = std::process::Command::new(common::BIN);
        c.args(args).env("KINTSUGI_CONFIG", dir.path().join("client.toml"));
        for (k, _) in std::env::vars() {
            if k.starts_with("KINTSUGI_PROFILE") || k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        let out = c.output().expect("kintsugi");
        assert!(out.status.success(), "kintsugi {args:?} through the profile, {what}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let config = || std::fs::read_to_string(dir.path().join("client.toml")).expect("client config");
    for (round, tls) in [(1, false), (2, true), (3, false)] {
        let flags = if tls { pki.flags() } else { Vec::new() };
        let (mut child, endpoint) = start_keyless(dir.path(), &flags);
        assert_eq!(endpoint.starts_with("https://"), tls, "round {round}: {endpoint}");
        let cfg = config();
        assert!(cfg.contains(&format!("endpoint = \"{endpoint}\"")), "round {round}: the profile names {endpoint}:\n{cfg}");
        assert_eq!(cfg.contains("ca_bundle"), tls, "round {round}: the profile's bundle:\n{cfg}");
        if round == 1 {
            through_profile(&["mb", "s3://kept"], "round 1");
        }
        assert!(through_profile(&["ls"], &format!("round {round}")).contains("kept"));
        let _ = child.kill();
        let _ = child.wait();
    }
}
