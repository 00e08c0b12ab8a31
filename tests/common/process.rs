//! One wrapper for every process a test starts (embedded servers, gateways, storage nodes):
//! pid, liveness, signals, SIGKILL and SIGTERM with reaping, and a kill on drop. Stopped
//! (SIGSTOP) processes are continued before they are killed, so a failing test never
//! leaves one behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use super::{files_under, poll};

/// A child process of the test, or none (not started, or reaped).
#[derive(Debug, Default)]
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// Track `child` (the previous one must have been reaped).
    pub fn set(&mut self, child: Child) {
        assert!(self.child.is_none(), "a process is already running here (pid {})", self.pid());
        self.child = Some(child);
    }

    /// Its pid (panics when none runs).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the process is not running").id()
    }

    /// True while started and not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Its exit status if it has exited (and forget it); `None` while it runs or when none.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let st = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())?;
        self.child = None;
        Some(st)
    }

    /// Send `sig` (e.g. "-STOP", "-CONT") with kill(1).
    pub fn signal(&self, sig: &str) {
        let pid = self.pid();
        let st = Command::new("kill").args([sig, &pid.to_string()]).status().expect("running kill");
        assert!(st.success(), "kill {sig} {pid} failed");
    }

    /// SIGKILL (after SIGCONT, in case it is stopped) and reap; nothing when none runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait up to `timeout` for the exit; `None` when it did not exit in time
    /// (it is still tracked then).
    pub fn sigterm(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal("-TERM");
        let child = self.child.as_mut()?;
        let st = poll(timeout, Duration::from_millis(50), || child.try_wait().ok().flatten())?;
        self.child = None;
        Some(st)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every shard file (`shards/XX/*.shard`) under the given disk directories.
pub fn shard_files(disk_dirs: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    disk_dirs
        .into_iter()
        .flat_map(|d| files_under(&Path::new(&d).join("shards")))
        .filter(|p| p.extension().is_some_and(|e| e == "shard"))
        .collect()
}
