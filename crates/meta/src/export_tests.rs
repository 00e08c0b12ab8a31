//! Streamed exports against real RocksDB stores and real files.

use super::*;
use crate::command::Command;
use crate::command_tests::{manifest, seg};
use crate::replica::KEY_STAMP;
use crate::store::{DumpedRecord, Expect};
use crate::tests::open;

fn put(bucket: &str, key: &str, version: u128) -> Command {
    Command::PutObject { bucket: bucket.into(), key: key.into(), manifest: manifest(version, vec![seg(version, &[1, 2, 3])]), expect: Expect::Any, garbage_due_ms: 5 }
}

/// A store with a bucket, `n` stamped puts over a few keys (so garbage and the ledger have
/// records too), the last stamp `n`.
fn source(n: u128) -> (tempfile::TempDir, RocksMeta) {
    let (d, src) = open();
    src.apply_stamped(&Command::CreateBucket { bucket: "b".into(), created_ms: 1 }, b"0").expect("apply");
    for v in 1..=n {
        src.apply_stamped(&put("b", &format!("key-{}", v % 13), v), &v.to_be_bytes()).expect("apply");
    }
    (d, src)
}

/// Every record but the stamp.
fn records(m: &RocksMeta) -> Vec<DumpedRecord> {
    m.dump_for_test().expect("dump").into_iter().filter(|(cf, k, _)| !(*cf == CF_SYSTEM && k == KEY_STAMP)).collect()
}

fn stale(m: &RocksMeta) {
    m.apply(&Command::CreateBucket { bucket: "stale".into(), created_ms: 9 }).expect("apply");
    m.apply(&put("stale", "old", 77)).expect("apply");
}

#[test]
fn a_streamed_export_imported_elsewhere_is_the_same_store_and_replaces_what_was_there() {
    let (dir, src) = source(40);
    let file = dir.path().join("snap");
    let summary = src.export_file(&file).expect("export");
    assert_eq!(summary.stamp.as_deref(), Some(&40u128.to_be_bytes()[..]));
    assert_eq!(summary.bytes, std::fs::metadata(&file).expect("file").len());
    assert_eq!(summary.records, records(&src).len() as u64);
    check_export_file(&file).expect("the file checks");

    let (_b, dst) = open();
    stale(&dst);
    dst.import_file(&file, b"at-40").expect("import");
    assert_eq!(records(&src), records(&dst));
    assert_eq!(dst.stamp().expect("stamp").as_deref(), Some(&b"at-40"[..]));
    assert!(dst.local_bucket("stale").expect("read").is_none());
    assert_eq!(dst.get_raw(CF_SYSTEM, KEY_IMPORTING).expect("read"), None, "no marker left");
    // The same store exports the same bytes but for nothing: the format is deterministic.
    let again = dir.path().join("again");
    dst.export_file(&again).expect("export");
    assert_eq!(std::fs::read(&file).expect("read"), std::fs::read(&again).expect("read"));
}

#[test]
fn a_version_one_export_in_a_file_is_still_imported() {
    let (dir, src) = source(12);
    let (bytes, _) = src.export().expect("export");
    let file = dir.path().join("v1");
    std::fs::write(&file, &bytes).expect("write");
    check_export_file(&file).expect("a version-1 file checks");
    let (_b, dst) = open();
    stale(&dst);
    dst.import_file(&file, b"v1").expect("import");
    assert_eq!(records(&src), records(&dst));
    assert_eq!(dst.stamp().expect("stamp").as_deref(), Some(&b"v1"[..]));
}

/// One item of a crafted export: `Ok(name)` a family, `Err((key, value))` a record.
type Crafted<'a> = Result<&'a str, (&'a [u8], &'a [u8])>;

