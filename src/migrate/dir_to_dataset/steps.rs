//! The commands an item runs on its node, each an argument list through the
//! node's runner (local or SSH): move aside, create the dataset, copy back
//! with rsync, flush, remove the verified aside copy, put everything back;
//! and the processes that hold files open under a directory.

use super::place::{Place, CREATED};
use crate::nodes::runner::NodeRunner;
use crate::nodes::zfs::NodeZfs;

/// The rsync options of the copy back: archive, hard links, ACLs,
/// extended attributes, sparse files, numeric owners.
pub const RSYNC: [&str; 2] = ["-aHAXS", "--numeric-ids"];

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Run `argv` on the node; a non-zero exit is an error naming the node,
/// the command and its stderr.
pub fn run_ok(runner: &NodeRunner, argv: &[String]) -> Result<String, String> {
    let ran = runner.run(argv)?;
    if ran.code == 0 {
        return Ok(ran.stdout);
    }
    let line: Vec<String> = argv
        .iter()
        .map(|w| crate::nodes::runner::quote(w))
        .collect();
    Err(format!(
        "node {}: `{}` failed (exit {}): {}",
        runner.node().name,
        line.join(" "),
        ran.code,
        complaint(&ran.stderr)
    ))
}

/// A command's complaint on one line: its first lines (the cause, as
/// rsync prints it first) and its last (how it ended).
fn complaint(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() <= 4 {
        return lines.join(" | ");
    }
    format!(
        "{} | {} | … | {}",
        lines[0],
        lines[1],
        lines[lines.len() - 1]
    )
}

