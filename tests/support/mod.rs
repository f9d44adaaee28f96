//! Real-system test fixtures: a loop-mounted BTRFS, a file-backed zfs-fuse
//! pool, an sshd on 127.0.0.1, and the skip/require helper that decides
//! whether a test may run here.
//!
//! Use from any integration test with `mod support;`:
//!
//! ```ignore
//! mod support;
//! use support::{require, BtrfsFs};
//!
//! #[test]
//! fn something_on_btrfs() {
//!     if !require("something_on_btrfs", BtrfsFs::prerequisites()) {
//!         return;
//!     }
//!     let fs = BtrfsFs::new(256);
//!     let sub = fs.create_subvolume("data");
//!     // ...
//! } // unmounted and removed here, even if the test panicked
//! ```
//!
//! Every fixture gets a unique name (pid + counter + time) so tests can run
//! in parallel threads and processes, and tears down what it made in `Drop`.
//! Constructors come in two forms: `new`/`start` panic with a message that
//! says what failed (the usual choice in a test), `try_new`/`try_start`
//! return `Err(String)`. Drop never panics; it reports problems on stderr.

// Each integration test compiles this module on its own and uses only part
// of it; what one test leaves unused is not dead code.
#![allow(dead_code, unused_imports)]

pub mod btrfs;
pub mod cli;
pub mod skip;
pub mod sshd;
pub mod strace;
pub mod tmpfs;
pub mod tmux;
pub mod zfs;

pub use btrfs::BtrfsFs;
pub use skip::{have_tool, is_root, require};
pub use sshd::Sshd;
pub use zfs::ZfsPool;

use std::borrow::BorrowMut;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A name no other fixture in this or any concurrent process will get:
/// `<prefix>_<pid>_<counter>_<milliseconds since the epoch>`.
///
/// Only ASCII letters, digits and `_` (valid as a zpool name, a path
/// component and a shell word), provided `prefix` is too.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{ms}", std::process::id())
}

/// A `Command` for `tool`, resolved to its full path when it can be found
/// (see [`skip::find_tool`]), so that `/usr/sbin` tools work even when
/// `PATH` lacks it.
pub fn cmd(tool: &str) -> Command {
    match skip::find_tool(tool) {
        Some(path) => Command::new(path),
        None => Command::new(tool),
    }
}

/// The command line of `cmd`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut words = vec![sh_quote(&cmd.get_program().to_string_lossy())];
    words.extend(cmd.get_args().map(|a| sh_quote(&a.to_string_lossy())));
    words.join(" ")
}

/// Runs `cmd` (a `Command` or `&mut Command`; stdin closed, output
/// captured) and returns its stdout when it
/// exits with status 0; otherwise an error naming the command, its status
/// and its stderr.
pub fn try_run(mut cmd: impl BorrowMut<Command>) -> Result<String, String> {
    let cmd = cmd.borrow_mut();
    let out = try_output(&mut *cmd)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            if out.stdout.is_empty() {
                String::new()
            } else {
                format!(" [stdout: {}]", String::from_utf8_lossy(&out.stdout).trim())
            }
        ))
    }
}

/// Like [`try_run`] but panics with the error. For test bodies:
/// `run(cmd("btrfs").args(["subvolume", "list"]).arg(&dir))` or
/// `run(tool_cmd("zpool", ["list", "-H"]))`.
pub fn run(cmd: impl BorrowMut<Command>) -> String {
    match try_run(cmd) {
        Ok(stdout) => stdout,
        Err(e) => panic!("{e}"),
    }
}

/// Runs `cmd` (stdin closed, output captured) whatever its exit status;
/// errs only when it cannot be started.
pub fn try_output(mut cmd: impl BorrowMut<Command>) -> Result<Output, String> {
    let cmd = cmd.borrow_mut();
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(cmd)))
}

/// `tool args...` as a [`Command`] (resolved like [`cmd`]), for the common
/// case of string arguments: `run(tool_cmd("zfs", ["list", "-H"]))`.
pub fn tool_cmd<I, S>(tool: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = cmd(tool);
    c.args(args);
    c
}

/// Quotes `s` as one word for a POSIX shell (such as the remote side of
/// `ssh host CMD`). Leaves plain words alone.
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b':' | b'=' | b'@' | b',' | b'+'
                )
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether `path` is a mount point now (per `/proc/self/mountinfo`).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mp| Path::new(&unescape_mount_path(mp)) == want)
}

/// Mount paths in `/proc/self/mountinfo` escape space, tab, newline and
/// backslash as `\ooo` (octal).
fn unescape_mount_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push(
                    d.iter()
                        .fold(0u8, |v, b| v.wrapping_mul(8).wrapping_add(b - b'0')),
                );
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `ready` every `every` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, every: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Writes one line to the process's stderr, bypassing the test harness's
/// output capture (which swallows `eprintln!` in passing tests): for skips
/// and for teardown problems, which must be seen.
pub fn say(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Makes a temporary directory named after `name` under the system temp dir.
pub(crate) fn temp_dir(name: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(&format!("{name}."))
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory for {name}: {e}"))
}

/// Leaves `dir` on disk (used when something may still be mounted inside it,
/// so that removing it could reach into a live filesystem).
pub(crate) fn keep_dir(dir: tempfile::TempDir, why: &str) -> PathBuf {
    let path = dir.path().to_path_buf();
    say(&format!(
        "support: leaving {} in place: {why}",
        path.display()
    ));
    std::mem::forget(dir);
    path
}
