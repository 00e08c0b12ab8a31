//! Shard file tests on real files.

use crate::*;
use kintsugi_erasure::{chunk_hash, shard_hash};

fn header(seg: u128, index: u8) -> ShardHeader {
    ShardHeader {
        codec: 1,
        k: 4,
        m: 2,
        index,
        chunk_size: 128,
        segment_no: 0,
        segment_id: seg,
        owner_id: 9,
        part_number: 0,
        segment_len: 0,
        data_len: 0,
        chunks: 0,
        label: std::sync::Arc::from(&[][..]),
    }
}

fn setup() -> (tempfile::TempDir, Disk) {
    let dir = tempfile::tempdir().expect("tempdir");
    Disk::format(dir.path(), 3, 77).expect("format");
    let disk = Disk::open(dir.path(), 3, 77).expect("open");
    assert!(!disk.is_failed());
    (dir, disk)
}

fn write(disk: &Disk, seg: u128, chunks: &[Vec<u8>]) -> [u8; 32] {
    let mut w = disk.create_shard(header(seg, 1)).expect("create");
    for c in chunks {
        w.append(c, chunk_hash(c)).expect("append");
    }
    w.finish(999).expect("finish")
}

#[test]
fn write_read_and_detect_every_kind_of_damage() {
    let (_d, disk) = setup();
    let chunks = vec![vec![1u8; 128], vec![2u8; 128], vec![3u8; 64]];
    let sh = write(&disk, 5, &chunks);
    assert_eq!(sh, shard_hash(&chunks.iter().map(|c| chunk_hash(c)).collect::<Vec<_>>()));
    let r = disk.open_shard(5, 1, Some(&sh)).expect("open");
    assert_eq!(r.header().segment_len, 999);
    assert_eq!(r.read_chunk(1, 128, 128).expect("chunk"), chunks[1]);
    assert_eq!(r.read_chunk(2, 256, 64).expect("chunk"), chunks[2]);
    assert!(r.read_chunk(3, 320, 64).is_err());

    // Wrong manifest hash -> corrupt.
    assert!(matches!(disk.open_shard(5, 1, Some(&[0; 32])), Err(DiskError::Corrupt { .. })));
    // Missing shard on a healthy disk -> Missing.
    assert!(matches!(disk.open_shard(6, 1, None), Err(DiskError::Missing { .. })));

    // Flip one byte anywhere in the file: opening or reading must fail.
    let path = disk.shard_path(5, 1);
    let orig = std::fs::read(&path).expect("read");
    for pos in [0usize, 50, 100, 127, 128, 200, 128 + 320 - 1, orig.len() - 1, orig.len() - 40] {
        let mut bad = orig.clone();
        bad[pos] ^= 0x01;
        std::fs::write(&path, &bad).expect("write bad");
        let detected = match disk.open_shard(5, 1, Some(&sh)) {
            Err(_) => true,
            Ok(r) => (0..3u64).any(|i| r.read_chunk(i, i * 128, if i == 2 { 64 } else { 128 }).is_err()),
        };
        assert!(detected, "flip at {pos} not detected");
    }
    // Truncation.
    std::fs::write(&path, &orig[..orig.len() - 1]).expect("truncate");
    assert!(matches!(disk.open_shard(5, 1, Some(&sh)), Err(DiskError::Corrupt { .. })));
}

#[test]
fn unfinished_writer_leaves_nothing_and_deleted_disk_fails() {
    let (d, disk) = setup();
    {
        let mut w = disk.create_shard(header(8, 0)).expect("create");
        w.append(&[1u8; 128], chunk_hash(&[1u8; 128])).expect("append");
    }
    assert!(!disk.shard_path(8, 0).exists());
    assert_eq!(disk.clean_tmp().expect("clean"), 0, "drop removed the temp file");
    write(&disk, 9, &[vec![4u8; 128]]);
    assert!(disk.delete_shard(9, 1).expect("delete"));
    assert!(!disk.delete_shard(9, 1).expect("delete again"));

    std::fs::remove_dir_all(d.path()).expect("rm disk");
    assert!(matches!(disk.open_shard(9, 1, None), Err(e) if e.is_disk_failure()));
    assert!(disk.is_failed());
    assert!(matches!(disk.create_shard(header(10, 0)), Err(DiskError::DiskFailed { .. })));
    assert!(!disk.check());
}

