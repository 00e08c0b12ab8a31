//! A store written by an earlier release opens and reads unchanged: the fixtures under
//! `tests/fixtures/` are real stores (disks and RocksDB metadata) that an older `kintsugi
//! server` wrote (scripts/make-store-fixture.sh says how; tests/s3/fixture.py what they hold).
//! The current binary opens each, reads every object byte-exact with the same ETags, listings,
//! metadata, owners and open uploads, finds nothing wrong in a scrub, takes new writes, and
//! does all of it again after a restart.

mod common;

use std::path::PathBuf;

use common::{slot, Opts, Server};

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no store fixture in {}", dir.display());
    out
}

#[test]
fn stores_written_by_earlier_releases_open_and_read_unchanged() {
    let _g = slot();
    for fixture in fixtures() {
        let name = fixture.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut s = Server::start_from_fixture(Opts { ec: Some("4+2".into()), chunk_size: Some(65536), ..Opts::default() }, &fixture);
        let keys: serde_json::Value = serde_json::from_slice(&std::fs::read(s.root().join("keys.json")).expect("keys.json")).expect("json");
        let team = |cmd: &mut std::process::Command| {
            cmd.env("TEAM_ACCESS_KEY", keys["team_access_key"].as_str().unwrap_or_default())
                .env("TEAM_SECRET_KEY", keys["team_secret_key"].as_str().unwrap_or_default());
        };
        let root = s.root().to_string_lossy().into_owned();
        let mut check = s.command("python3");
        check.arg(common::scripts_dir().join("fixture.py")).args(["check", &root]);
        team(&mut check);
        s.run_ok(check, &format!("fixture.py check ({name}, made by {})", keys["made_by"]));

        let list = s.admin_json(&["key", "list"]);
        let team_row = list["keys"].as_array().and_then(|k| k.iter().find(|r| r["name"] == "team").cloned());
        assert_eq!(team_row.as_ref().map(|r| r["admin"].clone()), Some(serde_json::json!(false)), "{name}: the team key is a plain key: {list:#}");

        let scrub = s.admin_json(&["scrub"]);
        assert_eq!((scrub["corrupt"].as_u64(), scrub["missing"].as_u64()), (Some(0), Some(0)), "{name}: scrub of the old store: {scrub:#}");

        s.restart();
        let mut again = s.command("python3");
        again.arg(common::scripts_dir().join("fixture.py")).args(["check", &root]);
        team(&mut again);
        s.run_ok(again, &format!("fixture.py check after a restart ({name})"));
    }
}

/// Two disks' directories swapped while the server was down (mounts that came back in another
/// order): each disk is found by its uuid, none is taken for failed, every object reads.
#[test]
fn swapped_disk_directories_are_found_by_their_uuid() {
    let _g = slot();
    let mut s = Server::start(Opts::default());
    let objs = common::objects("swap", 7, &[0, 1], 10, 300 * common::KIB);
    let manifest = s.manifest("swap", "swap", &objs);
    let m = manifest.to_str().expect("utf-8");
    s.py("data.py", &["write", m]);
    s.sigterm(std::time::Duration::from_secs(30));
    let (a, b, tmp) = (s.disk_dir(0), s.disk_dir(1), s.root().join("swap-tmp"));
    std::fs::rename(&a, &tmp).expect("rename");
    std::fs::rename(&b, &a).expect("rename");
    std::fs::rename(&tmp, &b).expect("rename");
    s.restart();
    let st = s.admin_json(&["status"]);
    assert!(st["disks"].as_array().expect("disks").iter().all(|d| d["state"] == "ok"), "a swapped disk was taken for failed: {st:#}");
    assert_eq!(st["full_redundancy"], true, "{st:#}");
    s.py("data.py", &["verify", m]);
}
