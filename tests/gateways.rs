//! A group of three gateways (real `kintsugi gateway` processes, metadata replicated with
//! Raft) and storage nodes on loopback: every gateway serves the same objects, the leader is
//! killed with SIGKILL under writes, and a group without a majority refuses writes quickly
//! and takes them again once a gateway is back.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cluster::{free_udp_port, Cluster};
use common::{poll, Opts, Server, KIB};

/// Flags every gateway of a test group runs with: 2+1 over three nodes, fast elections.
fn group_flags(name: &str) -> Vec<String> {
    ["--ec", "2+1", "--down-after", "3s", "--raft-heartbeat", "0.1", "--meta-timeout", "4s", "--name", name]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Start gateway `name` joining the group with `token` (`extra`: more flags, e.g. TLS).
fn join_gateway(name: &str, token: &str, extra: &[String]) -> Server {
    let mut flags = group_flags(name);
    flags.extend(["--join".to_owned(), token.to_owned(), "--cluster-listen".to_owned(), format!("127.0.0.1:{}", free_udp_port())]);
    flags.extend(extra.iter().cloned());
    Server::start(Opts { gateway: Some(flags), chunk_size: Some(65536), ..Opts::default() })
}

/// A cluster of three nodes whose first gateway is joined by two more.
fn group_of_three() -> (Cluster, Vec<Server>) {
    group_of_three_with(&[])
}

/// As [`group_of_three`], every gateway started with `extra` flags too.
fn group_of_three_with(extra: &[String]) -> (Cluster, Vec<Server>) {
    let mut flags = group_flags("gw1");
    flags.extend(extra.iter().cloned());
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let c = Cluster::start(3, 1, &refs, Some(65536));
    let token = c.admin_json(&["gateway", "join-token"])["token"].as_str().expect("gateway token").to_owned();
    let others = vec![join_gateway("gw2", &token, extra), join_gateway("gw3", &token, extra)];
    // Nodes learn of the new gateways from their heartbeat answers and report to them too.
    for g in &others {
        let ok = poll(Duration::from_secs(30), Duration::from_millis(200), || {
            let st = g.admin_json(&["status"]);
            let up = st["nodes"].as_array().map_or(0, |n| n.iter().filter(|n| n["state"] == "up").count());
            let disks = st["disks"].as_array().map_or(0, Vec::len);
            (up == 3 && disks == 3).then_some(())
        });
        assert!(ok.is_some(), "the nodes never reported to a joined gateway: {:#}", g.admin_json(&["status"]));
    }
    (c, others)
}

fn put(gw: &Server, src: &Path, key: &str) -> Result<(), String> {
    let out = gw.kintsugi(&["put", "-q", src.to_str().expect("utf-8"), key]).output().expect("kintsugi put");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn assert_reads(gw: &Server, key: &str, want: &[u8]) {
    let back = gw.scratch().join(format!("back-{}", common::random_string(8)));
    gw.run_ok(gw.kintsugi(&["get", "-q", key, back.to_str().expect("utf-8")]), "kintsugi get");
    let got = std::fs::read(&back).expect("read back");
    assert!(got == want, "{key} through {}: {} bytes, not the {} written", gw.endpoint, got.len(), want.len());
}

fn write_file(gw: &Server, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = gw.scratch().join(name);
    std::fs::write(&p, data).expect("write source");
    p
}

/// The group as gateway `gw` reports it.
fn gateways(gw: &Server) -> serde_json::Value {
    gw.admin_json(&["gateway", "list"])
}

#[test]
fn three_gateways_serve_the_same_objects_and_survive_the_leaders_death() {
    let _g = common::slot();
    // A two-second lifecycle day, so lifecycle rules set through a follower are carried out
    // by the leader within the test.
    // SSE-C over the group's plain-HTTP endpoints, as behind a TLS-terminating proxy.
    let (mut c, mut others) = group_of_three_with(&["--lifecycle-day=2s".into(), "--lifecycle-interval=500ms".into(), "--sse-c-over-http".into()]);
    let list = gateways(&others[1]);
    let members = list["gateways"].as_array().expect("gateways");
    assert_eq!(members.len(), 3, "{list:#}");
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1, "{list:#}");
    assert_eq!(members.iter().filter(|m| m["role"] == "follower").count(), 2, "{list:#}");
    assert_eq!(list["quorum"], true);

    // Writes through every gateway; every gateway reads every object at once.
    c.gw.run_ok(c.kintsugi(&["mb", "s3://grp"]), "kintsugi mb");
    let mut written = Vec::new();
    for (i, gw) in std::iter::once(&c.gw).chain(others.iter()).enumerate() {
        let data = common::pseudo_random(i as u64 + 1, (300 * KIB + i as u64 * 7) as usize);
        let key = format!("s3://grp/through-{i}");
        put(gw, &write_file(gw, &format!("src{i}"), &data), &key).expect("put");
        written.push((key, data));
    }
    for gw in std::iter::once(&c.gw).chain(others.iter()) {
        for (key, data) in &written {
            assert_reads(gw, key, data);
        }
    }

    // A key made through one gateway is a principal on every gateway at once.
    let v = others[0].admin_json(&["key", "create", "--name", "team"]);
    let (ak, sk) = (v["access_key"].as_str().expect("access_key").to_owned(), v["secret_key"].as_str().expect("secret_key").to_owned());
    let as_team = |gw: &Server, args: &[&str]| {
        let mut cmd = gw.kintsugi(args);
        cmd.env("AWS_ACCESS_KEY_ID", &ak).env("AWS_SECRET_ACCESS_KEY", &sk);
        let o = cmd.output().expect("running kintsugi");
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    let (ok, out) = as_team(&others[1], &["mb", "s3://team-b"]);
    assert!(ok, "the new key through another gateway: {out}");
    let src = write_file(&c.gw, "team-src", b"the team's bytes");
    let (ok, out) = as_team(&c.gw, &["put", &src.display().to_string(), "s3://team-b/k"]);
    assert!(ok, "the new key's bucket through a third gateway: {out}");
    let (ok, out) = as_team(&others[0], &["get", "s3://grp/through-0", "-"]);
    assert!(!ok && out.contains("AccessDenied"), "the new key read the admin's bucket: {out}");
    // A bucket policy set through one gateway grants on the others as soon as they apply it.
    others[1].py("policy.py", &["grant", "grp", &ak]);
    let granted = poll(Duration::from_secs(10), Duration::from_millis(100), || as_team(&others[0], &["get", "s3://grp/through-0", "-"]).0.then_some(()));
    assert!(granted.is_some(), "the policy set through another gateway never granted the read: {}", as_team(&others[0], &["get", "s3://grp/through-0", "-"]).1);
    let (ok, out) = as_team(&others[1], &["admin", "status"]);
    assert!(!ok && out.contains("not an admin key"), "{out}");

    // A conditional write is one compare-and-swap across the group: If-Match increments
    // through all three gateways add up, and of six racing If-None-Match creates one wins.
    let eps: Vec<String> = std::iter::once(&c.gw).chain(others.iter()).map(|g| g.endpoint.clone()).collect();
    c.gw.py("conditional.py", &["counter", "grp-count", "n", "6", "5", &eps.join(",")]);
    others[1].py("conditional.py", &["writes", "grp-cond"]);
    // Tags set through a follower are read through the other gateways.
    others[0].py("tagging.py", &["set", "grp-tags"]);
    others[1].py("tagging.py", &["still", "grp-tags"]);
    c.gw.py("tagging.py", &["still", "grp-tags"]);
    // Versions written and deleted through a follower read through the leader.
    others[0].py("versioning.py", &["set", "grp-vers"]);
    c.gw.py("versioning.py", &["still", "grp-vers"]);
    // Object lock set and enforced through a follower holds through the leader.
    others[1].py("object_lock.py", &["set", "grp-lock"]);
    c.gw.py("object_lock.py", &["still", "grp-lock"]);
    others[1].py("cors.py", &["grp-cors"]);
    // Objects encrypted through a follower (the master key made there) read through the leader.
    others[1].py("sse.py", &["write", "grp-sse", "KINTSUGI-GROUP-SSE"]);
    c.gw.py("sse.py", &["still", "grp-sse", "KINTSUGI-GROUP-SSE"]);
    // Lifecycle rules set through a follower are carried out by the leader's worker.
    others[0].py("lifecycle.py", &["expire", "grp-lc"]);
    c.gw.py("corners.py", &["grp-corners"]);
    others[0].py("answers.py", &["grp-answers"]);

    // Kill the leader; writes resume through the survivors, nothing acknowledged is lost.
    let leader = list["leader"].as_str().expect("a leader").to_owned();
    let started = Instant::now();
    match leader.as_str() {
        "gw1" => c.gw.kill9(),
        "gw2" => others[0].kill9(),
        _ => others[1].kill9(),
    }
    let survivors: Vec<&Server> = std::iter::once(&c.gw).chain(others.iter()).zip(["gw1", "gw2", "gw3"]).filter(|(_, n)| *n != leader).map(|(g, _)| g).collect();
    let data = common::pseudo_random(99, 200 * KIB as usize);
    let src = write_file(survivors[0], "after", &data);
    let ok = poll(Duration::from_secs(30), Duration::from_millis(100), || put(survivors[0], &src, "s3://grp/after").ok());
    assert!(ok.is_some(), "no write succeeded within 30 s of the leader's death:\n{}", survivors[0].log_tail(30));
    eprintln!("first successful write {:?} after the leader was killed", started.elapsed());
    written.push(("s3://grp/after".into(), data));
    for gw in &survivors {
        for (key, data) in &written {
            assert_reads(gw, key, data);
        }
    }
    let list = gateways(survivors[1]);
    assert_eq!(list["quorum"], true, "{list:#}");
    assert_ne!(list["leader"].as_str(), Some(leader.as_str()), "{list:#}");

    // The old leader comes back as a follower and catches up.
    match leader.as_str() {
        "gw1" => c.gw.restart(),
        "gw2" => others[0].restart(),
        _ => others[1].restart(),
    }
    let back = match leader.as_str() {
        "gw1" => &c.gw,
        "gw2" => &others[0],
        _ => &others[1],
    };
    for (key, data) in &written {
        assert_reads(back, key, data);
    }
}

#[test]
fn without_a_majority_writes_fail_quickly_and_resume_when_a_gateway_returns() {
    let _g = common::slot();
    let (c, mut others) = group_of_three();
    c.gw.run_ok(c.kintsugi(&["mb", "s3://quo"]), "kintsugi mb");
    let data = common::pseudo_random(5, 100 * KIB as usize);
    let src = write_file(&c.gw, "src", &data);
    put(&c.gw, &src, "s3://quo/before").expect("put with three gateways");
    others[0].kill9();
    others[1].kill9();
    let started = Instant::now();
    let err = put(&c.gw, &src, "s3://quo/lonely").expect_err("a write without a majority must fail");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "the refused write took {took:?}");
    assert!(err.contains("503") || err.to_lowercase().contains("unavailable") || err.contains("majority"), "{err}");
    let st = c.gw.admin_json(&["status"]);
    assert_eq!(st["group"]["quorum"], false, "{st:#}");
    // One gateway back: a majority again, writes resume and nothing was half-applied.
    others[0].restart();
    let ok = poll(Duration::from_secs(30), Duration::from_millis(200), || put(&c.gw, &src, "s3://quo/again").ok());
    assert!(ok.is_some(), "writes did not resume with two of three gateways:\n{}", c.gw.log_tail(30));
    assert_reads(&c.gw, "s3://quo/before", &data);
    assert_reads(&others[0], "s3://quo/again", &data);
    let out = c.gw.kintsugi(&["stat", "s3://quo/lonely"]).output().expect("stat");
    assert!(!out.status.success(), "the refused write must not exist");
}

#[test]
fn a_group_whose_gateways_all_restart_one_by_one_comes_back_whole() {
    let _g = common::slot();
    let (mut c, mut others) = group_of_three();
    c.gw.run_ok(c.kintsugi(&["mb", "s3://again"]), "kintsugi mb");
    let data = common::pseudo_random(11, 150 * KIB as usize);
    let src = write_file(&c.gw, "src", &data);
    put(&others[1], &src, "s3://again/before").expect("put with three gateways");
    // Every gateway down; then back one at a time. Each starts without a majority (it
    // must: the others wait for it too) and says so; two make a majority again.
    c.gw.kill9();
    others[0].kill9();
    others[1].kill9();
    c.gw.restart();
    let st = c.gw.admin_json(&["status"]);
    assert_eq!(st["group"]["quorum"], false, "{st:#}");
    others[0].restart();
    let ok = poll(Duration::from_secs(30), Duration::from_millis(200), || put(&others[0], &src, "s3://again/after").ok());
    assert!(ok.is_some(), "writes did not resume with two of three gateways back:\n{}", others[0].log_tail(30));
    others[1].restart();
    for gw in std::iter::once(&c.gw).chain(others.iter()) {
        assert_reads(gw, "s3://again/before", &data);
        assert_reads(gw, "s3://again/after", &data);
    }
    // Each came back on a new S3 port: the group records the new addresses, so an admin
    // change sent to a follower still reaches the leader.
    let all: Vec<&Server> = std::iter::once(&c.gw).chain(others.iter()).collect();
    let recorded = poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let l = gateways(&c.gw);
        let members = l["gateways"].as_array()?;
        all.iter().all(|g| members.iter().any(|m| m["node"]["s3"] == g.endpoint.trim_start_matches("http://"))).then_some(())
    });
    assert!(recorded.is_some(), "the group kept old S3 addresses: {:#}", gateways(&c.gw));
    let leader = gateways(&c.gw)["leader"].as_str().expect("a leader").to_owned();
    let follower = *all.iter().find(|g| gateways(g)["this"] != leader.as_str()).expect("a follower");
    let scrub = follower.admin_json(&["scrub"]);
    assert!(scrub["shards_checked"].as_u64().is_some_and(|n| n > 0), "{scrub:#}");
}

