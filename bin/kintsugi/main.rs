//! `kintsugi` — one binary: server, S3 client, admin tool and benchmark.
//! This module parses the command line and dispatches to one module per
//! subcommand group.

mod bench;
mod clientconf;
mod logging;
mod server;
mod units;

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
    /// Measure PUT/GET throughput and latency against any S3 endpoint, verifying every byte.
    Bench(bench::BenchArgs),
}

/// Errors end the process with one line per cause on stderr and exit code 1
/// (no backtraces: the messages say what happened and what to do).
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result: Result<()> = match cli.command {
        Command::Server(args) => server::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