/// Whether `program` runs on the node (`--version` exits 0).
pub fn has(runner: &NodeRunner, program: &str) -> Result<bool, String> {
    match runner.run(&words(&[program, "--version"])) {
        Ok(ran) => Ok(ran.code == 0),
        // Locally, a program that cannot be started is not installed.
        Err(_) if runner.node().ssh.is_none() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Move the service's directory aside (a rename on one filesystem).
pub fn aside(runner: &NodeRunner, place: &Place) -> Result<(), String> {
    run_ok(runner, &words(&["mv", "-T", &place.dir, &place.aside])).map(|_| ())
}

/// Create the dataset marked as this job's, mounted at the directory
/// (`mountpoint` set only when it would not inherit that place), and check
/// it is mounted there.
pub fn create(
    runner: &NodeRunner,
    place: &Place,
    token: &str,
    explicit_mountpoint: bool,
) -> Result<(), String> {
    let zfs = NodeZfs::new(runner);
    // A mountpoint directory left by an earlier attempt (empty) is removed
    // so the dataset mounts on a fresh one.
    let _ = runner.run(&words(&["rmdir", &place.dir]));
    let mut props = vec![(CREATED, token)];
    if explicit_mountpoint {
        props.push(("mountpoint", place.dir.as_str()));
    }
    zfs.create(&place.dataset, &props)?;
    if zfs.property(&place.dataset, "mounted")?.as_deref() != Some("yes") {
        run_ok(runner, &words(&["zfs", "mount", &place.dataset]))?;
    }
    Ok(())
}

/// Copy the aside directory back into the mounted dataset; `progress` is
/// told the bytes copied so far as rsync reports them (`--info=progress2`).
pub fn copy(
    runner: &NodeRunner,
    place: &Place,
    mut progress: impl FnMut(u64),
) -> Result<(), String> {
    use std::io::BufRead;
    let mut argv = vec!["rsync".to_string()];
    argv.extend(RSYNC.iter().map(|s| s.to_string()));
    argv.extend([
        "--info=progress2".to_string(),
        "--no-inc-recursive".to_string(),
    ]);
    argv.push(format!("{}/", place.aside));
    argv.push(format!("{}/", place.dir));
    let node = &runner.node().name;
    let reader = runner
        .expression(&argv)?
        .stdin_null()
        .stderr_capture()
        .unchecked()
        .reader()
        .map_err(|e| format!("node {node}: cannot start rsync: {e}"))?;
    let mut lines = std::io::BufReader::new(&reader);
    let mut chunk = Vec::new();
    // progress2 rewrites one line with '\r'.
    while lines
        .read_until(b'\r', &mut chunk)
        .map_err(|e| format!("node {node}: reading rsync's progress: {e}"))?
        > 0
    {
        if let Some(bytes) = progress_bytes(&String::from_utf8_lossy(&chunk)) {
            progress(bytes);
        }
        chunk.clear();
    }
    let out = reader
        .try_wait()
        .map_err(|e| format!("node {node}: rsync: {e}"))?
        .ok_or_else(|| format!("node {node}: rsync did not end"))?;
    let code = out.status.code().unwrap_or(-1);
    if code == 0 {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let (255, Some(ssh)) = (code, &runner.node().ssh) {
        return Err(crate::nodes::runner::ssh_failure(node, ssh, &stderr));
    }
    let line: Vec<String> = argv
        .iter()
        .map(|w| crate::nodes::runner::quote(w))
        .collect();
    Err(format!(
        "node {node}: `{}` failed (exit {code}): {}",
        line.join(" "),
        complaint(&stderr)
    ))
}

/// The bytes copied so far in one `--info=progress2` line
/// (`  1,234,567  12%  1.2MB/s  0:00:01 (xfr#3, to-chk=0/9)`).
fn progress_bytes(line: &str) -> Option<u64> {
    line.split_whitespace()
        .next()?
        .replace(',', "")
        .parse()
        .ok()
}

/// The snapshot [`flush`] takes and destroys at once.
pub fn flush_snapshot(token: &str) -> String {
    format!("cutover-flush-{token}")
}

/// Make the copy durable: `sync -f DIR` and `sync` push the kernel's dirty
/// pages to the filesystem (on zfs-fuse, to its daemon); a snapshot, taken
/// and destroyed at once, then waits for the transaction group holding
/// every earlier write to reach the disks (ZFS takes snapshots in syncing
/// context) — zfs-fuse has no `zpool sync`.
pub fn flush(runner: &NodeRunner, place: &Place, token: &str) -> Result<(), String> {
    run_ok(runner, &words(&["sync", "-f", &place.dir]))?;
    run_ok(runner, &words(&["sync"]))?;
    let zfs = NodeZfs::new(runner);
    let snap = flush_snapshot(token);
    let full = format!("{}@{snap}", place.dataset);
    if zfs.exists(&full)? {
        zfs.destroy(&full, false)?;
    }
    zfs.snapshot(&place.dataset, &snap, &[])?;
    zfs.destroy(&full, false)
}

/// Remove the verified aside copy: renamed first (so a crash mid-removal
/// is never mistaken for an unverified copy), then removed, then flushed.
pub fn remove_aside(runner: &NodeRunner, place: &Place, appdata: &str) -> Result<(), String> {
    if runner.run(&words(&["test", "-e", &place.aside]))?.code == 0 {
        run_ok(runner, &words(&["mv", "-T", &place.aside, &place.removing]))?;
    }
    run_ok(
        runner,
        &words(&["rm", "-rf", "--one-file-system", "--", &place.removing]),
    )?;
    run_ok(runner, &words(&["sync", "-f", appdata])).map(|_| ())
}

/// Destroy this job's dataset (only one whose `cutover:created` is `token`).
pub fn destroy_ours(runner: &NodeRunner, place: &Place, token: &str) -> Result<bool, String> {
    let zfs = NodeZfs::new(runner);
    if !zfs.exists(&place.dataset)? {
        return Ok(false);
    }
    let created = zfs.property(&place.dataset, CREATED)?;
    if created.as_deref() != Some(token) {
        return Err(format!(
            "dataset {} was not made by this job ({CREATED} is {}); it is left alone",
            place.dataset,
            created.as_deref().unwrap_or("unset")
        ));
    }
    // A flush snapshot a kill left behind would keep the dataset.
    let flushed = format!("{}@{}", place.dataset, flush_snapshot(token));
    if zfs.exists(&flushed)? {
        zfs.destroy(&flushed, false)?;
    }
    zfs.destroy(&place.dataset, false)?;
    Ok(true)
}

/// Put the service back as it was: this job's dataset destroyed, the aside
/// directory moved back to its name. What was done, in words.
pub fn restore(runner: &NodeRunner, place: &Place, token: &str) -> Result<String, String> {
    let destroyed = destroy_ours(runner, place, token)?;
    if runner.run(&words(&["test", "-e", &place.aside]))?.code != 0 {
        return Err(format!(
            "{} is not there to move back (dataset {} {})",
            place.aside,
            place.dataset,
            if destroyed { "destroyed" } else { "absent" }
        ));
    }
    // The mountpoint directory zfs leaves behind, when empty.
    let _ = runner.run(&words(&["rmdir", &place.dir]));
    run_ok(runner, &words(&["mv", "-T", &place.aside, &place.dir]))?;
    Ok(format!(
        "{}{} moved back to {}",
        if destroyed {
            format!("dataset {} destroyed, ", place.dataset)
        } else {
            String::new()
        },
        place.aside,
        place.dir
    ))
}

/// A process holding something open under a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid.
    pub pid: u32,
    /// Its command name.
    pub comm: String,
}

/// The processes with a file (or their working directory) under any of
/// `dirs` on the node: `find` over `/proc/*/fd` and `/proc/*/cwd` with
/// `-lname` patterns of the directories as given and canonical, then each
/// holder's command name.
pub fn holders(runner: &NodeRunner, dirs: &[&str]) -> Result<Vec<Holder>, String> {
    let mut argv = words(&["readlink", "-m", "--"]);
    argv.extend(dirs.iter().map(|d| d.to_string()));
    let canonical = run_ok(runner, &argv)?;
    let mut all: Vec<String> = dirs.iter().map(|d| d.to_string()).collect();
    for c in canonical.lines() {
        if !all.iter().any(|d| d == c) {
            all.push(c.to_string());
        }
    }
    // The patterns are positional arguments of a fixed script.
    let script = r#"find /proc/[0-9]*/fd /proc/[0-9]*/cwd -maxdepth 1 -type l \( "$@" \) -print 2>/dev/null
exit 0"#;
    let mut argv = words(&["sh", "-c", script, "sh"]);
    for (i, d) in all.iter().enumerate() {
        if i > 0 {
            argv.push("-o".into());
        }
        let pattern = glob_escape(d.trim_end_matches('/'));
        argv.extend(["-lname".into(), pattern.clone(), "-o".into()]);
        argv.extend(["-lname".into(), format!("{pattern}/*")]);
    }
    let found = runner.run(&argv)?.stdout;
    let mut pids: Vec<u32> = found
        .lines()
        .filter_map(|l| l.strip_prefix("/proc/")?.split('/').next()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    if pids.is_empty() {
        return Ok(Vec::new());
    }
    let names = r#"for p; do printf '%s %s\n' "$p" "$(cat /proc/"$p"/comm 2>/dev/null)"; done"#;
    let mut argv = words(&["sh", "-c", names, "sh"]);
    argv.extend(pids.iter().map(u32::to_string));
    Ok(parse_holders(&runner.run(&argv)?.stdout))
}

/// `text` as a `find -lname` pattern matching itself only.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `PID COMM` lines.
pub fn parse_holders(text: &str) -> Vec<Holder> {
    text.lines()
        .filter_map(|l| {
            let (pid, comm) = l.trim().split_once(' ').unwrap_or((l.trim(), ""));
            Some(Holder {
                pid: pid.parse().ok()?,
                comm: comm.to_string(),
            })
        })
        .collect()
}

/// `pid 123 (sleep), pid 456 (nginx)`.
pub fn show_holders(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(|h| format!("pid {} ({})", h.pid, h.comm))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_read_and_shown() {
        let h = parse_holders("12 sleep\n345 my prog\nnoise\n");
        assert_eq!(h.len(), 2);
        assert_eq!(show_holders(&h), "pid 12 (sleep), pid 345 (my prog)");
        assert_eq!(complaint("a\n\nb\nc\nd\n"), "a | b | c | d");
        assert_eq!(complaint("a\nb\nc\nd\ne\n"), "a | b | … | e");
        assert_eq!(
            progress_bytes("\n     1,234,567  12%    1.18MB/s    0:00:01 (xfr#3, to-chk=0/9)"),
            Some(1_234_567)
        );
        assert_eq!(progress_bytes("sending incremental file list"), None);
        assert_eq!(glob_escape("/srv/a[1]*?\\b"), "/srv/a\\[1\\]\\*\\?\\\\b");
    }
}
