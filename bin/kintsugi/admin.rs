//! `kintsugi admin ...`: the storage admin's commands, over the gateway's
//! SigV4-authenticated admin API. Every command takes `--json`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin_lifecycle::{DiskCmd, NodeCmd, RebalanceArgs};
use crate::clientconf::{self, ConnArgs};

/// `kintsugi admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Mode, EC scheme, nodes and disks with their states, pending garbage: whether data is safe
    Status(AdminArgs),
    /// Disk commands: list, drain, status, add, remove
    #[command(subcommand)]
    Disk(DiskCmd),
    /// Node commands: drain, status, remove
    #[command(subcommand)]
    Node(NodeCmd),
    /// Move shards from fuller to emptier disks (after adding capacity) until usage is even
    /// within --tolerance; bounded bandwidth, cancellable, placement rules kept
    Rebalance(RebalanceArgs),
    /// Background repair commands
    #[command(subcommand)]
    Repair(RepairCmd),
    /// Verify every shard's BLAKE3 now (on one disk with --disk), report and repair what is bad
    Scrub(ScrubArgs),
    /// Make and print a token storage nodes join the cluster with (`kintsugi storage --join
    /// TOKEN`). Each token has its own secret and expires (default: in 1 h); --uses limits how
    /// many nodes it admits; --revoke-all makes every token stop admitting at once. Nodes that
    /// joined keep their certificates: a token is needed for a first join only
    JoinToken(JoinTokenArgs),
    /// Metadata commands: backup, rebuild
    #[command(subcommand)]
    Meta(MetaCmd),
    /// The metadata group of gateways: join-token, list, remove
    #[command(subcommand)]
    Gateway(crate::admin_gateway::GatewayCmd),
    /// S3 access keys, each its own principal: create, list, delete. Only admin keys may use
    /// the admin API; other keys use only the buckets they create
    #[command(subcommand)]
    Key(crate::admin_keys::KeyCmd),
}

/// A storage node's name, as `--node` takes it.
fn node_name(s: &str) -> Result<String, String> {
    if kintsugi_net::valid_node_name(s) {
        Ok(s.to_owned())
    } else {
        Err("a node name is 1-64 letters, digits, - or _, and not `gateway` (gateways join with `kintsugi admin gateway join-token`)".to_owned())
    }
}

/// Flags of `kintsugi admin join-token`.
#[derive(Debug, Args)]
pub struct JoinTokenArgs {
    /// How long the token admits nodes: e.g. 30m, 1h, 7d is 168h (at most 365 days).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::units::parse_duration, conflicts_with = "revoke_all")]
    ttl: std::time::Duration,
    /// How many nodes the token admits (default: any number until it expires; one with --node).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "revoke_all")]
    uses: Option<u32>,
    /// Admit only the node named NAME, even one the cluster already has: re-admits a node
    /// whose certificate expired while it was stopped, or that lost its --state directory
    /// (start it with `--join TOKEN`; it keeps its name and disks). Never a removed node's name
    #[arg(long, value_name = "NAME", conflicts_with = "revoke_all", value_parser = node_name)]
    node: Option<String>,
    /// Revoke every join token (on every gateway of the group); print nothing new.
    #[arg(long)]
    revoke_all: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

/// `kintsugi admin meta` subcommands.
#[derive(Debug, Subcommand)]
pub enum MetaCmd {
    /// Write a consistent copy of the gateway's metadata (every bucket, object manifest and key;
    /// a gateway's cluster CA and join secret too), taken while it serves, into a new directory
    /// DIR; `kintsugi server --restore DIR` or `kintsugi gateway --restore DIR` starts from it
    /// when the metadata directory is lost
    Backup(crate::backup::BackupArgs),
    /// Last resort when the metadata is lost: walk every disk's shard files and make the
    /// manifest of every object whose shards say whose they are (bucket, key, attributes)
    /// and that the metadata store does not have; each is read back whole (its ETag, and
    /// proof it reads). The newest version of a key wins; keys the store has are kept.
    /// Empty objects have no shards and cannot come back. Run it after the storage nodes
    /// have rejoined (`admin status` lists their disks).
    Rebuild(AdminArgs),
}

/// `kintsugi admin repair` subcommands.
#[derive(Debug, Subcommand)]
pub enum RepairCmd {
    /// The redundancy ledger (segments and bytes by failure-domain losses survived), shards on lost and down
    /// disks, what repair rebuilt, how fast, and the ETA
    Status(RepairStatusArgs),
}

/// Flags of `kintsugi admin repair status`.
#[derive(Debug, Args)]
pub struct RepairStatusArgs {
    /// Also recount every segment by a full scan of the metadata and check the ledger against it.
    #[arg(long)]
    recount: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

fn print_ledger(l: &Value) {
    let mib = |x: &Value| x.as_u64().map_or("?".to_owned(), |b| format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)));
    println!("  {:<9} {:>6}  {:>10}  {:>14}", "healthy", "shards", "segments", "bytes");
    for r in l["rows"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        println!("  {:<9} {:>6}  {:>10}  {:>14}", r["healthy"].as_str().unwrap_or("?"), r["shards"].to_string(), r["segments"].to_string(), mib(&r["bytes"]));
    }
    println!("  {:<9} {:>6}  {:>10}  {:>14}", "total", "", l["segments"].to_string(), mib(&l["bytes"]));
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
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
}

