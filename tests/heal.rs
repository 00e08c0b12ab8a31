//! Self-healing on a real cluster (gateway + storage processes on loopback):
//! a node that is only briefly away causes no rebuild; a node killed for good
//! is rebuilt elsewhere once it is lost, and the rebuilt shards are proven
//! real by killing two more nodes and reading every byte back.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::cluster::Cluster;
use common::{ledger_row, poll, KIB, MIB};
use serde_json::Value;

const STRIPE: u64 = 4 * 64 * KIB;
const FIXED: &[u64] = &[0, 1, STRIPE - 1, STRIPE, STRIPE + 1, MIB, 30 * MIB];

fn repair_status(c: &Cluster) -> Value {
    let out = c.gw.run_ok(c.kintsugi(&["admin", "repair", "status", "--json"]), "kintsugi admin repair status");
    serde_json::from_str(&out).expect("repair status JSON")
}

fn stat(c: &Cluster, bucket: &str, key: &str) -> Value {
    let out = c.gw.run_ok(c.kintsugi(&["stat", "--json", &format!("s3://{bucket}/{key}")]), "kintsugi stat");
    serde_json::from_str(&out).expect("stat JSON")
}

#[test]
fn a_lost_node_is_rebuilt_elsewhere_and_the_rebuilt_shards_are_real() {
    let _g = common::slot();
    let flags = [
        "--ec", "4+2", "--down-after", "1", "--lost-after", "10", "--repair-interval", "0.5", "--hedge-after", "0.2", "--request-deadline", "3",
    ];
    let mut c = Cluster::start(7, 1, &flags, Some(65536));
    // `make acceptance`: the scale, 300 objects of 0 B .. 100 MiB, ~2 GiB.
    let objs = if common::acceptance() { common::acceptance_objects("heal", 300, 2 << 30) } else { common::objects("heal", 7000, FIXED, 60, 900 * KIB) };
    let manifest = c.gw.manifest("heal", "heal", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);
    let st = c.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    assert_eq!(st["recount"]["matches"], true, "the ledger disagrees with a full recount: {st:#}");
    let total = st["ledger"]["segments"].as_u64().expect("segments");
    assert!(total >= objs.len() as u64 - 1, "{st:#}");
    assert_eq!(ledger_row(&st, "k+m"), total, "{st:#}");

    // A node away for less than --lost-after is only down: nothing is rebuilt. (--lost-after is
    // 10 s so that the checks below fit into the pause on a loaded machine; see `paused_for`.)
    let paused_at = std::time::Instant::now();
    c.nodes[0].signal("-STOP");
    c.wait_states(&[(0, "down")], Duration::from_secs(10));
    let st = repair_status(&c);
    assert_eq!(st["full_redundancy"], false, "shards on a down node are not at full redundancy: {st:#}");
    assert!(st["shards_on_down_disks"].as_u64().expect("count") > 0, "{st:#}");
    // Shards on the down node are not healthy now: the ledger moves their segments a row down.
    let st = c.admin_json(&["repair", "status", "--recount"]);
    assert!(ledger_row(&st, "k+m-1") > 0, "{st:#}");
    assert_eq!(ledger_row(&st, "k+m") + ledger_row(&st, "k+m-1"), total, "{st:#}");
    assert_eq!(st["recount"]["matches"], true, "{st:#}");
    c.nodes[0].signal("-CONT");
    c.wait_states(&(0..7).map(|i| (i, "up")).collect::<Vec<_>>(), Duration::from_secs(10));
    let paused_for = paused_at.elapsed();
    assert!(paused_for < Duration::from_secs(9), "the pause lasted {paused_for:?}, too close to --lost-after 10s to test 'down but not lost'");
    let st = repair_status(&c);
    assert_eq!(st["shards_rebuilt"], 0, "a node back before --lost-after must cause no rebuild: {st:#}");
    assert_eq!(st["full_redundancy"], true, "{st:#}");

    let ours_on_victim = referenced_by_node(&c, "heal", &objs).get(&c.nodes[2].name).map_or(0, HashSet::len);
    // Node n3 dies for good while a client keeps writing and reading (every byte verified):
    // once lost, its shards are rebuilt on the six others, and the client sees no error.
    let client = c
        .kintsugi(&["bench", "--phases", "put,get,mixed", "--duration", "5s", "--size", "256KiB", "--concurrency", "2", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning kintsugi bench");
    std::thread::sleep(Duration::from_secs(1));
    let victim = c.nodes[2].name.clone();
    c.nodes[2].kill9();
    // Counted once the node is dead: the client was still writing to it until then.
    let victim_shards = c.nodes[2].shard_files().len();
    assert!(victim_shards > 0, "the victim held no shards");
    let mut last = Value::Null;
    let healed = poll(Duration::from_secs(180), Duration::from_millis(500), || {
        last = repair_status(&c);
        (last["full_redundancy"] == true && last["shards_rebuilt"].as_u64() > Some(0)).then_some(())
    });
    assert!(healed.is_some(), "not back to full redundancy: {last:#}\n{}", c.gw.log_tail(40));
    let rebuilt = last["shards_rebuilt"].as_u64().expect("rebuilt");
    // Every shard of our objects on the lost node is rebuilt, and nothing twice: at most what the node
    // held when it died (the client's objects may be deleted before their turn comes).
    assert!(
        (ours_on_victim..=victim_shards).contains(&(rebuilt as usize)),
        "rebuilt {rebuilt} shards; the lost node held {ours_on_victim} of ours and {victim_shards} in all: {last:#}"
    );
    // The receiving nodes did the rebuilding (reading from their peers), not the gateway.
    assert_eq!(last["shards_rebuilt_by_nodes"].as_u64(), Some(rebuilt), "{last:#}");
    let (read, written) = (last["bytes_read"].as_f64().expect("read"), last["bytes_rebuilt"].as_f64().expect("written"));
    eprintln!("repair: {rebuilt} shards, {written} bytes rebuilt, {read} bytes read (amplification {:.2})", read / written);
    assert!(read / written >= 3.9 && read / written <= 4.5, "RS 4+2 repair should read about k=4 bytes per byte rebuilt: {last:#}");
    let status = c.status();
    assert_eq!(status["full_redundancy"], true, "{status:#}");
    let out = client.wait_with_output().expect("bench");
    // "Healed" is a fact: a full recount agrees that every segment has k+m healthy shards.
    let st = c.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["recount"]["matches"], true, "{st:#}");
    assert_eq!(ledger_row(&st, "k+m"), st["ledger"]["segments"].as_u64().expect("segments"), "{st:#}");
    assert_eq!(st["ledger"]["shard_bytes_missing"], 0, "{st:#}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the client saw errors during the loss and the repair:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.lines().last().expect("bench JSON line")).expect("bench JSON");
    for p in report["phases"].as_array().expect("phases") {
        assert_eq!(p["errors"], 0, "{p}");
        assert_eq!(p["verify_failures"], 0, "{p}");
    }

    // Every segment: 6 healthy shards on 6 distinct live nodes, none on the victim.
    c.assert_full_layout("heal", &objs, 6, &[&victim]);

    // Proof that the rebuilt shards are real: lose two more nodes, every byte still reads back.
    c.nodes[4].kill9();
    c.nodes[5].kill9();
    c.gw.py("data.py", &["verify", manifest]);
}


/// Repair starts when a node is found lost, not at its next interval: with
/// `--repair-interval` an hour, a node killed for good is still rebuilt within a minute.
#[test]
fn repair_starts_when_a_node_is_lost_not_at_its_next_interval() {
    let _g = common::slot();
    let flags = ["--ec", "4+2", "--down-after", "1s", "--lost-after", "3s", "--repair-interval", "1h", "--hedge-after", "200ms", "--request-deadline", "3s"];
    let mut c = Cluster::start(7, 1, &flags, Some(65536));
    let objs = common::objects("wake", 7100, &[1, STRIPE + 1, MIB], 12, 600 * KIB);
    let manifest = c.gw.manifest("wake", "wake", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write", manifest]);
    let victim = c.nodes[2].name.clone();
    c.nodes[2].kill9();
    assert!(!c.nodes[2].shard_files().is_empty(), "the victim held no shards");
    c.wait_states(&[(2, "lost")], Duration::from_secs(30));
    let mut last = Value::Null;
    let healed = poll(Duration::from_secs(60), Duration::from_millis(500), || {
        last = repair_status(&c);
        (last["full_redundancy"] == true && last["shards_rebuilt"].as_u64() > Some(0)).then_some(())
    });
    assert!(healed.is_some(), "no repair within a minute of the loss (the interval is an hour): {last:#}\n{}", c.gw.log_tail(30));
    c.assert_full_layout("wake", &objs, 6, &[&victim]);
    c.gw.py("data.py", &["verify", manifest]);
}

/// (segment id hex, shard index) of every shard the objects reference, by node name.
fn referenced_by_node(c: &Cluster, bucket: &str, objs: &[(String, u64, u64)]) -> std::collections::HashMap<String, HashSet<String>> {
    let mut out: std::collections::HashMap<String, HashSet<String>> = std::collections::HashMap::new();
    for (key, _, _) in objs {
        let v = stat(c, bucket, key);
        for seg in v["layout"]["segments"].as_array().expect("segments") {
            let id = seg["id"].as_str().expect("segment id");
            for s in seg["shards"].as_array().expect("shards") {
                let file = format!("{id}-{:02x}.shard", s["index"].as_u64().expect("index"));
                out.entry(s["node"].as_str().expect("node").to_owned()).or_default().insert(file);
            }
        }
    }
    out
}

#[test]
fn repair_resumes_after_a_gateway_restart_and_refills_a_replaced_disk() {
    let _g = common::slot();
    let flags = [
        // --lost-after 10: after the gateway restart below, nodes may take ~5 s to notice the new
        // process (their old QUIC connection times out first); they must not be taken for lost.
        "--ec", "4+2", "--down-after", "1", "--lost-after", "10", "--repair-interval", "0.5", "--repair-bandwidth", "1", "--gc-delay", "0",
        "--hedge-after", "0.2", "--request-deadline", "3",
    ];
    let mut c = Cluster::start(8, 1, &flags, Some(65536));
    let objs = common::objects("heal", 7000, FIXED, 40, 900 * KIB);
    let manifest = c.gw.manifest("resume", "resume", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);

    // Lose n4; at 1 MiB/s the repair takes several seconds: kill the gateway in the middle of it.
    let victim = c.nodes[3].name.clone();
    c.nodes[3].kill9();
    let mut last = Value::Null;
    let started = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        last = repair_status(&c);
        (last["shards_rebuilt"].as_u64() > Some(0) && last["shards_on_lost_disks"].as_u64() > Some(0)).then_some(())
    });
    assert!(started.is_some(), "repair did not start, or finished before the gateway could be killed: {last:#}");
    c.gw.restart();
    let healed = poll(Duration::from_secs(180), Duration::from_millis(500), || {
        last = repair_status(&c);
        (last["full_redundancy"] == true && last["lost_disks"].as_array().is_some_and(|d| !d.is_empty())).then_some(())
    });
    assert!(healed.is_some(), "repair did not resume to full redundancy after the restart: {last:#}\n{}", c.gw.log_tail(40));
    c.gw.py("data.py", &["verify", manifest]);

    // Orphans (rebuilt copies the killed gateway never committed) are collected: on every live
    // node the shard files are exactly the referenced ones.
    let mut diff = String::new();
    let clean = poll(Duration::from_secs(30), Duration::from_millis(500), || {
        let refs = referenced_by_node(&c, "resume", &objs);
        assert!(!refs.contains_key(&victim), "a shard is still referenced on the lost node");
        diff.clear();
        for n in c.nodes.iter().filter(|n| n.name != victim) {
            let files: HashSet<String> = n.shard_files().iter().filter_map(|p| p.file_name()?.to_str().map(str::to_owned)).collect();
            let want = refs.get(&n.name).cloned().unwrap_or_default();
            if files != want {
                diff += &format!("{}: {} extra, {} missing; ", n.name, files.difference(&want).count(), want.difference(&files).count());
            }
        }
        diff.is_empty().then_some(())
    });
    assert!(clean.is_some(), "shard files on disk differ from the referenced ones: {diff}");

    // n1's disk directory is replaced by an empty one under the running node: its shards are refilled elsewhere.
    let disk = c.nodes[0].disk_dir(0);
    std::fs::remove_dir_all(&disk).expect("rm disk");
    std::fs::create_dir_all(&disk).expect("empty disk dir");
    let n1 = c.nodes[0].name.clone();
    let refilled = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        last = repair_status(&c);
        (last["full_redundancy"] == true && last["lost_disks"].as_array().is_some_and(|d| d.len() == 2)).then_some(())
    });
    assert!(refilled.is_some(), "the replaced disk's shards were not refilled: {last:#}\n{}", c.gw.log_tail(40));
    let refs = referenced_by_node(&c, "resume", &objs);
    assert!(!refs.contains_key(&n1), "a shard is still referenced on the replaced disk");
    assert!(!refs.contains_key(&victim));
    c.gw.py("data.py", &["verify", manifest]);
}

