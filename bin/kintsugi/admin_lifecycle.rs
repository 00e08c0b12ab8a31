//! `kintsugi admin disk|node|rebalance ...`: taking disks and nodes out of
//! service (drain, remove), adding capacity (disk add, rebalance), with
//! progress bars on a terminal and `--json` for scripts.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::admin::{call, AdminArgs};

/// `kintsugi admin disk` subcommands.
#[derive(Debug, Subcommand)]
pub enum DiskCmd {
    /// Every disk with its node, state, committed shards and bytes, size and free space
    List(AdminArgs),
    /// Decommission a disk: no new shards go there and its shards move to other disks while
    /// reads and writes go on; it ends `decommissioned` (empty) and can then be removed
    Drain(DrainArgs),
    /// A drain's progress: shards and bytes moved and remaining, rate, ETA
    Status(DiskStatusArgs),
    /// Open one more disk directory on a running node (formatted when empty); it takes new
    /// writes at once and is kept across the node's restarts
    Add(DiskAddArgs),
    /// Take a decommissioned disk (or a dead one whose shards repair has rebuilt elsewhere) out
    /// of the cluster map; its uuid is never accepted again (an emptied directory rejoins as a new disk)
    Remove(DiskRemoveArgs),
}

/// `kintsugi admin node` subcommands.
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Drain every disk of a node (see `admin disk drain`); refused when the nodes left cannot
    /// hold every segment's k+m shards on distinct nodes, unless --force
    Drain(NodeDrainArgs),
    /// Progress of a node's drain, disk by disk
    Status(NodeStatusArgs),
    /// Take a stopped node whose disks are all decommissioned (or dead and rebuilt) out of the cluster map
    Remove(NodeStatusArgs),
}

/// Flags of `kintsugi admin disk drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Disk id (see `kintsugi admin disk list`).
    disk: u32,
    #[command(flatten)]
    how: DrainHow,
}

/// Flags of `kintsugi admin node drain`.
#[derive(Debug, Args)]
pub struct NodeDrainArgs {
    /// Node name (see `kintsugi admin status`).
    node: String,
    #[command(flatten)]
    how: DrainHow,
}

