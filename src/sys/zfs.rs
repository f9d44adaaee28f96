//! ZFS through its commands (`zfs`, `zpool`): names checked before use,
//! the dialect of the installed ZFS probed (zfs-fuse 0.7 lacks `zfs list
//! -p`, `.zfs/snapshot` and resume tokens; OpenZFS 2.x has them), the
//! `-H` outputs parsed, and the few operations a migration needs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cmd::{self, CmdError};

/// Longest dataset or snapshot name ZFS accepts (`ZFS_MAX_DATASET_NAME_LEN - 1`).
pub const MAX_NAME: usize = 255;

/// Why `name` is not a valid dataset name (`pool/a/b`), as the rule it breaks.
pub fn check_dataset(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a dataset name cannot be empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "dataset name '{name}' is {} bytes; ZFS allows at most {MAX_NAME}",
            name.len()
        ));
    }
    if name.contains('@') || name.contains('#') {
        return Err(format!(
            "dataset name '{name}' contains '@' or '#'; those separate snapshots and bookmarks"
        ));
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err(format!(
            "dataset name '{name}' starts or ends with '/'; give POOL/NAME"
        ));
    }
    let mut parts = name.split('/');
    let pool = parts.next().unwrap_or_default();
    check_pool(pool).map_err(|why| format!("dataset name '{name}': {why}"))?;
    for part in parts {
        check_component(part).map_err(|why| format!("dataset name '{name}': {why}"))?;
    }
    Ok(())
}

/// Why `snap` is not a valid snapshot name (the part after `@`).
pub fn check_snapshot(snap: &str) -> Result<(), String> {
    check_component(snap).map_err(|why| format!("snapshot name '{snap}': {why}"))
}

/// Why `name` cannot be the last part of a dataset name (`repo` of `pool/repo`).
pub fn check_child(name: &str) -> Result<(), String> {
    check_component(name).map_err(|why| format!("dataset name part '{name}': {why}"))
}

/// A pool name: a component that begins with a letter and is not reserved.
fn check_pool(pool: &str) -> Result<(), String> {
    check_component(pool)?;
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("pool name '{pool}' must begin with a letter"));
    }
    let reserved = ["mirror", "raidz", "draid", "spare", "log"];
    if reserved.iter().any(|r| pool.starts_with(r)) {
        return Err(format!(
            "pool name '{pool}' begins with a reserved word (mirror, raidz, draid, spare, log)"
        ));
    }
    let b = pool.as_bytes();
    if b.len() >= 2 && b[0] == b'c' && b[1].is_ascii_digit() {
        return Err(format!(
            "pool name '{pool}' looks like a disk name (c followed by a digit)"
        ));
    }
    Ok(())
}

/// One component of a name: not empty, not `.`/`..`, and only letters,
/// digits, `-`, `_`, `.`, `:` and spaces.
fn check_component(part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err("an empty component (two '/' in a row)".into());
    }
    if part == "." || part == ".." {
        return Err(format!("'{part}' cannot be a component"));
    }
    if let Some(bad) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.: ".contains(*c)))
    {
        return Err(format!(
            "'{part}' contains '{}'; ZFS names allow only letters, digits, '-', '_', '.', ':' and spaces",
            bad.escape_default()
        ));
    }
    Ok(())
}

/// What the installed ZFS can do, found by probing, not by version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dialect {
    /// `zfs list -p` prints exact numbers (OpenZFS; zfs-fuse: "invalid option").
    pub list_exact: bool,
    /// `zfs send -t` / `receive_resume_token` (OpenZFS).
    pub resume_tokens: bool,
}

impl Dialect {
    /// Ask the installed `zfs` (two quick commands that change nothing).
    pub fn probe() -> Dialect {
        let list = cmd::output("zfs", &["list", "-H", "-p", "-o", "name", "-d", "0"]);
        let send = cmd::output::<&str>("zfs", &["send"]);
        Dialect {
            list_exact: list.is_ok_and(|o| list_takes_p(&o.stderr)),
            resume_tokens: send.is_ok_and(|o| send_has_resume(&o.stdout, &o.stderr)),
        }
    }

