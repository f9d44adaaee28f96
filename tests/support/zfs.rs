//! A throwaway zfs-fuse pool backed by a sparse image file.
//!
//! zfs-fuse is one daemon for the whole machine, shared by every pool. The
//! fixture makes sure one runs (starting `zfs-fuse --no-daemon` itself if
//! `zpool` cannot reach any), and stops it again only when it was started
//! by these fixtures (this process, or an earlier/other test process, as
//! recorded in an owner file), this process holds no pool any more, and no
//! pool at all is left on the machine. A daemon started by anyone else (the
//! init system, `scripts/test`, an operator) is never stopped.
//!
//! Starting, creating, destroying and stopping happen under a process-wide
//! mutex and an exclusive `flock` shared by all test processes, so parallel
//! tests never see a daemon stopped under them.
//!
//! Pools left behind by test processes that died before their `Drop` ran
//! (their name carries the pid) are destroyed the next time a pool is made.
//!
//! zfs-fuse is the old ZFS: no `zfs list -p`, no `.zfs/snapshot` (read a
//! snapshot through a clone), no `zfs get -t`.

use super::skip::{self, Prereq};
use super::{cmd, is_mounted, keep_dir, say, temp_dir, tool_cmd, try_run, unique_name, wait_until};
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const POOL_PREFIX: &str = "cutover_zfs";

/// A file-backed zfs-fuse pool, destroyed (with its image) when dropped.
pub struct ZfsPool {
    name: String,
    mountpoint: PathBuf,
    image: PathBuf,
    /// `None` only while dropping.
    dir: Option<tempfile::TempDir>,
}

impl ZfsPool {
    /// Smallest vdev ZFS accepts; smaller requests are rounded up to this.
    pub const MIN_SIZE_MB: u64 = 64;

    /// What this fixture needs: root, `zpool`, `zfs`, `zfs-fuse`, `/dev/fuse`.
    pub fn prerequisites() -> Prereq {
        skip::all([
            skip::root(),
            skip::tools(&["zpool", "zfs", "zfs-fuse"]),
            skip::path_exists("/dev/fuse"),
        ])
    }

    /// Creates a pool of `size_mb` MiB (at least [`Self::MIN_SIZE_MB`])
    /// mounted on a unique directory; panics with the reason if it cannot.
    pub fn new(size_mb: u64) -> Self {
        match Self::try_new(size_mb) {
            Ok(pool) => pool,
            Err(e) => panic!("zfs fixture: {e}"),
        }
    }

    /// Like [`Self::new`], returning the reason instead of panicking.
    pub fn try_new(size_mb: u64) -> Result<Self, String> {
        let size_mb = size_mb.max(Self::MIN_SIZE_MB);
        let name = unique_name(POOL_PREFIX);
        let dir = temp_dir(&name)?;
        let image = dir.path().join("pool.img");
        let mountpoint = dir.path().join("mnt");
        let file =
            File::create(&image).map_err(|e| format!("cannot create {}: {e}", image.display()))?;
        file.set_len(size_mb * 1024 * 1024)
            .map_err(|e| format!("cannot size {} to {size_mb} MiB: {e}", image.display()))?;
        drop(file);

        let mut daemon = daemon_state();
        let _lock = FileLock::exclusive()?;
        daemon.ensure_running()?;
        reap_stale_pools();
        daemon.refs += 1;

        let created = try_run(
            tool_cmd("zpool", ["create", "-m"])
                .arg(&mountpoint)
                .arg(&name)
                .arg(&image),
        )
        .and_then(|_| {
            if wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
                is_mounted(&mountpoint)
            }) {
                Ok(())
            } else {
                Err(format!(
                    "pool {name} was created but {} did not get mounted",
                    mountpoint.display()
                ))
            }
        });
        if let Err(e) = created {
            let _ = destroy_pool(&name);
            daemon.release();
            return Err(e);
        }
        Ok(Self {
            name,
            mountpoint,
            image,
            dir: Some(dir),
        })
    }

    /// The pool's (unique) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the pool's root dataset is mounted; child datasets mount below.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The image file backing the pool.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// `rel` inside the pool's mountpoint.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.mountpoint.join(rel)
    }

    /// The full name of the dataset `rel` in this pool: `<pool>/<rel>`.
    pub fn dataset(&self, rel: &str) -> String {
        format!("{}/{rel}", self.name)
    }

    /// `zfs create <pool>/<rel>` (mounted at `mountpoint()/<rel>`); returns
    /// the full dataset name. Panics on failure.
    pub fn create_dataset(&self, rel: &str) -> String {
        let ds = self.dataset(rel);
        self.zfs(["create", ds.as_str()]);
        ds
    }

    /// `zfs snapshot <pool>/<rel>@<snap>`; returns the snapshot's full name.
    /// Panics on failure.
    pub fn snapshot(&self, rel: &str, snap: &str) -> String {
        let full = format!("{}@{snap}", self.dataset(rel));
        self.zfs(["snapshot", full.as_str()]);
        full
    }

    /// Runs `zfs args...` and returns its stdout; panics with the command
    /// and its stderr on failure. One fixture command at a time on the
    /// machine (the pools' file lock): zfs-fuse was seen to deadlock, a
    /// `zfs create` stuck in `fuse_get_req` for good, when tests running in
    /// parallel created datasets at the same moment.
    pub fn zfs<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let _one_at_a_time = FileLock::exclusive();
        match try_run(tool_cmd("zfs", args)) {
            Ok(out) => out,
            Err(e) => panic!("zfs fixture {}: {e}", self.name),
        }
    }
}