/// A streamed export of `items` with a correct end, count and hash unless `count` overrides
/// the count.
fn craft(items: &[Crafted], count: Option<u64>) -> Vec<u8> {
    let mut out = vec![STREAM_VERSION];
    let mut n = 0u64;
    for it in items {
        match it {
            Ok(name) => {
                out.push(TAG_FAMILY);
                out.extend((name.len() as u32).to_le_bytes());
                out.extend(name.as_bytes());
            }
            Err((k, v)) => {
                out.push(TAG_RECORD);
                out.extend((k.len() as u32).to_le_bytes());
                out.extend(*k);
                out.extend((v.len() as u32).to_le_bytes());
                out.extend(*v);
                n += 1;
            }
        }
    }
    out.push(TAG_END);
    out.extend(count.unwrap_or(n).to_le_bytes());
    let hash = *blake3::hash(&out).as_bytes();
    out.extend(hash);
    out
}

#[test]
fn a_damaged_or_malformed_export_is_refused_whole_and_changes_nothing() {
    let (dir, src) = source(20);
    let file = dir.path().join("good");
    src.export_file(&file).expect("export");
    let good = std::fs::read(&file).expect("read");

    let mut bad: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [1, 2, 5, good.len() / 3, good.len() / 2, good.len() - 33, good.len() - 32, good.len() - 1] {
        bad.push((format!("cut to {cut} bytes"), good[..cut].to_vec()));
    }
    for at in [1, 7, good.len() / 2, good.len() - 40, good.len() - 1] {
        let mut b = good.clone();
        b[at] ^= 0x40;
        bad.push((format!("byte {at} flipped"), b));
    }
    bad.push(("a byte after the hash".into(), [good.clone(), vec![0]].concat()));
    bad.push(("version 9".into(), [vec![9u8], good[1..].to_vec()].concat()));
    // Well hashed, badly formed.
    bad.push(("keys out of order".into(), craft(&[Ok(CF_SYSTEM), Err((b"b", b"1")), Err((b"a", b"2"))], None)));
    bad.push(("a key twice".into(), craft(&[Ok(CF_SYSTEM), Err((b"a", b"1")), Err((b"a", b"2"))], None)));
    bad.push(("an unknown family".into(), craft(&[Ok("no-such-family"), Err((b"a", b"1"))], None)));
    bad.push(("a family twice".into(), craft(&[Ok(CF_SYSTEM), Err((b"a", b"1")), Ok(CF_SYSTEM), Err((b"b", b"1"))], None)));
    bad.push(("a record before any family".into(), craft(&[Err((b"a", b"1"))], None)));
    bad.push(("a wrong count".into(), craft(&[Ok(CF_SYSTEM), Err((b"a", b"1"))], Some(2))));
    bad.push(("a length past the end".into(), {
        let mut b = craft(&[Ok(CF_SYSTEM), Err((b"a", b"1"))], None);
        b[1 + 1 + 4 + CF_SYSTEM.len() + 1..][..4].copy_from_slice(&u32::MAX.to_le_bytes());
        b
    }));
    let long_key = vec![b'k'; 70_000];
    bad.push(("a key over 64 KiB".into(), craft(&[Ok(CF_SYSTEM), Err((&long_key, b"1"))], None)));
    // The crafted form itself is accepted when well formed (so the cases above fail for their flaw).
    let ok = dir.path().join("crafted");
    std::fs::write(&ok, craft(&[Ok(CF_SYSTEM), Err((b"a", b"1")), Err((b"b", b"2"))], None)).expect("write");
    check_export_file(&ok).expect("a well-formed crafted export checks");

    let (_b, dst) = open();
    stale(&dst);
    dst.record_stamp(b"mine").expect("stamp");
    let before = dst.dump_for_test().expect("dump");
    for (what, bytes) in bad {
        let f = dir.path().join("bad");
        std::fs::write(&f, &bytes).expect("write");
        assert!(check_export_file(&f).is_err(), "{what}: checked as good");
        let e = dst.import_file(&f, b"x").expect_err(&what);
        assert!(matches!(e, MetaError::Corrupt { .. }), "{what}: {e}");
        assert_eq!(dst.dump_for_test().expect("dump"), before, "{what}: the store changed");
    }
}

