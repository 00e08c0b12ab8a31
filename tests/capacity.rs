//! Node and disk lifecycle on a real cluster: drain a whole node and remove
//! it, kill a draining disk's node midway, add disks to running nodes and
//! rebalance onto them.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::{poll, KIB};
use serde_json::Value;

fn disks_of(status: &Value, node: &str) -> Vec<u64> {
    status["disks"].as_array().expect("disks").iter().filter(|d| d["node"] == node).filter_map(|d| d["id"].as_u64()).collect()
}

#[test]
fn a_whole_node_drains_is_removed_and_the_cluster_is_clean() {
    let _g = common::slot();
    let flags = ["--ec", "4+2", "--down-after", "1", "--lost-after", "60", "--repair-interval", "0.5", "--gc-delay", "0", "--hedge-after", "0.2", "--request-deadline", "3"];
    let mut c = Cluster::start(7, 2, &flags, Some(65536));
    let objs = common::objects("node", 4000, &[0], 40, 600 * KIB);
    let manifest = c.gw.manifest("nodedrain", "nodedrain", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);
    let n3 = c.nodes[2].name.clone();
    let its_disks = disks_of(&c.status(), &n3);
    assert_eq!(its_disks.len(), 2);

    let done = c.admin_json(&["node", "drain", &n3, "--wait"]);
    assert_eq!(done["state"], "decommissioned", "{done:#}");
    assert_eq!(done["shards_remaining"], 0, "{done:#}");
    assert_eq!(done["bytes_remaining"], 0, "{done:#}");
    assert!(done["bytes_at_start"].as_u64().is_some_and(|b| b > 0), "{done:#}");
    assert!(done["disks"].as_array().is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["state"] == "decommissioned")), "{done:#}");
    c.assert_full_layout("nodedrain", &objs, 6, &[&n3]);
    let metrics = c.gw.metrics();
    assert_eq!(metrics.get(&format!("kintsugi_drain_decommissioned{{disk=\"{}\",node=\"{n3}\"}}", its_disks[0])), Some(&1.0), "{metrics:?}");

    // Still running: removal is refused with what to do.
    let err = c.admin_refused(&["node", "remove", &n3]);
    assert!(err.contains("stop"), "{err}");
    c.nodes[2].kill9();
    c.wait_states(&[(2, "down")], Duration::from_secs(20));
    let removed = c.admin_json(&["node", "remove", &n3]);
    assert_eq!(removed["disks"].as_array().map(Vec::len), Some(2), "{removed:#}");
    let st = c.status();
    assert!(Cluster::node_state(&st, &n3).is_none(), "the removed node is still in the map: {st:#}");
    assert!(disks_of(&st, &n3).is_empty(), "{st:#}");
    assert!(st["disks"].as_array().expect("disks").iter().all(|d| d["state"] == "ok"), "{st:#}");
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    removed_node_stays_out(&mut c, 2);

    // 6 nodes left for 6 shards per segment: draining another whole node is refused.
    let err = c.admin_refused(&["node", "drain", &c.nodes[3].name]);
    assert!(err.contains("failure domains") && err.contains("--force"), "{err}");
    c.gw.py("data.py", &["verify", manifest]);
    // The moved shards are real: with two more nodes gone every object still reads.
    c.nodes[4].kill9();
    c.nodes[6].kill9();
    c.gw.py("data.py", &["verify", manifest]);
}

/// Node `i` was removed: its certificate is revoked and its name is never admitted again.
fn removed_node_stays_out(c: &mut Cluster, i: usize) {
    let name = c.nodes[i].name.clone();
    let refused_before = c.gw.metrics().get("kintsugi_cluster_requests_refused_total").copied().unwrap_or(0.0);
    // Every other node hears of the removal and refuses that certificate from now on.
    let heard_of = |log: &str| log.lines().any(|l| l.contains("its certificate is refused from now on") && (l.contains(&format!("node={name}")) || l.contains(&format!("node=\"{name}\""))));
    for (j, n) in c.nodes.iter().enumerate() {
        if j == i {
            continue;
        }
        let heard = poll(Duration::from_secs(20), Duration::from_millis(200), || heard_of(&n.log()).then_some(()));
        assert!(heard.is_some(), "node {} never learnt of the removal of {name}:\n{}", n.name, n.log());
    }
    // Restarted with its old state (and certificate), it is refused and stays out of the map.
    let token = c.token.clone();
    c.nodes[i].start(&token);
    let told = poll(Duration::from_secs(20), Duration::from_millis(200), || c.nodes[i].log().contains("this node was removed from the cluster").then_some(()));
    assert!(told.is_some(), "the removed node was not told:\n{}", c.nodes[i].log());
    std::thread::sleep(Duration::from_secs(1));
    assert!(Cluster::node_state(&c.status(), &name).is_none(), "the removed node came back into the map: {:#}", c.status());
    let refused = c.gw.metrics().get("kintsugi_cluster_requests_refused_total").copied().unwrap_or(0.0);
    assert!(refused > refused_before, "the gateway did not count the refusals ({refused_before} -> {refused})");
    c.nodes[i].kill9();
    // With a fresh state directory it cannot join under that name again, even with a valid token.
    std::fs::remove_dir_all(c.nodes[i].dir.join("state")).expect("wiping the node's state");
    c.nodes[i].start(&token);
    let exited = poll(Duration::from_secs(20), Duration::from_millis(200), || (!c.nodes[i].is_running()).then_some(()));
    if exited.is_none() {
        c.nodes[i].kill9();
    }
    let log = c.nodes[i].log();
    assert!(exited.is_some() && log.contains("never admitted again"), "a removed name joined again:\n{log}");
    // Nor is a token made for that name.
    let refused = c.admin_refused(&["join-token", "--node", &name]);
    assert!(refused.contains("was removed from this cluster"), "a token was made for a removed name: {refused}");
    assert!(Cluster::node_state(&c.status(), &name).is_none(), "{:#}", c.status());
}