impl Drop for ZfsPool {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let mut daemon = daemon_state();
        let lock = FileLock::exclusive();
        if let Err(e) = &lock {
            say(&format!(
                "support: zfs fixture {}: {e}; destroying without it",
                self.name
            ));
        }
        match destroy_pool(&self.name) {
            Ok(()) => {
                if let Err(e) = dir.close() {
                    say(&format!(
                        "support: zfs fixture {}: cannot remove its directory: {e}",
                        self.name
                    ));
                }
            }
            Err(e) => {
                say(&format!("support: zfs fixture {}: {e}", self.name));
                keep_dir(dir, "its pool could not be destroyed");
            }
        }
        if lock.is_ok() {
            daemon.release();
        }
    }
}

/// `zpool destroy -f`, retried: zfs-fuse reports "pool is busy" for a
/// moment after files were closed (FUSE releases them asynchronously).
fn destroy_pool(name: &str) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..40u64 {
        if !pool_exists(name) {
            return Ok(());
        }
        match try_run(tool_cmd("zpool", ["destroy", "-f", name])) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100 + 25 * attempt));
    }
    if pool_exists(name) {
        Err(last)
    } else {
        Ok(())
    }
}

fn pool_exists(name: &str) -> bool {
    try_run(tool_cmd("zpool", ["list", "-H", "-o", "name", name])).is_ok()
}

/// Names of all imported pools, or an error when no daemon answers.
fn pools() -> Result<Vec<String>, String> {
    let out = try_run(tool_cmd("zpool", ["list", "-H", "-o", "name"]))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Destroys `cutover_zfs_<pid>_…` pools whose process no longer exists.
fn reap_stale_pools() {
    let Ok(names) = pools() else { return };
    for name in names {
        let Some(pid) = name
            .strip_prefix(POOL_PREFIX)
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        say(&format!(
            "support: destroying pool {name} left behind by test process {pid}, which is gone"
        ));
        match destroy_pool(&name) {
            Ok(()) => remove_stale_dirs(&name),
            Err(e) => say(&format!("support: {e}")),
        }
    }
}

/// Removes the temporary directory (image, mount point) of a destroyed
/// stale pool, unless something is still mounted there.
fn remove_stale_dirs(pool: &str) {
    let tmp = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return;
    };
    let prefix = format!("{pool}.");
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix));
        if ours && path.is_dir() && !is_mounted(&path.join("mnt")) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// This process's share of the daemon.
struct Daemon {
    /// Pools this process holds.
    refs: usize,
    /// The daemon, when this process started it.
    child: Option<Child>,
}

static DAEMON: Mutex<Daemon> = Mutex::new(Daemon {
    refs: 0,
    child: None,
});

