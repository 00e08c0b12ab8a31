//! The client config file that `kintsugi server` writes on first start so the
//! CLI (and a human) finds the endpoint and credentials.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One named profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// S3 endpoint URL.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Region for SigV4.
    pub region: String,
    /// PEM certificates trusted for an `https://` endpoint, besides the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// Profiles by name; "default" is used when none is named.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// `$KINTSUGI_CONFIG`, else `$XDG_CONFIG_HOME/kintsugi/config.toml`, else `~/.config/kintsugi/config.toml`.
pub fn path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KINTSUGI_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(x).join("kintsugi").join("config.toml"));
    }
    let home = std::env::var_os("HOME").context("neither KINTSUGI_CONFIG nor HOME is set; set KINTSUGI_CONFIG to where the client config should live")?;
    Ok(PathBuf::from(home).join(".config").join("kintsugi").join("config.toml"))
}

/// Read the file (missing file = empty config).
pub fn load() -> Result<ClientConfig> {
    let p = path()?;
    match std::fs::read_to_string(&p) {
        Ok(s) => toml::from_str(&s).with_context(|| format!("client config {} is not valid TOML; fix or delete it", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
        Err(e) => Err(e).with_context(|| format!("reading client config {}", p.display())),
    }
}

/// Set one profile and write the file (mode 0600, temp file + rename + directory fsync).
pub fn save_profile(name: &str, profile: Profile) -> Result<PathBuf> {
    let p = path()?;
    let mut cfg = load().unwrap_or_default();
    cfg.profiles.insert(name.to_owned(), profile);
    let body = toml::to_string_pretty(&cfg).context("serializing client config")?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&p, &body)?;
    Ok(p)
}

/// On a restart: the profile `name` written for this server (same access key) is brought up to
/// date when it no longer reaches it — HTTPS switched on or off, another port, another
/// certificate file. A profile that names another server, or this one under another host
/// name, is left alone. Answers the config file's path.
pub fn refresh_profile(name: &str, access_key: &str, endpoint: &str, ca_bundle: Option<&str>) -> Result<Option<PathBuf>> {
    let Ok(p) = path() else { return Ok(None) };
    let Ok(cfg) = load() else { return Ok(Some(p)) };
    let Some(prof) = cfg.profiles.get(name).filter(|prof| prof.access_key == access_key) else { return Ok(Some(p)) };
    // scheme and port of an endpoint URL
    let parts = |e: &str| {
        let (scheme, rest) = e.split_once("://").unwrap_or(("", e));
        let port = rest.trim_end_matches('/').rsplit_once(':').map(|(_, port)| port.to_owned()).unwrap_or_default();
        (scheme.to_owned(), port)
    };
    let moved = parts(&prof.endpoint) != parts(endpoint);
    let https = endpoint.starts_with("https://");
    let stale_bundle = https && prof.ca_bundle.as_deref() != ca_bundle;
    if !moved && !stale_bundle {
        return Ok(Some(p));
    }
    let mut fresh = prof.clone();
    if moved {
        fresh.endpoint = endpoint.to_owned();
    }
    fresh.ca_bundle = if https { ca_bundle.map(str::to_owned) } else { None };
    save_profile(name, fresh).map(Some)
}

/// Write a file readable only by its owner: temp file (mode 0600), fsync,
/// rename into place, fsync the directory.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", path.display()))?;
    if let Some(dir) = path.parent() {
        kintsugi_disk::sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

/// Help text shared by every client command: where endpoint and keys come from.
pub const CONN_HELP: &str = "Endpoint and credentials, first found wins:
  1. flags: --endpoint, --profile, --region, --ca-bundle
  2. environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_CA_BUNDLE
  3. the client config file: $KINTSUGI_CONFIG, else ~/.config/kintsugi/config.toml
     (written by `kintsugi server` at first start and by `kintsugi config set`)
Exit status: 0 on success, 1 with a one-line reason on stderr otherwise.";

/// How a client command finds its endpoint and credentials.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConnArgs {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000 [env: AWS_ENDPOINT_URL; else the profile's]
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Profile of the client config file to use (default "default")
    #[arg(long, env = "KINTSUGI_PROFILE")]
    pub profile: Option<String>,
    /// SigV4 region [env: AWS_REGION, AWS_DEFAULT_REGION; else the profile's, else us-east-1]
    #[arg(long)]
    pub region: Option<String>,
    /// PEM certificates to trust for an https:// endpoint, besides the system's roots
    /// [else the profile's, and AWS_CA_BUNDLE's unless --profile is given]
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
}

/// A resolved connection: where to, as whom, and where that came from.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Endpoint URL.
    pub endpoint: String,
    /// Access key and secret, if any.
    pub creds: Option<kintsugi_client::Credentials>,
    /// Region.
    pub region: String,
    /// Human description of where the credentials came from (for error messages).
    pub source: String,
    /// Extra trusted certificates (PEM files) for HTTPS.
    pub ca_bundles: Vec<PathBuf>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Resolve flags > environment > config file. An explicit `--profile` is a
/// flag, so its keys win over `AWS_*` variables.
pub fn resolve(a: &ConnArgs) -> Result<Resolved> {
    let cfg = load()?;
    let cfg_path = path().map(|p| p.display().to_string()).unwrap_or_else(|_| "(no config path)".into());
    let explicit = a.profile.is_some();
    let name = a.profile.clone().unwrap_or_else(|| "default".into());
    let prof = cfg.profiles.get(&name);
    if explicit && prof.is_none() {
        anyhow::bail!("profile {name:?} is not in {cfg_path}; create it with `kintsugi config set --profile {name} ...`");
    }
    let env_keys = match (env_nonempty("AWS_ACCESS_KEY_ID"), env_nonempty("AWS_SECRET_ACCESS_KEY")) {
        (Some(a), Some(s)) => Some((a, s)),
        _ => None,
    };
    let (creds, source) = match (explicit, prof, env_keys) {
        (true, Some(p), _) | (false, Some(p), None) => (
            Some(kintsugi_client::Credentials { access_key: p.access_key.clone(), secret_key: p.secret_key.clone() }),
            format!("access key {} from profile {name:?} in {cfg_path}", p.access_key),
        ),
        (_, _, Some((ak, sk))) => (
            Some(kintsugi_client::Credentials { access_key: ak.clone(), secret_key: sk }),
            format!("access key {ak} from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
        ),
        (_, None, None) => (None, "no credentials (anonymous): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile".into()),
    };
    let endpoint = a
        .endpoint
        .clone()
        .or_else(|| if explicit { None } else { env_nonempty("AWS_ENDPOINT_URL") })
        .or_else(|| prof.map(|p| p.endpoint.clone()).filter(|e| !e.is_empty()))
        .or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
        .with_context(|| {
            format!("no S3 endpoint: pass --endpoint URL, set AWS_ENDPOINT_URL, or start `kintsugi server` once (it writes {cfg_path})")
        })?;
    let region = a
        .region
        .clone()
        .or_else(|| env_nonempty("AWS_REGION"))
        .or_else(|| env_nonempty("AWS_DEFAULT_REGION"))
        .or_else(|| prof.map(|p| p.region.clone()).filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "us-east-1".into());
    // --ca-bundle alone when given; else the profile's bundle, with AWS_CA_BUNDLE's beside it
    // unless the profile was named (a named profile is a flag, and wins over the environment).
    let ca_bundles = match &a.ca_bundle {
        Some(flag) => vec![flag.clone()],
        None => {
            let env = if explicit { None } else { env_nonempty("AWS_CA_BUNDLE").map(PathBuf::from) };
            // A profile's bundle that is gone (the server it was written for no longer uses that
            // file) is skipped with a warning, not an error for every HTTPS connection.
            let prof = prof.and_then(|p| p.ca_bundle.clone()).filter(|c| !c.is_empty()).map(PathBuf::from).filter(|c| {
                let here = c.exists();
                if !here {
                    eprintln!("warning: the profile's ca_bundle {} does not exist; not trusting it (fix it with `kintsugi config set --ca-bundle FILE`)", c.display());
                }
                here
            });
            let mut all: Vec<PathBuf> = env.into_iter().chain(prof).collect();
            all.dedup();
            all
        }
    };
    Ok(Resolved { endpoint, creds, region, source, ca_bundles })
}

impl Resolved {
    /// An S3 client for this connection.
    pub fn client(&self) -> Result<kintsugi_client::S3Client> {
        let bundles: Vec<&std::path::Path> = self.ca_bundles.iter().map(PathBuf::as_path).collect();
        Ok(kintsugi_client::S3Client::with_ca_bundles(&self.endpoint, self.creds.clone(), &self.region, &bundles)?)
    }
}
