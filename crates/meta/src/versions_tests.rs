//! Versioning against a real RocksDB: what writes and deletes do to a key's versions, their
//! shards' owners, garbage and the ledger, and how they are listed.

use crate::tests::{manifest, open};
use crate::*;

fn ids(meta: &RocksMeta, key: &str) -> Vec<(String, bool, bool)> {
    let q = VersionQuery { prefix: key.into(), max: 1000, ..Default::default() };
    let page = meta.list_versions("b", &q).expect("list");
    page.entries.into_iter().filter(|e| e.key == key).map(|e| (e.vref.to_string(), e.latest, e.object.is_none())).collect()
}

fn owner_of(meta: &RocksMeta, disk: DiskId, segment: SegmentId) -> Option<ShardOwner> {
    meta.indexed_shards(disk, None, 100).expect("index").into_iter().find(|s| s.segment == segment).and_then(|s| s.owner)
}

fn vid(v: u128) -> String {
    VersionRef::Id(v).to_string()
}

#[test]
fn version_refs_parse_as_they_print() {
    assert_eq!(VersionRef::parse("null"), Some(VersionRef::Null));
    let r = VersionRef::Id(0xabc);
    assert_eq!(VersionRef::parse(&r.to_string()), Some(r));
    for bad in ["", "nul", "NULL", "xyz", "0123", &"g".repeat(32), &"0".repeat(33), &"A".repeat(32)] {
        assert_eq!(VersionRef::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn an_enabled_bucket_keeps_every_version_and_their_shards() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, &[(10, &[1, 2])]), Expect::Any).expect("put before versioning");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    meta.put_object("b", "k", &manifest(2, &[(11, &[1, 2])]), Expect::Any).expect("put v2");
    meta.put_object("b", "k", &manifest(3, &[(12, &[1, 2])]), Expect::Any).expect("put v3");
    assert_eq!(meta.garbage_count().expect("garbage"), 0, "no version became garbage");
    assert_eq!(ids(&meta, "k"), vec![(vid(3), true, false), (vid(2), false, false), ("null".into(), false, false)]);
    // Archived versions own their shards under their own id; the current one as the object.
    assert_eq!(owner_of(&meta, 1, 10), Some(ShardOwner::Version { bucket: "b".into(), key: "k".into(), version_id: 1 }));
    assert_eq!(owner_of(&meta, 1, 12), Some(ShardOwner::Object { bucket: "b".into(), key: "k".into() }));
    let owner = ShardOwner::Version { bucket: "b".into(), key: "k".into(), version_id: 2 };
    assert_eq!(meta.owned_segment(&owner, 11).expect("segment").map(|s| s.segment.shards[0].disk), Some(1));
    // A move of an archived version's shard rewrites that version only.
    let moved = meta.move_shards(&owner, 11, &[ShardMove { index: 0, from: 1, to: 3 }]).expect("move");
    assert_eq!(moved.len(), 1);
    match meta.object_version("b", "k", Some(VersionRef::Id(2))).expect("read") {
        Some(FoundVersion::Object { manifest, current: false, .. }) => assert_eq!(manifest.segments[0].shards[0].disk, 3),
        other => panic!("version 2: {other:?}"),
    }
    assert_eq!(owner_of(&meta, 3, 11), Some(owner));
    // Reads by version.
    match meta.object_version("b", "k", Some(VersionRef::Null)).expect("read") {
        Some(FoundVersion::Object { manifest, vref: VersionRef::Null, current: false, .. }) => assert_eq!(manifest.version_id, 1),
        other => panic!("null version: {other:?}"),
    }
    assert!(meta.object_version("b", "k", Some(VersionRef::Id(99))).expect("read").is_none());
    // The bucket is not empty while versions remain.
    for v in [VersionRef::Id(3), VersionRef::Id(2)] {
        meta.delete_version("b", "k", v, false).expect("delete version");
    }
    assert!(matches!(meta.delete_bucket("b"), Err(MetaError::BucketNotEmpty { .. })));
    // Deleting the current version made the newest archived one current (here: null).
    match meta.object_version("b", "k", None).expect("read") {
        Some(FoundVersion::Object { manifest, vref: VersionRef::Null, current: true, .. }) => assert_eq!(manifest.version_id, 1),
        other => panic!("newest: {other:?}"),
    }
    assert_eq!(owner_of(&meta, 1, 10), Some(ShardOwner::Object { bucket: "b".into(), key: "k".into() }));
    assert_eq!(meta.garbage_count().expect("garbage"), 2, "the two deleted versions' segments");
    meta.delete_version("b", "k", VersionRef::Null, false).expect("delete null");
    meta.delete_bucket("b").expect("empty bucket goes");
}

