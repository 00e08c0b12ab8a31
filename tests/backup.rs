//! Metadata backups of real processes: `kintsugi admin meta backup DIR` while the store takes
//! writes, the metadata directory destroyed, and `--restore DIR` bringing every object
//! acknowledged before the backup back byte-exact — in the embedded store and for a cluster
//! gateway (whose CA comes back too, so its storage nodes rejoin with their certificates).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cluster::Cluster;
use common::{Opts, Server, KIB, MIB};

/// Run `kintsugi ARGS` against `s` and return (success, stdout + stderr).
fn run(s: &Server, args: &[&str]) -> (bool, String) {
    let out = s.kintsugi(args).output().expect("running kintsugi");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Start `kintsugi server` on `s`'s directories with `--restore DIR` once, to completion
/// when it refuses; answers (started, output).
fn refused_restore(s: &Server, backup: &Path) -> (bool, String) {
    let mut cmd = Command::new(common::BIN);
    cmd.arg("server").arg("--meta").arg(s.meta_dir()).arg("--restore").arg(backup).args(["--listen", "127.0.0.1:0"]);
    for i in 0..s.disks() {
        cmd.arg("--data").arg(s.disk_dir(i));
    }
    let out = cmd.env("NO_COLOR", "1").output().expect("running kintsugi server");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn an_embedded_store_restored_from_a_backup_taken_under_load_serves_every_object_acknowledged_before_it() {
    let _g = common::slot();
    let mut s = Server::start(Opts::small_chunks());
    let objs = common::objects("before", 300, &[0, 1, 256 * KIB, 13 * MIB], 40, 700 * KIB);
    let manifest = s.manifest("before", "keep", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    s.py("data.py", &["write-mp", manifest]);
    // Writes keep coming while the backup is taken: it must be consistent all the same.
    let load = common::objects("during", 301, &[], 60, 300 * KIB);
    let load_manifest = s.manifest("during", "busy", &load);
    let mut writer = s.py_spawn("data.py", &["write", load_manifest.to_str().expect("utf-8")]);
    let backup = s.scratch().join("backup");
    let b = backup.to_str().expect("utf-8");
    s.run_ok(s.kintsugi(&["admin", "meta", "backup", b]), "kintsugi admin meta backup");
    assert!(writer.wait().expect("the writer").success(), "the load failed");
    for f in ["kintsugi-backup.json", "kintsugi-backup-end.json", "db/CURRENT"] {
        assert!(backup.join(f).is_file(), "{f} missing from the backup");
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).expect("the backup directory").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the backup holds every secret but its directory is mode {mode:o}");
    }
    // The checkpoint the gateway streamed from is gone (it holds every secret).
    let leftovers: Vec<_> = std::fs::read_dir(s.root()).expect("server dir").flatten().filter(|e| e.file_name().to_string_lossy().contains(".backup-")).collect();
    assert!(leftovers.is_empty(), "checkpoints left beside the metadata: {leftovers:?}");
    // Backups never overwrite: the same DIR again is refused.
    let (ok, out) = run(&s, &["admin", "meta", "backup", b]);
    assert!(!ok && out.contains("exists already"), "a second backup into the same directory: {out}");

    // The metadata directory is lost.
    s.kill9();
    std::fs::remove_dir_all(s.meta_dir()).expect("removing the metadata directory");
    // A damaged backup is refused before anything is written.
    let damaged = s.scratch().join("damaged");
    common::copy_tree(&backup, &damaged);
    let victim = std::fs::read_dir(damaged.join("db")).expect("db").flatten().find(|e| e.file_name().to_string_lossy().ends_with(".sst")).expect("an sst file");
    std::fs::remove_file(victim.path()).expect("damaging the copy");
    let (ok, out) = refused_restore(&s, &damaged);
    assert!(!ok && out.contains("damaged"), "a backup missing a file was restored: {out}");
    assert!(!s.meta_dir().join("CURRENT").exists(), "a refused restore wrote a store");

    s.set_flags(&["--restore", b]);
    s.restart();
    s.py("data.py", &["verify", manifest]);
    // The ledger of the restored store agrees with a full recount of its manifests.
    let st = s.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["recount"]["matches"], true, "the restored ledger does not match a recount: {st:#}");
    // Restoring onto a store that exists is refused: a restore never overwrites metadata.
    s.kill9();
    let (ok, out) = refused_restore(&s, &backup);
    assert!(!ok && out.contains("already holds metadata"), "a restore over a live store: {out}");
    s.set_flags(&[]);
    s.restart();
    s.py("data.py", &["verify", manifest]);
}

#[test]
fn a_gateway_whose_metadata_directory_is_wiped_comes_back_from_a_backup_and_its_nodes_rejoin() {
    let _g = common::slot();
    let mut c = Cluster::start(3, 1, &["--ec", "2+1", "--down-after", "2s"], Some(65536));
    let objs = common::objects("clu", 400, &[0, 5 * MIB], 25, 400 * KIB);
    let manifest = c.gw.manifest("clu", "saved", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write-mp", manifest]);
    let backup = c.gw.scratch().join("gw-backup");
    let b = backup.to_str().expect("utf-8");
    c.gw.run_ok(c.kintsugi(&["admin", "meta", "backup", b]), "kintsugi admin meta backup");
    assert!(backup.join("cluster").join("ca.key").is_file(), "the CA key is not in the gateway's backup");

    // Everything under --meta is gone: the RocksDB store, the CA, the join secret.
    c.gw.kill9();
    std::fs::remove_dir_all(c.gw.meta_dir()).expect("wiping the gateway's --meta");
    c.gw.add_flags(&["--restore", b]);
    c.gw.restart();
    // The nodes never restarted: they reconnect with the certificates the restored CA signed.
    c.wait_states(&[(0, "up"), (1, "up"), (2, "up")], Duration::from_secs(30));
    c.gw.py("data.py", &["verify", manifest]);
    // The restored gateway takes new writes and places them on the same nodes.
    let more = common::objects("new", 401, &[MIB], 5, 200 * KIB);
    let more_manifest = c.gw.manifest("new", "saved", &more);
    c.gw.py("data.py", &["write", more_manifest.to_str().expect("utf-8")]);
    c.assert_full_layout("saved", &more, 3, &[]);
}

/// Keep every object as shards: a rebuild from shards cannot find the small objects a store
/// keeps with its metadata (README, "Metadata backups").
const NO_INLINE: &str = "--inline-max=0";

/// `objects` of `n` keys in `prefix`, none empty (an empty object has no shards to rebuild it from).
fn non_empty(prefix: &str, seed: u64, fixed: &[u64], n: usize, max: u64) -> Vec<(String, u64, u64)> {
    common::objects(prefix, seed, fixed, n, max).into_iter().map(|(k, sd, sz)| (k, sd, sz.max(1))).collect()
}

/// The bucket's listing as "KEY SIZE ETAG" lines.
fn listing(s: &Server, bucket: &str) -> Vec<String> {
    s.py("data.py", &["listing", bucket]).lines().map(str::to_owned).collect()
}

#[test]
fn an_embedded_store_whose_metadata_is_lost_gets_every_object_back_from_its_shards() {
    let _g = common::slot();
    // Every object as shards: small ones kept with the metadata go with it (README).
    let mut s = Server::start(Opts { flags: vec![NO_INLINE.into()], ..Opts::small_chunks() });
    // Plain and multipart objects (13 MiB goes up in 8 MiB parts), some segments long.
    let first = non_empty("obj", 700, &[1, 256 * KIB, 13 * MIB, 9 * MIB], 220, 300 * KIB);
    let m1 = s.manifest("first", "lost", &first);
    s.py("data.py", &["write-mp", m1.to_str().expect("utf-8")]);
    // Forty keys overwritten (multipart by plain, plain by multipart, small by small): the old
    // versions' shards stay on the disks until GC, and the rebuild must pick the newer ones.
    let mut second: Vec<(String, u64, u64)> = first[..40].iter().enumerate().map(|(i, (k, sd, _))| (k.clone(), sd + 10_000, 1 + (i as u64 * 7919) % (200 * KIB))).collect();
    second[5].2 = 10 * MIB;
    let m2 = s.manifest("second", "lost", &second);
    s.py("data.py", &["write-mp", m2.to_str().expect("utf-8")]);
    let mut expected = second.clone();
    expected.extend(first[40..].iter().cloned());
    let m_all = s.manifest("all", "lost", &expected);
    let before = listing(&s, "lost");
    assert_eq!(before.len(), 220);

    // Every byte of metadata is gone; only the disks remain, and one of them lost its shards.
    s.kill9();
    std::fs::remove_dir_all(s.meta_dir()).expect("wiping --meta");
    let lost: Vec<_> = common::files_under(&s.disk_dir(0).join("shards")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "shard")).collect();
    assert!(lost.len() > 200, "disk 0 holds only {} shards", lost.len());
    for f in &lost {
        std::fs::remove_file(f).expect("removing a shard");
    }
    // A fresh store refuses the disks of a store it does not know, and says what to do.
    s.set_flags(&[NO_INLINE]);
    let mut cmd = Command::new(common::BIN);
    cmd.arg("server").arg("--meta").arg(s.meta_dir()).args(["--listen", "127.0.0.1:0"]);
    for i in 0..s.disks() {
        cmd.arg("--data").arg(s.disk_dir(i));
    }
    let out = cmd.env("NO_COLOR", "1").output().expect("running kintsugi server");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("--adopt-disks"), "a server took disks it does not know: {text}");
    std::fs::remove_dir_all(s.meta_dir()).ok();

    s.set_flags(&["--adopt-disks", NO_INLINE]);
    s.restart();
    let rep = s.admin_json(&["meta", "rebuild"]);
    assert_eq!(rep["objects_rebuilt"], 220, "{rep:#}");
    assert_eq!(rep["versions_superseded"], 40, "{rep:#}");
    assert_eq!(rep["problems"].as_array().map(Vec::len), Some(0), "{rep:#}");
    assert_eq!(rep["buckets_created"][0], "lost");
    // Byte-exact, and the listing (sizes and ETags, multipart ones too) is what it was.
    s.py("data.py", &["verify", m_all.to_str().expect("utf-8")]);
    assert_eq!(listing(&s, "lost"), before);
    let st = s.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["recount"]["matches"], true, "the rebuilt ledger does not match a recount: {st:#}");
    // The shards disk 0 lost are stored nowhere in the rebuilt manifests, with the hashes the
    // rebuild learnt by re-encoding their stripes: repair puts them back and they verify.
    let full = common::poll(Duration::from_secs(120), Duration::from_millis(500), || {
        let st = s.admin_json(&["repair", "status"]);
        (st["full_redundancy"] == true).then_some(st)
    });
    assert!(full.is_some(), "repair did not restore full redundancy: {:#}", s.admin_json(&["repair", "status"]));
    let scrub = s.admin_json(&["scrub"]);
    assert_eq!((scrub["corrupt"].as_u64(), scrub["missing"].as_u64()), (Some(0), Some(0)), "{scrub:#}");
    // A second rebuild finds nothing new: every shard is known now (the old versions' are garbage).
    let again = s.admin_json(&["meta", "rebuild"]);
    assert_eq!(again["objects_rebuilt"], 0, "{again:#}");
    assert_eq!(again["objects_kept"], 0, "{again:#}");
    // The store takes writes again, and survives a restart without --adopt-disks.
    s.set_flags(&[NO_INLINE]);
    s.restart();
    s.py("data.py", &["verify", m_all.to_str().expect("utf-8")]);
}