#[test]
fn scrub_finds_every_flipped_shard_and_repair_fixes_them() {
    let _g = common::slot();
    let flags = ["--ec", "4+2", "--hedge-after", "0.2", "--request-deadline", "3"];
    let c = Cluster::start(6, 1, &flags, Some(65536));
    let objs = common::objects("heal", 7000, FIXED, 60, 900 * KIB);
    let manifest = c.gw.manifest("scrub", "scrub", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);

    // Flip one byte after the header of 50 shard files, at most m = 2 per segment (so all stay repairable).
    let mut files: Vec<std::path::PathBuf> = c.nodes.iter().flat_map(|n| n.shard_files()).collect();
    files.sort();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut per_segment: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut flipped = 0;
    while flipped < 50 && !files.is_empty() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = files.swap_remove((x % files.len() as u64) as usize);
        let name = f.file_name().and_then(|n| n.to_str()).expect("file name").to_owned();
        let seg = name.split('-').next().expect("segment").to_owned();
        let n = per_segment.entry(seg).or_default();
        if *n == 2 {
            continue;
        }
        *n += 1;
        let mut bytes = std::fs::read(&f).expect("read shard");
        let at = 128 + (x as usize >> 3) % (bytes.len() - 128);
        bytes[at] ^= 0x5a;
        std::fs::write(&f, &bytes).expect("write shard");
        flipped += 1;
    }
    assert_eq!(flipped, 50, "not enough shard files to flip");

    // No reads before the scrub (they would repair some of them first): the scrub must find all 50.
    let out = c.gw.run_ok(c.kintsugi(&["admin", "scrub", "--json"]), "kintsugi admin scrub");
    let rep: Value = serde_json::from_str(&out).expect("scrub JSON");
    eprintln!("scrub: {rep}");
    assert_eq!(rep["corrupt"], 50, "{rep:#}");
    assert_eq!(rep["missing"], 0, "{rep:#}");
    assert_eq!(rep["repaired"], 50, "{rep:#}");
    assert_eq!(rep["repair_failed"], 0, "{rep:#}");
    let again: Value = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "scrub", "--json"]), "scrub again")).expect("JSON");
    assert_eq!(again["corrupt"], 0, "repaired shards must verify: {again:#}");
    assert_eq!(again["shards_checked"], rep["shards_checked"], "{again:#}");
    c.gw.py("data.py", &["verify", manifest]);
    let m = c.gw.metrics();
    assert_eq!(m["kintsugi_scrub_corrupt_total"], 50.0);
}

