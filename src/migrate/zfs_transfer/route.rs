//! How each service travels: ZFS send/receive when both nodes have ZFS and
//! the service is a dataset on the source, else rsync of its directory;
//! what each side's ZFS can do (probed: resume tokens, compressed sends,
//! size estimates); the refusals found before anything is written.

use std::path::PathBuf;

use super::rsync::{inspect_targets, TargetDir};
use super::state::{inspect, DsState};
use super::{ZfsTransfer, CREATED, JOB};
use crate::error::{Error, Result};
use crate::nodes::runner::NodeRunner;
use crate::nodes::zfs::{newest_common, NodeZfs};
use crate::nodes::Node;

/// What one side's `zfs send` can do, read from its usage text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// `zfs send -t` / `zfs receive -s` (resume tokens).
    pub resume: bool,
    /// `zfs send -c` (compressed stream).
    pub compressed: bool,
    /// `zfs send -w` (raw stream: an encrypted dataset's blocks as stored,
    /// its key never leaving the source; OpenZFS with native encryption).
    pub raw: bool,
    /// `zfs send -nP` (size estimate).
    pub estimate: bool,
    /// `zfs receive -u` (not mounted; zfs-fuse lacks it).
    pub unmounted: bool,
}

/// The single-letter flags in the usage of `zfs VERB` (`[-DLPbcehnpsvw]`).
fn flags(usage: &str, verb: &str) -> String {
    usage
        .lines()
        .filter(|l| l.trim_start().starts_with(verb))
        .filter_map(|l| {
            let at = l.find("[-")?;
            let rest = &l[at + 2..];
            let end = rest.find(']')?;
            Some(rest[..end].to_string())
        })
        .filter(|f| f.chars().all(|c| c.is_ascii_alphabetic()))
        .collect()
}

/// What the usage texts of `zfs send` and `zfs receive` (printed when run
/// without arguments) say they can do.
pub fn caps_of(send: &str, receive: &str) -> Caps {
    let sf = flags(send, "send");
    let rf = flags(receive, "receive");
    Caps {
        resume: crate::sys::zfs::send_has_resume(send, "") && rf.contains('s'),
        compressed: sf.contains('c'),
        raw: sf.contains('w'),
        estimate: sf.contains('n') && sf.contains('P'),
        unmounted: rf.contains('u'),
    }
}

/// Probe one node's `zfs send` and `zfs receive`.
pub fn probe(runner: &NodeRunner) -> Result<Caps> {
    let mut usage = Vec::new();
    for verb in ["send", "receive"] {
        let ran = runner
            .run(&["zfs".to_string(), verb.to_string()])
            .map_err(Error::bad)?;
        if ran.code == 127 {
            return Err(Error::bad(format!(
                "node {}: zfs is not installed",
                runner.node().name
            )));
        }
        usage.push(format!("{}\n{}", ran.stdout, ran.stderr));
    }
    Ok(caps_of(&usage[0], &usage[1]))
}

/// How a service travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `zfs send SRC@snap | zfs receive DST`, mounted at `mount`.
    Zfs {
        /// The source dataset.
        src: String,
        /// The target dataset.
        dst: String,
        /// Where the target dataset is mounted (the target's `APPDATA/S`).
        mount: Option<PathBuf>,
    },
    /// rsync of the service's directory.
    Rsync {
        /// The source directory.
        src: PathBuf,
        /// The target directory.
        dst: PathBuf,
    },
}

/// One service's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The service (the item's key).
    pub service: String,
    /// How it travels.
    pub route: Route,
    /// Both sides: resume tokens, compressed sends; the source: estimates.
    pub caps: Caps,
    /// How its stream is sent.
    pub stream: Stream,
    /// The stream's size, when the source's ZFS can say (`zfs send -nP`).
    pub estimate: Option<u64>,
    /// Why it goes by rsync, when it does.
    pub why_rsync: Option<String>,
    /// The source dataset as planning read it.
    pub src_state: Option<DsState>,
    /// The target dataset as planning read it.
    pub dst_state: Option<DsState>,
    /// An rsync route's target directory as planning found it.
    pub rsync_target: Option<TargetDir>,
}

fn appdata<'a>(node: &'a Node, service: &str, why: &str) -> Result<&'a PathBuf> {
    node.appdata.as_ref().ok_or_else(|| {
        Error::bad(format!(
            "service {service}: {why}, so it goes by rsync, but node {} has no appdata in nodes.toml: add `appdata = \"DIR\"`",
            node.name
        ))
    })
}

