//! Deciding whether a real-system test can run here.
//!
//! A prerequisite is probed into a [`Prereq`]: `Ok(())`, or `Err(why)` in
//! words an operator understands ("not root", "`zpool` not found in PATH").
//! Probes combine with [`all`]. [`require`] turns the result into "run" or
//! "skip":
//!
//! ```ignore
//! if !require("btrfs_snapshot", all([root(), tools(&["btrfs", "rsync"])])) {
//!     return;
//! }
//! ```
//!
//! When a prerequisite is missing the test prints `skipped: <what>: <why>`
//! on stderr and returns early, unless `CUTOVER_REQUIRE_REAL_FS=1` is set
//! (as `.ci/run` does), in which case it panics: in CI a skipped test is a
//! failed test.

use std::path::{Path, PathBuf};

/// The environment variable that turns skips into failures.
pub const STRICT_ENV: &str = "CUTOVER_REQUIRE_REAL_FS";

/// `Ok(())` when a prerequisite holds, `Err(why)` when it does not.
pub type Prereq = Result<(), String>;

/// Whether `CUTOVER_REQUIRE_REAL_FS` asks for real systems (`1`, `true`,
/// `yes`; anything else, or unset, means no).
pub fn strict() -> bool {
    std::env::var(STRICT_ENV)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// Returns true when `ok` holds and the test should go on.
///
/// Otherwise prints `skipped: <what>: <why>` to stderr (uncaptured, so it
/// shows in `cargo test` output) and returns false
/// (the caller returns early), or, in strict mode, panics with the reason.
/// `what` names the test or the capability it needs.
pub fn require(what: &str, ok: Prereq) -> bool {
    match ok {
        Ok(()) => true,
        Err(why) if strict() => {
            panic!("{what} cannot run here: {why} ({STRICT_ENV}=1 forbids skipping; run scripts/test as root to install what is missing)")
        }
        Err(why) => {
            // Straight to the process's stderr, not `eprintln!`: the test
            // harness captures `eprintln!` of passing tests, and a skip must
            // show in plain `cargo test` output.
            super::say(&format!("skipped: {what}: {why}"));
            false
        }
    }
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `name` can be found as an executable (see [`find_tool`]).
pub fn have_tool(name: &str) -> bool {
    find_tool(name).is_some()
}

/// The full path of the executable `name`: looked up in `PATH`, then in the
/// sbin directories (root tools such as `mkfs.btrfs`, `zpool`, `sshd` live
/// there and a test runner's `PATH` may lack them). A name containing `/` is
/// taken as a path.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Prerequisite: running as root.
pub fn root() -> Prereq {
    if is_root() {
        Ok(())
    } else {
        Err("not running as root".into())
    }
}

/// Prerequisite: the executable `name` is installed.
pub fn tool(name: &str) -> Prereq {
    if have_tool(name) {
        Ok(())
    } else {
        Err(format!("`{name}` not found in PATH or sbin"))
    }
}

/// Prerequisite: all of these executables are installed (names every
/// missing one).
pub fn tools(names: &[&str]) -> Prereq {
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !have_tool(n))
        .map(|n| format!("`{n}`"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{} not found in PATH or sbin", missing.join(", ")))
    }
}

/// Prerequisite: `path` exists (a device node such as `/dev/fuse`).
pub fn path_exists(path: &str) -> Prereq {
    if Path::new(path).exists() {
        Ok(())
    } else {
        Err(format!("{path} does not exist"))
    }
}

/// All of `checks` hold; otherwise every reason, joined with `; `.
pub fn all<I: IntoIterator<Item = Prereq>>(checks: I) -> Prereq {
    let why: Vec<String> = checks.into_iter().filter_map(Result::err).collect();
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}
