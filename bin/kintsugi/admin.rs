//! `kintsugi admin ...`: the storage admin's commands, over the gateway's
//! SigV4-authenticated admin API. Every command takes `--json`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::clientconf::{self, ConnArgs};

/// `kintsugi admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Mode, EC scheme, nodes and disks with their states, pending garbage: whether data is safe
    Status(AdminArgs),
    /// Disk commands
    #[command(subcommand)]
    Disk(DiskCmd),
    /// Background repair commands
    #[command(subcommand)]
    Repair(RepairCmd),
    /// Verify every shard's BLAKE3 now (on one disk with --disk), report and repair what is bad
    Scrub(ScrubArgs),
    /// Print the token storage nodes join the cluster with (`kintsugi storage --join TOKEN`)
    JoinToken(AdminArgs),
}

/// `kintsugi admin disk` subcommands.
#[derive(Debug, Subcommand)]
pub enum DiskCmd {
    /// Every disk with its node, state and path
    List(AdminArgs),
    /// Decommission a disk: no new shards go there and its shards move to other disks while
    /// reads and writes go on; it ends `decommissioned` (empty) and can then be pulled
    Drain(DrainArgs),
    /// A drain's progress: shards moved and remaining, rate, ETA
    Status(DiskStatusArgs),
}

/// Flags of `kintsugi admin disk drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Disk id (see `kintsugi admin disk list`).
    disk: u32,
    /// Drain even when the disks left cannot hold every segment on k+m distinct nodes
    /// (some segments then keep 2 shards on one node: losing that node costs 2 shards).
    #[arg(long, conflicts_with = "cancel")]
    force: bool,
    /// Stop the drain; the disk takes new shards again.
    #[arg(long)]
    cancel: bool,
    /// Wait until the disk is decommissioned, printing progress.
    #[arg(long, conflicts_with = "cancel")]
    wait: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of `kintsugi admin disk status`.
#[derive(Debug, Args)]
pub struct DiskStatusArgs {
    /// Disk id.
    disk: u32,
    #[command(flatten)]
    admin: AdminArgs,
}

fn print_drain(v: &Value) {
    let eta = v["eta_s"].as_f64().map_or("unknown".to_owned(), |s| format!("{s:.0} s"));
    println!(
        "disk {}: {}; {} of {} shards left, {:.1} shards/s, ETA {eta}",
        v["disk"],
        v["state"].as_str().unwrap_or("?"),
        v["shards_remaining"],
        v["shards_at_start"],
        v["shards_per_s"].as_f64().unwrap_or(0.0)
    );
}

/// `kintsugi admin repair` subcommands.
#[derive(Debug, Subcommand)]
pub enum RepairCmd {
    /// Shards on lost and down disks, damaged segments by shards missing, what repair rebuilt and how fast
    Status(AdminArgs),
}