#[test]
fn a_gateway_whose_metadata_store_is_lost_gets_every_object_back_from_the_nodes_shards() {
    let _g = common::slot();
    let mut c = Cluster::start(3, 1, &["--ec", "2+1", "--down-after", "2s", NO_INLINE], Some(65536));
    let objs = non_empty("clu", 900, &[9 * MIB, 300 * KIB], 120, 400 * KIB);
    let m = c.gw.manifest("clu", "gone", &objs);
    c.gw.py("data.py", &["write-mp", m.to_str().expect("utf-8")]);
    // Overwrite a few: the newest version must win on the nodes too.
    let newer: Vec<(String, u64, u64)> = objs[..10].iter().map(|(k, sd, sz)| (k.clone(), sd + 5_000, sz / 2 + 1)).collect();
    let m2 = c.gw.manifest("clu2", "gone", &newer);
    c.gw.py("data.py", &["write", m2.to_str().expect("utf-8")]);
    let mut expected = newer.clone();
    expected.extend(objs[10..].iter().cloned());
    let m_all = c.gw.manifest("clu-all", "gone", &expected);
    let before = listing(&c.gw, "gone");

    // The metadata store and the Raft log are lost; the cluster CA (`cluster/`) is kept, so the
    // nodes, which never restart, reconnect with their certificates.
    c.gw.kill9();
    for p in ["db", "raft", "raft-snapshots", "raft-snapshot", "raft-id"] {
        let path = c.gw.meta_dir().join(p);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("wiping");
        } else {
            std::fs::remove_file(&path).ok();
        }
    }
    c.gw.restart();
    c.wait_states(&[(0, "up"), (1, "up"), (2, "up")], Duration::from_secs(30));
    let rep = c.gw.admin_json(&["meta", "rebuild"]);
    assert_eq!(rep["objects_rebuilt"], 120, "{rep:#}");
    assert_eq!(rep["versions_superseded"], 10, "{rep:#}");
    assert_eq!(rep["problems"].as_array().map(Vec::len), Some(0), "{rep:#}");
    c.gw.py("data.py", &["verify", m_all.to_str().expect("utf-8")]);
    assert_eq!(listing(&c.gw, "gone"), before);
    let st = c.gw.admin_json(&["repair", "status"]);
    assert_eq!(st["full_redundancy"], true, "{st:#}");
}
