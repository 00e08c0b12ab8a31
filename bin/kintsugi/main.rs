//! `kintsugi` — one binary: server, S3 client, admin tool and benchmark.
//! This module parses the command line and dispatches to one module per
//! subcommand group.

mod admin;
mod admin_client;
mod admin_gateway;
mod admin_keys;
mod admin_lifecycle;
mod backup;
mod bench;
mod cli;
mod clientconf;
mod cluster;
mod cp;
mod gateway;
mod logging;
mod s3url;
mod server;
mod transfer;
mod units;
mod workers;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Kintsugi: an erasure-coded, S3-compatible object store.
#[derive(Debug, Parser)]
#[command(
    name = "kintsugi",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Client flags (--endpoint URL, --profile NAME, --region REGION) and --log-format may stand \
                  before the subcommand too: kintsugi --endpoint http://127.0.0.1:9000 mb s3://b"
)]
struct Cli {
    /// Log format on stderr: "human" or "json".
    #[arg(long, global = true, env = "KINTSUGI_LOG_FORMAT", default_value = "human")]
    log_format: logging::LogFormat,
    // The client flags, also before the subcommand (`kintsugi --endpoint URL mb s3://b`, as
    // `aws --endpoint-url URL s3 mb`). They share their ids with `clientconf::ConnArgs`, so clap
    // hands a value given here down to the client command's own flags; the commands that have
    // their own (every client and admin command) show them in their help.
    /// S3 endpoint URL (for client commands).
    #[arg(long, global = true, hide = true, value_name = "URL")]
    #[allow(dead_code)] // read through the client command's own flags
    endpoint: Option<String>,
    /// Profile of the client config file (for client commands).
    #[arg(long, global = true, hide = true, value_name = "NAME")]
    #[allow(dead_code)] // read through the client command's own flags
    profile: Option<String>,
    /// SigV4 region (for client commands).
    #[arg(long, global = true, hide = true, value_name = "REGION")]
    #[allow(dead_code)] // read through the client command's own flags
    region: Option<String>,
    /// PEM certificates to trust for an https:// endpoint (for client commands).
    #[arg(long, global = true, hide = true, value_name = "FILE")]
    #[allow(dead_code)] // read through the client command's own flags
    ca_bundle: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant (the server's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded store: gateway, metadata, storage and repair in one process.
    Server(server::ServerArgs),
    /// Run a cluster gateway: S3, metadata (one replica of the gateways' group), admin API, cluster map, cluster CA
    Gateway(Box<gateway::GatewayArgs>),
    /// Run a storage node that joins a gateway and serves shards over QUIC
    Storage(cluster::StorageArgs),
    /// Create a bucket: kintsugi mb s3://BUCKET
    Mb(cli::MbArgs),
    /// Remove a bucket (--force deletes its objects first)
    Rb(cli::RbArgs),
    /// List buckets, or objects under s3://BUCKET[/PREFIX]
    Ls(cli::LsArgs),
    /// Upload a file (or - for stdin): kintsugi put FILE s3://BUCKET/KEY
    Put(cli::PutArgs),
    /// Download an object: kintsugi get s3://BUCKET/KEY [FILE|-]
    Get(cli::GetArgs),
    /// Copy local to S3, S3 to local, or S3 to S3 (--recursive for trees)
    Cp(cp::CpArgs),
    /// Delete an object (--recursive for a prefix)
    Rm(cli::RmArgs),
    /// Size, ETag, metadata and, on Kintsugi, the erasure layout and shard health
    Stat(cli::StatArgs),
    /// Client configuration file (endpoint and keys by profile)
    #[command(subcommand)]
    Config(cli::ConfigCmd),
    /// Storage admin commands (status, disks) over the gateway's admin API
    #[command(subcommand)]
    Admin(admin::AdminCmd),
    /// Measure PUT/GET throughput and latency against any S3 endpoint, verifying every byte.
    Bench(bench::BenchArgs),
}

/// Client commands end quietly when their output pipe closes (`kintsugi ls | head`), as
/// `ls` does, with the shell's status for it (141): `println!` panics on a closed stdout
/// ("failed printing to stdout: Broken pipe"), and this hook turns exactly that panic into a
/// quiet exit. SIGPIPE itself stays ignored, so a write to a closed *socket* (a server that
/// answered early and closed) is an error the command reports, not a silent death.
fn die_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<String>().map(String::as_str).or_else(|| info.payload().downcast_ref::<&str>().copied()).unwrap_or("");
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Errors end the process with one line per cause on stderr and exit code 1
/// (no backtraces: the messages say what happened and what to do).
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Server(_) | Command::Gateway(_) | Command::Storage(_)) {
        die_quietly_on_closed_pipe();
    }
    logging::init(cli.log_format);
    if matches!(cli.command, Command::Server(_) | Command::Gateway(_) | Command::Storage(_)) {
        // Every connection and shard file is a descriptor; many systems start processes with a
        // soft limit of 1024, far below --max-connections. Take what the hard limit allows.
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => tracing::debug!(limit = n, "open-files limit"),
            Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit; connections may be refused early (raise it with ulimit -n)"),
        }
    }
    let result: Result<()> = match cli.command {
        Command::Server(args) => server::run(args),
        Command::Gateway(args) => gateway::gateway(*args),
        Command::Storage(args) => cluster::storage(args),
        Command::Bench(args) => bench::run(args),
        Command::Mb(a) => cli::mb(a),
        Command::Rb(a) => cli::rb(a),
        Command::Ls(a) => cli::ls(a),
        Command::Put(a) => cli::put(a),
        Command::Get(a) => cli::get(a),
        Command::Cp(a) => cp::copy(a),
        Command::Rm(a) => cli::rm(a),
        Command::Stat(a) => cli::stat(a),
        Command::Config(c) => cli::config(c),
        Command::Admin(c) => admin::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