#[test]
fn a_delete_in_an_enabled_bucket_makes_a_marker_that_hides_the_key() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    meta.put_object("b", "k", &manifest(1, &[(10, &[1])]), Expect::Any).expect("put");
    let d = meta.delete_object("b", "k", Expect::Any).expect("delete");
    assert!(d.marker && d.removed.is_none());
    let Some(VersionRef::Id(marker)) = d.vref else { panic!("marker id: {d:?}") };
    assert!(meta.object("b", "k").expect("read").is_none(), "the key reads as deleted");
    assert!(meta.list_objects("b", &ListQuery { max: 10, ..Default::default() }).expect("list").entries.is_empty());
    match meta.object_version("b", "k", None).expect("read") {
        Some(FoundVersion::DeleteMarker { vref, latest: true, .. }) => assert_eq!(vref, VersionRef::Id(marker)),
        other => panic!("newest: {other:?}"),
    }
    assert_eq!(ids(&meta, "k"), vec![(vid(marker), true, true), (vid(1), false, false)]);
    assert_eq!(meta.garbage_count().expect("garbage"), 0);
    // Removing the marker brings the object back.
    let d = meta.delete_version("b", "k", VersionRef::Id(marker), false).expect("delete marker");
    assert!(d.marker);
    assert_eq!(meta.object("b", "k").expect("read").map(|m| m.version_id), Some(1));
    assert_eq!(ids(&meta, "k"), vec![(vid(1), true, false)]);
    // A version that does not exist: nothing, no error.
    assert_eq!(meta.delete_version("b", "k", VersionRef::Id(77), false).expect("absent").vref, None);
}

#[test]
fn a_suspended_bucket_writes_and_replaces_the_null_version() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    meta.put_object("b", "k", &manifest(1, &[(10, &[1])]), Expect::Any).expect("v1");
    meta.put_bucket_versioning("b", Versioning::Suspended).expect("suspend");
    meta.put_object("b", "k", &manifest(2, &[(11, &[1])]), Expect::Any).expect("null 1");
    meta.put_object("b", "k", &manifest(3, &[(12, &[1])]), Expect::Any).expect("null 2");
    assert_eq!(ids(&meta, "k"), vec![("null".into(), true, false), (vid(1), false, false)]);
    assert_eq!(meta.garbage_count().expect("garbage"), 1, "the first null version was replaced");
    // A delete makes a null marker, and the null object goes.
    let d = meta.delete_object("b", "k", Expect::Any).expect("delete");
    assert_eq!((d.vref, d.marker), (Some(VersionRef::Null), true));
    assert_eq!(ids(&meta, "k"), vec![("null".into(), true, true), (vid(1), false, false)]);
    assert_eq!(meta.garbage_count().expect("garbage"), 2);
    // The versioned id stays readable.
    assert!(matches!(meta.object_version("b", "k", Some(VersionRef::Id(1))).expect("read"), Some(FoundVersion::Object { .. })));
}