/// Flags of `kintsugi admin scrub`.
#[derive(Debug, Args)]
pub struct ScrubArgs {
    /// Only this disk id (see `kintsugi admin disk list`).
    #[arg(long, value_name = "DISK")]
    disk: Option<u32>,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of every admin command.
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct AdminArgs {
    /// Print the admin API's JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

fn fetch(conn: &ConnArgs, op: &str) -> Result<Value> {
    call(conn, op, false, &[])
}

fn call(conn: &ConnArgs, op: &str, post: bool, query: &[(String, String)]) -> Result<Value> {
    let resolved = clientconf::resolve(conn)?;
    let client = resolved.client()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let body = rt
        .block_on(async { if post { client.admin_post(op, query).await } else { client.admin_get(op, query).await } })
        .with_context(|| format!("admin API {op} at {} ({})", resolved.endpoint, resolved.source))?;
    serde_json::from_slice(&body).context("the admin API sent invalid JSON")
}

/// Run an admin command.
pub fn run(cmd: AdminCmd) -> Result<()> {
    match cmd {
        AdminCmd::Status(a) => {
            let v = fetch(&a.conn, "status")?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let disks = v["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let failed = disks.iter().filter(|d| d["state"] != "ok").count();
            println!("mode:            {}", v["mode"].as_str().unwrap_or("?"));
            println!("erasure coding:  {}", v["ec"].as_str().unwrap_or("?"));
            let nodes = v["nodes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if v["mode"] == "cluster" {
                let up = nodes.iter().filter(|n| n["state"] == "up").count();
                println!("nodes:           {} ({up} up, {} down or lost), map epoch {}", nodes.len(), nodes.len() - up, v["epoch"]);
                for n in nodes {
                    println!(
                        "  {:<16} {:<5} {:<22} zone {:<10} last heartbeat {} ms ago, disks {}",
                        n["name"].as_str().unwrap_or("?"),
                        n["state"].as_str().unwrap_or("?"),
                        n["addr"].as_str().unwrap_or("?"),
                        n["zone"].as_str().unwrap_or("-"),
                        n["last_heartbeat_ms"],
                        n["disks"]
                    );
                }
            }
            println!("disks:           {} ({} ok, {failed} failed or unreachable)", disks.len(), disks.len() - failed);
            println!("garbage pending: {} segments", v["garbage_pending"]);
            if v["full_redundancy"] == true {
                println!("redundancy:      every object is at full redundancy");
            } else {
                println!(
                    "redundancy:      DEGRADED: some shards are on down, lost or failed disks; repair backlog {} segments (see `kintsugi admin repair status`)",
                    v["repair_backlog"]
                );
            }
            if failed > 0 {
                println!("WARNING: {failed} disk(s) failed or unreachable; objects with shards on them are read from parity. Restore or replace them.");
            }
            Ok(())
        }
        AdminCmd::Disk(DiskCmd::List(a)) => {
            let v = fetch(&a.conn, "status")?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "disks": v["disks"] }))?);
                return Ok(());
            }
            println!("{:>5}  {:<16}  {:<11}  {:>10}  {:>10}  path", "disk", "node", "state", "size GiB", "free GiB");
            for d in v["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let gib = |x: &Value| x.as_u64().map_or("?".to_owned(), |b| format!("{:.1}", b as f64 / f64::from(1u32 << 30)));
                println!(
                    "{:>5}  {:<16}  {:<11}  {:>10}  {:>10}  {}",
                    d["id"],
                    d["node"].as_str().unwrap_or("?"),
                    d["state"].as_str().unwrap_or("?"),
                    gib(&d["capacity"]),
                    gib(&d["free"]),
                    d["path"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        AdminCmd::Repair(RepairCmd::Status(a)) => {
            let v = fetch(&a.conn, "repair")?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let mib = |x: &Value| x.as_u64().map_or("?".to_owned(), |b| format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)));
            if v["full_redundancy"] == true {
                println!("redundancy:        full: every committed shard is on a usable disk");
            } else {
                println!("redundancy:        DEGRADED");
            }
            println!("lost disks:        {} ({} shards to rebuild)", v["lost_disks"], v["shards_on_lost_disks"]);
            println!("down disks:        {} ({} shards; rebuilt only once their node is lost)", v["down_disks"], v["shards_on_down_disks"]);
            println!("damaged segments:  by shards missing {}", v["segments_by_missing"]);
            println!("last pass:         {} of {} segments done ({} passes)", v["done_in_pass"], v["queued"], v["passes"]);
            println!(
                "rebuilt:           {} shards, {} ({} read), {:.1} MiB/s while busy",
                v["shards_rebuilt"],
                mib(&v["bytes_rebuilt"]),
                mib(&v["bytes_read"]),
                v["rebuild_mib_per_s"].as_f64().unwrap_or(0.0)
            );
            println!("failed jobs:       {}; unrecoverable segments {}; waiting for capacity {}", v["failed"], v["unrecoverable"], v["waiting_for_capacity"]);
            Ok(())
        }
        AdminCmd::Scrub(s) => {
            let query: Vec<(String, String)> = s.disk.map(|d| ("disk".to_owned(), d.to_string())).into_iter().collect();
            let v = call(&s.admin.conn, "scrub", true, &query)?;
            if s.admin.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("disks scrubbed:  {}", v["disks"]);
            println!("shards checked:  {} ({:.1} MiB) in {} ms", v["shards_checked"], v["bytes_checked"].as_f64().unwrap_or(0.0) / f64::from(1u32 << 20), v["elapsed_ms"]);
            println!("bad shards:      {} corrupt, {} missing, {} could not be checked", v["corrupt"], v["missing"], v["unchecked"]);
            println!("repaired:        {} shards rebuilt in place; {} segments failed to repair", v["repaired"], v["repair_failed"]);
            Ok(())
        }
        AdminCmd::Disk(DiskCmd::Drain(d)) => {
            let mut query = vec![("disk".to_owned(), d.disk.to_string())];
            if d.cancel {
                query.push(("cancel".to_owned(), "1".to_owned()));
            }
            if d.force {
                query.push(("force".to_owned(), "1".to_owned()));
            }
            let mut v = call(&d.admin.conn, "drain", true, &query)?;
            while d.wait && v["state"] == "draining" {
                if !d.admin.json {
                    print_drain(&v);
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
                v = call(&d.admin.conn, "drain", false, &query[..1])?;
            }
            if d.admin.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_drain(&v);
            }
            Ok(())
        }
        AdminCmd::Disk(DiskCmd::Status(d)) => {
            let v = call(&d.admin.conn, "drain", false, &[("disk".to_owned(), d.disk.to_string())])?;
            if d.admin.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_drain(&v);
            }
            Ok(())
        }
        AdminCmd::JoinToken(a) => {
            let v = fetch(&a.conn, "join-token")?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{}", v["token"].as_str().unwrap_or("?"));
            }
            Ok(())
        }
    }
}
