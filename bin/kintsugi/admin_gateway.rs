//! `kintsugi admin gateway ...`: the metadata group of gateways — a token for a new gateway,
//! the members with their roles, removing one.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::{call, AdminArgs};

/// `kintsugi admin gateway` subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCmd {
    /// Print the token a new gateway joins the group with
    /// (`kintsugi gateway --meta DIR --listen ADDR --cluster-listen ADDR --join TOKEN`)
    JoinToken(AdminArgs),
    /// Every gateway of the group: name, addresses, role (leader, follower, learner), term,
    /// the log index the leader knows it holds, and how far it lags
    List(AdminArgs),
    /// Remove a gateway from the group (it stops taking part in the majority)
    Remove(RemoveArgs),
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
        GatewayCmd::JoinToken(a) => {
            let v = call(&a.conn, "gateway/join-token", false, &[])?;
            if !a.json {
                println!("{}", v["token"].as_str().unwrap_or("?"));
                return Ok(());
            }
            (a, v)
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