#[test]
fn listing_versions_pages_by_key_and_version_markers() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    for (v, key) in [(1, "a"), (2, "a"), (3, "a/x"), (4, "a/y"), (5, "b"), (6, "b")] {
        meta.put_object("b", key, &manifest(v, &[]), Expect::Any).expect("put");
    }
    meta.delete_object("b", "b", Expect::Any).expect("marker");
    let all = meta.list_versions("b", &VersionQuery { max: 1000, ..Default::default() }).expect("all");
    let keys: Vec<&str> = all.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "a", "a/x", "a/y", "b", "b", "b"]);
    assert!(!all.truncated);
    // Page two at a time; the pages join up to the whole listing.
    let mut got = Vec::new();
    let mut q = VersionQuery { max: 2, ..Default::default() };
    loop {
        let page = meta.list_versions("b", &q).expect("page");
        got.extend(page.entries.iter().map(|e| (e.key.clone(), e.vref)));
        if !page.truncated {
            break;
        }
        q.key_marker = page.next_key_marker;
        q.version_marker = page.next_version_marker;
    }
    assert_eq!(got, all.entries.iter().map(|e| (e.key.clone(), e.vref)).collect::<Vec<_>>());
    // A key marker alone starts after every version of that key; a delimiter groups.
    let after_a = meta.list_versions("b", &VersionQuery { key_marker: Some("a".into()), max: 1000, ..Default::default() }).expect("after a");
    assert_eq!(after_a.entries.first().map(|e| e.key.as_str()), Some("a/x"));
    let grouped = meta.list_versions("b", &VersionQuery { delimiter: Some("/".into()), max: 1000, ..Default::default() }).expect("grouped");
    assert_eq!(grouped.common_prefixes, vec!["a/".to_owned()]);
    assert_eq!(grouped.entries.len(), 5);
    let past = meta.list_versions("b", &VersionQuery { delimiter: Some("/".into()), key_marker: Some("a/".into()), max: 1000, ..Default::default() }).expect("past");
    assert!(past.common_prefixes.is_empty());
    assert_eq!(past.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["b", "b", "b"]);
}

#[test]
fn a_listing_whose_version_marker_was_deleted_meanwhile_still_lists_every_version() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    for v in 1..=5 {
        meta.put_object("b", "k", &manifest(v, &[]), Expect::Any).expect("put");
    }
    // Delete each page before asking for the next, as a "delete every version" loop does.
    let mut q = VersionQuery { max: 2, ..Default::default() };
    let mut deleted = 0;
    loop {
        let page = meta.list_versions("b", &q).expect("page");
        for e in &page.entries {
            meta.delete_version("b", &e.key, e.vref, false).expect("delete");
            deleted += 1;
        }
        if !page.truncated {
            break;
        }
        q.key_marker = page.next_key_marker;
        q.version_marker = page.next_version_marker;
    }
    assert_eq!(deleted, 5);
    assert!(meta.list_versions("b", &VersionQuery { max: 10, ..Default::default() }).expect("list").entries.is_empty());
    meta.delete_bucket("b").expect("every version went, so the bucket goes");
}

#[test]
fn versioned_deletes_need_the_new_command_and_keys_without_nul() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    meta.put_object("b", "k", &manifest(1, &[]), Expect::Any).expect("put");
    let old = Command::DeleteObject { bucket: "b".into(), key: "k".into(), expect: Expect::Any, garbage_due_ms: 0 };
    assert!(matches!(meta.apply(&old), Err(MetaError::NeedsNewerCommand { .. })));
    assert!(meta.object("b", "k").expect("read").is_some(), "nothing was written");
    assert!(matches!(meta.put_object("b", "a\0b", &manifest(2, &[]), Expect::Any), Err(MetaError::UnversionableKey { .. })));
}

#[test]
fn archived_versions_keep_their_tags() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    let tags = vec![("t".to_owned(), "1".to_owned())];
    meta.put_object_tagged("b", "k", &manifest(1, &[]), Expect::Any, &tags).expect("tagged");
    meta.put_object("b", "k", &manifest(2, &[]), Expect::Any).expect("untagged");
    match meta.object_version("b", "k", Some(VersionRef::Id(1))).expect("read") {
        Some(FoundVersion::Object { tags: t, .. }) => assert_eq!(t, tags),
        other => panic!("{other:?}"),
    }
    // Tags of an archived version change in place; the current version's are its own.
    let newer = vec![("t".to_owned(), "2".to_owned())];
    meta.put_version_tags("b", "k", 1, &newer).expect("retag archived");
    meta.put_version_tags("b", "k", 2, &tags).expect("tag current");
    assert_eq!(meta.object_with_tags("b", "k").expect("read").map(|(_, t)| t), Some(tags.clone()));
    assert!(matches!(meta.put_version_tags("b", "k", 9, &tags), Err(MetaError::VersionConflict { .. })));
    let tags = newer;
    meta.delete_version("b", "k", VersionRef::Id(2), false).expect("delete current");
    assert_eq!(meta.object_with_tags("b", "k").expect("read").map(|(_, t)| t), Some(tags), "restored with its tags");
}