#[test]
fn foreign_directory_is_not_our_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    Disk::format(dir.path(), 3, 77).expect("format");
    let other = Disk::open(dir.path(), 3, 78).expect("open");
    assert!(other.is_failed(), "a directory with another uuid is not this disk");
    let ident = Disk::read_identity(dir.path()).expect("ident").expect("present");
    assert_eq!(ident.disk_id, 3);
}

#[test]
fn an_identity_file_of_another_format_version_is_refused_not_read_as_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    Disk::format(dir.path(), 3, 77).expect("format");
    let p = dir.path().join(IDENTITY_FILE);
    let text = std::fs::read_to_string(&p).expect("read identity");
    assert!(text.contains("\"format\": 1"), "{text}");
    std::fs::write(&p, text.replace("\"format\": 1", "\"format\": 2")).expect("write identity");
    match Disk::inspect(dir.path()) {
        Err(DiskError::Invalid { detail }) => assert!(detail.contains("identity format 2"), "{detail}"),
        other => panic!("a format-2 identity was taken for ours: {other:?}"),
    }
    let disk = Disk::open(dir.path(), 3, 77).expect("open");
    assert!(disk.is_failed(), "a disk with an identity of another format is not used");
}

#[test]
fn a_disk_directory_is_opened_by_one_owner_at_a_time() {
    let (dir, disk) = setup();
    match Disk::open(dir.path(), 3, 77) {
        Err(DiskError::InUse { path }) => assert_eq!(path, dir.path()),
        other => panic!("a second open of a locked disk: {other:?}, want InUse"),
    }
    // A failed disk lets its directory go: it may be emptied and added again as a new disk.
    disk.mark_failed("test");
    let again = Disk::open(dir.path(), 3, 77).expect("open after the first owner failed it");
    assert!(!again.is_failed());
    assert!(!disk.check(), "the old owner cannot take the directory back while the new one holds it");
    drop(again);
    assert!(disk.check(), "once free, the directory is the old owner's again");
}

#[test]
fn a_directory_is_inspected_before_it_becomes_a_disk() {
    let base = tempfile::tempdir().expect("tempdir");
    let missing = base.path().join("missing");
    assert_eq!(Disk::inspect(&missing).expect("missing"), DirState::Empty);
    let empty = base.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert_eq!(Disk::inspect(&empty).expect("empty"), DirState::Empty);
    let full = base.path().join("full");
    std::fs::create_dir(&full).expect("mkdir");
    std::fs::write(full.join("photo.jpg"), b"not a shard").expect("write");
    match Disk::inspect(&full) {
        Err(DiskError::Invalid { detail }) => assert!(detail.contains("not empty"), "{detail}"),
        other => panic!("a non-empty foreign directory: {other:?}"),
    }
    assert!(Disk::format_new(&full, 1).is_err(), "a non-empty directory is never formatted");
    assert_eq!(std::fs::read_dir(&full).expect("ls").count(), 1, "and nothing was written into it");
    // A new disk gets a random uuid; its directory then reads back as formatted, with that uuid.
    let disk = Disk::format_new(&missing, 5).expect("format new");
    assert_eq!(Disk::inspect(&missing).expect("formatted"), DirState::Formatted { id: 5, uuid: disk.uuid() });
    drop(disk);
    assert!(Disk::format_new(&missing, 6).is_err(), "a formatted disk is not formatted again");
    // An identity file with a damaged uuid is refused, not taken for a new disk.
    let bad = base.path().join("bad");
    Disk::format(&bad, 7, 99).expect("format");
    let ident = std::fs::read_to_string(bad.join(IDENTITY_FILE)).expect("read").replace(&format!("{:032x}", 99), "zz");
    std::fs::write(bad.join(IDENTITY_FILE), ident).expect("write");
    assert!(matches!(Disk::inspect(&bad), Err(DiskError::Corrupt { .. })), "{:?}", Disk::inspect(&bad));
}