#[test]
fn admin_changes_sent_to_a_follower_run_on_the_leader_and_every_gateway_forgets_a_removed_node() {
    let _g = common::slot();
    // The gateways serve HTTPS with one shared certificate: clients and the follower's
    // forward to the leader go over TLS (a forward that does not speak it fails the drain).
    let pki = tempfile::tempdir().expect("pki dir");
    let cert = common::tls::self_signed(pki.path(), "group");
    let (mut c, others) = group_of_three_with(&cert.flags());
    assert!(others.iter().chain([&c.gw]).all(|g| g.endpoint.starts_with("https://")), "every gateway serves HTTPS");
    let n4 = c.add_node("n4", 1);
    let token = c.token.clone();
    c.nodes[n4].start(&token);
    let mut node = c.nodes.pop().expect("n4");
    let all: Vec<&Server> = std::iter::once(&c.gw).chain(others.iter()).collect();
    let leader = gateways(&c.gw)["leader"].as_str().expect("a leader").to_owned();
    let follower = *all.iter().find(|g| gateways(g)["this"] != leader.as_str()).expect("a follower");
    let disk_count = |g: &Server| g.admin_json(&["status"])["disks"].as_array().map_or(0, Vec::len);
    for g in &all {
        let ok = poll(Duration::from_secs(30), Duration::from_millis(200), || (disk_count(g) == 4).then_some(()));
        assert!(ok.is_some(), "a gateway never registered n4's disk: {:#}", g.admin_json(&["status"]));
    }

    // A drain sent to a follower runs on the leader (the follower forwards it, signature and all).
    let done = follower.admin_json(&["node", "drain", "n4", "--wait"]);
    assert_eq!(done["state"], "decommissioned", "{done:#}");
    node.kill9();
    let down = poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let st = follower.admin_json(&["status"]);
        (Cluster::node_state(&st, "n4").as_deref() == Some("down")).then_some(())
    });
    assert!(down.is_some(), "n4 never went down");
    let removed = poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let out = follower.kintsugi(&["admin", "node", "remove", "n4", "--json"]).output().expect("kintsugi admin node remove");
        out.status.success().then_some(())
    });
    assert!(removed.is_some(), "the removal through a follower never went through");

    // Every gateway forgets the node and its disk, not only the leader that removed them.
    for g in &all {
        let gone = poll(Duration::from_secs(15), Duration::from_millis(200), || {
            let st = g.admin_json(&["status"]);
            (Cluster::node_state(&st, "n4").is_none() && disk_count(g) == 3).then_some(())
        });
        assert!(gone.is_some(), "a gateway still has the removed node: {:#}", g.admin_json(&["status"]));
    }
}