#[test]
fn an_import_a_crash_interrupted_is_finished_when_the_store_opens() {
    let (dir, src) = source(60);
    let file = dir.path().join("snap");
    src.export_file(&file).expect("export");
    let at = tempfile::tempdir().expect("tempdir");
    {
        let dst = RocksMeta::open(at.path(), 0).expect("open");
        stale(&dst);
        dst.import_file_upto(&file, b"at-60", true, Some(10)).expect("the first ten records");
        assert_eq!(dst.stamp().expect("stamp"), None, "a half-imported store has no stamp");
        assert!(dst.get_raw(CF_SYSTEM, KEY_IMPORTING).expect("read").is_some());
        // Meanwhile the reads that decide access refuse rather than answer from half a store.
        assert!(matches!(dst.local_bucket_policy("b"), Err(MetaError::NotCommitted { .. })));
        assert!(matches!(dst.local_bucket("b"), Err(MetaError::NotCommitted { .. })));
        assert!(matches!(dst.local_access_key("k"), Err(MetaError::NotCommitted { .. })));
    }
    let dst = RocksMeta::open(at.path(), 0).expect("reopen finishes the import");
    assert!(dst.local_bucket("b").expect("a whole store answers").is_some());
    assert_eq!(records(&src), records(&dst));
    assert_eq!(dst.stamp().expect("stamp").as_deref(), Some(&b"at-60"[..]));
    assert!(dst.local_bucket("stale").expect("read").is_none());
}

/// A gateway's snapshots lie inside its `--meta` directory, beside the store: the marker names
/// the file relative to that directory, so moving the whole directory before the restart that
/// finishes the import does not strand it.
#[test]
fn an_interrupted_import_is_finished_after_its_directory_moved() {
    let (_d, src) = source(20);
    let home = tempfile::tempdir().expect("tempdir");
    let meta_dir = home.path().join("meta");
    std::fs::create_dir_all(meta_dir.join("raft-snapshots")).expect("mkdir");
    let file = meta_dir.join("raft-snapshots/a.snap");
    src.export_file(&file).expect("export");
    {
        let dst = RocksMeta::open(&meta_dir.join("db"), 0).expect("open");
        dst.import_file_upto(&file, b"at-20", true, Some(3)).expect("three records");
    }
    let moved = home.path().join("moved");
    std::fs::rename(&meta_dir, &moved).expect("move --meta");
    let dst = RocksMeta::open(&moved.join("db"), 0).expect("reopen in the new place finishes the import");
    assert_eq!(records(&src), records(&dst));
    assert_eq!(dst.stamp().expect("stamp").as_deref(), Some(&b"at-20"[..]));
}

#[test]
fn an_interrupted_import_whose_file_is_gone_stops_the_store_from_opening() {
    let (dir, src) = source(5);
    let file = dir.path().join("snap");
    src.export_file(&file).expect("export");
    let at = tempfile::tempdir().expect("tempdir");
    {
        let dst = RocksMeta::open(at.path(), 0).expect("open");
        dst.import_file_upto(&file, b"s", true, Some(1)).expect("one record");
    }
    std::fs::remove_file(&file).expect("remove");
    let e = RocksMeta::open(at.path(), 0).expect_err("a half-imported store must not open");
    assert!(e.to_string().contains("join the group again"), "{e}");
}

#[test]
fn a_version_one_export_cannot_plant_an_import_marker() {
    let (dir, src) = source(3);
    let (bytes, _) = src.export().expect("export");
    let mut families = crate::replica::decode_export(&bytes).expect("decode");
    let marker = crate::types::encode(&ImportMarker { file: "/etc/passwd".into(), stamp: b"x".to_vec() }).expect("encode");
    match families.iter_mut().find(|(n, _)| n == CF_SYSTEM) {
        Some((_, records)) => records.push((KEY_IMPORTING.to_vec(), marker)),
        None => families.push((CF_SYSTEM.to_owned(), vec![(KEY_IMPORTING.to_vec(), marker)])),
    }
    let file = dir.path().join("v1-marker");
    std::fs::write(&file, crate::replica::encode_export(&families).expect("encode")).expect("write");
    let at = tempfile::tempdir().expect("tempdir");
    {
        let dst = RocksMeta::open(at.path(), 0).expect("open");
        dst.import_file(&file, b"v1").expect("import");
        assert_eq!(dst.get_raw(CF_SYSTEM, KEY_IMPORTING).expect("read"), None, "no marker imported");
    }
    RocksMeta::open(at.path(), 0).expect("the store opens without acting on a marker");
}
