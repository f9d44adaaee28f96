//! BTRFS through `btrfs subvolume list` and two cheap checks on a path
//! (is it a subvolume, is it read-only), for finding repositories of
//! read-only snapshots.

use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::cmd::{self, CmdError};

/// `statfs` magic number of BTRFS.
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;
/// Inode number of every subvolume's root directory.
const SUBVOLUME_ROOT_INO: u64 = 256;
/// `BTRFS_IOC_SUBVOL_GETFLAGS`: `_IOR(0x94, 25, u64)`.
const IOC_SUBVOL_GETFLAGS: libc::c_ulong = 0x8008_9419;
/// `BTRFS_SUBVOL_RDONLY`.
const SUBVOL_RDONLY: u64 = 1 << 1;

/// One subvolume as `btrfs subvolume list -u -q` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subvolume {
    /// Subvolume id.
    pub id: u64,
    /// Generation (transaction id of its last change).
    pub generation: u64,
    /// Id of the subvolume it sits in.
    pub top_level: u64,
    /// UUID of the subvolume it is a snapshot of (`None`: not a snapshot).
    pub parent_uuid: Option<String>,
    /// Its own UUID.
    pub uuid: String,
    /// Path relative to the filesystem's top level (may hold spaces).
    pub path: String,
    /// Read-only (from a second listing with `-r`, see [`mark_readonly`]).
    pub readonly: bool,
}

/// The subvolumes of a `btrfs subvolume list [-r] -u -q` output. Lines that
/// do not parse are left out.
pub fn parse_list(text: &str) -> Vec<Subvolume> {
    text.lines().filter_map(parse_line).collect()
}

/// `ID 257 gen 7 top level 5 parent_uuid P uuid U path snaps/s 1`.
fn parse_line(line: &str) -> Option<Subvolume> {
    let (head, path) = line.split_once(" path ")?;
    let words: Vec<&str> = head.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    let top_level = words
        .windows(3)
        .find(|w| w[0] == "top" && w[1] == "level")
        .and_then(|w| w[2].parse().ok())?;
    Some(Subvolume {
        id: after("ID")?.parse().ok()?,
        generation: after("gen")?.parse().ok()?,
        top_level,
        parent_uuid: after("parent_uuid")
            .filter(|u| *u != "-")
            .map(str::to_string),
        uuid: after("uuid")?.to_string(),
        path: path.to_string(),
        readonly: false,
    })
}

/// Mark as read-only the subvolumes that the `-r` listing holds.
pub fn mark_readonly(all: &mut [Subvolume], readonly: &[Subvolume]) {
    for sv in all.iter_mut() {
        sv.readonly = readonly.iter().any(|r| r.id == sv.id);
    }
}

/// Every subvolume of the BTRFS mounted at (or containing) `path`, with
/// read-only flags (two `btrfs subvolume list` calls; needs root).
pub fn subvolumes(path: &Path) -> Result<Vec<Subvolume>, CmdError> {
    let p = path.as_os_str();
    let all = cmd::run(
        "btrfs",
        &[
            "subvolume".as_ref(),
            "list".as_ref(),
            "-u".as_ref(),
            "-q".as_ref(),
            p,
        ],
    )?;
    let ro = cmd::run(
        "btrfs",
        &[
            "subvolume".as_ref(),
            "list".as_ref(),
            "-r".as_ref(),
            "-u".as_ref(),
            "-q".as_ref(),
            p,
        ],
    )?;
    let mut list = parse_list(&all);
    mark_readonly(&mut list, &parse_list(&ro));
    Ok(list)
}

/// Whether `path` is on BTRFS.
pub fn is_btrfs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path; st is written by statfs.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BTRFS_SUPER_MAGIC
}

/// Whether `path` is the root of a BTRFS subvolume (or snapshot).
pub fn is_subvolume(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == SUBVOLUME_ROOT_INO)
        && is_btrfs(path)
}

/// Whether the subvolume at `path` is read-only (a read-only snapshot).
/// `false` for anything that is not a subvolume or cannot be asked.
pub fn is_readonly(path: &Path) -> bool {
    if !is_subvolume(path) {
        return false;
    }
    let Ok(dir) = std::fs::File::open(path) else {
        return false;
    };
    let mut flags: u64 = 0;
    // SAFETY: the fd is open for the call; the ioctl writes one u64.
    let rc = unsafe { libc::ioctl(dir.as_raw_fd(), IOC_SUBVOL_GETFLAGS, &mut flags) };
    rc == 0 && flags & SUBVOL_RDONLY != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `btrfs subvolume list -u -q` of btrfs-progs 6.2 (captured here).
    const ALL: &str = "ID 256 gen 9 top level 5 parent_uuid -                                    uuid 66821b37-0f11-0c49-81fe-7b667e7cacdd path repo
ID 257 gen 7 top level 5 parent_uuid 66821b37-0f11-0c49-81fe-7b667e7cacdd uuid 3cfb6b85-b0ad-8749-92de-71c8621c8d2a path snaps/s1
ID 258 gen 8 top level 5 parent_uuid 66821b37-0f11-0c49-81fe-7b667e7cacdd uuid f105765e-9b01-5a46-8d9b-58c54aa9a776 path snaps/s 2
ID 259 gen 9 top level 5 parent_uuid 66821b37-0f11-0c49-81fe-7b667e7cacdd uuid 995c5eaa-9ead-eb47-bb4b-c84dc3be580e path snaps/rw
";

    /// The same with `-r`: read-only snapshots only.
    const READONLY: &str = "ID 257 gen 7 top level 5 parent_uuid 66821b37-0f11-0c49-81fe-7b667e7cacdd uuid 3cfb6b85-b0ad-8749-92de-71c8621c8d2a path snaps/s1
ID 258 gen 8 top level 5 parent_uuid 66821b37-0f11-0c49-81fe-7b667e7cacdd uuid f105765e-9b01-5a46-8d9b-58c54aa9a776 path snaps/s 2
";

    #[test]
    fn subvolume_list_reads_uuids_generations_and_paths() {
        let mut all = parse_list(ALL);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].parent_uuid, None);
        assert_eq!(all[0].uuid, "66821b37-0f11-0c49-81fe-7b667e7cacdd");
        assert_eq!(all[2].id, 258);
        assert_eq!(all[2].generation, 8);
        assert_eq!(all[2].top_level, 5);
        assert_eq!(all[2].path, "snaps/s 2");
        assert_eq!(all[2].parent_uuid.as_deref(), Some(all[0].uuid.as_str()));
        mark_readonly(&mut all, &parse_list(READONLY));
        let ro: Vec<&str> = all
            .iter()
            .filter(|s| s.readonly)
            .map(|s| s.path.as_str())
            .collect();
        assert_eq!(ro, vec!["snaps/s1", "snaps/s 2"]);
    }

    #[test]
    fn lines_that_are_not_subvolumes_are_skipped() {
        assert!(parse_list("ERROR: can't access '/x'\n\n").is_empty());
    }
}
