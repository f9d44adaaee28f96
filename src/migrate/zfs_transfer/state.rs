//! What a node's ZFS holds, read in one command per node (over SSH each
//! round trip costs more than the ZFS commands themselves): optionally its
//! `zfs send` / `zfs receive` usage (what it can do), and for each dataset
//! whether it exists, cutover's mark, a resume token, where it is mounted,
//! and its snapshots oldest first with exact guids. The script is fixed;
//! dataset names travel as its positional arguments. It runs as few `zfs`
//! processes as it can (each costs 25–80 ms on zfs-fuse): one `zfs get all`
//! (every dialect answers it with the properties it has: no
//! `receive_resume_token` or `encryption` on zfs-fuse), one `zfs list`, one
//! `zfs get guid`.

use super::route::{caps_of, Caps};
use crate::nodes::runner::NodeRunner;
use crate::nodes::zfs::SnapGuid;

/// One dataset on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsState {
    /// Its name.
    pub name: String,
    /// Whether it exists.
    pub exists: bool,
    /// `cutover:created`, when set.
    pub created: Option<String>,
    /// `receive_resume_token`, when set (OpenZFS).
    pub resume_token: Option<String>,
    /// `mountpoint`.
    pub mountpoint: Option<String>,
    /// `mounted` is `yes`.
    pub mounted: bool,
    /// Its snapshots, oldest first.
    pub snapshots: Vec<SnapGuid>,
    /// Bytes it references (`referenced`).
    pub referenced: u64,
    /// `encryption` is set and not `off` (OpenZFS native encryption).
    pub encrypted: bool,
}

const INSPECT: &str = r#"if [ "$1" = probe ]; then
  zfs send 2>&1; echo "@@end"
  zfs receive 2>&1; echo "@@end"
fi
shift
for ds in "$@"; do
  printf '@@ds\t%s\n' "$ds"
  zfs get -H -p -o property,value all "$ds" 2>/dev/null || continue
  printf '@@snaps\n'
  snaps=$(zfs list -H -t snapshot -o name -s creation -d 1 "$ds")
  if [ -n "$snaps" ]; then printf '%s\n' "$snaps"; fi
  printf '@@guids\n'
  if [ -n "$snaps" ]; then
    printf '%s\n' "$snaps" | tr '\n' '\0' | xargs -0 -r zfs get -H -p -o name,value guid
  fi
done
"#;

/// `zfs snapshot -o cutover:job=TOKEN DATASET@SNAP`, then the dataset read
/// back as [`inspect`] does: one command.
pub fn snapshot(
    runner: &NodeRunner,
    dataset: &str,
    snap: &str,
    token: &str,
) -> Result<DsState, String> {
    let script = format!(
        "tok=$1 at=$2\nshift 2\nzfs snapshot -o \"cutover:job=$tok\" \"$at\" || exit 1\n{INSPECT}"
    );
    let head = [token.to_string(), format!("{dataset}@{snap}")];
    let (_, mut v) = run_inspect(runner, &script, &head, false, &[dataset.to_string()])?;
    v.pop()
        .ok_or_else(|| format!("node {}: {dataset}: nothing read", runner.node().name))
}

/// Read `datasets` on the runner's node (and, with `probe`, what its ZFS can do).
pub fn inspect(
    runner: &NodeRunner,
    probe: bool,
    datasets: &[String],
) -> Result<(Option<Caps>, Vec<DsState>), String> {
    run_inspect(runner, INSPECT, &[], probe, datasets)
}

fn run_inspect(
    runner: &NodeRunner,
    script: &str,
    head: &[String],
    probe: bool,
    datasets: &[String],
) -> Result<(Option<Caps>, Vec<DsState>), String> {
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "sh".to_string(),
    ];
    argv.extend(head.iter().cloned());
    argv.push(if probe { "probe" } else { "-" }.to_string());
    argv.extend(datasets.iter().cloned());
    let ran = runner.run(&argv)?;
    if ran.stdout.contains("zfs: not found") || ran.stdout.contains("zfs: command not found") {
        return Err(format!("node {}: zfs is not installed", runner.node().name));
    }
    if ran.code != 0 {
        return Err(format!(
            "node {}: reading ZFS datasets failed: {}",
            runner.node().name,
            ran.complaint()
        ));
    }
    Ok(parse(&ran.stdout, probe))
}

