//! `kintsugi` — one binary: server, S3 client, admin tool and benchmark.
//! This module parses the command line and dispatches to one module per
//! subcommand group.

mod clientconf;
mod logging;
mod server;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Kintsugi: an erasure-coded, S3-compatible object store.
#[derive(Debug, Parser)]
#[command(name = "kintsugi", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log format on stderr: "human" or "json".
    #[arg(long, global = true, env = "KINTSUGI_LOG_FORMAT", default_value = "human")]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded store: gateway, metadata, storage and repair in one process.
    Server(server::ServerArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Server(args) => server::run(args),
    }
}