#[test]
fn killing_the_draining_disks_node_midway_leaves_the_rest_to_repair() {
    let _g = common::slot();
    // At 1 MiB/s the drain is still running when its node is killed.
    let flags = [
        "--ec", "4+2", "--down-after", "1", "--lost-after", "3", "--repair-interval", "0.5", "--repair-bandwidth", "1", "--gc-delay", "0", "--hedge-after", "0.2",
        "--request-deadline", "3",
    ];
    let mut c = Cluster::start(7, 1, &flags, Some(65536));
    let objs = common::objects("dies", 4000, &[0], 40, 600 * KIB);
    let manifest = c.gw.manifest("dies", "dies", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);
    let n2 = c.nodes[1].name.clone();
    let disk = disks_of(&c.status(), &n2)[0].to_string();
    let started = c.admin_json(&["disk", "drain", &disk]);
    let at_start = started["shards_at_start"].as_u64().expect("shards");
    let mut last = Value::Null;
    let midway = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        last = c.admin_json(&["disk", "status", &disk]);
        let left = last["shards_remaining"].as_u64()?;
        (left < at_start && left > 0).then_some(())
    });
    assert!(midway.is_some(), "never caught the drain midway: {last:#}");
    c.nodes[1].kill9();
    let done = poll(Duration::from_secs(180), Duration::from_millis(500), || {
        last = c.admin_json(&["disk", "status", &disk]);
        (last["state"] == "decommissioned").then_some(())
    });
    assert!(done.is_some(), "the drain of a dead disk did not end: {last:#}\n{}", c.gw.log_tail(30));
    let repair = c.admin_json(&["repair", "status"]);
    assert!(repair["shards_rebuilt"].as_u64().is_some_and(|n| n > 0), "repair rebuilt nothing: {repair:#}");
    let st = c.status();
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    c.assert_full_layout("dies", &objs, 6, &[&n2]);
    c.gw.py("data.py", &["verify", manifest]);
    // The dead, empty disk leaves the map; the node is gone for good, so it can be removed too.
    c.admin_json(&["disk", "remove", &disk]);
    c.admin_json(&["node", "remove", &n2]);
    let st = c.status();
    assert!(Cluster::node_state(&st, &n2).is_none() && st["full_redundancy"] == true, "{st:#}");
}

