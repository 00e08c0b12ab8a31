//! Full disks (issue 17): a disk at its reserve takes no new shards; a write no disk has room
//! for is refused with 507 XKintsugiStorageFull and leaves no partial object; deletes still
//! work on a full store (the reserve keeps room for the metadata) and give the space back; a
//! disk that runs out of space in the middle of a write has that shard re-placed. Real small
//! file systems: the server (or each storage node of a cluster) runs in its own mount
//! namespace on tmpfs.

mod common;

use common::cluster::Cluster;
use common::{ledger_row, Opts, Server};

#[test]
fn a_full_store_refuses_writes_with_507_keeps_deleting_and_takes_writes_again() {
    let _g = common::slot();
    // Disks and metadata share one 256 MiB file system (RocksDB preallocates about 70 MiB of
    // it for its log); 24 MiB of it is kept back.
    let s = Server::start(Opts {
        gc_delay: Some(0),
        flags: vec!["--disk-reserve".into(), "24MiB".into()],
        tmpfs: vec![(String::new(), "256m".into())],
        ..Opts::default()
    });
    let size = (2 << 20).to_string();
    let out = s.py("full.py", &["fill", "full", &size]);
    let stored: String = out.lines().find_map(|l| l.strip_prefix("stored ")).expect("the drill prints what it stored").to_owned();
    assert!(stored.parse::<u32>().expect("a count") > 5, "only {stored} objects fitted:\n{out}");
    // Every disk is at its reserve: shown full.
    let disks = s.admin_json(&["disk", "list"]);
    let states: Vec<&str> = disks["disks"].as_array().expect("disks").iter().map(|d| d["state"].as_str().unwrap_or("?")).collect();
    assert_eq!(states, vec!["full"; 6], "{disks:#}");
    s.py("full.py", &["free", "full", &size, &stored]);
    assert!(s.log_tail(200).contains("storage is full"), "the refusal is logged\n{}", s.log_tail(20));
}

#[test]
fn a_disk_that_runs_out_of_space_mid_write_has_its_shard_placed_elsewhere() {
    let _g = common::slot();
    // Seven disks of which the first holds only 1 MiB; no reserve, so its writes run into
    // ENOSPC. 4+2 with 256 KiB chunks: each 1 MiB object puts 256 KiB on six of the disks.
    let mut tmpfs: Vec<(String, String)> = (2..=7).map(|i| (format!("disk{i}"), "64m".to_owned())).collect();
    tmpfs.push(("disk1".into(), "1m".into()));
    let s = Server::start(Opts {
        disks: 7,
        ec: Some("4+2".into()),
        chunk_size: Some(256 << 10),
        flags: vec!["--disk-reserve".into(), "0".into()],
        tmpfs,
        ..Opts::default()
    });
    s.py("full.py", &["put", "spill", &(1 << 20).to_string(), "24"]);
    assert!(s.log_tail(400).contains("out of space"), "disk 1 never ran out of space: the drill did not test anything\n{}", s.log_tail(30));
    let log = s.log_tail(400);
    assert!(log.lines().any(|l| l.contains("out of space") && l.contains("disk=1")), "the disk that ran out is not named\n{}", s.log_tail(30));
    let st = s.admin_json(&["repair", "status", "--recount"]);
    assert_eq!(st["recount"]["matches"], true, "{st:#}");
    assert_eq!(ledger_row(&st, "k+m"), st["ledger"]["segments"].as_u64().expect("segments"), "every segment at full redundancy: {st:#}");
}

#[test]
fn a_full_cluster_refuses_writes_with_507_keeps_deleting_and_takes_writes_again() {
    let _g = common::slot();
    // Three storage nodes whose disks are 64 MiB file systems, 8 MiB of each kept back; EC
    // 2+1, so each 2 MiB object puts 1 MiB on every disk.
    let flags = ["--ec", "2+1", "--disk-reserve", "8MiB", "--gc-delay", "0", "--down-after", "3s"];
    let c = Cluster::start_on_tmpfs(3, 1, &flags, Some(256 << 10), "64m");
    let size = (2 << 20).to_string();
    let out = c.gw.py("full.py", &["fill", "full", &size]);
    let stored: String = out.lines().find_map(|l| l.strip_prefix("stored ")).expect("the drill prints what it stored").to_owned();
    let n: u32 = stored.parse().expect("a count");
    assert!((20..=60).contains(&n), "{n} objects of 2 MiB on three 64 MiB disks with 8 MiB kept back:\n{out}");
    let disks = c.admin_json(&["disk", "list"]);
    let states: Vec<&str> = disks["disks"].as_array().expect("disks").iter().map(|d| d["state"].as_str().unwrap_or("?")).collect();
    assert_eq!(states, vec!["full"; 3], "{disks:#}");
    // Deletes work on the full cluster, and garbage collection on the nodes gives the space back.
    c.gw.py("full.py", &["free", "full", &size, &stored]);
    assert!(c.gw.log_tail(400).contains("storage is full"), "the refusal is logged\n{}", c.gw.log_tail(20));
    // Every node stayed up through it.
    c.wait_states(&[(0, "up"), (1, "up"), (2, "up")], std::time::Duration::from_secs(5));
}

#[test]
fn a_full_metadata_file_system_refuses_new_objects_and_still_deletes() {
    let _g = common::slot();
    // The metadata has a 160 MiB file system of its own; the disks have plenty.
    let s = Server::start(Opts { flags: vec!["--disk-reserve".into(), "24MiB".into()], tmpfs: vec![("meta".into(), "160m".into())], ..Opts::default() });
    let size = (1 << 20).to_string();
    s.py("full.py", &["put", "before", &size, "3"]);
    // Fill the metadata file system, as the server sees it, to 8 MiB above nothing.
    let ballast = std::path::PathBuf::from(format!("/proc/{}/root{}", s.pid(), s.meta_dir().join("ballast").display()));
    let df = std::process::Command::new("stat").args(["-f", "-c", "%a %S"]).arg(ballast.parent().expect("dir")).output().expect("stat -f");
    let df = String::from_utf8_lossy(&df.stdout).to_string();
    let (avail, block) = df.trim().split_once(' ').expect("stat -f output");
    let free = avail.parse::<u64>().expect("blocks") * block.parse::<u64>().expect("block size");
    let fill = std::process::Command::new("fallocate").args(["-l", &(free - (8 << 20)).to_string()]).arg(&ballast).status().expect("fallocate");
    assert!(fill.success(), "fallocate of the ballast failed");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // New objects are refused with 507 (nothing stored); deletes go through.
    let out = s.py("full.py", &["fill", "metafull", &size]);
    assert!(out.contains("stored 0"), "an object was stored on a full metadata file system:\n{out}");
    assert!(s.log_tail(200).contains("metadata directory's file system"), "the refusal does not name the metadata\n{}", s.log_tail(20));
    s.run_ok(s.aws(&["s3", "rm", "s3://before/obj-0000"]), "aws s3 rm on a full metadata file system");
    // Room again: writes go through.
    std::fs::remove_file(&ballast).expect("removing the ballast");
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.py("full.py", &["put", "after", &size, "2"]);
}