#[test]
fn a_new_leader_takes_up_the_rebalance_its_predecessor_was_running() {
    let _g = common::slot();
    let (mut c, others) = group_of_three();
    let objs = common::objects("rb", 7000, &[], 60, 300 * KIB);
    let m = c.gw.manifest("rb", "rebal", &objs);
    let m = m.to_str().expect("utf-8").to_owned();
    c.gw.py("data.py", &["write-mp", &m]);
    let n4 = c.add_node("n4", 1);
    let token = c.token.clone();
    c.nodes[n4].start(&token);
    for g in std::iter::once(&c.gw).chain(others.iter()) {
        let ok = poll(Duration::from_secs(30), Duration::from_millis(200), || (g.admin_json(&["status"])["disks"].as_array().map_or(0, Vec::len) == 4).then_some(()));
        assert!(ok.is_some(), "a gateway never registered n4's disk");
    }
    assert_eq!(gateways(&c.gw)["leader"], "gw1");
    // At 1 MiB/s the rebalance onto n4 is still running when its leader dies.
    let v = c.admin_json(&["rebalance", "--tolerance", "10", "--bandwidth", "1"]);
    assert_eq!(v["state"], "running", "{v:#}");
    let mut last = serde_json::Value::Null;
    let midway = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        last = c.admin_json(&["rebalance", "--status"]);
        (last["shards_moved"].as_u64() > Some(0) && last["state"] == "running").then_some(())
    });
    assert!(midway.is_some(), "never caught the rebalance midway: {last:#}");
    c.gw.kill9();
    let survivor = &others[0];
    let taken_up = poll(Duration::from_secs(60), Duration::from_millis(300), || {
        let out = survivor.kintsugi(&["admin", "rebalance", "--status", "--json"]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["state"] == "running" || v["state"] == "balanced").then_some(v)
    });
    assert!(taken_up.is_some(), "the new leader did not take the rebalance up:\n{}\n{}", survivor.log_tail(20), others[1].log_tail(20));
    let done = survivor.admin_json(&["rebalance", "--status", "--wait"]);
    assert_eq!(done["state"], "balanced", "{done:#}");
    let on_n4 = survivor.admin_json(&["disk", "list"])["disks"].as_array().expect("disks").iter().find(|d| d["node"] == "n4").map(|d| d["shards"].clone());
    assert!(on_n4.as_ref().and_then(serde_json::Value::as_u64).is_some_and(|n| n > 0), "n4 holds no shards: {on_n4:?}");
    survivor.py("data.py", &["verify", &m]);
}