#[test]
fn a_disk_is_the_disk_its_identity_file_names_however_the_uuid_is_spelled() {
    // `inspect` reads the uuid as a number; `check` must agree with it, or a disk whose
    // identity file spells the uuid with upper-case digits (edited by hand, or written by
    // another tool) is accepted at start and then marked failed.
    let dir = tempfile::tempdir().expect("tempdir");
    Disk::format(dir.path(), 3, 0xab).expect("format");
    let path = dir.path().join(IDENTITY_FILE);
    let text = std::fs::read_to_string(&path).expect("identity");
    let lower = format!("{:032x}", 0xabu128);
    assert!(text.contains(&lower), "{text}");
    std::fs::write(&path, text.replace(&lower, &lower.to_uppercase())).expect("rewrite identity");
    assert_eq!(Disk::inspect(dir.path()).expect("inspect"), DirState::Formatted { id: 3, uuid: 0xab });
    let disk = Disk::open(dir.path(), 3, 0xab).expect("open");
    assert!(!disk.is_failed(), "a disk whose identity names its uuid must not be failed");
    // A different uuid is still another disk.
    drop(disk);
    assert!(Disk::open(dir.path(), 3, 0xac).expect("open").is_failed());
}

#[test]
fn a_labelled_shard_reads_back_with_its_label_and_a_disk_lists_its_shards() {
    let (_d, disk) = setup();
    let chunks = vec![vec![5u8; 128], vec![6u8; 40]];
    let mut h = header(0xab00_0000_0000_0000_0000_0000_0000_0001, 2);
    h.label = std::sync::Arc::from(&b"a label that names the owner"[..]);
    let mut w = disk.create_shard(h.clone()).expect("create");
    for c in &chunks {
        w.append(c, chunk_hash(c)).expect("append");
    }
    let sum = w.finish(168).expect("finish");
    let r = disk.open_shard(h.segment_id, 2, Some(&sum)).expect("open");
    assert_eq!(&*r.header().label, b"a label that names the owner");
    assert_eq!(r.read_chunk(0, 0, 128).expect("chunk 0"), chunks[0]);
    assert_eq!(r.read_chunk(1, 128, 40).expect("chunk 1"), chunks[1]);
    // A flipped label byte is damage, caught at open.
    let path = disk.shard_path(h.segment_id, 2);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[130] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(disk.open_shard(h.segment_id, 2, None), Err(DiskError::Corrupt { .. })));
    bytes[130] ^= 1;
    std::fs::write(&path, &bytes).expect("write");

    // Listing walks every fan-out directory in order and pages.
    write(&disk, 1, &chunks);
    write(&disk, 0xff00_0000_0000_0000_0000_0000_0000_0000, &chunks);
    std::fs::write(disk.root().join("shards/ab/not-a-shard.txt"), b"x").expect("stray file");
    let all = disk.list_shards(None, 10).expect("list");
    assert_eq!(all, vec![(1, 1), (h.segment_id, 2), (0xff00_0000_0000_0000_0000_0000_0000_0000, 1)]);
    assert_eq!(disk.list_shards(None, 2).expect("page 1"), all[..2].to_vec());
    assert_eq!(disk.list_shards(Some(all[1]), 2).expect("page 2"), all[2..].to_vec());
    assert!(disk.list_shards(Some(all[2]), 2).expect("past the end").is_empty());
}

#[test]
fn a_chunk_read_from_a_file_cut_short_after_opening_is_an_error_not_short_data() {
    let (_d, disk) = setup();
    let chunks: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 128]).collect();
    let hash = write(&disk, 0x51, &chunks);
    let r = disk.open_shard(0x51, 1, Some(&hash)).expect("open");
    assert_eq!(r.read_chunk(2, 256, 128).expect("whole"), chunks[2]);
    // The file loses its tail (and the table) under the open reader: the last chunk is half there.
    let f = std::fs::OpenOptions::new().write(true).open(disk.shard_path(0x51, 1)).expect("open file");
    f.set_len(r.header().encoded_len() + 256 + 64).expect("truncate");
    match r.read_chunk(2, 256, 128) {
        Err(DiskError::Io { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("a chunk past the end of the file must be an I/O error: {other:?}"),
    }
    assert_eq!(r.read_chunk(1, 128, 128).expect("before the cut"), chunks[1]);
}