fn daemon_state() -> MutexGuard<'static, Daemon> {
    // A panic elsewhere while holding the lock leaves the counts valid.
    DAEMON
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_dir() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    if run_lock.is_dir() {
        run_lock.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn owner_file() -> PathBuf {
    lock_dir().join("cutover-zfs-fuse.owner")
}

fn daemon_log() -> PathBuf {
    lock_dir().join("cutover-zfs-fuse.log")
}

impl Daemon {
    /// Makes sure a zfs-fuse daemon answers, starting one if none runs.
    /// Call with the file lock held.
    fn ensure_running(&mut self) -> Result<(), String> {
        self.forget_exited_child();
        // A zfs-fuse that runs but does not answer is starting up or shutting
        // down (which can take many seconds): wait for it to answer or to be
        // gone, never start a second daemon beside it.
        let mut busy_pid = None;
        let settled = wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
            if pools().is_ok() {
                return true;
            }
            busy_pid = running_zfs_fuse();
            busy_pid.is_none()
        });
        if pools().is_ok() {
            return Ok(());
        }
        if !settled {
            let pid = busy_pid.map(|p| p.to_string()).unwrap_or_default();
            return Err(format!(
                "a zfs-fuse daemon (pid {pid}) runs but `zpool list` has not reached it for 60 s; not starting a second one"
            ));
        }

        let log_path = daemon_log();
        let log = File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let mut command = cmd("zfs-fuse");
        command
            .arg("--no-daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: ^C on one test run must not kill the
            // daemon under pools of other processes.
            .process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", super::describe(&command)))?;
        let pid = child.id();
        let mut exited = None;
        let up = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return true;
            }
            pools().is_ok()
        });
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(status) = exited {
            return Err(format!(
                "zfs-fuse exited at start ({status}): {}",
                log_text().trim()
            ));
        }
        if !up {
            stop_pid(pid, Some(&mut child));
            return Err(format!(
                "zfs-fuse (pid {pid}) did not answer within 30 s: {}",
                log_text().trim()
            ));
        }
        let marker = format!("{pid} {}\n", start_time(pid).unwrap_or_default());
        if let Err(e) = std::fs::write(owner_file(), marker) {
            say(&format!(
                "support: cannot record the zfs-fuse owner in {}: {e}",
                owner_file().display()
            ));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Drops one pool reference; stops the daemon when this was the last
    /// pool on the machine and the fixtures started the daemon. Call with
    /// the file lock held.
    fn release(&mut self) {
        self.refs = self.refs.saturating_sub(1);
        self.forget_exited_child();
        if self.refs > 0 {
            return;
        }
        match pools() {
            Ok(p) if p.is_empty() => {}
            _ => return, // pools remain (someone else's), or no daemon at all
        }
        let ours = self.child.as_ref().map(Child::id);
        let Some(pid) = ours.or_else(fixture_started_daemon) else {
            return; // not ours to stop
        };
        let child = self.child.as_mut().filter(|c| c.id() == pid);
        stop_pid(pid, child);
        self.child = None;
        let _ = std::fs::remove_file(owner_file());
        let _ = std::fs::remove_file(daemon_log());
    }

    fn forget_exited_child(&mut self) {
        if let Some(child) = &mut self.child {
            if !matches!(child.try_wait(), Ok(None)) {
                self.child = None;
            }
        }
    }
}

/// The pid of the running daemon if the owner file says the fixtures
/// started it (pid and start time both match a live zfs-fuse).
fn fixture_started_daemon() -> Option<u32> {
    let text = std::fs::read_to_string(owner_file()).ok()?;
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    let started: u64 = words.next()?.parse().ok()?;
    (is_live_zfs_fuse(pid) && start_time(pid) == Some(started)).then_some(pid)
}

/// SIGTERM, wait up to 15 s (zfs-fuse takes a few seconds), then SIGKILL.
fn stop_pid(pid: u32, mut child: Option<&mut Child>) {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return;
    };
    let gone = |child: &mut Option<&mut Child>| match child {
        Some(c) => !matches!(c.try_wait(), Ok(None)),
        None => !is_live_zfs_fuse(pid),
    };
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        // SAFETY: kill has no memory-safety preconditions; pid is a zfs-fuse
        // daemon the fixtures started (checked by the callers).
        unsafe { libc::kill(raw, signal) };
        if wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
            gone(&mut child)
        }) {
            return;
        }
    }
    say(&format!(
        "support: zfs-fuse (pid {pid}) did not exit after SIGKILL"
    ));
}

/// A zfs-fuse process that is not a zombie, if any runs.
fn running_zfs_fuse() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| is_live_zfs_fuse(pid))
}

fn is_live_zfs_fuse(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim() == "zfs-fuse"
        && !matches!(
            stat_fields(pid).and_then(|f| f.first().cloned()).as_deref(),
            Some("Z") | None
        )
}

/// Start time of `pid` in clock ticks since boot (field 22 of /proc/pid/stat).
fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Fields of /proc/pid/stat after the command name (state is the first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// An exclusive `flock` on a file shared by all test processes.
struct FileLock(File);

impl FileLock {
    fn exclusive() -> Result<Self, String> {
        let path = lock_dir().join("cutover-zfs-fuse.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
        loop {
            // SAFETY: the fd is valid for the life of `file`.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Self(file));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("cannot lock {}: {err}", path.display()));
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: the fd is valid; closing it would release the lock anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
