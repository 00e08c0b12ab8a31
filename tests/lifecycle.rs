//! Disk lifecycle on a real cluster: drain (decommission) a disk while a
//! client reads and writes, refuse a drain that would leave too few nodes,
//! resume a drain across gateway and node restarts.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::cluster::Cluster;
use common::{poll, KIB, MIB};
use serde_json::Value;

fn disk_of(status: &Value, node: &str) -> u64 {
    status["disks"].as_array().expect("disks").iter().find(|d| d["node"] == node).and_then(|d| d["id"].as_u64()).expect("disk of node")
}

#[test]
fn draining_a_disk_moves_every_shard_off_it_while_clients_run() {
    let _g = common::slot();
    let flags = ["--ec", "4+2", "--repair-interval", "0.5", "--gc-delay", "0", "--hedge-after", "0.2", "--request-deadline", "3"];
    // 6 nodes x 2 disks: every segment has a shard on every node, so a drained disk's shards
    // can only go to the other disk of the same node.
    let mut c = Cluster::start(6, 2, &flags, Some(65536));
    let objs = if common::acceptance() { common::acceptance_objects("drain", 300, 1 << 30) } else { common::objects("drain", 9000, &[0, 1, 256 * KIB, MIB, 20 * MIB], 40, 700 * KIB) };
    let manifest = c.gw.manifest("drain", "drain", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);
    let st = c.status();
    let n2 = c.nodes[1].name.clone();
    let n2_disks: Vec<u64> = st["disks"].as_array().expect("disks").iter().filter(|d| d["node"] == n2.as_str()).filter_map(|d| d["id"].as_u64()).collect();
    let (disk_id, other) = (n2_disks[0], n2_disks[1].to_string());
    let disk = disk_id.to_string();
    let first_dir = c.nodes[1].disk_dir(0).join("shards");
    assert!(!common::files_under(&first_dir).is_empty(), "the disk to drain holds no shards");
    // Shards of this test's objects on the disk to drain (the client below writes others).
    let own_on_disk: usize = objs
        .iter()
        .map(|(key, _, _)| {
            let v: Value = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["stat", "--json", &format!("s3://drain/{key}")]), "stat")).expect("stat JSON");
            let segs = v["layout"]["segments"].as_array().cloned().unwrap_or_default();
            segs.iter().map(|seg| seg["shards"].as_array().map_or(0, |sh| sh.iter().filter(|s| s["disk"] == disk_id).count())).sum::<usize>()
        })
        .sum();
    assert!(own_on_disk > 0, "none of the test's shards is on the disk to drain");

    let client = c
        .kintsugi(&["bench", "--phases", "put,get,mixed", "--duration", "4s", "--size", "256KiB", "--concurrency", "2", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning kintsugi bench");
    let started: Value = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "disk", "drain", &disk, "--json"]), "drain")).expect("JSON");
    assert_eq!(started["state"], "draining", "{started:#}");

    // Draining n2's other disk too would leave 5 nodes for 6 shards per segment: refused, with what to do.
    let out = c.kintsugi(&["admin", "disk", "drain", &other]).output().expect("drain");
    assert!(!out.status.success(), "draining both disks of a node of a 6-node 4+2 cluster must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--force") && err.contains("failure domains"), "{err}");

    let done: Value = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "disk", "drain", &disk, "--wait", "--json"]), "drain --wait")).expect("JSON");
    assert_eq!(done["state"], "decommissioned", "{done:#}");
    assert_eq!(done["shards_remaining"], 0, "{done:#}");
    // The shards went from node to node (here: to the other disk of the same node), not
    // through the gateway: at least every shard of this test's objects on the disk was moved by
    // a node copy (the client's own objects add theirs, or are deleted before they move).
    let by_nodes = c.gw.metric("kintsugi_shards_copied_by_nodes_total");
    eprintln!("[drain] {by_nodes} shards moved by node copies; {own_on_disk} of the test's shards were on the disk");
    assert!(by_nodes >= own_on_disk as f64, "{by_nodes} shards moved by a node copy, {own_on_disk} of the test's shards were on the drained disk: {done:#}\n{}", c.gw.log_tail(40));
    let out = client.wait_with_output().expect("bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the client saw errors during the drain:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));

    let st = c.status();
    let d = st["disks"].as_array().expect("disks").iter().find(|d| d["id"] == disk_id).expect("disk").clone();
    assert_eq!(d["state"], "decommissioned", "{st:#}");
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    for (key, _, _) in &objs {
        let out = c.gw.run_ok(c.kintsugi(&["stat", "--json", &format!("s3://drain/{key}")]), "stat");
        let v: Value = serde_json::from_str(&out).expect("stat JSON");
        for seg in &common::shard_segments(&v) {
            let shards = seg["shards"].as_array().expect("shards");
            let nodes: HashSet<&str> = shards.iter().filter_map(|s| s["node"].as_str()).collect();
            assert_eq!(nodes.len(), 6, "{key}: {seg}");
            assert!(shards.iter().all(|s| s["disk"] != disk_id), "{key}: a shard is still on the drained disk: {seg}");
            assert!(shards.iter().all(|s| s["health"] == "ok"), "{key}: {seg}");
        }
    }
    // The old copies are garbage and get collected: the drained disk ends empty.
    let empty = poll(Duration::from_secs(30), Duration::from_millis(500), || common::files_under(&first_dir).is_empty().then_some(()));
    assert!(empty.is_some(), "{} shard files left on the drained disk", common::files_under(&first_dir).len());

    // The moved shards are real: lose two other nodes, every byte still reads back.
    c.nodes[3].kill9();
    c.nodes[5].kill9();
    c.gw.py("data.py", &["verify", manifest]);
}

