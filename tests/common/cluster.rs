//! Harness for clusters on loopback: one `kintsugi gateway` (a `Server` in
//! gateway mode) and storage nodes as real `kintsugi storage` processes that
//! the tests kill (SIGKILL), pause (SIGSTOP) and restart.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::Proc;
use super::{poll, Opts, Server, BIN};

/// One storage node process.
pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub port: u16,
    pub disks: usize,
    /// `--zone` label, if any.
    pub zone: Option<String>,
    /// Each disk directory a tmpfs of this size (`64m`), mounted in the node's own mount
    /// namespace; `None`: plain directories.
    pub tmpfs: Option<String>,
    pub proc: Proc,
}

impl Node {
    pub fn disk_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("disk{}", i + 1))
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    pub fn kill9(&mut self) {
        self.proc.kill9();
    }

    pub fn signal(&self, sig: &str) {
        self.proc.signal(sig);
    }

    fn command(&self, token: &str) -> Command {
        let mut cmd = match &self.tmpfs {
            None => Command::new(BIN),
            Some(size) => {
                // A fresh tmpfs at each disk directory at every start (what was stored goes
                // with the process's mount namespace).
                let mut mounts = String::from("set -e\n");
                for i in 0..self.disks {
                    mounts.push_str(&format!("mkdir -p '{0}'\nmount -t tmpfs -o size={size} kintsugi-test '{0}'\n", self.disk_dir(i).display()));
                }
                mounts.push_str("exec \"$@\"\n");
                let mut c = Command::new("unshare");
                c.args(super::unshare_flags()).args(["sh", "-c", &mounts, "sh", BIN]);
                c
            }
        };
        cmd.arg("storage");
        for i in 0..self.disks {
            cmd.arg("--data").arg(self.disk_dir(i));
        }
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port), "--name", &self.name, "--join", token, "--heartbeat", "0.3"])
            .arg("--state")
            .arg(self.dir.join("state"));
        if let Some(z) = &self.zone {
            cmd.args(["--zone", z]);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("KINTSUGI_") {
                cmd.env_remove(k);
            }
        }
        let log = fs::OpenOptions::new().create(true).append(true).open(self.dir.join("node.log")).expect("node log");
        cmd.env("RUST_LOG", "info").env("NO_COLOR", "1").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(log));
        cmd
    }

    pub fn start(&mut self, token: &str) {
        self.proc.set(self.command(token).spawn().expect("spawning kintsugi storage"));
    }

    /// [`Self::start`] with more environment (e.g. a `KINTSUGI_FAULT_*` fault to inject).
    pub fn start_with_env(&mut self, token: &str, env: &[(&str, &str)]) {
        let mut cmd = self.command(token);
        cmd.envs(env.iter().copied());
        self.proc.set(cmd.spawn().expect("spawning kintsugi storage"));
    }

    /// Run with `token` to completion (for refused joins; one still running after 60 s — a
    /// join that was not refused — is killed and counts as a success); returns (success, log).
    pub fn run_once(&self, token: &str) -> (bool, String) {
        self.run_once_with_env(token, &[])
    }

    /// [`Self::run_once`] with more environment.
    pub fn run_once_with_env(&self, token: &str, env: &[(&str, &str)]) -> (bool, String) {
        let mut cmd = self.command(token);
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("running kintsugi storage");
        let end = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = child.try_wait().expect("waiting for kintsugi storage") {
                return (st.success(), self.log());
            }
            if std::time::Instant::now() >= end {
                let _ = child.kill();
                let _ = child.wait();
                return (true, self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    pub fn shard_files(&self) -> Vec<PathBuf> {
        super::process::shard_files((0..self.disks).map(|i| self.disk_dir(i)))
    }
}

/// A free UDP port for a process to bind later (a node, a gateway's cluster port), so that a
/// restarted process comes back where the others look for it. Taken below the kernel's
/// ephemeral range (32768..), from a counter of this test binary: no socket bound to port 0
/// (every QUIC client endpoint) and no other scenario running beside this one can be handed
/// the same port before its process binds it.
pub fn free_udp_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id() % 100 * 100; // test binaries run one after another; spread anyway
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (base + n) % SPAN).expect("port below 32768");
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port in {FIRST}..{}", FIRST + SPAN)
}

/// A gateway and its storage nodes.
pub struct Cluster {
    pub gw: Server,
    pub nodes: Vec<Node>,
    pub token: String,
}

impl Cluster {
    /// Start a gateway (extra flags in `gw_flags`) and `n` nodes with `disks` disks each; waits until all are up.
    pub fn start(n: usize, disks: usize, gw_flags: &[&str], chunk_size: Option<u32>) -> Cluster {
        Self::start_zoned(n, disks, gw_flags, chunk_size, |_| None)
    }

    /// Like `start`, with node `i` (0-based) in zone `zone(i)`.
    pub fn start_zoned(n: usize, disks: usize, gw_flags: &[&str], chunk_size: Option<u32>, zone: impl Fn(usize) -> Option<String>) -> Cluster {
        Self::start_nodes(n, disks, gw_flags, chunk_size, zone, None)
    }

    /// Like `start`, every node's disks small file systems: a tmpfs of `size` (`64m`) each.
    pub fn start_on_tmpfs(n: usize, disks: usize, gw_flags: &[&str], chunk_size: Option<u32>, size: &str) -> Cluster {
        Self::start_nodes(n, disks, gw_flags, chunk_size, |_| None, Some(size))
    }

