//! The ledger's stored values against a real RocksDB (docs/formats.md §2.4): the unversioned
//! pairs of older stores still read and merge, and a damaged value is a typed error — never a
//! number — until a reopen recounts the ledger.

use crate::command_tests::{coding, manifest, seg};
use crate::store::CF_LEDGER;
use crate::*;

const COMMITTED: &[u8] = b"committed";
/// `disk/` + disk id 2, u32 big-endian.
const DISK_2: &[u8] = b"disk/\0\0\0\x02";
const MARKERS: [&[u8]; 2] = [b"disks-counted", b"domains-counted"];

/// Every counter of the ledger as stored (merged, as a read or a compaction sees it), markers left out.
fn counters(meta: &RocksMeta) -> Vec<(Vec<u8>, Vec<u8>)> {
    let dump = meta.dump_for_test().expect("dump");
    dump.into_iter().filter(|(cf, k, _)| *cf == CF_LEDGER && !MARKERS.contains(&k.as_slice())).map(|(_, k, v)| (k, v)).collect()
}

/// The counters agree with a full scan.
fn agrees(meta: &RocksMeta) {
    let r = meta.recount(&|_| true, 0).expect("recount");
    assert_eq!(r.totals, meta.committed_totals().expect("totals"), "ledger and recount disagree");
    assert!(r.disk_counters_match, "per-disk counters and recount disagree");
    assert!(r.shortfall_counters_match, "shortfall counters and recount disagree");
}

fn legacy(a: i64, b: i64) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes()].concat()
}

fn merge_raw(meta: &RocksMeta, key: &[u8], operand: &[u8]) {
    let mut b = rocksdb::WriteBatch::default();
    b.merge_cf(meta.cf(CF_LEDGER).expect("cf"), key, operand);
    meta.write(b).expect("merge");
}

#[test]
fn ledger_values_written_before_their_version_byte_read_the_same_and_merge_into_the_new_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = RocksMeta::open(dir.path(), 0).expect("open");
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, vec![seg(10, &[1, 2, 3]), seg(11, &[2, 3, 4])]), Expect::Any).expect("put");
    let sb = shard_bytes(&coding(), 1000);
    assert_eq!(meta.committed_totals().expect("totals"), Totals { segments: 2, bytes: 2000 });
    assert_eq!(meta.disk_usage(2).expect("usage"), (2, 2 * sb));
    // Every counter rewritten as a store from before the version byte holds it: the same pair, 16 bytes.
    let stored = counters(&meta);
    assert!(stored.len() >= 5, "committed and four disks: {stored:?}");
    for (k, v) in &stored {
        assert_eq!((v.len(), v.first()), (17, Some(&1)), "{} is written [u8 1][i64 LE][i64 LE]", k.escape_ascii());
        meta.put_raw_for_test(CF_LEDGER, k, v.get(1..).unwrap_or_default()).expect("put legacy");
    }
    drop(meta);
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    assert_eq!(meta.committed_totals().expect("totals"), Totals { segments: 2, bytes: 2000 }, "an older store's counters read the same");
    assert_eq!(meta.disk_usage(2).expect("usage"), (2, 2 * sb));
    agrees(&meta);
    assert!(counters(&meta).iter().all(|(_, v)| v.len() == 16), "legacy values are not damage: the open did not recount");
    // New operands (adding and subtracting) merge onto the legacy values...
    meta.put_object("b", "k2", &manifest(2, vec![seg(12, &[2, 3, 4])]), Expect::Any).expect("put");
    meta.delete_object("b", "k", Expect::Any).expect("delete");
    assert_eq!(meta.committed_totals().expect("totals"), Totals { segments: 1, bytes: 1000 });
    assert_eq!(meta.disk_usage(2).expect("usage"), (1, sb));
    assert_eq!(meta.disk_usage(1).expect("usage"), (0, 0));
    agrees(&meta);
    // ...and so do legacy operands (an old build's, replayed from its write-ahead log).
    merge_raw(&meta, COMMITTED, &legacy(3, 30));
    assert_eq!(meta.committed_totals().expect("totals"), Totals { segments: 4, bytes: 1030 });
    merge_raw(&meta, COMMITTED, &legacy(-3, -30));
    agrees(&meta);
    // Whatever the mix, a merge writes the new form.
    for (k, v) in counters(&meta) {
        assert_eq!((v.len(), v.first()), (17, Some(&1)), "{} merged into the versioned form", k.escape_ascii());
    }
    drop(meta);
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    assert_eq!(meta.committed_totals().expect("totals"), Totals { segments: 1, bytes: 1000 });
    agrees(&meta);
}

/// `r` is the typed error of a damaged counter, naming `key`.
fn assert_damaged<T: std::fmt::Debug>(r: MetaResult<T>, key: &str) -> String {
    match r {
        Err(MetaError::Corrupt { what: "ledger counter", detail }) => {
            assert!(detail.starts_with(&format!("{key}: ")), "the error names the counter: {detail}");
            detail
        }
        other => panic!("a damaged {key} read as {other:?}"),
    }
}

#[test]
fn a_damaged_ledger_value_is_a_typed_error_until_a_reopen_recounts_the_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = RocksMeta::open(dir.path(), 0).expect("open");
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, vec![seg(10, &[1, 2, 3]), seg(11, &[2, 3, 4])]), Expect::Any).expect("put");
    let sb = shard_bytes(&coding(), 1000);
    // Empty, truncated, an unknown version, too long: none of them reads as a number.
    for bad in [vec![], vec![1; 8], vec![1; 15], [&[2u8][..], &[0; 16][..]].concat(), vec![1; 18]] {
        meta.put_raw_for_test(CF_LEDGER, COMMITTED, &bad).expect("damage");
        let detail = assert_damaged(meta.committed_totals(), "committed");
        assert!(detail.contains("Restart kintsugi"), "the error says what to do: {detail}");
    }
    meta.put_raw_for_test(CF_LEDGER, DISK_2, &[1; 15]).expect("damage");
    assert!(assert_damaged(meta.disk_usage(2), "disk/2").contains("15 bytes"));
    assert_damaged(meta.disk_usages(), "disk/2");
    assert_damaged(meta.recount(&|_| true, 0), "disk/2");
    assert_eq!(meta.disk_usage(3).expect("an undamaged counter still reads"), (2, 2 * sb));
    // Commits merge into the damaged counters: they are written, a flush (which runs the
    // merge) leaves the store writable, and the counters stay damaged instead of reading as
    // the new operands alone.
    meta.put_object("b", "k2", &manifest(2, vec![seg(12, &[2, 3, 4])]), Expect::Any).expect("a commit still writes");
    meta.flush().expect("flush");
    meta.put_object("b", "k3", &manifest(3, vec![seg(13, &[1, 2, 4])]), Expect::Any).expect("writable after the flush");
    assert!(assert_damaged(meta.committed_totals(), "committed").contains("damaged by a merge"));
    assert_damaged(meta.disk_usage(2), "disk/2");
    drop(meta);
    // The next open recounts the ledger from the manifests.
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    assert_eq!(meta.committed_totals().expect("totals"), Totals { segments: 4, bytes: 4000 });
    assert_eq!(meta.disk_usage(2).expect("usage"), (4, 4 * sb));
    agrees(&meta);
}
