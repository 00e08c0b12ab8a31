//! `kintsugi admin key ...`: S3 access keys, each its own principal. An admin key may use
//! the admin API and every bucket; any other key only the buckets it creates.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::{call, AdminArgs};

/// `kintsugi admin key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Make a new access key and print it with its secret (shown this once: store it now).
    /// Without --admin the key may use only the buckets it creates, and not the admin API
    Create(CreateArgs),
    /// Every access key: id, name, whether it is an admin key, when it was made (never a secret)
    List(AdminArgs),
    /// Delete an access key: requests signed with it are refused from then on. Buckets it
    /// owned stay (admin keys can still use them). The last admin key cannot be deleted
    Delete(DeleteArgs),
}

/// Flags of `kintsugi admin key create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A label for the key: who or what uses it (a team, an application).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Make an admin key: it may use the admin API and every bucket.
    #[arg(long)]
    admin: bool,
    #[command(flatten)]
    admin_args: AdminArgs,
}

/// Flags of `kintsugi admin key delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The access key id (see `kintsugi admin key list`).
    #[arg(value_name = "ACCESS_KEY")]
    access_key: String,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Run an admin key command.
pub fn run(cmd: KeyCmd) -> Result<()> {
    let (json, v) = match cmd {
        KeyCmd::Create(c) => {
            let mut q = vec![("name".to_owned(), c.name.clone())];
            if c.admin {
                q.push(("admin".to_owned(), "1".to_owned()));
            }
            let v = call(&c.admin_args.conn, "key/create", true, &q)?;
            if !c.admin_args.json {
                println!("access key: {}", v["access_key"].as_str().unwrap_or("?"));
                println!("secret key: {}", v["secret_key"].as_str().unwrap_or("?"));
                println!("name:       {}", v["name"].as_str().unwrap_or("?"));
                println!("admin:      {}", if v["admin"] == true { "yes (admin API and every bucket)" } else { "no (only the buckets it creates)" });
                println!("The secret is shown only now: store it (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or `kintsugi config set`).");
                return Ok(());
            }
            (true, v)
        }
        KeyCmd::List(a) => (a.json, call(&a.conn, "keys", false, &[])?),
        KeyCmd::Delete(d) => {
            let v = call(&d.admin.conn, "key/delete", true, &[("access_key".to_owned(), d.access_key.clone())])?;
            if !d.admin.json {
                println!("deleted access key {}", d.access_key);
                return Ok(());
            }
            (true, v)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print_keys(&v);
    Ok(())
}

fn print_keys(v: &Value) {
    let keys = v["keys"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    println!("{:<22} {:<6} {:<25} name", "access key", "admin", "created");
    for k in keys {
        println!(
            "{:<22} {:<6} {:<25} {}",
            k["access_key"].as_str().unwrap_or("?"),
            if k["admin"] == true { "yes" } else { "no" },
            k["created"].as_str().unwrap_or("?"),
            k["name"].as_str().unwrap_or("?")
        );
    }
}