    fn start_nodes(n: usize, disks: usize, gw_flags: &[&str], chunk_size: Option<u32>, zone: impl Fn(usize) -> Option<String>, tmpfs: Option<&str>) -> Cluster {
        // A fixed cluster port, so a restarted gateway is where its nodes look for it.
        let mut flags: Vec<String> = gw_flags.iter().map(|s| (*s).to_owned()).collect();
        flags.extend(["--cluster-listen".to_owned(), format!("127.0.0.1:{}", free_udp_port())]);
        let opts = Opts { chunk_size, gateway: Some(flags), ..Opts::default() };
        let gw = Server::start(opts);
        let token = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            gw.stdout_lines().iter().find_map(|l| l.strip_prefix("Join token:").map(|t| t.trim().to_owned()))
        })
        .expect("gateway printed no join token");
        let mut nodes = Vec::new();
        for i in 0..n {
            let dir = gw.base().join("nodes").join(format!("n{}", i + 1));
            fs::create_dir_all(&dir).expect("node dir");
            let mut node = Node { name: format!("n{}", i + 1), dir, port: free_udp_port(), disks, zone: zone(i), tmpfs: tmpfs.map(str::to_owned), proc: Proc::default() };
            node.start(&token);
            nodes.push(node);
        }
        let c = Cluster { gw, nodes, token };
        c.wait_states(&(0..n).map(|i| (i, "up")).collect::<Vec<_>>(), Duration::from_secs(30));
        c
    }

    /// A new node `name` with `disks` disks (not started: `nodes[i].start(&c.token)`); its index.
    pub fn add_node(&mut self, name: &str, disks: usize) -> usize {
        let dir = self.gw.base().join("nodes").join(name);
        fs::create_dir_all(&dir).expect("node dir");
        self.nodes.push(Node { name: name.to_owned(), dir, port: free_udp_port(), disks, zone: None, tmpfs: None, proc: Proc::default() });
        self.nodes.len() - 1
    }

    /// `admin status --json` through the CLI.
    pub fn status(&self) -> serde_json::Value {
        let out = self.gw.run_ok(self.kintsugi(&["admin", "status", "--json"]), "kintsugi admin status");
        serde_json::from_str(&out).expect("admin status JSON")
    }

    /// A `kintsugi` client command against the gateway.
    pub fn kintsugi(&self, args: &[&str]) -> Command {
        self.gw.kintsugi(args)
    }

    /// Node state by index ("up", "down", "lost"), None when not in the map.
    pub fn node_state(status: &serde_json::Value, name: &str) -> Option<String> {
        status["nodes"].as_array()?.iter().find(|n| n["name"] == name).and_then(|n| n["state"].as_str().map(str::to_owned))
    }

    /// Wait until every (node index, state) holds; panics with the status otherwise.
    pub fn wait_states(&self, want: &[(usize, &str)], timeout: Duration) {
        let mut last = serde_json::Value::Null;
        let ok = poll(timeout, Duration::from_millis(200), || {
            last = self.status();
            let disks_ok = want.iter().all(|(i, st)| {
                *st != "up" || last["disks"].as_array().is_some_and(|d| d.iter().filter(|d| d["node"] == self.nodes[*i].name).count() >= self.nodes[*i].disks)
            });
            (disks_ok && want.iter().all(|(i, st)| Self::node_state(&last, &self.nodes[*i].name).as_deref() == Some(*st))).then_some(())
        });
        assert!(ok.is_some(), "node states {want:?} not reached within {timeout:?}; status: {last:#}\ngateway log:\n{}", self.gw.log_tail(40));
    }
}

impl Cluster {
    /// Every segment of every object in `objs` (in `bucket`) has `width` healthy shards on
    /// distinct nodes, none on a node in `avoid` (one kept inline with the metadata: its bytes
    /// are there).
    pub fn assert_full_layout(&self, bucket: &str, objs: &[(String, u64, u64)], width: usize, avoid: &[&str]) {
        for (key, _, _) in objs {
            let out = self.gw.run_ok(self.kintsugi(&["stat", "--json", &format!("s3://{bucket}/{key}")]), "stat");
            let v: serde_json::Value = serde_json::from_str(&out).expect("stat JSON");
            for seg in &super::shard_segments(&v) {
                let shards = seg["shards"].as_array().expect("shards");
                let nodes: std::collections::HashSet<&str> = shards.iter().filter_map(|s| s["node"].as_str()).collect();
                assert_eq!(nodes.len(), width, "{key}: shards not on {width} distinct nodes: {seg}");
                assert!(avoid.iter().all(|a| !nodes.contains(a)), "{key}: a shard is on {avoid:?}: {seg}");
                assert!(shards.iter().all(|s| s["health"] == "ok"), "{key}: {seg}");
            }
        }
    }

    /// `kintsugi admin ARGS --json` parsed; panics with the output when it fails.
    pub fn admin_json(&self, args: &[&str]) -> serde_json::Value {
        self.gw.admin_json(args)
    }

    /// `kintsugi admin ARGS` that must fail; returns its stderr.
    pub fn admin_refused(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = vec!["admin"];
        all.extend_from_slice(args);
        let out = self.kintsugi(&all).output().expect("running kintsugi admin");
        assert!(!out.status.success(), "admin {args:?} should have been refused; it printed {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
