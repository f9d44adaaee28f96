//! Reading a package's small files ahead of their turn: a window of the
//! next files is opened and the kernel is asked to read them in
//! (`POSIX_FADV_WILLNEED`), so a store that is not in the page cache is read
//! with many requests in flight instead of one file's read at a time. A
//! store already in memory costs one `fadvise` per file.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::walk::PkgEntry;
use crate::files::meta::Kind;

/// Files opened ahead at most.
const FILES_AHEAD: usize = 32;
/// Bytes asked for ahead at most.
const BYTES_AHEAD: u64 = 16 << 20;

/// Files held open ahead by every window of the process: bounded by a
/// quarter of the descriptor limit, so many packages at once never take
/// the descriptors their own files' opens need.
static HELD: AtomicUsize = AtomicUsize::new(0);

fn held_at_most() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid rlimit for the call to fill.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
        let soft = if ok { lim.rlim_cur } else { 1024 };
        usize::try_from(soft / 4).unwrap_or(usize::MAX).min(4096)
    })
}

/// The window over one package's walk: entry index → its opened file.
pub struct ReadAhead<'a> {
    dir: &'a Path,
    entries: &'a [PkgEntry],
    /// Largest file read ahead (larger ones are read in order, with the
    /// kernel's own sequential readahead).
    max_size: u64,
    next: usize,
    bytes: u64,
    window: VecDeque<(usize, u64, Option<File>)>,
}

impl<'a> ReadAhead<'a> {
    /// A window over `entries` of the package directory `dir`.
    pub fn new(dir: &'a Path, entries: &'a [PkgEntry], max_size: u64) -> Self {
        ReadAhead {
            dir,
            entries,
            max_size,
            next: 0,
            bytes: 0,
            window: VecDeque::new(),
        }
    }

    /// Entry `index`'s file, opened (without following a symlink) and
    /// asked for ahead; `None` when it is not a file read ahead, or opening
    /// it ahead failed (the caller opens it and meets the error itself; a
    /// window that ran out of descriptors costs nothing). Entries must be
    /// taken in increasing order.
    pub fn take(&mut self, index: usize) -> Option<File> {
        while self.window.front().is_some_and(|(i, _, _)| *i < index) {
            self.pop();
        }
        self.fill(index);
        match self.window.front() {
            Some((i, _, _)) if *i == index => self.pop(),
            _ => None,
        }
    }

    fn pop(&mut self) -> Option<File> {
        let (_, size, file) = self.window.pop_front()?;
        self.bytes -= size;
        if file.is_some() {
            HELD.fetch_sub(1, Ordering::Relaxed);
        }
        file
    }

    fn fill(&mut self, from: usize) {
        self.next = self.next.max(from);
        while self.next < self.entries.len()
            && self.window.len() < FILES_AHEAD
            && (self.bytes < BYTES_AHEAD || self.window.is_empty())
        {
            let i = self.next;
            self.next += 1;
            let e = &self.entries[i];
            let st = &e.stat;
            // Other names of a multiply-linked inode may not be read at all.
            if st.kind != Kind::File || st.size == 0 || st.size > self.max_size || st.nlink > 1 {
                continue;
            }
            let file = if HELD.fetch_add(1, Ordering::Relaxed) < held_at_most() {
                open_ahead(&self.dir.join(&e.rel)).ok()
            } else {
                None
            };
            if file.is_none() {
                HELD.fetch_sub(1, Ordering::Relaxed);
            }
            self.bytes += st.size;
            self.window.push_back((i, st.size, file));
        }
    }
}

impl Drop for ReadAhead<'_> {
    fn drop(&mut self) {
        while !self.window.is_empty() {
            self.pop();
        }
    }
}

