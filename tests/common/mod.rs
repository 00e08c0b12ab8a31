//! Harness for real-process tests of `kintsugi server`: temp dirs, a free
//! port, stdout parsing, kill/restart, disk inspection, `/metrics`, and the
//! boto3 scripts under `tests/s3/`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub mod cluster;
pub mod process;
pub mod tls;

pub const BIN: &str = env!("CARGO_BIN_EXE_kintsugi");
pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

/// True under `make acceptance` (`KINTSUGI_ACCEPTANCE=1`): tests run at the issues' full scale.
#[allow(dead_code)]
pub fn acceptance() -> bool {
    std::env::var("KINTSUGI_ACCEPTANCE").is_ok_and(|v| v == "1")
}

/// `n` objects (key `PREFIX/NNN`, data seed `seed + i`, size): first the `fixed` sizes, then
/// pseudo-random sizes below `max` (the same every run).
#[allow(dead_code)]
pub fn objects(prefix: &str, seed: u64, fixed: &[u64], n: usize, max: u64) -> Vec<(String, u64, u64)> {
    let mut sizes = fixed.to_vec();
    let mut x: u64 = 0x9e37_79b9 ^ seed;
    while sizes.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sizes.push(x % max.max(1));
    }
    sizes.truncate(n.max(fixed.len()));
    sizes.iter().enumerate().map(|(i, s)| (format!("{prefix}/{i:03}"), seed + i as u64, *s)).collect()
}

/// `n` objects of about `total` bytes: 0 B, 1 B, one of 100 MiB when it fits, the rest random.
#[allow(dead_code)]
pub fn acceptance_objects(prefix: &str, n: usize, total: u64) -> Vec<(String, u64, u64)> {
    let fixed: &[u64] = if total >= 400 * MIB { &[0, 1, 100 * MIB] } else { &[0, 1] };
    let rest = total.saturating_sub(fixed.iter().sum());
    let mean = (rest / (n.saturating_sub(fixed.len()).max(1)) as u64).max(1);
    objects(prefix, 31_000, fixed, n, 2 * mean)
}

/// How many process-starting scenarios of one test binary run at once: `KINTSUGI_TEST_JOBS`,
/// default 2 (the machine's cores). Every scenario has its own temp directories and free
/// ports, so they share nothing but the CPU.
fn test_jobs() -> usize {
    std::env::var("KINTSUGI_TEST_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(2).max(1)
}

/// Slots in use, and how many scenarios wait for all of them.
struct Slots {
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

static SLOTS: Slots = Slots { state: Mutex::new((0, 0)), freed: Condvar::new() };

/// A scenario's claim on the CPU; released on drop (also when the test panics).
pub struct Slot {
    n: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = SLOTS.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 -= self.n;
        SLOTS.freed.notify_all();
    }
}

fn take(n: usize) -> Slot {
    let whole = n > 1;
    let mut st = SLOTS.state.lock().unwrap_or_else(|p| p.into_inner());
    if whole {
        st.1 += 1;
    }
    // A scenario that wants every slot goes first: others wait while one is waiting.
    while st.0 + n > test_jobs().max(n) || (!whole && st.1 > 0) {
        st = SLOTS.freed.wait(st).unwrap_or_else(|p| p.into_inner());
    }
    st.0 += n;
    if whole {
        st.1 -= 1;
    }
    Slot { n }
}

/// One slot for a scenario that starts processes; at the issues' full scale
/// ([`acceptance`]) every slot, so the big scenarios run alone.
pub fn slot() -> Slot {
    if acceptance() {
        exclusive()
    } else {
        take(1)
    }
}

/// Every slot: for a scenario whose measurements another one would disturb (memory sampling).
pub fn exclusive() -> Slot {
    take(test_jobs())
}

/// Directory holding the boto3 scripts.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("s3")
}

/// Random alphanumeric string from the OS RNG.
pub fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).expect("reading /dev/urandom");
    bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// How this machine lets a test mount a tmpfs of its own: `unshare -m` as root, else with a
/// user namespace (`-r`). Panics, naming what is missing, when neither works.
pub fn unshare_flags() -> &'static [&'static str] {
    static FLAGS: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
    FLAGS.get_or_init(|| {
        for flags in [&["-m"][..], &["-r", "-m"][..]] {
            let ok = Command::new("unshare")
                .args(flags)
                .args(["sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m t \"$d\" && umount \"$d\" && rmdir \"$d\""])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return flags;
            }
        }
        panic!("the full-disk tests mount small tmpfs file systems in a mount namespace: they need `unshare` (util-linux) and root or unprivileged user namespaces")
    })
}