/// How to drain.
#[derive(Debug, Args)]
pub struct DrainHow {
    /// Drain even when the disks left cannot hold every segment on k+m distinct nodes.
    /// What it gives up: some segments then keep 2 shards on one node, so losing that
    /// one node costs them 2 shards (with m=2, no further loss is survivable for them).
    #[arg(long, conflicts_with = "cancel")]
    force: bool,
    /// Stop the drain; the disks take new shards again (shards already moved stay moved).
    #[arg(long)]
    cancel: bool,
    /// Wait until decommissioned, showing progress (a bar on a terminal).
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
    /// Wait until the drain ends, showing progress.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of `kintsugi admin node status` and `node remove`.
#[derive(Debug, Args)]
pub struct NodeStatusArgs {
    /// Node name.
    node: String,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of `kintsugi admin disk add`.
#[derive(Debug, Args)]
pub struct DiskAddArgs {
    /// Node that has the directory (see `kintsugi admin status`).
    #[arg(long)]
    node: String,
    /// Absolute directory on that node: empty or missing (formatted as a new disk).
    path: String,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of `kintsugi admin disk remove`.
#[derive(Debug, Args)]
pub struct DiskRemoveArgs {
    /// Disk id.
    disk: u32,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of `kintsugi admin rebalance`.
#[derive(Debug, Args)]
pub struct RebalanceArgs {
    /// Stop when every in-service disk holds its share of the shard bytes (by capacity) within
    /// this many percent.
    #[arg(long, value_name = "PCT", default_value = "10")]
    tolerance: f64,
    /// Cap on shard data moved, MiB/s (0: none; default: the gateway's --repair-bandwidth).
    #[arg(long, value_name = "MIB_S")]
    bandwidth: Option<u64>,
    /// Wait until it ends, showing progress (with --status: wait for the running one).
    #[arg(long, conflicts_with = "cancel")]
    wait: bool,
    /// Stop a running rebalance after the shard it is moving.
    #[arg(long, conflicts_with = "status")]
    cancel: bool,
    /// Only show the current (or last) rebalance.
    #[arg(long)]
    status: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

fn mib(v: &Value) -> String {
    v.as_u64().map_or("?".to_owned(), |b| format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)))
}

fn eta(v: &Value) -> String {
    v["eta_s"].as_f64().map_or("unknown".to_owned(), |s| format!("{s:.0} s"))
}

fn drain_line(v: &Value) -> String {
    let what = match v["disk"].as_u64() {
        Some(d) => format!("disk {d}"),
        None => format!("node {}", v["node"].as_str().unwrap_or("?")),
    };
    let state = v["state"].as_str().unwrap_or("?");
    let rate = if state == "draining" { format!(", {:.1} MiB/s, ETA {}", v["mib_per_s"].as_f64().unwrap_or(0.0), eta(v)) } else { String::new() };
    format!(
        "{what}: {state}; {} of {} shards left ({} of {}){rate}",
        v["shards_remaining"],
        v["shards_at_start"],
        mib(&v["bytes_remaining"]),
        mib(&v["bytes_at_start"]),
    )
}

fn print_drain(v: &Value) {
    println!("{}", drain_line(v));
    for d in v["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        println!("  {}", drain_line(d));
    }
}

/// Poll `op` until `running` is false: a byte progress bar on a terminal, a line every 5 s otherwise.
fn wait(admin: &AdminArgs, op: &str, query: &[(String, String)], mut v: Value, running: fn(&Value) -> bool, progress: fn(&Value) -> (u64, u64), line: fn(&Value) -> String) -> Result<Value> {
    let pb = if !admin.json && std::io::stderr().is_terminal() {
        // A known total gets a bar; an open-ended job (rebalance) a spinner with the bytes so far.
        let total = progress(&v).1;
        let (pb, template) = if total > 0 {
            (ProgressBar::new(total), "[{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
        } else {
            (ProgressBar::new_spinner(), "{spinner} {bytes} {bytes_per_sec} {msg}")
        };
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(style.progress_chars("=> "));
        Some(pb)
    } else {
        None
    };
    let mut last_line = Instant::now();
    while running(&v) {
        match &pb {
            Some(pb) => {
                let (done, total) = progress(&v);
                if total > 0 {
                    pb.set_length(total);
                }
                pb.set_position(done);
                pb.set_message(line(&v));
            }
            None if !admin.json && last_line.elapsed() >= Duration::from_secs(5) => {
                println!("{}", line(&v));
                last_line = Instant::now();
            }
            None => {}
        }
        std::thread::sleep(Duration::from_millis(500));
        v = call(&admin.conn, op, false, query)?;
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(v)
}

fn drain_progress(v: &Value) -> (u64, u64) {
    let total = v["bytes_at_start"].as_u64().unwrap_or(0);
    (total.saturating_sub(v["bytes_remaining"].as_u64().unwrap_or(0)), total)
}

fn draining(v: &Value) -> bool {
    v["state"] == "draining"
}

fn print(json: bool, v: &Value, human: impl FnOnce(&Value)) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        human(v);
    }
    Ok(())
}

fn drain(key: &str, id: String, how: &DrainHow) -> Result<()> {
    let mut query = vec![(key.to_owned(), id)];
    if how.cancel {
        query.push(("cancel".to_owned(), "1".to_owned()));
    }
    if how.force {
        query.push(("force".to_owned(), "1".to_owned()));
    }
    let mut v = call(&how.admin.conn, "drain", true, &query)?;
    if how.wait {
        v = wait(&how.admin, "drain", &query[..1], v, draining, drain_progress, drain_line)?;
    }
    print(how.admin.json, &v, print_drain)
}

/// Run a disk command.
pub fn run_disk(cmd: DiskCmd) -> Result<()> {
    match cmd {
        DiskCmd::List(a) => {
            let v = call(&a.conn, "disks", false, &[])?;
            print(a.json, &v, |v| {
                println!("{:>5}  {:<16}  {:<14}  {:>8}  {:>10}  {:>9}  {:>9}  path", "disk", "node", "state", "shards", "used GiB", "size GiB", "free GiB");
                let gib = |x: &Value| x.as_u64().map_or("?".to_owned(), |b| format!("{:.2}", b as f64 / f64::from(1u32 << 30)));
                for d in v["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    println!(
                        "{:>5}  {:<16}  {:<14}  {:>8}  {:>10}  {:>9}  {:>9}  {}",
                        d["id"].to_string(),
                        d["node"].as_str().unwrap_or("?"),
                        d["state"].as_str().unwrap_or("?"),
                        d["shards"].to_string(),
                        gib(&d["shard_bytes"]),
                        gib(&d["capacity"]),
                        gib(&d["free"]),
                        d["path"].as_str().unwrap_or("?")
                    );
                }
            })
        }
        DiskCmd::Drain(d) => drain("disk", d.disk.to_string(), &d.how),
        DiskCmd::Status(d) => {
            let query = [("disk".to_owned(), d.disk.to_string())];
            let mut v = call(&d.admin.conn, "drain", false, &query)?;
            if d.wait {
                v = wait(&d.admin, "drain", &query, v, draining, drain_progress, drain_line)?;
            }
            print(d.admin.json, &v, print_drain)
        }
        DiskCmd::Add(a) => {
            let v = call(&a.admin.conn, "disk/add", true, &[("node".to_owned(), a.node.clone()), ("path".to_owned(), a.path.clone())])?;
            print(a.admin.json, &v, |v| println!("disk {} added on node {} at {}; it takes new writes now", v["disk"], a.node, a.path))
        }
        DiskCmd::Remove(r) => {
            let v = call(&r.admin.conn, "disk/remove", true, &[("disk".to_owned(), r.disk.to_string())])?;
            print(r.admin.json, &v, |_| println!("disk {} removed from the cluster map", r.disk))
        }
    }
}

/// Run a node command.
pub fn run_node(cmd: NodeCmd) -> Result<()> {
    match cmd {
        NodeCmd::Drain(d) => drain("node", d.node.clone(), &d.how),
        NodeCmd::Status(s) => {
            let v = call(&s.admin.conn, "drain", false, &[("node".to_owned(), s.node.clone())])?;
            print(s.admin.json, &v, print_drain)
        }
        NodeCmd::Remove(s) => {
            let v = call(&s.admin.conn, "node/remove", true, &[("node".to_owned(), s.node.clone())])?;
            print(s.admin.json, &v, |v| println!("node {} and its disks {} removed from the cluster map", s.node, v["disks"]))
        }
    }
}

fn rebalance_line(v: &Value) -> String {
    format!(
        "{}: {} shards ({}) moved, {:.1} MiB/s, largest deviation {:.1}% (tolerance {}%); {}",
        v["state"].as_str().unwrap_or("?"),
        v["shards_moved"],
        mib(&v["bytes_moved"]),
        v["mib_per_s"].as_f64().unwrap_or(0.0),
        v["max_deviation_pct"].as_f64().unwrap_or(0.0),
        v["tolerance_pct"],
        v["message"].as_str().unwrap_or("")
    )
}

fn print_rebalance(v: &Value) {
    println!("{}", rebalance_line(v));
    let gib = |x: &Value| x.as_u64().map_or("?".to_owned(), |b| format!("{:.2}", b as f64 / f64::from(1u32 << 30)));
    for d in v["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        println!(
            "  disk {:>4} on {:<16} {:>8} GiB (share {:>8} GiB) {:>+7.1}%",
            d["disk"].to_string(),
            d["node"].as_str().unwrap_or("?"),
            gib(&d["bytes"]),
            gib(&d["target_bytes"]),
            d["deviation_pct"].as_f64().unwrap_or(0.0)
        );
    }
}

/// Run `kintsugi admin rebalance`.
pub fn run_rebalance(r: RebalanceArgs) -> Result<()> {
    let mut v = if r.status {
        call(&r.admin.conn, "rebalance", false, &[])?
    } else if r.cancel {
        call(&r.admin.conn, "rebalance", true, &[("cancel".to_owned(), "1".to_owned())])?
    } else {
        let mut q = vec![("tolerance".to_owned(), r.tolerance.to_string())];
        if let Some(b) = r.bandwidth {
            q.push(("bandwidth".to_owned(), b.to_string()));
        }
        call(&r.admin.conn, "rebalance", true, &q)?
    };
    if r.wait {
        let progress = |v: &Value| (v["bytes_moved"].as_u64().unwrap_or(0), 0);
        v = wait(&r.admin, "rebalance", &[], v, |v| v["state"] == "running", progress, rebalance_line)?;
    }
    print(r.admin.json, &v, print_rebalance)
}