/// A 6-node 4+2 cluster that lost a node has 5 failure domains: segments written then put two
/// shards on one node (on its two disks). When the node comes back, the domain cap falls to one
/// and repair spreads those segments out again, so that any 2 nodes may fail.
#[test]
fn segments_crowded_while_a_node_was_lost_are_spread_when_it_returns() {
    let _g = common::slot();
    let flags = [
        "--ec", "4+2", "--down-after", "1s", "--lost-after", "3s", "--repair-interval", "500ms", "--gc-delay", "0", "--hedge-after", "200ms",
        "--request-deadline", "3s",
    ];
    let mut c = Cluster::start(6, 2, &flags, Some(65536));
    let victim = c.nodes[5].name.clone();
    c.nodes[5].kill9();
    c.wait_states(&[(5, "lost")], Duration::from_secs(30));
    let objs = common::objects("crowd", 9000, &[1, STRIPE + 1, MIB], 20, 600 * KIB);
    let manifest = c.gw.manifest("crowd", "crowd", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write", manifest]);
    // 5 nodes in service: every segment has its 6 shards on 6 disks of 5 nodes, one node twice.
    let mut crowded = 0;
    for (key, _, _) in &objs {
        for seg in &common::shard_segments(&stat(&c, "crowd", key)) {
            let shards = seg["shards"].as_array().expect("shards");
            let disks: HashSet<u64> = shards.iter().filter_map(|s| s["disk"].as_u64()).collect();
            let nodes: HashSet<&str> = shards.iter().filter_map(|s| s["node"].as_str()).collect();
            assert_eq!(disks.len(), 6, "{key}: two shards on one disk: {seg}");
            assert!(!nodes.contains(victim.as_str()), "{key}: a shard on the lost node: {seg}");
            crowded += usize::from(nodes.len() == 5);
            assert_eq!(seg["domain_losses_survived"], 1, "{key}: {seg}");
        }
    }
    assert!(crowded > 0, "no segment shares a node with 5 nodes in service");
    let st = c.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["too_few_domains"], true, "{st:#}");
    assert_eq!(st["full_redundancy"], false, "{st:#}");
    // The ledger counts them by node losses survived: one, though all 6 shards are healthy.
    assert_eq!(ledger_row(&st, "k+m-1"), crowded as u64, "{st:#}");
    assert_eq!(ledger_row(&st, "k+m"), st["ledger"]["segments"].as_u64().expect("segments") - crowded as u64, "{st:#}");
    assert_eq!(st["recount"]["matches"], true, "{st:#}");

    // The node returns: 6 domains again, and the crowded segments are spread.
    let token = c.token.clone();
    c.nodes[5].start(&token);
    let mut last = Value::Null;
    let spread = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        last = c.admin_json(&["repair", "status", "--recount"]);
        (last["full_redundancy"] == true && last["recount"]["segments_over_domain_cap"] == 0 && last["recount"]["matches"] == true).then_some(())
    });
    assert!(spread.is_some(), "crowded segments not spread after the node returned: {last:#}\n{}", c.gw.log_tail(30));
    assert!(last["shards_spread"].as_u64() >= Some(crowded as u64), "{last:#}");
    c.assert_full_layout("crowd", &objs, 6, &[]);
    c.gw.py("data.py", &["verify", manifest]);
}

