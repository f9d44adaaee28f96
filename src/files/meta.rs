//! Low-level file metadata for tree-sync: lstat without following links,
//! and applying owner, mode and times to what was written.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The kinds of entries a tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
    CharDev,
    BlockDev,
    Socket,
}

impl Kind {
    /// Kind of an lstat result.
    pub fn of(md: &std::fs::Metadata) -> Kind {
        let t = md.file_type();
        if t.is_dir() {
            Kind::Dir
        } else if t.is_symlink() {
            Kind::Symlink
        } else if t.is_fifo() {
            Kind::Fifo
        } else if t.is_char_device() {
            Kind::CharDev
        } else if t.is_block_device() {
            Kind::BlockDev
        } else if t.is_socket() {
            Kind::Socket
        } else {
            Kind::File
        }
    }

    /// Word for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dir => "directory",
            Kind::File => "file",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::CharDev => "char device",
            Kind::BlockDev => "block device",
            Kind::Socket => "socket",
        }
    }
}

/// The parts of a stat that tree-sync preserves and compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    /// Status change time: any write or metadata change moves it.
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub rdev: u64,
}

impl Stat {
    /// From std metadata (of an lstat or fstat).
    pub fn from_md(md: &std::fs::Metadata) -> Stat {
        Stat {
            kind: Kind::of(md),
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: md.len(),
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec(),
            ctime: md.ctime(),
            ctime_nsec: md.ctime_nsec(),
            dev: md.dev(),
            ino: md.ino(),
            nlink: md.nlink(),
            rdev: md.rdev(),
        }
    }

    /// Whether content and mtime look unchanged (rsync's quick check, to the
    /// nanosecond).
    pub fn same_content_stamp(&self, other: &Stat) -> bool {
        self.size == other.size && self.mtime == other.mtime && self.mtime_nsec == other.mtime_nsec
    }

    /// Whether this is still the file `then` was taken of, unwritten since:
    /// the same inode, size, mtime and ctime (a write or a metadata change
    /// moves the ctime). What a verification checks before it trusts what
    /// an earlier read of the file found.
    pub fn unchanged_since(&self, then: &Stat) -> bool {
        (self.dev, self.ino, self.ctime, self.ctime_nsec)
            == (then.dev, then.ino, then.ctime, then.ctime_nsec)
            && self.same_content_stamp(then)
    }

    /// Whether this target file is a current copy of `source` by the quick
    /// check: same size and the same mtime to the nanosecond. A target that
    /// keeps whole seconds only (zfs-fuse reads nanoseconds back as 0) never
    /// matches a source with nanoseconds, so such files are copied again:
    /// matching on the seconds alone skipped a file rewritten within the
    /// same second at the same size (its verification then failed).
    pub fn is_copy_of(&self, source: &Stat) -> bool {
        self.same_content_stamp(source)
    }

    /// Whether this is the same file, untouched, as `earlier` (a stat of it
    /// taken before): same inode, size, mtime and ctime. A write moves the
    /// ctime, and nothing short of the clock sets it back.
    pub fn untouched_since(&self, earlier: &Stat) -> bool {
        self.kind == Kind::File
            && self.ino == earlier.ino
            && self.same_content_stamp(earlier)
            && (self.ctime, self.ctime_nsec) == (earlier.ctime, earlier.ctime_nsec)
    }
}

/// lstat a path.
pub fn lstat(path: &Path) -> io::Result<Stat> {
    std::fs::symlink_metadata(path).map(|m| Stat::from_md(&m))
}

/// Whether this process may set owners (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Set mtime (and atime to the same) without following a final symlink.
pub fn set_mtime(path: &Path, sec: i64, nsec: i64) -> io::Result<()> {
    let c = cpath(path)?;
    let ts = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as libc::c_long,
    };
    let times = [ts, ts];
    // SAFETY: c is a valid NUL-terminated path and times points at two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Apply owner (when root), mode (not for symlinks) and mtime to `path`.
pub fn apply(path: &Path, st: &Stat) -> io::Result<()> {
    if is_root() {
        std::os::unix::fs::lchown(path, Some(st.uid), Some(st.gid))?;
    }
    if st.kind != Kind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(st.mode))?;
    }
    set_mtime(path, st.mtime, st.mtime_nsec)
}

/// Create a fifo or device node like `st`.
pub fn make_node(path: &Path, st: &Stat) -> io::Result<()> {
    let c = cpath(path)?;
    let kind_bits = match st.kind {
        Kind::Fifo => libc::S_IFIFO,
        Kind::CharDev => libc::S_IFCHR,
        Kind::BlockDev => libc::S_IFBLK,
        _ => return Err(io::Error::new(io::ErrorKind::Unsupported, "not a node")),
    };
    // SAFETY: c is a valid NUL-terminated path.
    let rc = unsafe {
        libc::mknod(
            c.as_ptr(),
            kind_bits | (st.mode & 0o777) as libc::mode_t,
            st.rdev as libc::dev_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Remove whatever is at `path` (a directory recursively, never following links).
pub fn remove_any(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