/// Deterministic pseudo-random bytes (xorshift64*), for files the CLI tools upload.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Poll `f` every `every` until it returns Some or `timeout` passes.
/// Segments in ledger row `healthy` ("k+m", "k+m-1", …) of a repair status.
pub fn ledger_row(st: &serde_json::Value, healthy: &str) -> u64 {
    st["ledger"]["rows"].as_array().expect("ledger rows").iter().find(|r| r["healthy"] == healthy).and_then(|r| r["segments"].as_u64()).expect("ledger row")
}

/// The segments of a `kintsugi stat --json` answer that are stored as shards. A small object
/// kept with the metadata has one segment and no shards: its bytes must be there.
pub fn shard_segments(stat: &serde_json::Value) -> Vec<serde_json::Value> {
    let all = stat["layout"]["segments"].as_array().expect("stat names segments").clone();
    for state in all.iter().filter_map(|s| s.get("inline")) {
        assert_eq!(state, "ok", "an inline segment is not readable: {stat}");
    }
    all.into_iter().filter(|s| s.get("inline").is_none()).collect()
}

pub fn poll<T>(timeout: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        thread::sleep(every);
    }
}

/// Every file (not directory) under `root`, recursively; empty if `root` is missing.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) => out.push(p),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// Copy the files under `from` to `to` (a new directory), keeping the tree.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("creating the copy");
    for e in fs::read_dir(from).expect("reading the tree").flatten() {
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).expect("copying a file");
        }
    }
}

/// Total bytes of the files under `root`.
pub fn bytes_under(root: &Path) -> u64 {
    files_under(root).iter().filter_map(|p| fs::metadata(p).ok()).map(|m| m.len()).sum()
}

#[derive(Clone, Debug)]
pub struct Opts {
    pub disks: usize,
    pub ec: Option<String>,
    pub chunk_size: Option<u32>,
    pub gc_delay: Option<u64>,
    /// Run `kintsugi gateway` with these extra flags instead of `kintsugi server` (no disks).
    pub gateway: Option<Vec<String>>,
    /// Extra flags for `kintsugi server`.
    pub flags: Vec<String>,
    /// Small file systems for the server: it runs in its own mount namespace (`unshare -m`)
    /// with a tmpfs of the given size (`8m`) at each path under its root ("" is the root
    /// itself, holding disks and metadata). They live as long as the process: no restarts.
    pub tmpfs: Vec<(String, String)>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts { disks: 6, ec: None, chunk_size: None, gc_delay: None, gateway: None, flags: Vec::new(), tmpfs: Vec::new() }
    }
}

impl Opts {
    /// 4+2 with 64 KiB chunks: one stripe holds 256 KiB of data.
    pub fn small_chunks() -> Self {
        Opts { ec: Some("4+2".into()), chunk_size: Some(65536), ..Opts::default() }
    }
}

/// A running `kintsugi server` on its own temp dirs.
pub struct Server {
    /// Holds everything the test creates; the server's dirs are two levels
    /// below it so that a path escaping a disk directory lands inside it.
    base: tempfile::TempDir,
    root: PathBuf,
    opts: Opts,
    proc: process::Proc,
    pub endpoint: String,
    pub port: u16,
    pub access_key: String,
    pub secret_key: String,
    stdout: Arc<Mutex<Vec<String>>>,
    pub starts: u32,
    /// PEM certificates clients trust for this server's HTTPS (`AWS_CA_BUNDLE` of `command()`).
    pub ca_bundle: Option<PathBuf>,
}

impl Server {
    pub fn start(opts: Opts) -> Server {
        let mut s = Self::unstarted(opts);
        s.spawn();
        s
    }

    /// A server on a store an earlier release wrote: `fixture` (a `.tar.gz` made by
    /// scripts/make-store-fixture.sh, holding `disk1`.., `meta` and the root key in
    /// `keys.json`) unpacked where this server's disks and metadata live.
    pub fn start_from_fixture(opts: Opts, fixture: &Path) -> Server {
        let mut s = Self::unstarted(opts);
        let st = Command::new("tar").arg("-xzf").arg(fixture).arg("-C").arg(&s.root).status().expect("running tar");
        assert!(st.success(), "unpacking {} failed", fixture.display());
        let keys: serde_json::Value = serde_json::from_slice(&fs::read(s.root.join("keys.json")).expect("keys.json")).expect("keys.json is JSON");
        s.access_key = keys["access_key"].as_str().expect("access_key").to_owned();
        s.secret_key = keys["secret_key"].as_str().expect("secret_key").to_owned();
        s.spawn();
        s
    }