#[test]
fn a_gateway_whose_meta_is_wiped_rejoins_under_its_name_and_serves_the_same_data() {
    let _g = common::slot();
    let (c, mut others) = group_of_three();
    let objs = common::objects("wipe", 7100, &[9 * common::MIB], 30, 200 * KIB);
    let m = c.gw.manifest("wipe", "wiped", &objs);
    let m = m.to_str().expect("utf-8").to_owned();
    c.gw.py("data.py", &["write-mp", &m]);

    // gw2 loses everything under --meta (its Raft id, log, snapshot, store and secrets) and
    // starts again with its --join token, its name and its address.
    others[0].kill9();
    std::fs::remove_dir_all(others[0].meta_dir()).expect("wiping gw2's --meta");
    others[0].restart();
    let list = poll(Duration::from_secs(60), Duration::from_millis(300), || {
        let l = gateways(&c.gw);
        let members = l["gateways"].as_array()?;
        let gw2 = members.iter().find(|g| g["node"]["name"] == "gw2")?;
        (members.len() == 3 && l["quorum"] == true && gw2["role"] == "follower").then_some(l)
    });
    assert!(list.is_some(), "gw2 did not rejoin: {:#}\n{}", gateways(&c.gw), others[0].log_tail(30));
    // It caught up: it serves every object, and takes writes.
    others[0].py("data.py", &["verify", &m]);
    let data = common::pseudo_random(5, 100 * KIB as usize);
    put(&others[0], &write_file(&others[0], "after-wipe", &data), "s3://wiped/after-wipe").expect("a write through the rejoined gateway");
    assert_reads(&others[1], "s3://wiped/after-wipe", &data);
}

/// A gateway whose metadata engine fails stops, with an error that says what to do, instead of
/// answering 503 for ever; started again on a whole directory it serves all it acknowledged.
/// The fault is real: the snapshot directory becomes a file, so the snapshot openraft asks for
/// every 10 entries cannot be written (a failing or full metadata disk does the same).
#[test]
fn a_gateway_whose_metadata_engine_fails_stops_and_a_restart_recovers_it() {
    let _g = common::slot();
    let mut flags = group_flags("gw1");
    flags.extend(["--raft-snapshot-every".to_owned(), "10".to_owned(), "--cluster-listen".to_owned(), format!("127.0.0.1:{}", free_udp_port())]);
    let mut gw = Server::start(Opts { gateway: Some(flags), ..Opts::default() });
    let snapshots = gw.meta_dir().join("raft-snapshots");
    let aside = gw.meta_dir().join("raft-snapshots.aside");
    assert!(snapshots.is_dir(), "no snapshot directory at {}", snapshots.display());
    std::fs::rename(&snapshots, &aside).expect("moving the snapshot directory aside");
    std::fs::write(&snapshots, b"not a directory").expect("a file where the snapshots go");
    // Bucket creations are metadata writes: within 10 of them the engine wants a snapshot.
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        if !gw.is_running() {
            break;
        }
        let b = format!("engine-{i}");
        match gw.kintsugi(&["mb", &format!("s3://{b}")]).output() {
            Ok(o) if o.status.success() => acked.push(b),
            _ => refused += 1,
        }
    }
    let status = poll(Duration::from_secs(60), Duration::from_millis(200), || gw.exited());
    let log = gw.log_tail(40);
    let Some(status) = status else { panic!("the gateway went on running with its metadata engine stopped ({} acknowledged, {refused} refused)\n{log}", acked.len()) };
    assert!(!status.success(), "a gateway whose engine failed must exit non-zero, not {status}\n{log}");
    assert!(log.contains("metadata engine stopped") && log.contains("Start the gateway again"), "the exit must say why and what to do:\n{log}");
    assert!(!acked.is_empty(), "no bucket creation acknowledged before the failure\n{log}");

    // The directory whole again: a start serves every acknowledged bucket and takes writes.
    std::fs::remove_file(&snapshots).expect("removing the file");
    std::fs::rename(&aside, &snapshots).expect("putting the snapshot directory back");
    gw.restart();
    let out = gw.run_ok(gw.aws(&["s3api", "list-buckets", "--output", "json"]), "aws s3api list-buckets");
    let listed: serde_json::Value = serde_json::from_str(&out).expect("list-buckets answers JSON");
    let names: Vec<&str> = listed["Buckets"].as_array().map(|b| b.iter().filter_map(|b| b["Name"].as_str()).collect()).unwrap_or_default();
    for b in &acked {
        assert!(names.contains(&b.as_str()), "acknowledged bucket {b} lost across the restart: {names:?}");
    }
    gw.run_ok(gw.kintsugi(&["mb", "s3://engine-after"]), "a write after the restart");
}