#[test]
fn added_disks_take_writes_at_once_and_rebalance_evens_usage() {
    let _g = common::slot();
    let flags = ["--ec", "4+2", "--repair-interval", "0.5", "--gc-delay", "0", "--hedge-after", "0.2", "--request-deadline", "3"];
    let mut c = Cluster::start(7, 1, &flags, Some(65536));
    let objs = common::objects("even", 4000, &[0], 150, 300 * KIB);
    let manifest = c.gw.manifest("even", "even", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);

    // Two empty disks join running nodes n1 and n2.
    let mut added = Vec::new();
    for i in 0..2 {
        let dir = c.nodes[i].dir.join("added");
        let dir = dir.to_str().expect("utf-8").to_owned();
        let v = c.admin_json(&["disk", "add", "--node", &c.nodes[i].name, &dir]);
        added.push(v["disk"].as_u64().expect("disk id"));
    }
    // A relative path is refused by the node, with the reason.
    let err = c.admin_refused(&["disk", "add", "--node", &c.nodes[0].name, "relative/dir"]);
    assert!(err.contains("absolute"), "{err}");
    let list = c.admin_json(&["disk", "list"]);
    let row = |l: &Value, id: u64| l["disks"].as_array().expect("disks").iter().find(|d| d["id"] == id).cloned().expect("disk row");
    for id in &added {
        assert_eq!(row(&list, *id)["shards"], 0, "{list:#}");
        assert_eq!(row(&list, *id)["state"], "ok", "{list:#}");
    }
    // New writes may land on them at once.
    let more = common::objects("fresh", 4000, &[0], 30, 200 * KIB);
    let more_manifest = c.gw.manifest("fresh", "even", &more);
    let more_manifest = more_manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", more_manifest]);
    let list = c.admin_json(&["disk", "list"]);
    assert!(added.iter().any(|id| row(&list, *id)["shards"].as_u64().is_some_and(|n| n > 0)), "no new write used the added disks: {list:#}");

    // At 1 MiB/s the rebalance is still running when the gateway restarts: it resumes.
    let v = c.admin_json(&["rebalance", "--tolerance", "10", "--bandwidth", "1"]);
    assert_eq!(v["state"], "running", "{v:#}");
    let mut last = Value::Null;
    let midway = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        last = c.admin_json(&["rebalance", "--status"]);
        (last["shards_moved"].as_u64() > Some(0) && last["state"] == "running").then_some(())
    });
    assert!(midway.is_some(), "never caught the rebalance midway: {last:#}");
    c.gw.restart();
    let resumed = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        last = c.admin_json(&["rebalance", "--status"]);
        (last["state"] != "idle").then_some(())
    });
    assert!(resumed.is_some(), "the restarted gateway did not resume the rebalance: {last:#}\n{}", c.gw.log_tail(30));
    let v = c.admin_json(&["rebalance", "--status", "--wait"]);
    assert_eq!(v["state"], "balanced", "{v:#}\n{}", c.gw.log_tail(30));
    assert!(v["max_deviation_pct"].as_f64().is_some_and(|d| d <= 10.0), "{v:#}");
    // The report's figures are the metadata's: recompute shares from `disk list` and check them.
    let list = c.admin_json(&["disk", "list"]);
    for d in v["disks"].as_array().expect("disks") {
        let id = d["disk"].as_u64().expect("id");
        assert_eq!(row(&list, id)["shard_bytes"], d["bytes"], "{list:#}\n{v:#}");
        let (bytes, target) = (d["bytes"].as_f64().expect("bytes"), d["target_bytes"].as_f64().expect("target"));
        assert!((bytes - target).abs() <= target * 0.10 + 1.0, "disk {id} at {bytes} bytes, share {target}: {v:#}");
    }
    let st = c.status();
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    c.assert_full_layout("even", &objs, 6, &[]);
    c.gw.py("data.py", &["verify", manifest]);
    c.gw.py("data.py", &["verify", more_manifest]);
    // An added disk is kept across its node's restart.
    c.nodes[0].kill9();
    let token = c.token.clone();
    c.nodes[0].start(&token);
    c.wait_states(&[(0, "up")], Duration::from_secs(30));
    let list = c.admin_json(&["disk", "list"]);
    assert_eq!(row(&list, added[0])["state"], "ok", "{list:#}");

    // Swap n2's added disk for an empty directory: the old disk is failed, never trusted again;
    // added at the same path the directory is a new disk, and repair refills the cluster.
    let swapped = c.nodes[1].dir.join("added");
    std::fs::remove_dir_all(&swapped).expect("rm disk");
    std::fs::create_dir_all(&swapped).expect("mkdir");
    let failed = poll(Duration::from_secs(20), Duration::from_millis(300), || {
        (row(&c.admin_json(&["disk", "list"]), added[1])["state"] == "failed").then_some(())
    });
    assert!(failed.is_some(), "the swapped disk was not found failed: {:#}", c.admin_json(&["disk", "list"]));
    let v = c.admin_json(&["disk", "add", "--node", &c.nodes[1].name, swapped.to_str().expect("utf-8")]);
    let fresh = v["disk"].as_u64().expect("disk id");
    assert_ne!(fresh, added[1], "an emptied directory must come back as a new disk: {v:#}");
    let mut last = Value::Null;
    let healed = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        last = c.admin_json(&["repair", "status", "--recount"]);
        (last["full_redundancy"] == true && last["recount"]["matches"] == true).then_some(())
    });
    assert!(healed.is_some(), "not refilled after the disk swap: {last:#}");
    c.admin_json(&["disk", "remove", &added[1].to_string()]);
    let st = c.status();
    assert!(st["disks"].as_array().expect("disks").iter().all(|d| d["state"] == "ok"), "{st:#}");
    c.gw.py("data.py", &["verify", manifest]);
    c.gw.py("data.py", &["verify", more_manifest]);
}