    fn unstarted(opts: Opts) -> Server {
        let base = tempfile::Builder::new().prefix("kintsugi-it-").tempdir().expect("creating temp dir");
        let root = base.path().join("x").join("srv");
        fs::create_dir_all(root.join("cwd")).expect("creating server dirs");
        // A server with --tls-cert is reached trusting that file (a self-signed certificate,
        // or a chain that ends in its CA).
        let flags = opts.gateway.as_ref().unwrap_or(&opts.flags);
        let ca_bundle = flags.iter().position(|f| f == "--tls-cert").and_then(|i| flags.get(i + 1)).map(PathBuf::from);
        Server {
            ca_bundle,
            base,
            root,
            opts,
            proc: process::Proc::default(),
            endpoint: String::new(),
            port: 0,
            access_key: format!("AK{}", random_string(18).to_uppercase()),
            secret_key: random_string(40),
            stdout: Arc::new(Mutex::new(Vec::new())),
            starts: 0,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temp dir above the server's dirs (scratch space for tests lives in `scratch()`).
    pub fn base(&self) -> &Path {
        self.base.path()
    }

    /// A scratch dir for test files, outside the server's tree.
    pub fn scratch(&self) -> PathBuf {
        let p = self.base.path().join("scratch");
        fs::create_dir_all(&p).expect("creating scratch dir");
        p
    }

    pub fn disk_dir(&self, i: usize) -> PathBuf {
        self.root.join(format!("disk{}", i + 1))
    }

    pub fn meta_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    pub fn disks(&self) -> usize {
        self.opts.disks
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("opening server log");
        let mut cmd = if self.opts.tmpfs.is_empty() {
            Command::new(BIN)
        } else {
            assert_eq!(self.starts, 0, "a server on tmpfs cannot be restarted: its file systems went with it");
            let mut mounts = String::from("set -e\n");
            for (sub, size) in &self.opts.tmpfs {
                let at = if sub.is_empty() { self.root.clone() } else { self.root.join(sub) };
                mounts.push_str(&format!("mkdir -p '{0}'\nmount -t tmpfs -o size={size} kintsugi-test '{0}'\n", at.display()));
            }
            mounts.push_str("exec \"$@\"\n");
            let mut c = Command::new("unshare");
            c.args(unshare_flags()).args(["sh", "-c", &mounts, "sh", BIN]);
            c
        };
        match &self.opts.gateway {
            Some(flags) => {
                cmd.arg("gateway").args(flags);
                // Unless the flags name one, a free port; a restarted gateway must keep it (nodes know it).
                if !flags.iter().any(|f| f == "--cluster-listen") {
                    cmd.args(["--cluster-listen", "127.0.0.1:0"]);
                }
            }
            None => {
                cmd.arg("server").args(&self.opts.flags);
                for i in 0..self.opts.disks {
                    cmd.arg("--data").arg(self.disk_dir(i));
                }
            }
        }
        cmd.arg("--meta").arg(self.meta_dir());
        cmd.args(["--listen", "127.0.0.1:0", "--access-key", &self.access_key, "--secret-key", &self.secret_key]);
        if let Some(ec) = &self.opts.ec {
            cmd.args(["--ec", ec]);
        }
        if let Some(c) = self.opts.chunk_size {
            cmd.args(["--chunk-size", &c.to_string()]);
        }
        if let Some(g) = self.opts.gc_delay {
            cmd.args(["--gc-delay", &g.to_string()]);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("KINTSUGI_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KINTSUGI_CONFIG", self.root.join("client-config.toml"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .current_dir(self.root.join("cwd"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("spawning kintsugi server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel::<String>();
        let lines = self.stdout.clone();
        // Keep reading so the pipe never fills.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line.clone());
                let _ = tx.send(line);
            }
        });
        self.proc.set(child);
        self.starts += 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(ep) = line.strip_prefix("S3 endpoint: ") {
                        self.endpoint = ep.trim().to_owned();
                        self.port = self
                            .endpoint
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or_else(|| panic!("cannot parse port from endpoint line {line:?}"));
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if let Some(st) = self.proc.exited() {
                panic!("server exited with {st} before printing its endpoint\n{}", self.log_tail(60));
            }
            if Instant::now() > deadline {
                panic!("server did not print its endpoint within 60 s\n{}", self.log_tail(60));
            }
        }
    }

    /// Last `n` lines of the server's stderr log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!("--- server log (last {} lines of {}) ---\n{}\n---", lines.len() - from, lines.len(), lines[from..].join("\n"))
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Send `sig` (e.g. "-HUP") with kill(1).
    pub fn signal(&self, sig: &str) {
        self.proc.signal(sig);
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// The exit status, once the server has exited by itself (reaped).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.proc.exited()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        self.proc.kill9();
    }

    /// SIGTERM; returns the exit status (panics if it does not exit within `timeout`).
    pub fn sigterm(&mut self, timeout: Duration) -> ExitStatus {
        match self.proc.sigterm(timeout) {
            Some(s) => s,
            None => panic!("server did not exit within {timeout:?} of SIGTERM\n{}", self.log_tail(40)),
        }
    }

    /// A `kintsugi` client command against this server.
    pub fn kintsugi(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(BIN);
        cmd.args(args).args(["--endpoint", &self.endpoint]); // keys come from AWS_* in the environment
        cmd
    }

    /// `kintsugi admin ARGS --json` parsed; panics with the output when it fails.
    pub fn admin_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all: Vec<&str> = vec!["admin"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = self.run_ok(self.kintsugi(&all), &format!("kintsugi admin {}", args.join(" ")));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("admin {args:?}: not JSON ({e}): {out}"))
    }

    /// Add flags to every next (re)start: `kintsugi server`'s, or `kintsugi gateway`'s.
    pub fn add_flags(&mut self, flags: &[&str]) {
        let v = match &mut self.opts.gateway {
            Some(g) => g,
            None => &mut self.opts.flags,
        };
        v.extend(flags.iter().map(|f| (*f).to_owned()));
    }

    /// Drop `flag` and the value after it from every next (re)start of a gateway.
    pub fn remove_flag(&mut self, flag: &str) {
        if let Some(g) = &mut self.opts.gateway {
            if let Some(i) = g.iter().position(|f| f == flag) {
                let end = (i + 2).min(g.len());
                g.drain(i..end);
            }
        }
    }

    /// Replace the extra `kintsugi server` flags of the next (re)start.
    pub fn set_flags(&mut self, flags: &[&str]) {
        self.opts.flags = flags.iter().map(|f| (*f).to_owned()).collect();
    }

    /// Start again on the same directories (new port).
    pub fn restart(&mut self) {
        self.proc.kill9();
        self.spawn();
    }

    /// Every shard file on every disk (`shards/XX/*.shard`).
    pub fn shard_files(&self) -> Vec<PathBuf> {
        process::shard_files((0..self.opts.disks).map(|i| self.disk_dir(i)))
    }

    /// Every file under each disk's `tmp/`.
    pub fn tmp_files(&self) -> Vec<PathBuf> {
        (0..self.opts.disks).flat_map(|i| files_under(&self.disk_dir(i).join("tmp"))).collect()
    }

    /// Bytes stored on all disks.
    pub fn disk_bytes(&self) -> u64 {
        (0..self.opts.disks).map(|i| bytes_under(&self.disk_dir(i))).sum()
    }

    /// Raw HTTP GET (no auth) → (status, body).
    pub fn http_get(&self, path: &str) -> Result<(u16, String), String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port)
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line in {head:?}"))?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
        Ok((status, body))
    }

    /// `/metrics` parsed into name → value.
    pub fn metrics(&self) -> HashMap<String, f64> {
        let (status, body) = self.http_get("/metrics").expect("GET /metrics");
        assert_eq!(status, 200, "GET /metrics status; body:\n{body}");
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.trim().to_owned(), v.trim().parse().ok()?))
            })
            .collect()
    }

    pub fn metric(&self, name: &str) -> f64 {
        *self.metrics().get(name).unwrap_or_else(|| panic!("metric {name} missing from /metrics"))
    }

    /// Environment for S3 clients (boto3, aws cli).
    pub fn s3_env(&self) -> Vec<(String, String)> {
        let nowhere = self.base.path().join("no-aws-config");
        // The aws cli's multipart sizes pinned (the tests compute multipart ETags from them),
        // whatever its version's defaults are.
        let aws_config = self.scratch().join("aws-config");
        if !aws_config.exists() {
            fs::write(&aws_config, "[default]\ns3 =\n  multipart_threshold = 8MB\n  multipart_chunksize = 8MB\n").expect("writing the aws cli config");
        }
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("S3_ENDPOINT".into(), self.endpoint.clone()),
            ("AWS_CONFIG_FILE".into(), aws_config.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), nowhere.display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ]
    }

    /// A command with the S3 client environment set (and conflicting AWS_* removed).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        // AWS_CA_BUNDLE (set on some machines) makes rclone's SDK fail even for http endpoints.
        for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_CA_BUNDLE"] {
            cmd.env_remove(k);
        }
        cmd.envs(self.s3_env()).stdin(Stdio::null());
        if let Some(ca) = &self.ca_bundle {
            cmd.env("AWS_CA_BUNDLE", ca);
        }
        cmd
    }

    /// rclone with the remote `k:` pointed at this server (an empty config file in the
    /// scratch directory; the remote's settings in the environment), and one try per request.
    pub fn rclone(&self) -> Command {
        let conf = self.scratch().join("rclone.conf");
        fs::write(&conf, b"").expect("writing an empty rclone config");
        let mut c = self.command("rclone");
        c.env("RCLONE_CONFIG", conf)
            .env("RCLONE_CONFIG_K_TYPE", "s3")
            .env("RCLONE_CONFIG_K_PROVIDER", "Other")
            .env("RCLONE_CONFIG_K_ENDPOINT", &self.endpoint)
            .env("RCLONE_CONFIG_K_ACCESS_KEY_ID", &self.access_key)
            .env("RCLONE_CONFIG_K_SECRET_ACCESS_KEY", &self.secret_key)
            .env("RCLONE_CONFIG_K_REGION", "us-east-1")
            .env("RCLONE_CONFIG_K_FORCE_PATH_STYLE", "true")
            .args(["--retries", "1", "--low-level-retries", "1"]);
        c
    }

    /// The aws cli pointed at this server, with `args`.
    pub fn aws(&self, args: &[&str]) -> Command {
        let mut cmd = self.command("aws");
        cmd.arg("--endpoint-url").arg(&self.endpoint).args(args);
        cmd
    }

    /// Run `tests/s3/<script>` with `args`; returns its output (not asserted).
    pub fn py_output(&self, script: &str, args: &[&str]) -> Output {
        self.command("python3")
            .arg(scripts_dir().join(script))
            .args(args)
            .current_dir(scripts_dir())
            .output()
            .unwrap_or_else(|e| panic!("running python3 {script}: {e}"))
    }

    /// Start `tests/s3/<script>` in the background with stdout and stderr piped.
    pub fn py_spawn(&self, script: &str, args: &[&str]) -> Child {
        self.command("python3")
            .arg(scripts_dir().join(script))
            .args(args)
            .current_dir(scripts_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 {script}: {e}"))
    }

    /// Run `tests/s3/<script>`; asserts exit 0 (printing its output and the
    /// server log otherwise) and returns stdout.
    pub fn py(&self, script: &str, args: &[&str]) -> String {
        let t = Instant::now();
        let out = self.py_output(script, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{script} {args:?} failed ({}) after {:.1}s\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            out.status,
            t.elapsed().as_secs_f64(),
        );
        eprintln!("{script} {:?}: ok in {:.1}s", args.iter().map(|a| trunc(a, 40)).collect::<Vec<_>>(), t.elapsed().as_secs_f64());
        stdout
    }

    /// Run a command built by `command()`; asserts success, returns stdout.
    pub fn run_ok(&self, mut cmd: Command, what: &str) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{what} failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
        );
        stdout
    }

    /// Write a data manifest for `data.py` and return its path.
    pub fn manifest(&self, name: &str, bucket: &str, objects: &[(String, u64, u64)]) -> PathBuf {
        let objs: Vec<serde_json::Value> =
            objects.iter().map(|(k, seed, size)| serde_json::json!({"key": k, "seed": seed, "size": size})).collect();
        let v = serde_json::json!({"bucket": bucket, "objects": objs});
        let p = self.scratch().join(format!("{name}.json"));
        fs::write(&p, serde_json::to_vec_pretty(&v).expect("serialising manifest")).expect("writing manifest");
        p
    }

    /// Assert the server wrote nothing outside its disk and meta dirs, and that
    /// disk dirs hold only the identity file, `shards/XX/<id>-<idx>.shard` and `tmp/`.
    pub fn assert_tree_clean(&self, context: &str) {
        let bad = self.tree_problems();
        assert!(bad.is_empty(), "{context}: stray files:\n  {}", bad.join("\n  "));
    }

    /// What `assert_tree_clean` complains about.
    pub fn tree_problems(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let allowed_root = ["cwd", "meta", "server.log", "client-config.toml"];
        for f in files_under(self.base.path()) {
            let rel = f.strip_prefix(self.base.path()).expect("under base");
            let mut comps = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned());
            let first = comps.next().unwrap_or_default();
            if first == "scratch" || first == "no-aws-config" {
                continue;
            }
            let second = comps.next().unwrap_or_default();
            let third = comps.next().unwrap_or_default();
            let rest: Vec<String> = comps.collect();
            if first != "x" || second != "srv" {
                bad.push(format!("outside the server dir: {}", rel.display()));
                continue;
            }
            if allowed_root.contains(&third.as_str()) {
                if third == "cwd" {
                    bad.push(format!("file in the server's working directory: {}", rel.display()));
                }
                continue;
            }
            let is_disk = third.strip_prefix("disk").and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n >= 1 && n <= self.opts.disks);
            if !is_disk {
                bad.push(format!("unexpected file in the server dir: {}", rel.display()));
                continue;
            }
            let ok = match rest.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                ["kintsugi-disk.json"] => true,
                ["tmp", _] => true,
                ["shards", dir, file] => {
                    dir.len() == 2 && dir.bytes().all(|b| b.is_ascii_hexdigit()) && is_shard_name(file) && file.starts_with(dir)
                }
                _ => false,
            };
            if !ok {
                bad.push(format!("unexpected file in a disk dir: {}", rel.display()));
            }
        }
        // Directories too: only shards/XX and tmp inside disks.
        for i in 0..self.opts.disks {
            let d = self.disk_dir(i);
            if let Ok(rd) = fs::read_dir(&d) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !["kintsugi-disk.json", "shards", "tmp"].contains(&name.as_str()) {
                        bad.push(format!("unexpected entry {name:?} in {}", d.display()));
                    }
                }
            }
            if let Ok(rd) = fs::read_dir(d.join("shards")) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.len() != 2 || !name.bytes().all(|b| b.is_ascii_hexdigit()) || !e.path().is_dir() {
                        bad.push(format!("unexpected entry {name:?} in {}/shards", d.display()));
                    }
                }
            }
        }
        bad
    }
}

