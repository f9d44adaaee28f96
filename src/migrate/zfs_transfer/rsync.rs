//! One service by rsync (a node without ZFS, or a service that is a plain
//! directory): rsync runs on the local node, the other node is reached
//! through its SSH settings and shared connection (`-e`), names are passed
//! with `--protect-args` (never through the remote shell). `--bwlimit` is
//! given to rsync at the start: a change while it runs applies from the
//! next service on (only the ZFS stream follows it at once).

use super::route::{Planned, Route};
use super::send::TransferRow;
use super::ZfsTransfer;
use crate::job::event::{ItemReport, Row};
use crate::job::{ItemCtx, ItemError};
use crate::nodes::runner::NodeRunner;

/// `PATH/` on a local node, `user@host:PATH/` on an SSH node.
fn spec(runner: &NodeRunner, path: &std::path::Path) -> String {
    let p = format!("{}/", path.display().to_string().trim_end_matches('/'));
    match &runner.node().ssh {
        Some(ssh) => format!("{}:{p}", ssh.destination),
        None => p,
    }
}

/// "Total bytes sent: 1,234" and "Total bytes received: 56" of `--stats`, summed.
pub fn wire_bytes(stats: &str) -> u64 {
    stats
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("Total bytes sent:")
                .or_else(|| l.strip_prefix("Total bytes received:"))?;
            rest.trim().replace(',', "").parse::<u64>().ok()
        })
        .sum()
}

/// The rsync command line for one service.
pub fn argv(
    job: &ZfsTransfer,
    from: &NodeRunner,
    to: &NodeRunner,
    p: &Planned,
) -> Result<Vec<String>, String> {
    let Route::Rsync { src, dst } = &p.route else {
        return Err("not an rsync route".into());
    };
    let mut argv: Vec<String> = [
        "rsync",
        "-aHAX",
        "--numeric-ids",
        "--delete",
        "--protect-args",
        "--stats",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let limit = job.limit.get();
    if limit > 0 {
        argv.push(format!("--bwlimit={}", (limit / 1024).max(1)));
    }
    if let Some(rsh) = from.rsh()?.or(to.rsh()?) {
        argv.push("-e".into());
        argv.push(rsh);
    }
    argv.push(spec(from, src));
    argv.push(spec(to, dst));
    Ok(argv)
}

/// What an rsync target directory holds before a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetDir {
    /// Nothing there yet.
    Absent,
    /// An empty directory.
    Empty,
    /// A directory an earlier cutover transfer filled (its mark is beside it).
    Ours,
    /// A directory holding files cutover did not put there.
    Foreign,
    /// Something that is not a directory.
    NotADirectory,
}

/// The mark beside an rsync target `APPDATA/S`: `APPDATA/.S.cutover-rsync`
/// (hashed when the name would pass the 255-byte limit), holding the token
/// of the job that first wrote it. Beside, not inside: `--delete` and the
/// tree comparison never see it.
pub fn mark_path(dst: &std::path::Path) -> std::path::PathBuf {
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut mark = format!(".{name}.cutover-rsync");
    if mark.len() > 255 {
        mark = format!(
            ".{}.cutover-rsync",
            &blake3::hash(name.as_bytes()).to_hex()[..32]
        );
    }
    dst.with_file_name(mark)
}

/// For each pair of arguments (a target, its mark): one word per line.
const INSPECT_DIRS: &str = r#"while [ "$#" -ge 2 ]; do
  d=$1 m=$2
  shift 2
  if [ ! -e "$d" ] && [ ! -L "$d" ]; then echo absent
  elif [ -L "$d" ] || [ ! -d "$d" ]; then echo not-a-directory
  elif [ -z "$(ls -A -- "$d")" ]; then echo empty
  elif [ -e "$m" ]; then echo ours
  else echo foreign
  fi
done"#;