/// The output of [`INSPECT`].
pub fn parse(text: &str, probe: bool) -> (Option<Caps>, Vec<DsState>) {
    let mut rest = text;
    let mut caps = None;
    if probe {
        let mut parts = text.splitn(3, "@@end\n");
        let send = parts.next().unwrap_or("");
        let receive = parts.next().unwrap_or("");
        rest = parts.next().unwrap_or("");
        caps = Some(caps_of(send, receive));
    }
    let mut out: Vec<DsState> = Vec::new();
    #[derive(PartialEq)]
    enum Part {
        Props,
        Snaps,
        Guids,
    }
    let mut part = Part::Props;
    let mut names: Vec<String> = Vec::new();
    let mut guids: Vec<(String, u64)> = Vec::new();
    let finish =
        |out: &mut Vec<DsState>, names: &mut Vec<String>, guids: &mut Vec<(String, u64)>| {
            if let Some(ds) = out.last_mut() {
                let prefix = format!("{}@", ds.name);
                ds.snapshots = names
                    .iter()
                    .filter_map(|n| {
                        let guid = guids.iter().find(|(g, _)| g == n)?.1;
                        Some(SnapGuid {
                            name: n.strip_prefix(&prefix)?.to_string(),
                            guid,
                        })
                    })
                    .collect();
            }
            names.clear();
            guids.clear();
        };
    for line in rest.lines() {
        if let Some(name) = line.strip_prefix("@@ds\t") {
            finish(&mut out, &mut names, &mut guids);
            out.push(DsState {
                name: name.to_string(),
                ..DsState::default()
            });
            part = Part::Props;
            continue;
        }
        let Some(ds) = out.last_mut() else { continue };
        match line {
            "@@snaps" => {
                part = Part::Snaps;
                continue;
            }
            "@@guids" => {
                part = Part::Guids;
                continue;
            }
            _ => {}
        }
        match part {
            Part::Props => {
                let Some((k, v)) = line.split_once('\t') else {
                    continue;
                };
                let v = v.trim();
                let value = (v != "-" && !v.is_empty()).then(|| v.to_string());
                match k {
                    "mountpoint" => {
                        ds.exists = true;
                        ds.mountpoint = value;
                    }
                    "mounted" => ds.mounted = v == "yes",
                    "referenced" => ds.referenced = v.parse().unwrap_or(0),
                    "cutover:created" => ds.created = value,
                    "receive_resume_token" => ds.resume_token = value,
                    "encryption" => ds.encrypted = value.is_some_and(|v| v != "off"),
                    _ => {}
                }
            }
            Part::Snaps => names.push(line.trim_end().to_string()),
            Part::Guids => {
                let mut w = line.split('\t');
                if let (Some(n), Some(g)) = (w.next(), w.next()) {
                    if let Ok(g) = g.trim().parse() {
                        guids.push((n.to_string(), g));
                    }
                }
            }
        }
    }
    finish(&mut out, &mut names, &mut guids);
    (caps, out)
}

/// Mark, mount, sync: `$ds`, `$token` (empty: no mark), `$mount` (empty: as
/// inherited). A dataset received raw whose key is not here (its
/// `keystatus` is `unavailable`) stays unmounted, as it must.
const SETTLE: &str = r#"
if [ -n "$token" ]; then zfs set "cutover:created=$token" "$ds" || exit 1; fi
if [ -n "$mount" ] && [ "$(zfs get -H -o value mountpoint "$ds")" != "$mount" ]; then
  zfs set "mountpoint=$mount" "$ds" || exit 1
fi
if [ "$(zfs get -H -o value mounted "$ds")" != yes ]; then
  out=$(zfs mount "$ds" 2>&1) || case "$out" in
    *"already mounted"*) ;;
    *) if [ "$(zfs get -H -o value keystatus "$ds" 2>/dev/null)" != unavailable ]; then
         echo "$out" >&2; exit 1
       fi ;;
  esac
fi
sync
"#;

fn settle_argv(
    head: &str,
    dataset: &str,
    token: Option<&str>,
    mount: Option<&std::path::Path>,
) -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("ds=$1 token=$2 mount=$3\nshift 3\n{head}{SETTLE}"),
        "sh".to_string(),
        dataset.to_string(),
        token.unwrap_or("").to_string(),
        mount.map(|m| m.display().to_string()).unwrap_or_default(),
    ]
}

/// `zfs receive FLAGS… dataset` on the target, then (in the same command,
/// one SSH round trip) mark a dataset cutover created (`token`), mount it
/// at `mount` and sync.
pub fn receive_argv(
    flags: &[String],
    dataset: &str,
    token: Option<&str>,
    mount: Option<&std::path::Path>,
) -> Vec<String> {
    let mut argv = settle_argv(
        "zfs receive \"$@\" \"$ds\" || exit $?\n",
        dataset,
        token,
        mount,
    );
    argv.extend(flags.iter().cloned());
    argv
}

/// After a receive done earlier, in one command on the target: mark a
/// dataset cutover created (`token`), mount it at `mount`, and sync.
pub fn settle(
    runner: &NodeRunner,
    dataset: &str,
    token: Option<&str>,
    mount: Option<&std::path::Path>,
) -> Result<(), String> {
    let ran = runner.run(&settle_argv("", dataset, token, mount))?;
    if ran.code != 0 {
        return Err(format!(
            "node {}: marking, mounting and syncing {dataset} failed: {}",
            runner.node().name,
            ran.complaint()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inspection_is_read_back() {
        let text = "usage:\n\tsend [-RDp] [-[iI] snapshot] <snapshot>\n@@end\nusage:\n\treceive [-vnF] <filesystem>\n@@end\n\
@@ds\tp/app\n\
mountpoint\t/srv/app\nmounted\tyes\n\
@@snaps\n@@guids\n\
@@ds\tp/app/a b\n\
mountpoint\t/srv/app/a b\nmounted\tno\ncutover:created\tabc\nencryption\taes-256-gcm\ncompression\toff\n\
@@snaps\np/app/a b@s1\np/app/a b@s2\n\
@@guids\np/app/a b@s2\t22\np/app/a b@s1\t11\n\
@@ds\tp/app/none\n";
        let (caps, ds) = parse(text, true);
        assert_eq!(caps, Some(Caps::default()));
        assert_eq!(ds.len(), 3);
        assert!(ds[0].exists && ds[0].mounted && ds[0].snapshots.is_empty());
        assert_eq!(ds[1].created.as_deref(), Some("abc"));
        assert!(ds[1].encrypted && !ds[0].encrypted);
        assert_eq!(
            ds[1].snapshots,
            vec![
                SnapGuid {
                    name: "s1".into(),
                    guid: 11
                },
                SnapGuid {
                    name: "s2".into(),
                    guid: 22
                }
            ]
        );
        assert!(!ds[1].mounted);
        assert!(!ds[2].exists);
    }
}