fn rsync_route(job: &ZfsTransfer, service: &str, why: String) -> Result<(Route, Option<String>)> {
    let src = appdata(&job.from, service, &why)?.join(service);
    let dst = appdata(&job.to, service, &why)?.join(service);
    if job.from.ssh.is_some() && job.to.ssh.is_some() {
        return Err(Error::bad(format!(
            "service {service}: {why}, so it goes by rsync, which runs on one of its two nodes: run cutover on node {} or {}",
            job.from.name, job.to.name
        )));
    }
    Ok((Route::Rsync { src, dst }, Some(why)))
}

/// `zfs send -nP` output: the `size` line's number.
pub fn parse_estimate(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next()? == "size")
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// How a stream is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stream {
    /// `zfs send`: blocks as the dataset reads them (the only kind zfs-fuse has).
    #[default]
    Plain,
    /// `zfs send -c`: blocks compressed as stored, where both sides can.
    Compressed,
    /// `zfs send -w`: an encrypted dataset's blocks as stored, still
    /// encrypted; its key never leaves the source.
    Raw,
}

impl Stream {
    /// The `zfs send` flag, if any.
    pub fn flag(self) -> Option<&'static str> {
        match self {
            Stream::Plain => None,
            Stream::Compressed => Some("-c"),
            Stream::Raw => Some("-w"),
        }
    }
}

/// The stream for source dataset `src`: raw when it is encrypted (refused
/// when the nodes cannot send raw: a plain send would carry its data
/// decrypted off the source), else compressed where both sides can.
pub fn stream_for(src: &DsState, caps: Caps, from: &str, to: &str) -> Result<Stream> {
    if src.encrypted {
        if caps.raw {
            return Ok(Stream::Raw);
        }
        return Err(Error::bad(format!(
            "{} on node {} is encrypted, and node {}'s zfs cannot receive it raw (zfs send -w), so it would arrive decrypted: upgrade ZFS there to OpenZFS 0.8 or later",
            src.name, from, to
        )));
    }
    Ok(if caps.compressed {
        Stream::Compressed
    } else {
        Stream::Plain
    })
}

/// The `zfs send` arguments for `src@snap` (incremental from `src@base`).
pub fn send_argv(src: &str, snap: &str, base: Option<&str>, stream: Stream) -> Vec<String> {
    let mut argv = vec!["zfs".to_string(), "send".to_string()];
    if let Some(flag) = stream.flag() {
        argv.push(flag.into());
    }
    if let Some(b) = base {
        argv.push("-i".into());
        argv.push(format!("{src}@{b}"));
    }
    argv.push(format!("{src}@{snap}"));
    argv
}