fn fetch(conn: &ConnArgs, op: &str) -> Result<Value> {
    call(conn, op, false, &[])
}

pub(crate) fn call(conn: &ConnArgs, op: &str, post: bool, query: &[(String, String)]) -> Result<Value> {
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
            let failed = disks.iter().filter(|d| d["state"] == "failed" || d["state"] == "unreachable").count();
            let out_of_service = disks.iter().filter(|d| d["state"] == "draining" || d["state"] == "decommissioned").count();
            let full = disks.iter().filter(|d| d["state"] == "full").count();
            println!("mode:            {}", v["mode"].as_str().unwrap_or("?"));
            println!("erasure coding:  {}", v["ec"].as_str().unwrap_or("?"));
            let nodes = v["nodes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if v["group"].is_object() {
                crate::admin_gateway::print_group(&v["group"]);
            }
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
            println!(
                "disks:           {} ({} ok, {full} full, {failed} failed or unreachable, {out_of_service} draining or decommissioned)",
                disks.len(),
                disks.len() - failed - out_of_service - full
            );
            println!("garbage pending: {} segments", v["garbage_pending"]);
            if let Some(n) = v["writes_open"].as_u64() {
                println!("writes open:     {n} segments");
            }
            println!("data:            {} segments, {:.1} MiB", v["ledger"]["segments"], v["ledger"]["bytes"].as_f64().unwrap_or(0.0) / f64::from(1u32 << 20));
            if v["ledger"]["inline_segments"].as_u64() > Some(0) {
                println!(
                    "small objects:   {} kept with the metadata, {} (no shards: as durable as the metadata)",
                    v["ledger"]["inline_segments"],
                    crate::units::human_bytes(v["ledger"]["inline_bytes"].as_u64().unwrap_or(0))
                );
            }
            if v["full_redundancy"] == true {
                println!("redundancy:      every object is at full redundancy");
            } else {
                let at_risk: Vec<String> = v["ledger"]["rows"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .filter(|r| r["healthy"] != "k+m" && r["segments"].as_u64().unwrap_or(0) > 0)
                    .map(|r| format!("{} at {}", r["segments"], r["healthy"].as_str().unwrap_or("?")))
                    .collect();
                println!(
                    "redundancy:      DEGRADED: segments at risk: {}; repair backlog {} segments (see `kintsugi admin repair status`)",
                    if at_risk.is_empty() { "none counted yet".to_owned() } else { at_risk.join(", ") },
                    v["repair_backlog"]
                );
                if v["shards_not_placed"].as_u64() > Some(0) {
                    println!("                 {} shard(s) not placed: written while their node was down; repair places them", v["shards_not_placed"]);
                }
                if v["too_few_domains"] == true {
                    let what = if v["mode"] == "embedded" { "disks" } else { "nodes" };
                    println!(
                        "                 only {} failure domain(s) ({what}) in service for {} shards per segment: fewer shards per segment or fewer losses survived until {what} are added",
                        v["failure_domains"], v["ec"].as_str().unwrap_or("k+m")
                    );
                }
            }
            let workers = v["workers"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let failing: Vec<String> = workers
                .iter()
                .filter(|w| w["last_error"].as_str().is_some_and(|e| !e.is_empty()))
                .map(|w| format!("{}: {}", w["name"].as_str().unwrap_or("?"), w["last_error"].as_str().unwrap_or("")))
                .collect();
            if failing.is_empty() {
                println!("workers:         {} running, last passes all succeeded", workers.len());
            } else {
                println!("workers:         {} running; last pass FAILED for {}", workers.len(), failing.join("; "));
            }
            let lc = &v["lifecycle"];
            if lc["buckets"].as_u64() > Some(0) || lc["last_pass_ms"].as_i64() > Some(0) {
                println!(
                    "lifecycle:       {} bucket(s) with rules; expired {} current and {} noncurrent version(s), {} delete marker(s), {} upload(s) aborted; {} held by object lock",
                    lc["buckets"], lc["expired_current"], lc["expired_noncurrent"], lc["delete_markers_removed"], lc["uploads_aborted"], lc["held_by_lock"]
                );
            }
            if failed > 0 {
                println!("WARNING: {failed} disk(s) failed or unreachable; objects with shards on them are read from parity. Restore or replace them.");
            }
            Ok(())
        }
        AdminCmd::Disk(c) => crate::admin_lifecycle::run_disk(c),
        AdminCmd::Node(c) => crate::admin_lifecycle::run_node(c),
        AdminCmd::Rebalance(r) => crate::admin_lifecycle::run_rebalance(r),
        AdminCmd::Repair(RepairCmd::Status(r)) => {
            let a = &r.admin;
            let query: Vec<(String, String)> = if r.recount { vec![("recount".into(), "1".into())] } else { Vec::new() };
            let v = call(&a.conn, "repair", false, &query)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let mib = |x: &Value| x.as_u64().map_or("?".to_owned(), |b| format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)));
            if v["full_redundancy"] == true {
                println!("redundancy:        full: every segment survives the loss of any m failure domains");
            } else {
                println!("redundancy:        DEGRADED");
            }
            println!("failure domains:   {} in service{}", v["failure_domains"], if v["too_few_domains"] == true { " (fewer than k+m: segments share them)" } else { "" });
            println!("not placed:        {} shards (written while their node was down; placed by repair)", v["shards_not_placed"]);
            if let Some(r) = v.get("recount").filter(|r| r.is_object()) {
                println!("domain check:      {} segments crowd a failure domain, {} have two shards on one disk (spread by repair; {} shards spread so far)", r["segments_over_domain_cap"], r["segments_sharing_a_disk"], v["shards_spread"]);
            }
            println!("lost disks:        {} ({} shards to rebuild)", v["lost_disks"], v["shards_on_lost_disks"]);
            println!("down disks:        {} ({} shards; rebuilt only once their node is lost)", v["down_disks"], v["shards_on_down_disks"]);
            println!("last pass:         {} of {} segments done ({} passes)", v["done_in_pass"], v["queued"], v["passes"]);
            println!(
                "rebuilt:           {} shards ({} by the receiving nodes), {} ({} read), {:.1} MiB/s while busy",
                v["shards_rebuilt"],
                v["shards_rebuilt_by_nodes"],
                mib(&v["bytes_rebuilt"]),
                mib(&v["bytes_read"]),
                v["rebuild_mib_per_s"].as_f64().unwrap_or(0.0)
            );
            println!("failed jobs:       {}; unrecoverable segments {}; waiting for capacity {}", v["failed"], v["unrecoverable"], v["waiting_for_capacity"]);
            let eta = v["eta_s"].as_f64().map_or("-".to_owned(), |s| format!("{s:.0} s"));
            println!("to rebuild:        {} of shard data, ETA {eta}", mib(&v["ledger"]["shard_bytes_missing"]));
            println!("ledger (segments by failure-domain losses survived, as healthy shards in distinct domains):");
            print_ledger(&v["ledger"]);
            if let Some(rc) = v.get("recount") {
                if rc["matches"] == true {
                    println!("recount:           a full scan agrees with the ledger ({} shards, {} index entries)", rc["shards"], rc["index_entries"]);
                } else {
                    println!("recount:           MISMATCH: a full scan found ({} shards, {} index entries):", rc["shards"], rc["index_entries"]);
                    print_ledger(&rc["ledger"]);
                }
            }
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
        AdminCmd::JoinToken(j) => {
            if j.revoke_all {
                let v = call(&j.admin.conn, "join-token", true, &[("revoke_all".to_owned(), "1".to_owned())])?;
                if j.admin.json {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    println!("revoked {} join token(s); nodes that joined keep their certificates", v["revoked"]);
                }
                return Ok(());
            }
            let mut q = vec![("ttl".to_owned(), format!("{}", j.ttl.as_secs_f64()))];
            // With --node, the use count is sent too: a gateway too old to bind a token to a
            // name would otherwise make one for any number of nodes.
            match (j.uses, &j.node) {
                (Some(n), _) => q.push(("uses".to_owned(), n.to_string())),
                (None, Some(_)) => q.push(("uses".to_owned(), "1".to_owned())),
                (None, None) => {}
            }
            if let Some(n) = &j.node {
                q.push(("node".to_owned(), n.clone()));
            }
            let v = call(&j.admin.conn, "join-token", true, &q)?;
            if let Some(n) = &j.node {
                if v["node"].as_str() != Some(n.as_str()) {
                    anyhow::bail!("the gateway made a token that is not bound to {n:?} (is it older than this CLI? upgrade every gateway first); it admits {}", v["uses"]);
                }
            }
            if j.admin.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                // The token alone on stdout (`--join $(kintsugi admin join-token)`); the rest on stderr.
                println!("{}", v["token"].as_str().unwrap_or("?"));
                let uses = v["uses"].as_u64().map_or("any number of nodes".to_owned(), |n| format!("at most {n} node(s)"));
                match v["node"].as_str() {
                    Some(n) => eprintln!("expires {}; admits only the node named {n}, {} time(s), even if the cluster has it (a re-admission)", v["expires"].as_str().unwrap_or("?"), v["uses"]),
                    None => eprintln!("expires {}; admits {uses}", v["expires"].as_str().unwrap_or("?")),
                }
            }
            Ok(())
        }
        AdminCmd::Meta(MetaCmd::Backup(a)) => crate::backup::backup(a),
        AdminCmd::Meta(MetaCmd::Rebuild(a)) => {
            let v = call(&a.conn, "meta/rebuild", true, &[])?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("shards found:     {} ({} already known, {} without a label)", v["shards_found"], v["shards_known"], v["shards_unlabelled"]);
            println!("objects rebuilt:  {} ({:.1} MiB read back)", v["objects_rebuilt"], v["bytes_rebuilt"].as_f64().unwrap_or(0.0) / f64::from(1u32 << 20));
            println!("objects kept:     {} (the store has their keys)", v["objects_kept"]);
            println!("older versions:   {} (handed to garbage collection)", v["versions_superseded"]);
            let buckets: Vec<&str> = v["buckets_created"].as_array().map(Vec::as_slice).unwrap_or(&[]).iter().filter_map(Value::as_str).collect();
            if !buckets.is_empty() {
                println!("buckets created:  {}", buckets.join(", "));
            }
            let problems = v["problems"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if problems.is_empty() {
                println!("problems:         none");
            } else {
                println!("problems:         {} (not rebuilt):", problems.len());
                for p in problems {
                    println!("  {}", p.as_str().unwrap_or("?"));
                }
            }
            Ok(())
        }
        AdminCmd::Gateway(c) => crate::admin_gateway::run(c),
        AdminCmd::Key(c) => crate::admin_keys::run(c),
    }
}
