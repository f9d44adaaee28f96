//! One service's places on its node — its directory, the aside copy beside
//! it, the aside copy's name while it is being removed, its dataset — what
//! the node holds of them now, and what the item does next from there. The
//! decision is a pure function of the state, so an item resumes from any
//! crash point (tested below, case by case).

use crate::nodes::runner::NodeRunner;
use crate::nodes::zfs::NodeZfs;

/// The user property marking a dataset this kind created (value: the job's token).
pub const CREATED: &str = "cutover:created";

/// The longest service name: the aside name adds about 40 bytes and a
/// file name holds 255.
const MAX_SERVICE: usize = 200;

/// Why `name` cannot be a service of dir-to-dataset (`None`: it can).
pub fn check_name(name: &str) -> Option<String> {
    if name.contains('/') || name == "." || name == ".." {
        return Some(format!(
            "service '{name}' is not a directory name under appdata; give the name of a directory directly under it"
        ));
    }
    if let Err(why) = crate::sys::zfs::check_child(name) {
        return Some(format!("service '{name}' cannot be a dataset: {why}"));
    }
    if name.contains(' ') {
        return Some(format!(
            "service '{name}' contains a space; dir-to-dataset refuses names with spaces (they break mount and service scripts): rename the directory first"
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Some(format!(
            "service '{name}' begins with '{}'; give a name that begins with a letter or digit",
            &name[..1]
        ));
    }
    if name.len() > MAX_SERVICE {
        return Some(format!(
            "service name '{name}' is {} bytes; at most {MAX_SERVICE}",
            name.len()
        ));
    }
    None
}

/// The places of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The service's name (its directory's).
    pub name: String,
    /// `APPDATA/NAME`.
    pub dir: String,
    /// `APPDATA/.NAME.cutover-aside-TOKEN`: the original directory, moved aside.
    pub aside: String,
    /// `APPDATA/.NAME.cutover-removing-TOKEN`: the aside copy once verified,
    /// while it is being removed.
    pub removing: String,
    /// `PARENT/NAME`.
    pub dataset: String,
}

impl Place {
    /// The places of service `name` under `appdata`, dataset under `parent`.
    pub fn new(appdata: &str, parent: &str, name: &str, token: &str) -> Place {
        let root = appdata.trim_end_matches('/');
        Place {
            name: name.to_string(),
            dir: format!("{root}/{name}"),
            aside: format!("{root}/.{name}.cutover-aside-{token}"),
            removing: format!("{root}/.{name}.cutover-removing-{token}"),
            dataset: format!("{parent}/{name}"),
        }
    }
}

/// What a path on the node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Nothing there.
    Absent,
    /// An empty directory.
    Empty,
    /// A directory with entries.
    Full,
    /// A symlink, a file or anything else.
    Other,
}

/// The service's dataset, when it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Its mountpoint property.
    pub mountpoint: String,
    /// Whether it is mounted.
    pub mounted: bool,
    /// Its `cutover:created` property.
    pub created: Option<String>,
}

/// What the node holds of a service's places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub dir: Entry,
    pub aside: Entry,
    pub removing: Entry,
    /// The dataset `PARENT/NAME`.
    pub dataset: Option<Dataset>,
    /// Another dataset mounted on the directory (`name`).
    pub other_at_dir: Option<String>,
    /// Filesystems mounted inside the directory (or the aside copy).
    pub mounts_inside: Vec<String>,
}