/// Every service's route, checked: names ZFS takes, the source there, the
/// target's parent there, and no target dataset that shares no snapshot
/// with the source unless `--force-full` on one cutover created. One
/// command per node reads all it needs.
pub fn plan(job: &ZfsTransfer) -> Result<Vec<Planned>> {
    let rf = job.run_from();
    let rt = job.run_to();
    let services = &job.params.services;
    let mut states: Option<(Vec<DsState>, Vec<DsState>)> = None;
    let mut caps = Caps::default();
    if let (Some(fd), Some(td)) = (&job.from.dataset, &job.to.dataset) {
        let srcs: Vec<String> = services.iter().map(|s| format!("{fd}/{s}")).collect();
        let mut dsts = vec![td.clone()];
        dsts.extend(services.iter().map(|s| format!("{td}/{s}")));
        // Both nodes at once: the SSH round trip is the longer.
        let (left, right) = std::thread::scope(|scope| {
            let left = scope.spawn(|| inspect(&rf, true, &srcs));
            let right = inspect(&rt, true, &dsts);
            (left.join(), right)
        });
        let (a, sa) = left
            .map_err(|_| Error::bad("reading the source's datasets failed"))?
            .map_err(Error::bad)?;
        let (b, mut sb) = right.map_err(Error::bad)?;
        if !sb.first().is_some_and(|p| p.exists) {
            return Err(Error::bad(format!(
                "node {}: dataset {td} (its dataset in nodes.toml) does not exist: create it or fix nodes.toml",
                job.to.name
            )));
        }
        sb.remove(0);
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        caps = Caps {
            resume: a.resume && b.resume,
            compressed: a.compressed && b.compressed,
            // A node whose send takes -w has native encryption, so its
            // receive takes raw streams.
            raw: a.raw && b.raw,
            estimate: a.estimate,
            unmounted: b.unmounted,
        };
        states = Some((sa, sb));
    }
    let mut out = Vec::new();
    for (i, service) in services.iter().enumerate() {
        let pair = states
            .as_ref()
            .and_then(|(a, b)| Some((a.get(i)?, b.get(i)?)));
        let (route, why_rsync) = match pair {
            Some((src, dst)) if src.exists => (
                Route::Zfs {
                    src: src.name.clone(),
                    dst: dst.name.clone(),
                    mount: job.to.appdata.as_ref().map(|a| a.join(service)),
                },
                None,
            ),
            Some((src, _)) => rsync_route(
                job,
                service,
                format!("{} is not a dataset on node {}", src.name, job.from.name),
            )?,
            None => {
                let node = if job.from.dataset.is_none() {
                    &job.from
                } else {
                    &job.to
                };
                rsync_route(
                    job,
                    service,
                    format!("node {} has no dataset (no ZFS)", node.name),
                )?
            }
        };
        let mut p = Planned {
            service: service.clone(),
            route,
            caps: Caps::default(),
            stream: Stream::Plain,
            estimate: None,
            why_rsync,
            src_state: None,
            dst_state: None,
            rsync_target: None,
        };
        if let (Route::Zfs { .. }, Some((src, dst))) = (&p.route, pair) {
            p.caps = caps;
            p.stream = stream_for(src, caps, &job.from.name, &job.to.name)?;
            if !job.verify_only {
                check_target(job, src, dst)?;
            } else if !dst.exists {
                return Err(Error::bad(format!(
                    "{} does not exist on node {}: nothing to verify",
                    dst.name, job.to.name
                )));
            }
            if caps.estimate && !job.verify_only {
                p.estimate = estimate(job, src, dst);
            }
            p.src_state = Some(src.clone());
            p.dst_state = Some(dst.clone());
        }
        out.push(p);
    }
    if !job.verify_only {
        check_rsync_targets(job, &rt, &mut out)?;
    }
    Ok(out)
}

/// An rsync target that is not a directory is refused; one holding files
/// cutover did not put there is refused unless `--force-full` (`--delete`
/// would remove what the source lacks) — in the console it is previewed as
/// replaced and `guard` objects until the node's name is typed. All targets
/// are read in one command.
fn check_rsync_targets(job: &ZfsTransfer, rt: &NodeRunner, planned: &mut [Planned]) -> Result<()> {
    let dsts: Vec<PathBuf> = planned
        .iter()
        .filter_map(|p| match &p.route {
            Route::Rsync { dst, .. } => Some(dst.clone()),
            Route::Zfs { .. } => None,
        })
        .collect();
    if dsts.is_empty() {
        return Ok(());
    }
    let refs: Vec<&std::path::Path> = dsts.iter().map(PathBuf::as_path).collect();
    let mut found = inspect_targets(rt, &refs).map_err(Error::bad)?.into_iter();
    for p in planned.iter_mut() {
        let Route::Rsync { dst, .. } = &p.route else {
            continue;
        };
        let here = found.next().unwrap_or(TargetDir::Absent);
        let place = format!("{} on node {}", crate::names::display(dst), job.to.name);
        let service = &p.service;
        match here {
            TargetDir::NotADirectory => {
                return Err(Error::bad(format!(
                    "service {service}: {place} is not a directory: move it away, then run again"
                )))
            }
            TargetDir::Foreign if !job.params.force_full && !job.console() => {
                return Err(Error::bad(format!(
                    "service {service}: {place} holds files cutover did not put there, and rsync --delete would remove what the source lacks: move them away, or give --force-full to make it an exact copy"
                )))
            }
            _ => {}
        }
        p.rsync_target = Some(here);
    }
    Ok(())
}