/// The cluster's secrets are part of the replicated metadata: a gateway that lost its copy of
/// them (the files under `--meta/cluster`) but kept its metadata starts again without a token,
/// holding the group's CA, and serves.
#[test]
fn a_gateway_that_lost_its_secret_files_takes_them_back_from_the_replicated_metadata() {
    let _g = common::slot();
    let (c, mut others) = group_of_three();
    let ca_key = |s: &Server| std::fs::read_to_string(s.meta_dir().join("cluster").join("ca.key")).expect("reading ca.key");
    let group_ca = ca_key(&c.gw);
    assert_eq!(ca_key(&others[0]), group_ca, "a joined gateway holds the group's CA");
    others[0].kill9();
    std::fs::remove_dir_all(others[0].meta_dir().join("cluster")).expect("removing gw2's secret files");
    others[0].remove_flag("--join");
    others[0].restart();
    // Asked itself: it follows a leader that accepts its certificate.
    let back = poll(Duration::from_secs(60), Duration::from_millis(300), || {
        let out = others[0].kintsugi(&["admin", "gateway", "list", "--json"]).output().ok()?;
        let l: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let gw2 = l["gateways"].as_array()?.iter().find(|g| g["node"]["name"] == "gw2")?.clone();
        (l["quorum"] == true && gw2["role"] == "follower").then_some(())
    });
    assert!(back.is_some(), "gw2 did not come back: {:#}\n{}", gateways(&c.gw), others[0].log_tail(30));
    assert_eq!(ca_key(&others[0]), group_ca, "gw2 took back the group's CA");
    c.gw.run_ok(c.kintsugi(&["mb", "s3://secrets"]), "kintsugi mb");
    let data = common::pseudo_random(9, 64 * KIB as usize);
    put(&others[0], &write_file(&others[0], "after-loss", &data), "s3://secrets/after-loss").expect("a write through gw2");
    assert_reads(&others[1], "s3://secrets/after-loss", &data);
}

/// Gateway `i` of a group (0: the cluster's first, then `others`).
fn nth<'a>(c: &'a Cluster, others: &'a [Server], i: usize) -> &'a Server {
    if i == 0 { &c.gw } else { &others[i - 1] }
}

fn nth_mut<'a>(c: &'a mut Cluster, others: &'a mut [Server], i: usize) -> &'a mut Server {
    if i == 0 { &mut c.gw } else { &mut others[i - 1] }
}

/// Start `data.py write-acked` of `objs` through `gw`.
fn start_writer(gw: &Server, name: &str, objs: &[(String, u64, u64)]) -> std::process::Child {
    let m = gw.manifest(name, "load", objs);
    gw.py_spawn("data.py", &["write-acked", m.to_str().expect("utf-8")])
}