/// What each of `dsts` on the runner's node holds, in their order: one
/// command for all (over SSH a round trip costs more than the look).
pub fn inspect_targets(
    runner: &NodeRunner,
    dsts: &[&std::path::Path],
) -> Result<Vec<TargetDir>, String> {
    let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), INSPECT_DIRS.into(), "sh".into()];
    for dst in dsts {
        argv.push(dst.display().to_string());
        argv.push(mark_path(dst).display().to_string());
    }
    let ran = runner.run(&argv)?;
    let words: Vec<&str> = ran.stdout.lines().map(str::trim).collect();
    if ran.code != 0 || words.len() != dsts.len() {
        return Err(format!(
            "node {}: cannot look at the rsync targets ({}): {}",
            runner.node().name,
            dsts.iter()
                .map(|d| crate::names::display(d))
                .collect::<Vec<_>>()
                .join(", "),
            ran.complaint()
        ));
    }
    words
        .iter()
        .zip(dsts)
        .map(|(w, dst)| match *w {
            "absent" => Ok(TargetDir::Absent),
            "empty" => Ok(TargetDir::Empty),
            "ours" => Ok(TargetDir::Ours),
            "foreign" => Ok(TargetDir::Foreign),
            "not-a-directory" => Ok(TargetDir::NotADirectory),
            other => Err(format!(
                "node {}: cannot look at {}: {}",
                runner.node().name,
                crate::names::display(dst),
                crate::nodes::runner::one_line(other)
            )),
        })
        .collect()
}

/// Mark `dst` as this job's before rsync writes it (so a transfer killed
/// midway is still recognised as cutover's). Only the mark beside it is
/// written: the directory itself is left to rsync, so a source that cannot
/// be reached leaves no empty directory on the target.
fn mark(runner: &NodeRunner, dst: &std::path::Path, token: &str) -> Result<(), String> {
    let argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        r#"[ -e "$2" ] || printf '%s\n' "$3" > "$2""#.into(),
        "sh".into(),
        dst.display().to_string(),
        mark_path(dst).display().to_string(),
        token.into(),
    ];
    let ran = runner.run(&argv)?;
    if ran.code != 0 {
        return Err(format!(
            "node {}: cannot write {} (cutover's mark of {}): {}; check that the appdata directory exists and is writable",
            runner.node().name,
            mark_path(dst).display(),
            dst.display(),
            ran.complaint()
        ));
    }
    Ok(())
}

/// Copy one service with rsync; its report so far.
pub fn run(job: &ZfsTransfer, p: &Planned, ctx: &ItemCtx) -> Result<ItemReport, ItemError> {
    let rf = job.run_from();
    let rt = job.run_to();
    let argv = argv(job, &rf, &rt, p).map_err(ItemError)?;
    if let Route::Rsync { dst, .. } = &p.route {
        mark(&rt, dst, &job.params.token).map_err(ItemError)?;
    }
    let local = crate::nodes::Node {
        name: crate::nodes::LOCAL.into(),
        ssh: None,
        appdata: None,
        dataset: None,
    };
    let here = NodeRunner::new(&local, &job.params.state_dir);
    let started = std::time::Instant::now();
    let ran = here.run(&argv).map_err(ItemError)?;
    if ran.code != 0 {
        let last = ran
            .stderr
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        return Err(ItemError(format!(
            "service {}: rsync from node {} to node {} failed (exit {}): {last}",
            p.service, job.from.name, job.to.name, ran.code
        )));
    }
    let bytes = wire_bytes(&ran.stdout);
    ctx.progress.add(0, bytes);
    let sync = rt.run(&["sync".into()]).map_err(ItemError)?;
    if sync.code != 0 {
        return Err(ItemError(format!(
            "node {}: sync failed: {}",
            job.to.name,
            sync.complaint()
        )));
    }
    let row = TransferRow {
        service: p.service.clone(),
        from: job.from.name.clone(),
        to: job.to.name.clone(),
        method: "rsync".into(),
        snapshot: None,
        base: None,
        bytes_sent: bytes,
        compressed: false,
        raw: false,
        bwlimit: job.limit.get(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(ItemReport {
        files_transferred: 1,
        bytes_transferred: bytes,
        rows: vec![Row::of("transfer", &row)],
        ..ItemReport::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_bytes_are_read_from_the_stats() {
        let stats = "Number of files: 3\nTotal bytes sent: 1,234,567\nTotal bytes received: 89\n";
        assert_eq!(wire_bytes(stats), 1_234_656);
        assert_eq!(wire_bytes(""), 0);
    }
}
