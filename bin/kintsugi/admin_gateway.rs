//! `kintsugi admin gateway ...`: the metadata group of gateways — a token for a new gateway,
//! the members with their roles, removing one.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::{call, AdminArgs};

/// `kintsugi admin gateway` subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCmd {
    /// Print a new token a gateway joins the group with
    /// (`kintsugi gateway --meta DIR --listen ADDR --cluster-listen ADDR --join TOKEN`). It
    /// expires, and `kintsugi admin join-token --revoke-all` revokes it with the node tokens.
    /// A joined gateway receives the cluster CA key: guard the token like that key
    JoinToken(GatewayTokenArgs),
    /// Every gateway of the group: name, addresses, role (leader, follower, learner), term,
    /// the log index the leader knows it holds, and how far it lags
    List(AdminArgs),
    /// Remove a gateway from the group (it stops taking part in the majority)
    Remove(RemoveArgs),
}

/// Flags of `kintsugi admin gateway join-token`.
#[derive(Debug, Args)]
pub struct GatewayTokenArgs {
    /// How long the token admits gateways: e.g. 30m, 1h (at most 365 days).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::units::parse_duration)]
    ttl: std::time::Duration,
    /// How many gateways the token admits (default: any number until it expires).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    uses: Option<u32>,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Flags of `kintsugi admin gateway remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The gateway's name (see `kintsugi admin gateway list`).
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Print a group report (the admin API's `gateways`, or `status`'s `group`) as a table.
pub fn print_group(g: &Value) {
    if let Some(p) = g["problem"].as_str() {
        println!("gateways:        {p}");
        return;
    }
    let members = g["gateways"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    println!(
        "gateways:        {} in the metadata group, leader {}, term {}, applied index {}{}",
        members.len(),
        g["leader"].as_str().unwrap_or("none"),
        g["term"],
        g["applied"],
        if g["quorum"] == true { "" } else { "; NO QUORUM: fewer than a majority of gateways answer, metadata cannot change" }
    );
    println!("  {:<16} {:<9} {:<22} {:<22} {:>10} {:>6}", "name", "role", "cluster", "s3", "log index", "lag");
    for m in members {
        println!(
            "  {:<16} {:<9} {:<22} {:<22} {:>10} {:>6}",
            m["node"]["name"].as_str().unwrap_or("?"),
            m["role"].as_str().unwrap_or("?"),
            m["node"]["cluster"].as_str().unwrap_or("?"),
            m["node"]["s3"].as_str().unwrap_or("?"),
            m["matched"].as_u64().map_or("-".to_owned(), |x| x.to_string()),
            m["lag"].as_u64().map_or("-".to_owned(), |x| x.to_string())
        );
    }
}

/// Run an admin gateway command.
pub fn run(cmd: GatewayCmd) -> Result<()> {
    let (a, v) = match cmd {
        GatewayCmd::JoinToken(g) => {
            let mut q = vec![("ttl".to_owned(), format!("{}", g.ttl.as_secs_f64()))];
            if let Some(n) = g.uses {
                q.push(("uses".to_owned(), n.to_string()));
            }
            let v = call(&g.admin.conn, "gateway/join-token", true, &q)?;
            if !g.admin.json {
                // The token alone on stdout (`--join $(kintsugi admin gateway join-token)`).
                println!("{}", v["token"].as_str().unwrap_or("?"));
                let uses = v["uses"].as_u64().map_or("any number of gateways".to_owned(), |n| format!("at most {n} gateway(s)"));
                eprintln!("expires {}; admits {uses}", v["expires"].as_str().unwrap_or("?"));
                return Ok(());
            }
            (g.admin, v)
        }
        GatewayCmd::List(a) => {
            let v = call(&a.conn, "gateways", false, &[])?;
            (a, v)
        }
        GatewayCmd::Remove(r) => {
            let v = call(&r.admin.conn, "gateway/remove", true, &[("name".to_owned(), r.name.clone())])?;
            if !r.admin.json {
                println!("removed gateway {} from the group", r.name);
            }
            (r.admin, v)
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_group(&v);
    }
    Ok(())
}