/// `<32 hex>-<2 hex>.shard`
pub fn is_shard_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".shard") else { return false };
    let Some((id, idx)) = stem.split_once('-') else { return false };
    id.len() == 32 && idx.len() == 2 && id.bytes().chain(idx.bytes()).all(|b| b.is_ascii_hexdigit())
}

/// Segment id (hex) and shard index of a shard file path.
pub fn shard_id(path: &Path) -> (String, u8) {
    let name = path.file_name().expect("file name").to_string_lossy();
    let stem = name.strip_suffix(".shard").expect("a .shard file");
    let (id, idx) = stem.split_once('-').expect("<id>-<idx>");
    (id.to_owned(), u8::from_str_radix(idx, 16).expect("hex shard index"))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size_line.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

fn trunc(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_owned()
    } else {
        format!("{}...", &s[..s.char_indices().take_while(|(i, _)| *i < n).last().map_or(0, |(i, c)| i + c.len_utf8())])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.proc.kill9();
        if thread::panicking() {
            eprintln!("{}", self.log_tail(80));
            if std::env::var_os("KINTSUGI_KEEP_TEST_DIRS").is_some() {
                eprintln!("keeping test dir {}", self.base.path().display());
                self.base.disable_cleanup(true);
            }
        }
    }
}

/// Peak and last VmRSS/VmHWM (KiB) of a process, sampled in a thread.
pub struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<thread::JoinHandle<(u64, usize)>>,
    pid: u32,
}

pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        let handle = thread::spawn(move || {
            let (mut peak, mut samples) = (0u64, 0usize);
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(v) = proc_status_kib(pid, "VmRSS:") {
                    peak = peak.max(v);
                    samples += 1;
                }
                thread::sleep(every);
            }
            (peak, samples)
        });
        RssSampler { stop, handle: Some(handle), pid }
    }

    /// (peak sampled VmRSS KiB, samples, VmHWM KiB as the kernel reports it now).
    pub fn finish(mut self) -> (u64, usize, u64) {
        let hwm = proc_status_kib(self.pid, "VmHWM:").unwrap_or(0);
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (peak, n) = self.handle.take().expect("sampler running").join().expect("sampler thread");
        (peak, n, hwm)
    }
}
