//! Failure domains in the embedded store, where every disk is a domain: segments placed as
//! versions before 0.1 placed them while domains were down — two shards of one segment on one
//! disk — are shown at risk by the redundancy ledger (not "full redundancy"), and repair
//! spreads them until any two disks may fail.
//!
//! The fixture is made as the old code left it: the server is stopped, one shard file of a
//! segment is copied onto the disk that holds another shard of the same segment, and the
//! manifest is re-pointed there with the metadata store's own compare-and-swap move (which
//! queues the original copy as garbage, so that only the crowded copy remains).

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::{files_under, ledger_row, poll, slot, Opts, Server, KIB, MIB};
use kintsugi_meta::{MetaRead, RocksMeta, ShardMove, ShardOwner};
use serde_json::Value;

/// The shard file `<segment>-<index>.shard` on disk `i` of `s`, if there.
fn shard_file(s: &Server, i: usize, segment: u128, index: u8) -> Option<PathBuf> {
    let name = format!("{segment:032x}-{index:02x}.shard");
    files_under(&s.disk_dir(i).join("shards")).into_iter().find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == name))
}

/// The disk directory (index into `s.disk_dir`) holding shard `index` of `segment`.
fn disk_of(s: &Server, segment: u128, index: u8) -> usize {
    (0..s.disks()).find(|i| shard_file(s, *i, segment, index).is_some()).unwrap_or_else(|| panic!("shard {index} of {segment:032x} on no disk"))
}

#[test]
fn segments_placed_two_to_a_disk_by_older_versions_are_at_risk_until_spread() {
    let _g = slot();
    // No repair pass (hence no spreading) until the fixture has been looked at.
    let mut s = Server::start(Opts { flags: vec!["--repair-interval".into(), "1h".into(), "--gc-delay".into(), "0".into()], ..Opts::small_chunks() });
    let objs: Vec<(String, u64, u64)> = [300 * KIB, MIB, 2 * MIB + 1, 700 * KIB, 5 * MIB, 64 * KIB]
        .iter()
        .enumerate()
        .map(|(i, size)| (format!("old/{i}"), 500 + i as u64, *size))
        .collect();
    let manifest = s.manifest("old", "old", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    s.py("data.py", &["write", manifest]);
    let st = s.admin_json(&["repair", "status"]);
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    let total = st["ledger"]["segments"].as_u64().expect("segments");
    assert_eq!(s.sigterm(Duration::from_secs(30)).code(), Some(0));

    // Crowd the first segment of every object but the last: its parity shard 5 goes onto the
    // disk of its data shard 0.
    let crowd = &objs[..objs.len() - 1];
    let meta = RocksMeta::open(&s.meta_dir(), 0).expect("opening the stopped server's metadata store");
    let mut crowded_disks = Vec::new();
    for (key, _, _) in crowd {
        let m = meta.object("old", key).expect("manifest").expect("object exists");
        let seg = &m.segments[0];
        let (from, to) = (seg.shards[5].disk, seg.shards[0].disk);
        let (src, dst) = (disk_of(&s, seg.id, 5), disk_of(&s, seg.id, 0));
        let file = shard_file(&s, src, seg.id, 5).expect("shard file");
        let rel = file.strip_prefix(s.disk_dir(src)).expect("under its disk").to_owned();
        let target = s.disk_dir(dst).join(&rel);
        fs::create_dir_all(target.parent().expect("shard dir")).expect("mkdir");
        fs::copy(&file, &target).expect("copying the shard file");
        let owner = ShardOwner::Object { bucket: "old".into(), key: key.clone() };
        let moved = meta.move_shards(&owner, seg.id, &[ShardMove { index: 5, from, to }]).expect("re-pointing the manifest");
        assert_eq!(moved.len(), 1, "{key}");
        crowded_disks.push(dst);
    }
    drop(meta);

    // The ledger (no scan) says the crowded segments survive one disk loss, not two.
    s.restart();
    let st = s.admin_json(&["repair", "status"]);
    assert_eq!(st["full_redundancy"], false, "segments with two shards on one disk are not at full redundancy: {st:#}");
    assert_eq!(ledger_row(&st, "k+m-1"), crowd.len() as u64, "{st:#}");
    assert_eq!(ledger_row(&st, "k+m"), total - crowd.len() as u64, "{st:#}");
    let st = s.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["recount"]["matches"], true, "the ledger disagrees with a full recount: {st:#}");
    assert_eq!(st["recount"]["segments_sharing_a_disk"], crowd.len(), "{st:#}");
    let status = s.admin_json(&["status"]);
    assert_eq!(status["full_redundancy"], false, "{status:#}");
    let m = s.metrics();
    assert_eq!(m.get("kintsugi_full_redundancy"), Some(&0.0), "{m:?}");
    assert_eq!(m.get("kintsugi_segments{healthy=\"k+m-1\",shards=\"5\"}"), Some(&(crowd.len() as f64)), "{m:?}");
    s.py("data.py", &["verify", manifest]);

    // With repair running, the crowded shards are copied to disks of their own.
    assert_eq!(s.sigterm(Duration::from_secs(30)).code(), Some(0));
    s.set_flags(&["--repair-interval", "500ms", "--gc-delay", "0"]);
    s.restart();
    let mut last = Value::Null;
    let spread = poll(Duration::from_secs(60), Duration::from_millis(300), || {
        last = s.admin_json(&["repair", "status", "--recount"]);
        (last["full_redundancy"] == true && last["recount"]["matches"] == true && last["recount"]["segments_sharing_a_disk"] == 0).then_some(())
    });
    assert!(spread.is_some(), "crowded segments were not spread: {last:#}\n{}", s.log_tail(30));
    assert!(last["shards_spread"].as_u64() >= Some(crowd.len() as u64), "{last:#}");
    assert_eq!(ledger_row(&last, "k+m"), total, "{last:#}");

    // The promise: any two disks may go. Take the two that held doubled shards.
    crowded_disks.sort_unstable();
    crowded_disks.dedup();
    let mut gone = crowded_disks.clone();
    if gone.len() < 2 {
        gone.push((gone[0] + 1) % s.disks());
    }
    assert_eq!(s.sigterm(Duration::from_secs(30)).code(), Some(0));
    for i in &gone[..2] {
        fs::remove_dir_all(s.disk_dir(*i)).expect("removing a disk dir");
    }
    s.restart();
    s.py("data.py", &["verify", manifest]);
}
