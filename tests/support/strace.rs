//! Watching the built binary's system calls with strace: did it flush the
//! target (syncfs / fsync / fdatasync) before it printed an item verified?

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::skip::Prereq;

/// strace is installed and may trace here (ptrace can be forbidden in a container).
pub fn usable() -> Prereq {
    super::skip::tools(&["strace"])?;
    let out = super::cmd("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("strace cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "strace cannot trace here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Run `cutover ARGS` under `strace -f -y -e trace=syncfs,fsync,fdatasync,write -s 256 -o LOG`.
pub fn traced<S: AsRef<OsStr>>(bin: &str, args: &[S], log: &Path) -> Output {
    let mut cmd: Command = super::cmd("strace");
    cmd.args([
        "-f",
        "-y",
        "-e",
        "trace=syncfs,fsync,fdatasync,write",
        "-s",
        "256",
        "-o",
    ])
    .arg(log)
    .arg(bin)
    .args(args)
    .stdin(Stdio::null());
    cmd.output().expect("run strace")
}

/// The line number in the strace log where the first flush (`syncfs`,
/// `fsync`, `fdatasync`) that `wanted` accepts (given the call's text, such
/// as `syncfs(3</tmp/x/cas>`) returned 0. Split calls (`<unfinished ...>`
/// / `resumed`) count where they finish.
pub fn first_flush(log: &str, wanted: impl Fn(&str) -> bool) -> Option<usize> {
    let flushes = ["syncfs(", "fsync(", "fdatasync("];
    let mut pending: HashSet<String> = HashSet::new();
    for (n, line) in log.lines().enumerate() {
        let (pid, call) = line.split_once(' ').unwrap_or(("", line));
        let call = call.trim_start();
        if flushes.iter().any(|f| call.starts_with(f)) && wanted(call) {
            if call.contains("<unfinished ...>") {
                pending.insert(pid.to_string());
            } else if call.trim_end().ends_with("= 0") {
                return Some(n);
            }
        }
        let resumed = [
            "<... syncfs resumed>",
            "<... fsync resumed>",
            "<... fdatasync resumed>",
        ]
        .iter()
        .any(|r| call.starts_with(r));
        if resumed && pending.remove(pid) && call.trim_end().ends_with("= 0") {
            return Some(n);
        }
    }
    None
}

/// The line number of the first write to stdout of an `item_verified` event.
pub fn first_verified(log: &str) -> Option<usize> {
    log.lines().position(|line| {
        let call = line.split_once(' ').map_or(line, |(_, c)| c).trim_start();
        call.starts_with("write(1<") && call.contains(r#"\"event\":\"item_verified\""#)
    })
}