/// A target dataset that shares no snapshot with the source is refused,
/// unless `--force-full` and cutover created it.
fn check_target(job: &ZfsTransfer, src: &DsState, dst: &DsState) -> Result<()> {
    if !dst.exists {
        return Ok(());
    }
    if let Some(common) = newest_common(&src.snapshots, &dst.snapshots) {
        let after: Vec<&str> = dst
            .snapshots
            .iter()
            .skip_while(|s| s.guid != common.guid)
            .skip(1)
            .map(|s| s.name.as_str())
            .collect();
        if after.is_empty() {
            return Ok(());
        }
        return Err(Error::bad(format!(
            "{} on node {} has snapshots after @{} (the newest it shares with {}): {}; the target moved on — an incremental would lose them: destroy them on the target if they are not needed, or give another node",
            dst.name,
            job.to.name,
            common.name,
            src.name,
            after.join(", ")
        )));
    }
    // A partial receive (resume token) continues.
    if dst.resume_token.is_some() {
        return Ok(());
    }
    let (s, d) = (&src.name, &dst.name);
    if !job.params.force_full && job.console() && dst.created.is_some() {
        // The console shows it replaced and asks for the node's name
        // (Migration::guard objects until then).
        return Ok(());
    }
    if !job.params.force_full {
        return Err(Error::bad(format!(
            "{d} exists on node {} and shares no snapshot with {s}: an incremental cannot start; give --force-full to replace it (only a dataset cutover created)",
            job.to.name
        )));
    }
    if dst.created.is_none() {
        return Err(Error::bad(format!(
            "{d} on node {} was not created by cutover (no {CREATED} property): refusing to destroy it, even with --force-full; move it aside or give another node",
            job.to.name
        )));
    }
    Ok(())
}

/// The stream's size from `zfs send -nP`, when the snapshot exists already
/// (a resume), else the live dataset's against the common snapshot.
fn estimate(job: &ZfsTransfer, src: &DsState, dst: &DsState) -> Option<u64> {
    let (a, b) = (&src.snapshots, &dst.snapshots);
    let base = newest_common(a, b).map(|s| s.name.clone());
    let snap = &job.params.snapshot;
    let src = &src.name;
    // Before the snapshot exists, the newest one stands for it (a lower bound).
    let at = if a.iter().any(|s| &s.name == snap) {
        snap.clone()
    } else {
        a.last()?.name.clone()
    };
    if Some(&at) == base.as_ref() {
        return None;
    }
    let mut argv = send_argv(src, &at, base.as_deref(), Stream::Plain);
    argv.insert(2, "-nP".into());
    let ran = job.run_from().run(&argv).ok()?;
    parse_estimate(&format!("{}\n{}", ran.stdout, ran.stderr))
}

/// The steps a dry run shows for one service.
pub fn describe(job: &ZfsTransfer, p: &Planned) -> Vec<String> {
    let (f, t) = (&job.from.name, &job.to.name);
    match &p.route {
        Route::Zfs { src, dst, mount } => {
            let snap = &job.params.snapshot;
            let rf = job.run_from();
            let rt = job.run_to();
            let zt = NodeZfs::new(&rt);
            let a = NodeZfs::new(&rf).snapshots(src).unwrap_or_default();
            let b = if zt.exists(dst).unwrap_or(false) {
                NodeZfs::new(&rt).snapshots(dst).unwrap_or_default()
            } else {
                Vec::new()
            };
            let base = newest_common(&a, &b).map(|s| s.name.clone());
            let mut steps = vec![format!("node {f}: zfs snapshot -o {JOB}=… {src}@{snap}")];
            let send = send_argv(src, snap, base.as_deref(), p.stream).join(" ");
            let u = if p.caps.unmounted { " -u" } else { "" };
            let recv = if base.is_some() {
                format!("zfs receive{u} -F")
            } else {
                format!("zfs receive{u}")
            };
            let limit = match job.limit.get() {
                0 => "no limit".to_string(),
                n => format!("{}/s", crate::fmt::bytes(n)),
            };
            steps.push(format!(
                "node {f}: {send} | cutover ({limit}) | node {t}: {recv} {dst}"
            ));
            if base.is_none() {
                steps.push(format!("node {t}: zfs set {CREATED}=… {dst}"));
            }
            if let Some(m) = mount {
                steps.push(format!(
                    "node {t}: zfs set mountpoint={} {dst}",
                    m.display()
                ));
            }
            steps.push(format!(
                "node {t}: sync; compare {dst}@{snap} with {src}@{snap} ({})",
                job.params.verify
            ));
            steps
        }
        Route::Rsync { src, dst } => vec![format!(
            "rsync -aHAX --delete --numeric-ids node {f}:{} node {t}:{} ({})",
            src.display(),
            dst.display(),
            p.why_rsync.as_deref().unwrap_or("no ZFS")
        )],
    }
}