/// Repair and drain cover every version of a key, not just the newest: the noncurrent
/// versions and the hidden version behind a delete marker that `versioning.py set` leaves
/// survive a lost node and the drain of a disk byte-exact, and the ledger counts them.
#[test]
fn old_versions_survive_a_lost_node_and_a_drain_byte_exact() {
    let _g = common::slot();
    let flags = [
        "--ec", "4+2", "--down-after", "1s", "--lost-after", "3s", "--repair-interval", "500ms", "--gc-delay", "0", "--hedge-after", "200ms",
        "--request-deadline", "3s",
    ];
    let mut c = Cluster::start(7, 2, &flags, Some(65536));
    c.gw.py("versioning.py", &["set", "vers"]);
    let st = c.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    assert_eq!(st["recount"]["matches"], true, "the ledger disagrees with a recount of every version: {st:#}");
    let segments = st["ledger"]["segments"].as_u64().expect("segments");

    // A node dies for good: every version's shards on it are rebuilt elsewhere.
    let victim_files = c.nodes[0].shard_files().len();
    assert!(victim_files > 0, "the victim held no shards");
    c.nodes[0].kill9();
    let mut last = Value::Null;
    let healed = poll(Duration::from_secs(180), Duration::from_millis(500), || {
        last = c.admin_json(&["repair", "status", "--recount"]);
        (last["full_redundancy"] == true && last["shards_rebuilt"].as_u64() > Some(0) && last["recount"]["matches"] == true).then_some(())
    });
    assert!(healed.is_some(), "not back to full redundancy: {last:#}\n{}", c.gw.log_tail(40));
    assert_eq!(ledger_row(&last, "k+m"), segments, "every segment of every version is whole again: {last:#}");
    // (At most what the node held: some of its files were garbage of deleted versions.)
    assert!(last["shards_rebuilt"].as_u64() <= Some(victim_files as u64), "{victim_files} shard files on the lost node: {last:#}");

    // A disk of another node is drained: the shards of old versions move too.
    let n2 = c.nodes[1].name.clone();
    let st = c.status();
    let disk = st["disks"].as_array().expect("disks").iter().find(|d| d["node"] == n2.as_str()).and_then(|d| d["id"].as_u64()).expect("disk").to_string();
    let done: Value = serde_json::from_str(&c.gw.run_ok(c.kintsugi(&["admin", "disk", "drain", &disk, "--wait", "--json"]), "drain --wait")).expect("JSON");
    assert_eq!((done["state"].as_str(), done["shards_remaining"].as_u64()), (Some("decommissioned"), Some(0)), "{done:#}");
    c.gw.py("versioning.py", &["still", "vers"]);

    // The rebuilt and moved shards are real: lose two more nodes, every version still reads.
    c.nodes[2].kill9();
    c.nodes[3].kill9();
    c.gw.py("versioning.py", &["still", "vers"]);
}