/// What an item does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The directory already is a dataset's mountpoint (named): nothing to do.
    AlreadyDataset(String),
    /// This job converted it and removed the aside copy: nothing to do.
    Done,
    /// Verified; the aside copy's removal was interrupted: finish it.
    FinishRemoval,
    /// A plain directory: move it aside, create, copy.
    Start,
    /// Moved aside, no dataset yet: create, copy.
    Create,
    /// Moved aside, this job's dataset holds an unverified copy: destroy it,
    /// create again, copy again.
    Redo,
    /// Refused: why, in one line.
    Refuse(String),
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// What to do with `place` in `state`, for the job with `token` on `node`.
pub fn next(place: &Place, state: &State, token: &str, node: &str) -> Next {
    let (dir, ds) = (&place.dir, &place.dataset);
    let aside = state.aside != Entry::Absent;
    let removing = state.removing != Entry::Absent;
    if let Some(d) = &state.dataset {
        let ours = d.created.as_deref() == Some(token);
        let at_dir = d.mounted && same(&d.mountpoint, dir);
        if ours {
            if !at_dir {
                return Next::Refuse(format!(
                    "dataset {ds} (made by this job) is not mounted at {dir} (mountpoint {}); mount it (zfs mount {ds}) and resume",
                    d.mountpoint
                ));
            }
            if removing {
                return Next::FinishRemoval;
            }
            if aside {
                return Next::Redo;
            }
            return Next::Done;
        }
        if aside || removing {
            return Next::Refuse(format!(
                "dataset {ds} exists and was not made by this job, yet this job's aside copy {} is on node {node}: check both by hand before anything else",
                if aside { &place.aside } else { &place.removing }
            ));
        }
        if at_dir {
            return Next::AlreadyDataset(ds.clone());
        }
        return Next::Refuse(format!(
            "dataset {ds} exists already on node {node}, mounted at {} (not {dir}); rename that dataset or the service",
            if d.mounted { d.mountpoint.as_str() } else { "nothing: not mounted" }
        ));
    }
    if removing {
        return Next::Refuse(format!(
            "{} (a verified copy being removed) is on node {node} but dataset {ds} is gone: the data is in {}; move it back by hand",
            place.removing, place.removing
        ));
    }
    if aside && !state.mounts_inside.is_empty() {
        return Next::Refuse(format!(
            "{} on node {node} holds a mounted filesystem ({}); unmount it before resuming",
            place.aside, state.mounts_inside[0]
        ));
    }
    if aside {
        return match state.dir {
            Entry::Absent | Entry::Empty => Next::Create,
            _ => Next::Refuse(format!(
                "both {dir} and this job's aside copy {} are on node {node} and {ds} does not exist: something wrote {dir} meanwhile; check both by hand",
                place.aside
            )),
        };
    }
    if let Some(other) = &state.other_at_dir {
        return Next::AlreadyDataset(other.clone());
    }
    if let Some(first) = state.mounts_inside.first() {
        return Next::Refuse(format!(
            "{dir} on node {node} holds a mounted filesystem ({first}); moving it aside would carry that mount along: unmount it, or convert it on its own"
        ));
    }
    match state.dir {
        Entry::Full | Entry::Empty => Next::Start,
        Entry::Absent => Next::Refuse(format!(
            "service directory {dir} does not exist on node {node}; check the name (ls the node's appdata)"
        )),
        Entry::Other => Next::Refuse(format!(
            "{dir} on node {node} is not a directory (a symlink or a file); dir-to-dataset converts directories"
        )),
    }
}

/// Read the state of `place` on the node (a few commands, nothing written).
pub fn probe(runner: &NodeRunner, place: &Place) -> Result<State, String> {
    let node = runner.node().name.clone();
    // One shell for the three paths; the paths are positional arguments.
    let script = r#"for p in "$@"; do
if [ -L "$p" ]; then echo other
elif [ -d "$p" ]; then if [ -n "$(ls -A -- "$p" | head -n 1)" ]; then echo full; else echo empty; fi
elif [ -e "$p" ]; then echo other
else echo absent; fi
done"#;
    let argv: Vec<String> = [
        "sh",
        "-c",
        script,
        "sh",
        &place.dir,
        &place.aside,
        &place.removing,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ran = runner.run(&argv)?;
    if ran.code != 0 {
        return Err(format!(
            "node {node}: cannot look at {}: {}",
            place.dir,
            ran.complaint()
        ));
    }
    let entries: Vec<Entry> = ran
        .stdout
        .lines()
        .map(|l| match l.trim() {
            "absent" => Entry::Absent,
            "empty" => Entry::Empty,
            "full" => Entry::Full,
            _ => Entry::Other,
        })
        .collect();
    let [dir, aside, removing] = entries[..] else {
        return Err(format!(
            "node {node}: unexpected answer looking at {}: {}",
            place.dir,
            ran.stdout.trim()
        ));
    };
    let zfs = NodeZfs::new(runner);
    let all = zfs.all_filesystems()?;
    let dataset = match all.iter().find(|(n, _)| *n == place.dataset) {
        None => None,
        Some((_, mountpoint)) => Some(Dataset {
            mountpoint: mountpoint.clone(),
            mounted: zfs.property(&place.dataset, "mounted")?.as_deref() == Some("yes"),
            created: zfs.property(&place.dataset, CREATED)?,
        }),
    };
    let other_at_dir = all
        .iter()
        .find(|(n, m)| *n != place.dataset && same(m, &place.dir))
        .map(|(n, _)| n.clone());
    // A plain directory (or its aside copy) must not carry a mount along.
    let mounts_inside = if dataset.is_some() {
        Vec::new()
    } else {
        let mounts = runner.run(&["cat".to_string(), "/proc/self/mounts".to_string()])?;
        mounted_under(&mounts.stdout, &[&place.dir, &place.aside])
    };
    Ok(State {
        dir,
        aside,
        removing,
        dataset,
        other_at_dir,
        mounts_inside,
    })
}

/// Mount points in `/proc/self/mounts` text strictly inside any of `dirs`.
pub fn mounted_under(mounts: &str, dirs: &[&str]) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .map(unescape)
        .filter(|m| {
            dirs.iter()
                .any(|d| m.starts_with(&format!("{}/", d.trim_end_matches('/'))))
        })
        .collect()
}