/// What this job created (rollback): the target datasets it created, else
/// its snapshot received there, and its snapshots on the source; each with
/// whether it is on the target node.
pub fn created(job: &ZfsTransfer) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    let (Some(fd), Some(td)) = (&job.from.dataset, &job.to.dataset) else {
        return Ok(out);
    };
    let rf = job.run_from();
    let rt = job.run_to();
    let (zf, zt) = (NodeZfs::new(&rf), NodeZfs::new(&rt));
    let token = &job.params.token;
    let snap = &job.params.snapshot;
    for s in &job.params.services {
        let (src, dst) = (format!("{fd}/{s}"), format!("{td}/{s}"));
        if zt.exists(&dst).map_err(Error::bad)? {
            if zt.property(&dst, CREATED).map_err(Error::bad)?.as_ref() == Some(token) {
                out.push((dst.clone(), true));
            } else if zt.exists(&format!("{dst}@{snap}")).map_err(Error::bad)? {
                out.push((format!("{dst}@{snap}"), true));
            }
        }
        let at = format!("{src}@{snap}");
        if zf.exists(&at).map_err(Error::bad)?
            && zf.property(&at, JOB).map_err(Error::bad)?.as_ref() == Some(token)
        {
            out.push((at, false));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_usage_says_what_each_zfs_can_do() {
        let fuse = "usage:\n\tsend [-RDp] [-[iI] snapshot] <snapshot>\n";
        let fuse_recv = "usage:\n\treceive [-vnF] <filesystem|volume|snapshot>\n\treceive [-vnF] -d <filesystem>\n";
        assert_eq!(caps_of(fuse, fuse_recv), Caps::default());
        let recv = "usage:\n\treceive [-FhMnsuv] [-o <property>=<value>] ... <filesystem|volume|snapshot>\n\treceive -A <filesystem|volume>\n";
        let openzfs = "usage:\n\tsend [-DLPbcehnpsVvw] [-i|-I snapshot]\n\t     [-R [-X dataset[,dataset]...]]     <snapshot>\n\tsend [-DnVvPLecw] [-i snapshot|bookmark] <filesystem|volume|snapshot>\n\tsend [-PnVv] -t <receive_resume_token>\n";
        let c = caps_of(openzfs, recv);
        assert!(
            c.resume && c.compressed && c.raw && c.estimate && c.unmounted,
            "{c:?}"
        );
        assert_eq!(
            parse_estimate("incremental\ta\tb\t1\nsize\t4242\n"),
            Some(4242)
        );
        assert_eq!(parse_estimate("full\tx\t1\n"), None);
        assert_eq!(
            send_argv("p/a b", "s2", Some("s1"), Stream::Compressed),
            ["zfs", "send", "-c", "-i", "p/a b@s1", "p/a b@s2"]
        );
        assert_eq!(
            send_argv("p/secret", "s1", None, Stream::Raw),
            ["zfs", "send", "-w", "p/secret@s1"]
        );
        assert_eq!(
            send_argv("p/a", "s1", None, Stream::Plain),
            ["zfs", "send", "p/a@s1"]
        );
    }

    #[test]
    fn an_encrypted_dataset_goes_raw_or_not_at_all() {
        let mut ds = DsState {
            name: "tank/appdata/vault".into(),
            exists: true,
            ..DsState::default()
        };
        let openzfs = Caps {
            compressed: true,
            raw: true,
            ..Caps::default()
        };
        let fuse = Caps::default();
        let pick = |ds: &DsState, caps| stream_for(ds, caps, "alpha", "beta");
        assert_eq!(pick(&ds, openzfs).unwrap(), Stream::Compressed);
        assert_eq!(pick(&ds, fuse).unwrap(), Stream::Plain);
        ds.encrypted = true;
        assert_eq!(pick(&ds, openzfs).unwrap(), Stream::Raw);
        let err = pick(&ds, fuse).unwrap_err().to_string();
        assert!(
            err.contains("tank/appdata/vault")
                && err.contains("encrypted")
                && err.contains("node beta")
                && !err.contains('\n'),
            "{err}"
        );
    }
}
