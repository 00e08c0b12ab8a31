//! The client config file that `kintsugi server` writes on first start so the
//! CLI (and a human) finds the endpoint and credentials.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

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

/// Set one profile and write the file (mode 0600, temp file + rename).
pub fn save_profile(name: &str, profile: Profile) -> Result<PathBuf> {
    let p = path()?;
    let mut cfg = load().unwrap_or_default();
    cfg.profiles.insert(name.to_owned(), profile);
    let body = toml::to_string_pretty(&cfg).context("serializing client config")?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = p.with_extension("toml.tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &p).with_context(|| format!("renaming {} into place", p.display()))?;
    Ok(p)
}