/// `/proc/self/mounts` writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push(
                    d.iter()
                        .fold(0u8, |v, c| v.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        Place::new("/srv/appdata/", "tank/appdata", "web", "T1")
    }

    fn state(dir: Entry, aside: Entry, removing: Entry, ds: Option<Dataset>) -> State {
        State {
            dir,
            aside,
            removing,
            dataset: ds,
            other_at_dir: None,
            mounts_inside: Vec::new(),
        }
    }

    fn ds(mountpoint: &str, created: Option<&str>) -> Option<Dataset> {
        Some(Dataset {
            mountpoint: mountpoint.into(),
            mounted: true,
            created: created.map(str::to_string),
        })
    }

    #[test]
    fn places_are_siblings_marked_as_cutovers() {
        let p = place();
        assert_eq!(p.dir, "/srv/appdata/web");
        assert_eq!(p.aside, "/srv/appdata/.web.cutover-aside-T1");
        assert_eq!(p.removing, "/srv/appdata/.web.cutover-removing-T1");
        assert_eq!(p.dataset, "tank/appdata/web");
    }

    #[test]
    fn every_crash_point_has_a_next_step() {
        use Entry::*;
        let p = place();
        let n = |s: State| next(&p, &s, "T1", "local");
        assert_eq!(n(state(Full, Absent, Absent, None)), Next::Start);
        assert_eq!(n(state(Empty, Absent, Absent, None)), Next::Start);
        // Killed after the move aside, or after zfs create made the mountpoint.
        assert_eq!(n(state(Absent, Full, Absent, None)), Next::Create);
        assert_eq!(n(state(Empty, Full, Absent, None)), Next::Create);
        // Killed mid-copy: this job's dataset is redone.
        let mine = ds("/srv/appdata/web", Some("T1"));
        assert_eq!(n(state(Full, Full, Absent, mine.clone())), Next::Redo);
        // Killed while removing the verified aside copy.
        assert_eq!(
            n(state(Full, Absent, Full, mine.clone())),
            Next::FinishRemoval
        );
        assert_eq!(n(state(Full, Absent, Absent, mine)), Next::Done);
    }

    #[test]
    fn what_is_not_ours_is_refused_or_left_alone() {
        use Entry::*;
        let p = place();
        let n = |s: State| next(&p, &s, "T1", "local");
        assert_eq!(
            n(state(Full, Absent, Absent, ds("/srv/appdata/web/", None))),
            Next::AlreadyDataset("tank/appdata/web".into())
        );
        // Made by another job: never destroyed, never redone.
        let other = ds("/srv/appdata/web", Some("T0"));
        assert!(matches!(
            n(state(Full, Full, Absent, other)),
            Next::Refuse(_)
        ));
        let elsewhere = n(state(Full, Absent, Absent, ds("/mnt/web", None)));
        let Next::Refuse(why) = elsewhere else {
            panic!("{elsewhere:?}")
        };
        assert!(
            why.contains("tank/appdata/web") && why.contains("/mnt/web"),
            "{why}"
        );
        assert!(matches!(
            n(state(Full, Full, Absent, None)),
            Next::Refuse(_)
        ));
        assert!(matches!(
            n(state(Absent, Absent, Absent, None)),
            Next::Refuse(_)
        ));
        assert!(matches!(
            n(state(Other, Absent, Absent, None)),
            Next::Refuse(_)
        ));
        let mut s = state(Full, Absent, Absent, None);
        s.other_at_dir = Some("pool2/web".into());
        assert_eq!(n(s), Next::AlreadyDataset("pool2/web".into()));
        let mut s = state(Full, Absent, Absent, None);
        s.mounts_inside = vec!["/srv/appdata/web/db".into()];
        assert!(matches!(n(s), Next::Refuse(w) if w.contains("/srv/appdata/web/db")));
        let mounts = "tank/a /srv/appdata zfs rw 0 0\ntank/b /srv/appdata/web\\040x/db zfs rw 0 0\ntank/c /srv/appdata/web zfs rw 0 0\n";
        assert_eq!(
            mounted_under(mounts, &["/srv/appdata/web x", "/srv/appdata/web"]),
            ["/srv/appdata/web x/db"]
        );
    }

    #[test]
    fn names_zfs_or_shells_would_trip_on_are_refused_with_the_rule() {
        assert_eq!(check_name("authelia-redis"), None);
        for bad in ["a b", "a'b", "$(id)", "a/b", "..", ".hidden", "x@y", ""] {
            assert!(check_name(bad).is_some(), "{bad}");
        }
        let why = check_name("$(id)").unwrap_or_default();
        assert!(why.contains("ZFS names allow only"), "{why}");
    }
}