/// The objects a writer says were acknowledged, and how many it says failed.
fn acked(child: std::process::Child, objs: &[(String, u64, u64)]) -> (Vec<(String, u64, u64)>, usize) {
    let out = child.wait_with_output().expect("the writer");
    assert!(out.status.success(), "the writer crashed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let keys: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("acked ")).collect();
    let failed = text.lines().filter(|l| l.starts_with("failed ")).count();
    (objs.iter().filter(|o| keys.contains(&o.0.as_str())).cloned().collect(), failed)
}

#[test]
fn under_writes_a_killed_follower_costs_no_write_and_a_killed_leader_loses_no_acknowledged_object() {
    let _g = common::slot();
    let (mut c, mut others) = group_of_three();
    c.gw.run_ok(c.kintsugi(&["mb", "s3://load"]), "kintsugi mb");
    let names = ["gw1", "gw2", "gw3"];
    let leader_of = |c: &Cluster| names.iter().position(|n| gateways(&c.gw)["leader"] == *n).expect("a leader");
    let li = leader_of(&c);
    let (f1, f2) = match li {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };

    // Writers through the leader and one follower; the other follower is SIGKILLed midway.
    let a = common::objects("a", 8100, &[], 120, 150 * KIB);
    let b = common::objects("b", 8200, &[], 120, 150 * KIB);
    let wa = start_writer(nth(&c, &others, li), "a", &a);
    let wb = start_writer(nth(&c, &others, f1), "b", &b);
    std::thread::sleep(Duration::from_millis(700));
    nth_mut(&mut c, &mut others, f2).kill9();
    let (ok_a, failed_a) = acked(wa, &a);
    let (ok_b, failed_b) = acked(wb, &b);
    assert_eq!((failed_a, failed_b), (0, 0), "writes failed while a follower died");
    assert_eq!((ok_a.len(), ok_b.len()), (120, 120));
    let m = nth(&c, &others, f1).manifest("ab", "load", &[a.clone(), b.clone()].concat());
    nth(&c, &others, f1).py("data.py", &["verify", m.to_str().expect("utf-8")]);
    nth_mut(&mut c, &mut others, f2).restart();

    // Writers through all three; the leader is SIGKILLed midway. Some writes fail (those in
    // flight on the dead gateway, and during the election); every acknowledged one is kept.
    let sets: Vec<Vec<(String, u64, u64)>> = (0..3).map(|i| common::objects(&format!("k{i}"), 8300 + 100 * i as u64, &[], 80, 150 * KIB)).collect();
    let writers: Vec<_> = (0..3).map(|i| start_writer(nth(&c, &others, i), &format!("k{i}"), &sets[i])).collect();
    std::thread::sleep(Duration::from_millis(700));
    nth_mut(&mut c, &mut others, li).kill9();
    let mut kept = Vec::new();
    for (w, objs) in writers.into_iter().zip(&sets) {
        kept.extend(acked(w, objs).0);
    }
    assert!(kept.len() > 50, "too few writes were acknowledged to tell anything: {}", kept.len());
    let survivor = nth(&c, &others, f1);
    let m = survivor.manifest("kept", "load", &kept);
    survivor.py("data.py", &["verify", m.to_str().expect("utf-8")]);
    nth(&c, &others, f2).py("data.py", &["verify", m.to_str().expect("utf-8")]);
}

/// Every gateway of a group renews its own certificate, the joined ones too (their first
/// certificate came from the group under their own `--name` but says `gateway`), so a group
/// outlives its certificates: after more than two validity periods the gateways still reach
/// each other and the nodes, and every one serves writes and reads.
#[test]
fn joined_gateways_renew_their_certificates_and_the_group_outlives_them() {
    let _g = common::slot();
    let (c, others) = group_of_three_with(&["--cert-validity".to_owned(), "30s".to_owned()]);
    c.gw.run_ok(c.kintsugi(&["mb", "s3://renew"]), "kintsugi mb");
    std::thread::sleep(Duration::from_secs(70));
    for gw in std::iter::once(&c.gw).chain(others.iter()) {
        let log = gw.log_tail(100_000);
        assert!(log.contains("the gateway's certificate renewed"), "{} never renewed its certificate:\n{log}", gw.endpoint);
        assert!(!log.contains("could not renew the gateway's certificate"), "{} failed to renew:\n{log}", gw.endpoint);
    }
    let list = gateways(&others[1]);
    assert_eq!(list["quorum"], true, "{list:#}");
    for (i, gw) in std::iter::once(&c.gw).chain(others.iter()).enumerate() {
        let st = gw.admin_json(&["status"]);
        let up = st["nodes"].as_array().map_or(0, |n| n.iter().filter(|n| n["state"] == "up").count());
        assert_eq!(up, 3, "nodes as gateway {i} sees them after renewals: {st:#}");
        let data = common::pseudo_random(40 + i as u64, 200 * KIB as usize);
        let key = format!("s3://renew/after-{i}");
        put(gw, &write_file(gw, &format!("renew{i}"), &data), &key).expect("put after renewals");
        for reader in std::iter::once(&c.gw).chain(others.iter()) {
            assert_reads(reader, &key, &data);
        }
    }
}

/// `kintsugi gateway`, with no `KINTSUGI_*` variable of the test's environment.
fn gateway_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.arg("gateway");
    for (k, _) in std::env::vars() {
        if k.starts_with("KINTSUGI_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Run a gateway that joins the group with `token` to its end (a refused join); its stderr.
fn refused_gateway_join(c: &Cluster, name: &str, token: &str) -> String {
    let meta = c.gw.scratch().join(format!("meta-{name}-{}", common::random_string(6)));
    let mut cmd = gateway_command();
    cmd.args(["--name", name, "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0", "--join-wait", "5s", "--join", token]).arg("--meta").arg(&meta);
    let out = cmd.env("NO_COLOR", "1").stdin(std::process::Stdio::null()).output().expect("running kintsugi gateway");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "gateway {name} joined with a token that should not admit it:\n{text}");
    text
}

#[test]
fn gateway_tokens_expire_admit_only_gateways_count_their_uses_and_are_revoked_with_the_rest() {
    let _g = common::slot();
    let flags = group_flags("gw1");
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut c = Cluster::start(1, 1, &refs, Some(65536));
    let token = |c: &Cluster, args: &[&str]| -> String {
        let mut all = vec!["gateway", "join-token"];
        all.extend_from_slice(args);
        c.admin_json(&all)["token"].as_str().expect("gateway token").to_owned()
    };

    // An expired gateway token admits no gateway.
    let short = token(&c, &["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(1500));
    let out = refused_gateway_join(&c, "gw2", &short);
    assert!(out.contains("expired") && out.contains("kintsugi admin gateway join-token"), "{out}");
    // A node token admits no gateway, and a gateway token no node.
    let out = refused_gateway_join(&c, "gw2", &c.token.clone());
    assert!(out.contains("not a gateway join token"), "{out}");
    let once = token(&c, &["--uses", "1"]);
    let i = c.add_node("n2", 1);
    let (ok, log) = c.nodes[i].run_once(&once);
    assert!(!ok && log.contains("gateway join token, not a storage node's"), "a gateway token admitted a node:\n{log}");
    // A token of one use admits one gateway, then no other.
    let gw2 = join_gateway("gw2", &once, &[]);
    let joined = poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let l = gateways(&c.gw);
        (l["gateways"].as_array()?.len() == 2 && l["quorum"] == true).then_some(())
    });
    assert!(joined.is_some(), "gw2 did not join: {:#}\n{}", gateways(&c.gw), gw2.log_tail(30));
    let out = refused_gateway_join(&c, "gw3", &once);
    assert!(out.contains("used for all the 1 joins"), "{out}");
    // Revoking every join token revokes gateway tokens too.
    let fresh = token(&c, &[]);
    c.admin_json(&["join-token", "--revoke-all"]);
    let out = refused_gateway_join(&c, "gw3", &fresh);
    assert!(out.contains("unknown or was revoked"), "{out}");
}

/// The open write intents and shard files of the cluster, as the leader counts them.
fn open_writes(gw: &Server) -> u64 {
    gw.admin_json(&["status"])["writes_open"].as_u64().expect("writes_open in the status")
}

fn shard_file_count(c: &Cluster) -> usize {
    c.nodes.iter().map(|n| n.shard_files().len()).sum()
}

/// A counter summed over the gateways that are up (whichever leads, and whenever it changed).
fn counted(gws: &[&Server], name: &str) -> f64 {
    gws.iter().map(|g| g.metrics().get(name).copied().unwrap_or(0.0)).sum()
}

/// A gateway SIGKILLed in the middle of a PUT leaves that write's intents open, with the shard
/// files of the segment it had finished. While the gateway is down nothing is given up (it
/// cannot be asked); once it is back (and claims none of its old writes), the leader's intent
/// sweep gives them up and GC deletes the files. A slow write through another gateway, with a
/// finished segment of its own, is in flight all the while: it is left alone and reads back
/// byte-exact.
#[test]
fn a_write_whose_gateway_was_killed_is_swept_once_the_gateway_is_back_and_a_slow_write_is_not() {
    let _g = common::slot();
    let sweep: Vec<String> = ["--intent-sweep-interval=500ms", "--intent-sweep-age=1s"].iter().map(|s| (*s).to_owned()).collect();
    let (mut c, mut others) = group_of_three_with(&sweep);
    c.gw.run_ok(c.kintsugi(&["mb", "s3://sweep"]), "kintsugi mb");
    let names = ["gw1", "gw2", "gw3"];
    let li = names.iter().position(|n| gateways(&c.gw)["leader"] == *n).expect("a leader");
    let (f1, f2) = match li {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    // Segments are 64 MiB: each body finishes one segment (three shard files at 2+1) and
    // then keeps its second one open (two intents each).
    let (size, first) = ((66 << 20).to_string(), (65 << 20).to_string());
    let go = nth(&c, &others, f1).scratch().join("go");
    let before = shard_file_count(&c);
    let slow = nth(&c, &others, f1).py_spawn("stalled.py", &["slow", "sweep", "slow", &size, &first, "2", go.to_str().expect("utf-8")]);
    let mut stalled = nth(&c, &others, f2).py_spawn("stalled.py", &["stall", "sweep", "dead", &size, &first]);
    // Both first segments finished, and both second segments' intents recorded.
    let finished = common::poll(Duration::from_secs(60), Duration::from_millis(200), || (shard_file_count(&c) >= before + 6 && open_writes(&c.gw) == 4).then_some(()));
    assert!(finished.is_some(), "the two writes never finished their first segments: {} shard files, {before} before; {} open writes", shard_file_count(&c), open_writes(&c.gw));
    nth_mut(&mut c, &mut others, f2).kill9();
    let _ = stalled.kill();
    let _ = stalled.wait();

    // Down, the gateway cannot say what it writes (asking it times out): nothing is given up.
    let up = [nth(&c, &others, li), nth(&c, &others, f1)];
    let asked = common::poll(Duration::from_secs(30), Duration::from_millis(200), || (counted(&up, "kintsugi_intent_sweeps_undecided_total") > 0.0).then_some(()));
    assert!(asked.is_some(), "the sweep never tried to ask the dead gateway");
    assert_eq!(counted(&up, "kintsugi_intents_swept_total"), 0.0, "an intent was swept while a gateway could not be asked");
    assert_eq!(open_writes(up[0]), 4, "two writes of two segments each are open");
    assert_eq!(shard_file_count(&c), before + 6);

    // Back, it claims none of its old writes: they are given up and their files deleted; the
    // slow write, still in flight, keeps its intents and its finished segment.
    nth_mut(&mut c, &mut others, f2).restart();
    // (Read on the gateway that writes the slow object: its copy of the metadata.)
    let seen = nth(&c, &others, f1);
    let swept = common::poll(Duration::from_secs(60), Duration::from_millis(300), || {
        let st = seen.admin_json(&["status"]);
        (st["writes_open"] == 2 && st["garbage_pending"] == 0 && shard_file_count(&c) == before + 3).then_some(())
    });
    assert!(
        swept.is_some(),
        "the dead write was not swept, or the slow one was: {} open writes, {} shard files ({before} before)\n{:#}",
        open_writes(seen),
        shard_file_count(&c),
        seen.admin_json(&["status"])
    );
    let all: Vec<&Server> = (0..3).map(|i| nth(&c, &others, i)).collect();
    assert_eq!(counted(&all, "kintsugi_intents_swept_total"), 2.0, "the dead write's two intents, and nothing else");

    // The slow write ends now: committed, whole, through every gateway.
    std::fs::write(&go, b"go").expect("go file");
    let out = slow.wait_with_output().expect("the slow writer");
    assert!(out.status.success(), "the slow write failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let settled = common::poll(Duration::from_secs(30), Duration::from_millis(300), || (open_writes(seen) == 0 && shard_file_count(&c) == before + 6).then_some(()));
    assert!(settled.is_some(), "after the slow write: {} open writes, {} shard files ({before} before)", open_writes(seen), shard_file_count(&c));
    for i in 0..3 {
        nth(&c, &others, i).py("stalled.py", &["verify", "sweep", "slow", &size]);
    }
}

/// `kintsugi gateway` named `name` on `meta`, its cluster service on `cluster_port`, with
/// `extra` flags; its stdout and stderr go to `log`.
fn gateway_process(name: &str, meta: &Path, cluster_port: u16, extra: &[&str], log: &Path) -> std::process::Child {
    let mut cmd = gateway_command();
    cmd.args(group_flags(name)).args(["--listen", "127.0.0.1:0", "--cluster-listen", &format!("127.0.0.1:{cluster_port}")]).arg("--meta").arg(meta).args(extra);
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("opening the gateway's log");
    let err = out.try_clone().expect("cloning the log's handle");
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1").stdin(std::process::Stdio::null()).stdout(out).stderr(err).spawn().expect("starting kintsugi gateway")
}

/// Wait up to 60 s for `child` to exit; kill it and fail if it does not.
fn exit_of(mut child: std::process::Child, what: &str, log: &Path) -> std::process::ExitStatus {
    let status = poll(Duration::from_secs(60), Duration::from_millis(100), || child.try_wait().ok().flatten());
    match status {
        Some(st) => st,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after 60 s\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
    }
}

/// A gateway whose metadata holds the group's (with it the replicated CA and secrets) but
/// whose Raft id has no vote — as a join leaves it when a stop cuts it off after the snapshot
/// and before the vote, or as a removed gateway is. The cut-off join cannot be timed from
/// outside (the vote follows the snapshot within milliseconds), so the state is made
/// deterministically: a member's `--meta` copied under a new Raft id (one the group does not
/// know, where a cut-off join's would be a learner), without its secret files. The start's
/// check is the same for both: not a voter, and not made one by the leader. (A learner
/// enrolling again is `crates/raft`'s test.)
#[test]
fn a_gateway_with_the_groups_metadata_but_no_vote_refuses_to_start_alone_and_its_token_makes_it_a_member() {
    let _g = common::slot();
    let (c, mut others) = group_of_three();
    let meta = c.gw.scratch().join("meta-gw4");
    others[0].kill9();
    common::copy_tree(&others[0].meta_dir(), &meta);
    others[0].restart();
    std::fs::remove_dir_all(meta.join("cluster")).expect("removing the copy's secret files");
    std::fs::remove_file(meta.join("raft-id")).expect("removing the copy's Raft id");
    let log = c.gw.scratch().join("gw4.log");
    let port = free_udp_port();

    // Started without a token, it refuses, and keeps refusing: its metadata holds the group's
    // CA, but it is no member any gateway would trust.
    for attempt in 1..=2 {
        let child = gateway_process("gw4", &meta, port, &[], &log);
        let st = exit_of(child, &format!("start {attempt} of a gateway without a vote"), &log);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!st.success(), "start {attempt}: gw4 ran as a member without a vote:\n{text}");
        assert!(text.matches("not a voting member").count() >= attempt, "start {attempt}: {text}");
        assert!(!meta.join("cluster").exists(), "start {attempt}: the refused start wrote the group's secrets as its own");
    }

    // With a token it joins: a voter, serving what the group holds.
    let token = c.admin_json(&["gateway", "join-token"])["token"].as_str().expect("gateway token").to_owned();
    let mut joined = gateway_process("gw4", &meta, port, &["--join", &token], &log);
    let voter = poll(Duration::from_secs(90), Duration::from_millis(300), || {
        let l = gateways(&c.gw);
        let gw4 = l["gateways"].as_array()?.iter().find(|g| g["node"]["name"] == "gw4")?.clone();
        (l["quorum"] == true && gw4["role"] == "follower").then_some(())
    });
    let _ = joined.kill();
    let _ = joined.wait();
    assert!(voter.is_some(), "gw4 did not join: {:#}\n{}", gateways(&c.gw), std::fs::read_to_string(&log).unwrap_or_default());
}

/// A gateway started to join a group (`--join`) from a `--meta` that holds a group's secrets but
/// no Raft log — here a backup's files put in place by hand (`--restore` itself cannot be given
/// with `--join`) — must not form a group of its own beside the running one (a second leader the
/// nodes would obey, with the cluster's CA): it refuses, and the group goes on as it was.
#[test]
fn a_gateway_asked_to_join_from_restored_metadata_refuses_instead_of_forming_a_second_group() {
    let _g = common::slot();
    let (c, _others) = group_of_three();
    let backup = c.gw.scratch().join("gw-backup");
    c.gw.run_ok(c.kintsugi(&["admin", "meta", "backup", backup.to_str().expect("utf-8")]), "kintsugi admin meta backup");
    let meta = c.gw.scratch().join("meta-gw4");
    common::copy_tree(&backup, &meta);
    assert!(meta.join("cluster").join("ca.key").is_file() && !meta.join("raft").exists(), "the backup's layout changed");
    let token = c.admin_json(&["gateway", "join-token"])["token"].as_str().expect("gateway token").to_owned();
    let log = c.gw.scratch().join("gw4.log");
    let child = gateway_process("gw4", &meta, free_udp_port(), &["--join", &token], &log);
    let st = exit_of(child, "a gateway joining from restored metadata", &log);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!st.success(), "gw4 started from restored metadata with --join:\n{text}");
    assert!(text.contains("would split the cluster"), "{text}");
    assert!(!meta.join("raft").exists(), "the refused start began a Raft log");
    let l = gateways(&c.gw);
    assert_eq!((l["quorum"].as_bool(), l["gateways"].as_array().map(Vec::len)), (Some(true), Some(3)), "{l:#}");
}

/// A group's backup started with `--restore` forms a new group of one. If that first start
/// fails after the copy (here: its cluster port is taken), `--restore` cannot be given again
/// (the directory holds metadata now); started without it, the gateway must still start as
/// the restored one, not be taken for a member of the old group that lost its log.
#[test]
fn a_restore_whose_first_start_failed_starts_again_without_restore() {
    let _g = common::slot();
    let (c, _others) = group_of_three();
    let backup = c.gw.scratch().join("gw-backup-r");
    c.gw.run_ok(c.kintsugi(&["admin", "meta", "backup", backup.to_str().expect("utf-8")]), "kintsugi admin meta backup");
    let meta = c.gw.scratch().join("meta-restored");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP port to take");
    let port = taken.local_addr().expect("addr").port();
    let log = c.gw.scratch().join("restored.log");
    let child = gateway_process("gw9", &meta, port, &["--restore", backup.to_str().expect("utf-8")], &log);
    let st = exit_of(child, "a restore on a taken cluster port", &log);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!st.success() && text.contains("cannot bind the cluster service"), "{text}");
    assert!(meta.join("db").is_dir(), "the restore did not copy the metadata before the start failed:\n{text}");
    drop(taken);
    let mut child = gateway_process("gw9", &meta, free_udp_port(), &[], &log);
    let formed = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.contains("formed a metadata group of one") || child.try_wait().ok().flatten().is_some()).then_some(text)
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = formed.unwrap_or_default();
    assert!(text.contains("formed a metadata group of one") && !text.contains("would split the cluster"), "{text}");
}

/// A member whose Raft log is lost (its `raft` directory gone, the rest of `--meta` with the
/// group's secrets kept), started again as before, must not form a group of one with the
/// cluster's CA beside the running group: it refuses, naming the group's other members and
/// what to do, and begins no log.
#[test]
fn a_member_that_lost_its_raft_log_refuses_to_form_a_group_of_its_own() {
    let _g = common::slot();
    let (c, mut others) = group_of_three();
    others[1].kill9();
    let meta = others[1].meta_dir().to_path_buf();
    std::fs::remove_dir_all(meta.join("raft")).expect("removing gw3's Raft log");
    let log = c.gw.scratch().join("gw3-without-raft.log");
    let child = gateway_process("gw3", &meta, free_udp_port(), &[], &log);
    let st = exit_of(child, "a member without its Raft log", &log);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!st.success(), "gw3 started without its Raft log:\n{text}");
    assert!(text.contains("would split the cluster") && text.contains("gw1") && text.contains("--new-group"), "{text}");
    assert!(!meta.join("raft").exists(), "the refused start began a Raft log");
    let l = gateways(&c.gw);
    assert_eq!((l["quorum"].as_bool(), l["gateways"].as_array().map(Vec::len)), (Some(true), Some(3)), "{l:#}");
}