/// Open a source file for reading without following a symlink, and ask the
/// kernel to read it in (advice only: its failure changes nothing). Never
/// waits: a FIFO put in the file's place since the walk opens at once (and
/// reads nothing, which the caller reports as a changed file).
fn open_ahead(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    // SAFETY: the descriptor is open for the life of `file`.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED);
    }
    Ok(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::migrate::store_to_cas::walk::walk_package;
    use std::io::Read;

    /// A package of `n` one-byte files `f00`, `f01`, … and its walk.
    fn one_byte_files(n: usize) -> (tempfile::TempDir, Vec<PkgEntry>) {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..n {
            std::fs::write(tmp.path().join(format!("f{i:02}")), b"x").unwrap();
        }
        let entries = walk_package(tmp.path()).unwrap();
        (tmp, entries)
    }

    #[test]
    fn each_small_file_is_handed_over_once_in_its_turn() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for n in 0..100 {
            std::fs::write(dir.join(format!("f{n:03}")), format!("content {n}")).unwrap();
        }
        std::fs::write(dir.join("large"), vec![1u8; 5000]).unwrap();
        std::fs::write(dir.join("empty"), b"").unwrap();
        std::os::unix::fs::symlink("f000", dir.join("link")).unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        let entries = walk_package(dir).unwrap();
        let mut ahead = ReadAhead::new(dir, &entries, 4096);
        let mut handed = 0;
        for (i, e) in entries.iter().enumerate() {
            let name = e.rel.to_string_lossy().to_string();
            match ahead.take(i) {
                Some(file) => {
                    let mut text = String::new();
                    let mut file = file;
                    file.read_to_string(&mut text).unwrap();
                    let n: usize = name[1..].parse().unwrap();
                    assert_eq!(text, format!("content {n}"), "{name}");
                    handed += 1;
                }
                None => assert!(
                    ["large", "empty", "link", "sub"].contains(&name.as_str()),
                    "{name} was not read ahead"
                ),
            }
            assert!(ahead.window.len() <= FILES_AHEAD);
        }
        assert_eq!(handed, 100);
        assert!(ahead.window.is_empty());
        assert_eq!(ahead.bytes, 0);
    }

    #[test]
    fn a_file_that_cannot_be_opened_ahead_is_left_to_the_caller() {
        let (tmp, entries) = one_byte_files(2);
        std::fs::remove_file(tmp.path().join("f01")).unwrap();
        let mut ahead = ReadAhead::new(tmp.path(), &entries, 4096);
        assert!(ahead.take(0).is_some());
        assert!(
            ahead.take(1).is_none(),
            "the caller opens it and reports why"
        );
        assert_eq!(ahead.bytes, 0);
    }

    #[test]
    fn windows_together_hold_at_most_a_quarter_of_the_descriptors() {
        let (tmp, entries) = one_byte_files(40);
        let cap = held_at_most();
        // Each window holds FILES_AHEAD - 1 files once it handed one over.
        let windows = cap / (FILES_AHEAD - 1) + 2;
        let mut all: Vec<_> = (0..windows)
            .map(|_| ReadAhead::new(tmp.path(), &entries, 4096))
            .collect();
        for w in &mut all {
            w.take(0);
            assert!(HELD.load(Ordering::Relaxed) <= cap);
        }
        let open = |w: &ReadAhead| w.window.iter().filter(|(_, _, f)| f.is_some()).count();
        assert_eq!(open(&all[0]), FILES_AHEAD - 1);
        let last = all.last().unwrap();
        assert_eq!(last.window.len(), FILES_AHEAD - 1);
        assert!(
            open(last) <= 1,
            "past the budget a window opens nothing ahead"
        );
        // Those files are opened in their turn by the caller instead.
        drop(all);
        assert!(HELD.load(Ordering::Relaxed) < cap);
    }

    #[test]
    fn a_fifo_put_in_a_file_s_place_does_not_hold_the_window() {
        let (tmp, entries) = one_byte_files(2);
        let path = tmp.path().join("f01");
        std::fs::remove_file(&path).unwrap();
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ahead = ReadAhead::new(tmp.path(), &entries, 4096);
            let first = ahead.take(0).is_some();
            let mut text = Vec::new();
            let fifo = ahead.take(1).map(|mut f| f.read_to_end(&mut text).is_ok());
            let _ = tx.send((first, fifo, text.len()));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(
            got,
            Ok((true, Some(true), 0)),
            "opened at once, nothing read"
        );
    }

    #[test]
    fn skipped_entries_are_dropped_from_the_window() {
        let (tmp, entries) = one_byte_files(10);
        let mut ahead = ReadAhead::new(tmp.path(), &entries, 4096);
        assert!(ahead.take(0).is_some());
        // Entries 1–4 never asked for (another name of a stored inode, say).
        assert!(ahead.take(5).is_some());
        assert_eq!(ahead.window.len(), 4);
        assert_eq!(ahead.bytes, 4);
    }
}