#[test]
fn the_lifecycle_expires_only_a_version_still_as_it_saw_it() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("enable");
    let at = |v: u128, t: i64| Manifest { modified_ms: t, ..manifest(v, &[(v + 100, &[1, 2])]) };
    meta.put_object("b", "k", &at(1, 10), Expect::Any).expect("v1");
    meta.put_object("b", "k", &at(2, 20), Expect::Any).expect("v2");
    let noncurrent = |t| ExpiryExpect::Noncurrent { modified_ms: t, newer: 0 };
    // The current version is not noncurrent; a time that differs is another version.
    assert!(matches!(meta.expire_version("b", "k", VersionRef::Id(2), noncurrent(20)), Err(MetaError::VersionConflict { .. })));
    assert!(matches!(meta.expire_version("b", "k", VersionRef::Id(1), noncurrent(11)), Err(MetaError::VersionConflict { .. })));
    assert_eq!(ids(&meta, "k").len(), 2, "nothing was deleted");
    // Fewer newer noncurrent versions than the lifecycle counted (one was deleted since).
    assert!(matches!(meta.expire_version("b", "k", VersionRef::Id(1), ExpiryExpect::Noncurrent { modified_ms: 10, newer: 1 }), Err(MetaError::VersionConflict { .. })));
    let gone = meta.expire_version("b", "k", VersionRef::Id(1), noncurrent(10)).expect("expire v1");
    assert_eq!(gone.vref, Some(VersionRef::Id(1)));
    assert_eq!(ids(&meta, "k"), vec![(vid(2), true, false)]);
    // A delete marker over a version is not alone; once it is, it goes.
    let marker = meta.delete_object("b", "k", Expect::Any).expect("marker").vref.expect("marker id");
    assert!(matches!(meta.expire_version("b", "k", marker, ExpiryExpect::LoneMarker), Err(MetaError::VersionConflict { .. })));
    // A marker that became the newest version (its version above deleted) is not noncurrent.
    meta.put_object("b", "m", &at(7, 10), Expect::Any).expect("m v7");
    let m_marker = meta.delete_object("b", "m", Expect::Any).expect("marker").vref.expect("marker id");
    meta.put_object("b", "m", &at(8, 30), Expect::Any).expect("m v8");
    meta.delete_version("b", "m", VersionRef::Id(8), false).expect("v8 deleted for good");
    let m_at = match meta.object_version("b", "m", Some(m_marker)).expect("read") {
        Some(FoundVersion::DeleteMarker { modified_ms, latest: true, .. }) => modified_ms,
        other => panic!("the marker is the latest: {other:?}"),
    };
    assert!(matches!(meta.expire_version("b", "m", m_marker, noncurrent(m_at)), Err(MetaError::VersionConflict { .. })), "the latest marker is not noncurrent");
    assert!(meta.object("b", "m").expect("read").is_none(), "the key stays deleted");
    let v2 = meta.object_version("b", "k", Some(VersionRef::Id(2))).expect("read");
    let Some(FoundVersion::Object { manifest: m2, .. }) = v2 else { panic!("v2: {v2:?}") };
    meta.expire_version("b", "k", VersionRef::Id(2), noncurrent(m2.modified_ms)).expect("expire v2");
    meta.expire_version("b", "k", marker, ExpiryExpect::LoneMarker).expect("expire the lone marker");
    assert!(ids(&meta, "k").is_empty());
    // Object lock holds a version against the lifecycle.
    meta.create_locked_bucket("l", "AK").expect("locked bucket");
    meta.put_object("l", "k", &at(5, 10), Expect::Any).expect("v5");
    meta.put_version_lock("l", "k", 5, None, Some(true), false).expect("legal hold");
    meta.put_object("l", "k", &at(6, 20), Expect::Any).expect("v6");
    assert!(matches!(meta.expire_version("l", "k", VersionRef::Id(5), noncurrent(10)), Err(MetaError::ObjectLocked { .. })));
}