#[test]
fn the_embedded_store_adds_replaces_and_removes_disks_while_running() {
    let _g = common::slot();
    let mut s = common::Server::start(common::Opts::small_chunks());
    let admin = |s: &common::Server, args: &[&str]| -> Value {
        let mut cmd = s.command(common::BIN);
        cmd.arg("admin").args(args).args(["--json", "--endpoint", &s.endpoint]);
        serde_json::from_str(&s.run_ok(cmd, &format!("admin {args:?}"))).expect("admin JSON")
    };
    let refused = |s: &common::Server, args: &[&str]| -> String {
        let mut cmd = s.command(common::BIN);
        cmd.arg("admin").args(args).args(["--endpoint", &s.endpoint]);
        let out = cmd.output().expect("running kintsugi admin");
        assert!(!out.status.success(), "admin {args:?} should have been refused");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Bad requests get a clear refusal and change nothing.
    for (args, says) in [
        (&["disk", "remove", "1"][..], "drain it first"),
        (&["disk", "drain", "99"][..], "no disk 99"),
        (&["node", "remove", "local"][..], "embedded server"),
        (&["rebalance", "--tolerance", "500"][..], "percentage"),
        (&["disk", "add", "--node", "local", "relative/dir"][..], "absolute"),
        (&["disk", "add", "--node", "elsewhere", "/tmp/x"][..], "only node"),
    ] {
        let err = refused(&s, args);
        assert!(err.contains(says), "admin {args:?}: {err}");
    }
    let disk_dir = s.disk_dir(0);
    let err = refused(&s, &["disk", "add", "--node", "local", disk_dir.to_str().expect("utf-8")]);
    assert!(err.contains("already disk"), "{err}");
    let objs = common::objects("emb", 4000, &[0], 60, 400 * KIB);
    let manifest = s.manifest("emb", "emb", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    s.py("data.py", &["write-mp", manifest]);

    // Two more disks while the server runs: empty, in service at once, then filled by a rebalance.
    let new_dirs: Vec<String> = (0..2).map(|i| s.root().join(format!("added{i}")).to_str().expect("utf-8").to_owned()).collect();
    let added: Vec<u64> = new_dirs.iter().map(|d| admin(&s, &["disk", "add", "--node", "local", d])["disk"].as_u64().expect("id")).collect();
    let v = admin(&s, &["rebalance", "--wait"]);
    assert_eq!(v["state"], "balanced", "{v:#}\n{}", s.log_tail(20));
    assert_eq!(v["disks"].as_array().map(Vec::len), Some(8), "{v:#}");
    let list = admin(&s, &["disk", "list"]);
    let row = |l: &Value, id: u64| l["disks"].as_array().expect("disks").iter().find(|d| d["id"] == id).cloned().expect("disk row");
    assert!(added.iter().all(|id| row(&list, *id)["shards"].as_u64() > Some(0)), "{list:#}");

    // The second added disk is swapped for an empty directory: failed, then taken as a new disk.
    std::fs::remove_dir_all(&new_dirs[1]).expect("rm");
    std::fs::create_dir_all(&new_dirs[1]).expect("mkdir");
    let failed = poll(Duration::from_secs(20), Duration::from_millis(300), || (row(&admin(&s, &["disk", "list"]), added[1])["state"] == "failed").then_some(()));
    assert!(failed.is_some(), "the swapped disk was not found failed");
    let fresh = admin(&s, &["disk", "add", "--node", "local", &new_dirs[1]])["disk"].as_u64().expect("id");
    assert!(!added.contains(&fresh), "an emptied directory must come back as a new disk");
    let mut last = Value::Null;
    let healed = poll(Duration::from_secs(60), Duration::from_millis(500), || {
        last = admin(&s, &["repair", "status", "--recount"]);
        (last["full_redundancy"] == true && last["recount"]["matches"] == true).then_some(())
    });
    assert!(healed.is_some(), "not refilled after the disk swap: {last:#}");
    admin(&s, &["disk", "remove", &added[1].to_string()]);
    s.py("data.py", &["verify", manifest]);

    // After a restart the added disks (not in --data) are attached from the registry.
    s.restart();
    let st = admin(&s, &["status"]);
    let ids: Vec<u64> = st["disks"].as_array().expect("disks").iter().filter_map(|d| d["id"].as_u64()).collect();
    assert_eq!(ids.len(), 8, "{st:#}");
    assert!(ids.contains(&added[0]) && ids.contains(&fresh) && !ids.contains(&added[1]), "{st:#}");
    assert!(st["disks"].as_array().expect("disks").iter().all(|d| d["state"] == "ok"), "{st:#}");
    s.py("data.py", &["verify", manifest]);
}