    /// One line for the operator.
    pub fn describe(&self) -> String {
        if self.list_exact && self.resume_tokens {
            "OpenZFS (zfs list -p, resume tokens)".into()
        } else if !self.list_exact && !self.resume_tokens {
            "zfs-fuse (no zfs list -p, no resume tokens)".into()
        } else {
            format!(
                "zfs list -p: {}, resume tokens: {}",
                yes(self.list_exact),
                yes(self.resume_tokens)
            )
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Whether `zfs list -p`'s stderr says it took the option.
pub fn list_takes_p(stderr: &str) -> bool {
    !stderr.contains("invalid option")
}

/// Whether `zfs send`'s usage text offers resuming (`-t <receive_resume_token>`).
pub fn send_has_resume(stdout: &str, stderr: &str) -> bool {
    stdout.contains("receive_resume_token") || stderr.contains("receive_resume_token")
}

/// Whether snapshots of a dataset mounted at `mountpoint` can be read
/// through `.zfs/snapshot/` (OpenZFS), or need a clone (zfs-fuse).
pub fn has_snapdir(mountpoint: &Path) -> bool {
    mountpoint.join(".zfs").join("snapshot").is_dir()
}

/// Rows of a `zfs list -H` / `zpool list -H` output: tab-separated fields.
pub fn parse_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// One property as `zfs get -H` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    /// Dataset or snapshot.
    pub name: String,
    /// Property name.
    pub property: String,
    /// Its value; `None` for `-` (unset).
    pub value: Option<String>,
    /// Where it comes from (`local`, `default`, `inherited from …`, `-`).
    pub source: String,
}

/// The properties of a `zfs get -H[p]` output (`name property value source`).
pub fn parse_get(text: &str) -> Vec<Prop> {
    parse_rows(text)
        .into_iter()
        .filter(|r| r.len() >= 3)
        .map(|r| Prop {
            name: r[0].clone(),
            property: r[1].clone(),
            value: (r[2] != "-").then(|| r[2].clone()),
            source: r.get(3).cloned().unwrap_or_default(),
        })
        .collect()
}

/// A size as `zfs list` prints it: exact (`-p`, `118784`) or human
/// (`116K`, `90.5M`, `1.20G`); `-` and `none` are `None`. Human sizes are
/// rounded as ZFS printed them.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Some(n);
    }
    let (num, unit) = t.split_at(t.len().checked_sub(1)?);
    let scale: u64 = match unit {
        "B" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        "P" => 1 << 50,
        "E" => 1 << 60,
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then(|| (n * scale as f64).round() as u64)
}

/// A ZFS command's failure, with the command line and its stderr.
pub type ZfsResult<T> = Result<T, CmdError>;

/// Whether the dataset (or snapshot) `name` exists.
pub fn exists(name: &str) -> ZfsResult<bool> {
    let out = cmd::output("zfs", &["list", "-H", "-o", "name", name])?;
    if out.code == 0 {
        return Ok(true);
    }
    if out.stderr.contains("does not exist") {
        return Ok(false);
    }
    Err(CmdError {
        line: cmd::line("zfs", &["list", "-H", "-o", "name", name]),
        why: out.stderr,
    })
}

/// Snapshot names (after `@`) of `dataset` itself, oldest first.
pub fn snapshots(dataset: &str) -> ZfsResult<Vec<String>> {
    let out = cmd::run(
        "zfs",
        &[
            "list", "-H", "-t", "snapshot", "-o", "name", "-s", "creation", "-d", "1", dataset,
        ],
    )?;
    Ok(snapshot_names(dataset, &out))
}

/// The snapshot names of `dataset` in a `zfs list -H -o name` output.
pub fn snapshot_names(dataset: &str, text: &str) -> Vec<String> {
    let prefix = format!("{dataset}@");
    parse_rows(text)
        .into_iter()
        .filter_map(|r| r.first()?.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// Exact numeric properties (`used`, `referenced`…) of `name`, by `zfs get
/// -Hp` (which zfs-fuse has too); unset or non-numeric ones are left out.
pub fn numbers(name: &str, props: &[&str]) -> ZfsResult<HashMap<String, u64>> {
    let out = cmd::run("zfs", &["get", "-H", "-p", &props.join(","), name])?;
    Ok(parse_get(&out)
        .into_iter()
        .filter_map(|p| Some((p.property, p.value?.parse().ok()?)))
        .collect())
}

/// One property of `name`; `None` when unset (`-`).
pub fn property(name: &str, prop: &str) -> ZfsResult<Option<String>> {
    let out = cmd::run("zfs", &["get", "-H", "-p", prop, name])?;
    Ok(parse_get(&out).into_iter().next().and_then(|p| p.value))
}

/// Where `dataset` is mounted (its `mountpoint` property).
pub fn mountpoint(dataset: &str) -> ZfsResult<Option<PathBuf>> {
    Ok(property(dataset, "mountpoint")?
        .filter(|m| m.starts_with('/'))
        .map(PathBuf::from))
}

/// Where `dataset` is mounted now: its `mountpoint` when `mounted` is
/// `yes` (one `zfs get`), `None` when it is not mounted. The property alone
/// is not enough: an unmounted dataset's mountpoint is a plain directory of
/// its parent, and what is written there is not in the dataset.
pub fn mounted_at(dataset: &str) -> ZfsResult<Option<PathBuf>> {
    let out = cmd::run("zfs", &["get", "-H", "-p", "mounted,mountpoint", dataset])?;
    Ok(mounted_in(&parse_get(&out)))
}

/// The mountpoint in the `mounted,mountpoint` properties of one dataset,
/// if it is mounted there.
pub fn mounted_in(props: &[Prop]) -> Option<PathBuf> {
    let value = |name: &str| {
        props
            .iter()
            .find(|p| p.property == name)
            .and_then(|p| p.value.as_deref())
    };
    if value("mounted") != Some("yes") {
        return None;
    }
    value("mountpoint")
        .filter(|m| m.starts_with('/'))
        .map(PathBuf::from)
}

/// `zfs mount dataset`.
pub fn mount(dataset: &str) -> ZfsResult<()> {
    cmd::run("zfs", &["mount", dataset]).map(|_| ())
}

/// Where `dataset` is mounted, mounting it first when it is not (`zfs
/// mount`); the reason, with what to do, when it cannot be.
pub fn ensure_mounted(dataset: &str) -> Result<PathBuf, String> {
    if let Some(m) = mounted_at(dataset).map_err(|e| e.to_string())? {
        return Ok(m);
    }
    let tried = mount(dataset).err();
    match mounted_at(dataset).map_err(|e| e.to_string())? {
        Some(m) => Ok(m),
        None => Err(format!(
            "dataset {dataset} is not mounted and `zfs mount {dataset}` did not mount it{}; mount it (check its mountpoint and canmount properties), then resume",
            tried.map(|e| format!(" ({e})")).unwrap_or_default()
        )),
    }
}

/// `zfs create -o k=v… dataset`.
pub fn create(dataset: &str, props: &[(&str, &str)]) -> ZfsResult<()> {
    let mut args = vec!["create".to_string()];
    for (k, v) in props {
        args.push("-o".into());
        args.push(format!("{k}={v}"));
    }
    args.push(dataset.into());
    cmd::run("zfs", &args).map(|_| ())
}

/// `zfs snapshot -o k=v… dataset@snap`.
pub fn snapshot(dataset: &str, snap: &str, props: &[(&str, &str)]) -> ZfsResult<()> {
    let mut args = vec!["snapshot".to_string()];
    for (k, v) in props {
        args.push("-o".into());
        args.push(format!("{k}={v}"));
    }
    args.push(format!("{dataset}@{snap}"));
    cmd::run("zfs", &args).map(|_| ())
}

/// One property of each of `names` (one `zfs get` call), by name; unset
/// ones are left out.
pub fn property_of_each(names: &[String], prop: &str) -> ZfsResult<HashMap<String, String>> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut args = vec!["get".to_string(), "-H".into(), "-p".into(), prop.into()];
    args.extend(names.iter().cloned());
    let out = cmd::run("zfs", &args)?;
    Ok(parse_get(&out)
        .into_iter()
        .filter_map(|p| Some((p.name, p.value?)))
        .collect())
}

/// `zfs rollback dataset@snap`: the dataset's files back to that snapshot
/// (its newest).
pub fn rollback(dataset: &str, snap: &str) -> ZfsResult<()> {
    cmd::run("zfs", &["rollback", &format!("{dataset}@{snap}")]).map(|_| ())
}

/// `zfs clone snapshot dataset` (mounted where its parent's mountpoint says).
pub fn clone(snapshot: &str, dataset: &str) -> ZfsResult<()> {
    cmd::run("zfs", &["clone", snapshot, dataset]).map(|_| ())
}

/// `zfs destroy [-r] name`, once (no retry while it is busy).
pub fn destroy_once(name: &str, recursive: bool) -> ZfsResult<()> {
    let mut args = vec!["destroy"];
    if recursive {
        args.push("-r");
    }
    args.push(name);
    cmd::run("zfs", &args).map(|_| ())
}

/// `zfs destroy [-r] name`, retried for a while when it is busy (zfs-fuse
/// releases files a moment after they are closed).
pub fn destroy(name: &str, recursive: bool) -> ZfsResult<()> {
    retry_busy(|| destroy_once(name, recursive))
}

/// Run `attempt` (a ZFS command) again, with growing pauses, while it fails
/// saying the dataset is busy; the last error after 30 tries.
pub fn retry_busy(mut attempt: impl FnMut() -> ZfsResult<()>) -> ZfsResult<()> {
    let mut tries = 0u64;
    loop {
        match attempt() {
            Err(e) if e.why.contains("busy") && tries < 30 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50 + 20 * tries));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `zfs list -H -o name,used,avail,refer,mountpoint -t filesystem,snapshot -r`
    /// of zfs-fuse 0.7 (captured here): human-readable sizes.
    const FUSE_LIST: &str = "cappool\t548K\t90.5M\t120K\t/tmp/cap/mnt\n\
cappool/repo\t116K\t90.5M\t116K\t/tmp/cap/mnt/repo\n\
cappool/repo@s1\t0\t-\t116K\t-\n\
cappool/repo@s 2\t0\t-\t116K\t-\n";

    /// The same listing by OpenZFS 2.2 with `-p`: exact numbers.
    const OPENZFS_LIST: &str = "tank\t1273856\t8190967808\t98304\t/tank\n\
tank/repo\t212992\t8190967808\t114688\t/tank/repo\n\
tank/repo@s1\t49152\t-\t106496\t-\n\
tank/repo@s 2\t0\t-\t114688\t-\n";

    /// `zfs get -Hp used,referenced,available,mountpoint,cutover:created`
    /// of zfs-fuse (captured here).
    const FUSE_GET: &str = "cappool/repo\tused\t118784\t-\n\
cappool/repo\treferenced\t118784\t-\n\
cappool/repo\tavailable\t94859264\t-\n\
cappool/repo\tmountpoint\t/tmp/cap/mnt/repo\tinherited from cappool\n\
cappool/repo\tcutover:created\tyes\tlocal\n";

    /// The same by OpenZFS 2.2, plus properties zfs-fuse lacks.
    const OPENZFS_GET: &str = "tank/repo\tused\t212992\t-\n\
tank/repo\tlogicalused\t180224\t-\n\
tank/repo\twritten\t0\t-\n\
tank/repo\treceive_resume_token\t-\t-\n\
tank/repo\tcutover:created\t-\t-\n";

    /// `zfs send` usage of zfs-fuse (captured here, on stderr).
    const FUSE_SEND: &str =
        "missing snapshot argument\nusage:\n\tsend [-RDp] [-[iI] snapshot] <snapshot>\n";

    /// `zfs send` usage of OpenZFS 2.2 (from its zfs_main.c).
    const OPENZFS_SEND: &str = "missing snapshot argument\nusage:\n\
\tsend [-DLPbcehnpsVvw] [-i|-I snapshot]\n\t     [-R [-X dataset[,dataset]...]]     <snapshot>\n\
\tsend [-DnVvPLecw] [-i snapshot|bookmark] <filesystem|volume|snapshot>\n\
\tsend [-nVvPe] -t <receive_resume_token>\n";

    #[test]
    fn list_rows_split_on_tabs_only() {
        for text in [FUSE_LIST, OPENZFS_LIST] {
            let rows = parse_rows(text);
            assert_eq!(rows.len(), 4);
            assert!(rows.iter().all(|r| r.len() == 5));
            assert_eq!(rows[3][0].split_once('@').map(|x| x.1), Some("s 2"));
        }
        assert_eq!(snapshot_names("cappool/repo", FUSE_LIST), vec!["s1", "s 2"]);
        assert_eq!(snapshot_names("tank/repo", OPENZFS_LIST), vec!["s1", "s 2"]);
        assert!(snapshot_names("tank/rep", OPENZFS_LIST).is_empty());
    }

    #[test]
    fn sizes_read_exact_and_human() {
        let fuse = parse_rows(FUSE_LIST);
        assert_eq!(parse_size(&fuse[1][1]), Some(116 * 1024));
        assert_eq!(parse_size(&fuse[1][2]), Some((90.5 * 1048576.0) as u64));
        assert_eq!(parse_size(&fuse[2][2]), None);
        let open = parse_rows(OPENZFS_LIST);
        assert_eq!(parse_size(&open[1][1]), Some(212992));
        assert_eq!(parse_size("1.20G"), Some(1288490189));
        assert_eq!(parse_size("none"), None);
    }

    #[test]
    fn get_reads_values_and_unset_properties() {
        let fuse = parse_get(FUSE_GET);
        assert_eq!(fuse.len(), 5);
        assert_eq!(fuse[0].value.as_deref(), Some("118784"));
        assert_eq!(fuse[3].source, "inherited from cappool");
        assert_eq!(fuse[4].value.as_deref(), Some("yes"));
        let open = parse_get(OPENZFS_GET);
        assert_eq!(open[1].property, "logicalused");
        assert_eq!(open[3].value, None, "no resume token");
        assert_eq!(open[4].value, None, "user property unset");
    }

    #[test]
    fn a_dataset_is_mounted_only_when_it_says_so() {
        let get = |mounted: &str, at: &str| {
            parse_get(&format!(
                "pool/r\tmounted\t{mounted}\t-\npool/r\tmountpoint\t{at}\tdefault\n"
            ))
        };
        assert_eq!(
            mounted_in(&get("yes", "/pool/r")),
            Some(PathBuf::from("/pool/r"))
        );
        assert_eq!(
            mounted_in(&get("no", "/pool/r")),
            None,
            "the parent's directory"
        );
        assert_eq!(mounted_in(&get("yes", "legacy")), None);
        assert_eq!(mounted_in(&get("-", "/pool/r")), None);
    }

    #[test]
    fn dialects_are_told_apart_by_their_usage_text() {
        assert!(!send_has_resume("", FUSE_SEND));
        assert!(send_has_resume("", OPENZFS_SEND));
        assert!(!list_takes_p(
            "invalid option 'p'\nusage:\n\tlist [-rH][-d max] [-o property[,...]]"
        ));
        assert!(list_takes_p(""));
    }

    #[test]
    fn names_are_refused_with_the_rule_they_break() {
        assert_eq!(check_dataset("tank/repo"), Ok(()));
        assert_eq!(check_dataset("tank/my repo:2.x"), Ok(()));
        let why = |n: &str| check_dataset(n).err().unwrap_or_default();
        assert!(why("tank/a$b").contains("contains '$'"));
        assert!(why("tank//a").contains("empty component"));
        assert!(why("tank/a@s1").contains("'@'"));
        assert!(why("/tank/a").contains("starts or ends with '/'"));
        assert!(why("1tank/a").contains("must begin with a letter"));
        assert!(why("mirror0/a").contains("reserved"));
        assert!(why("c0t0/a").contains("disk name"));
        assert!(why("tank/..").contains("cannot be a component"));
        assert!(why(&format!("tank/{}", "a".repeat(260))).contains("at most 255"));
        assert_eq!(check_snapshot("s10"), Ok(()));
        assert!(check_snapshot("s;rm")
            .err()
            .is_some_and(|w| w.contains("';'")));
    }
}