#[test]
fn a_drain_resumes_after_gateway_and_node_restarts() {
    let _g = common::slot();
    // At 1 MiB/s the drain takes several seconds: restart the gateway in the middle of it.
    let flags = ["--ec", "4+2", "--repair-interval", "0.5", "--repair-bandwidth", "1", "--gc-delay", "0", "--hedge-after", "0.2", "--request-deadline", "3"];
    let mut c = Cluster::start(7, 1, &flags, Some(65536));
    let objs = common::objects("drain", 9000, &[0, 1, 256 * KIB, MIB, 20 * MIB], 40, 700 * KIB);
    let manifest = c.gw.manifest("resume", "resume", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);
    let n2 = c.nodes[1].name.clone();
    let disk = disk_of(&c.status(), &n2).to_string();
    let started: Value = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "disk", "drain", &disk, "--json"]), "drain")).expect("JSON");
    let at_start = started["shards_at_start"].as_u64().expect("shards");
    assert!(at_start > 0, "{started:#}");
    let mut last = Value::Null;
    let midway = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        last = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "disk", "status", &disk, "--json"]), "status")).ok()?;
        let left = last["shards_remaining"].as_u64()?;
        (left < at_start && left > 0).then_some(())
    });
    assert!(midway.is_some(), "never caught the drain midway: {last:#}");
    c.gw.restart();
    // The draining disk's node restarts too: the drain waits for it and goes on.
    c.nodes[1].kill9();
    let token = c.token.clone();
    c.nodes[1].start(&token);
    c.wait_states(&[(1, "up")], Duration::from_secs(30));
    let done = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        last = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "disk", "status", &disk, "--json"]), "status")).ok()?;
        (last["state"] == "decommissioned").then_some(())
    });
    assert!(done.is_some(), "the drain did not resume to the end after gateway and node restarts: {last:#}\n{}", c.gw.log_tail(30));
    assert_eq!(last["shards_remaining"], 0, "{last:#}");
    for (key, _, _) in &objs {
        let out = c.gw.run_ok(c.kintsugi(&["stat", "--json", &format!("s3://resume/{key}")]), "stat");
        let v: Value = serde_json::from_str(&out).expect("stat JSON");
        for seg in &common::shard_segments(&v) {
            let nodes: HashSet<&str> = seg["shards"].as_array().expect("shards").iter().filter_map(|s| s["node"].as_str()).collect();
            assert_eq!(nodes.len(), 6, "{key}: {seg}");
            assert!(!nodes.contains(n2.as_str()), "{key}: {seg}");
        }
    }
    c.gw.py("data.py", &["verify", manifest]);
}
