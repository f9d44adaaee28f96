//! Hard links across parallel items. The first name of a multiply-linked
//! source inode to be met claims it and writes the copy (under a temporary
//! name, renamed into place); later names link to that copy. A name met
//! while the first copy is still being written waits for it, so no name is
//! ever linked to a file that is not complete under its final name.
//!
//! No deadlock: an item finishes (or abandons) its one claim before it moves
//! to its next entry, so it never waits while holding a claim.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// Source (dev, ino).
pub type InodeKey = (u64, u64);

#[derive(Debug)]
enum State {
    Writing,
    /// Complete at this path relative to the target root.
    Done(PathBuf),
}

/// The outcome of meeting a name of a multiply-linked inode.
#[derive(Debug, PartialEq)]
pub enum LinkClaim {
    /// First: write it, then call [`LinkTable::done`] (or drop the guard to abandon).
    Mine,
    /// Link to this complete copy (relative to the target root).
    LinkTo(PathBuf),
}

/// Source inode → its copy in the target.
#[derive(Debug, Default)]
pub struct LinkTable {
    map: Mutex<HashMap<InodeKey, State>>,
    changed: Condvar,
}

impl LinkTable {
    /// Record a copy already complete in the target (final sync, resume).
    pub fn seed(&self, key: InodeKey, rel: &Path) {
        if let Ok(mut m) = self.map.lock() {
            m.entry(key)
                .or_insert_with(|| State::Done(rel.to_path_buf()));
        }
    }

    /// Claim `key`, waiting while another item writes it.
    pub fn claim(&self, key: InodeKey) -> std::io::Result<LinkClaim> {
        let mut m = self
            .map
            .lock()
            .map_err(|_| std::io::Error::other("hard-link table poisoned"))?;
        loop {
            match m.get(&key) {
                None => {
                    m.insert(key, State::Writing);
                    return Ok(LinkClaim::Mine);
                }
                Some(State::Done(p)) => return Ok(LinkClaim::LinkTo(p.clone())),
                Some(State::Writing) => {
                    m = self
                        .changed
                        .wait(m)
                        .map_err(|_| std::io::Error::other("hard-link table poisoned"))?;
                }
            }
        }
    }

    /// The claimed inode's copy is complete at `rel`.
    pub fn done(&self, key: InodeKey, rel: &Path) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(key, State::Done(rel.to_path_buf()));
        }
        self.changed.notify_all();
    }

    /// Writing the claimed inode failed: the next name claims it.
    pub fn abandon(&self, key: InodeKey) {
        if let Ok(mut m) = self.map.lock() {
            if matches!(m.get(&key), Some(State::Writing)) {
                m.remove(&key);
            }
        }
        self.changed.notify_all();
    }
}

/// Abandons a claim unless [`ClaimGuard::done`] was called (every error path).
pub struct ClaimGuard<'a> {
    table: &'a LinkTable,
    key: InodeKey,
    finished: bool,
}

impl<'a> ClaimGuard<'a> {
    /// Guard a claim that returned [`LinkClaim::Mine`].
    pub fn new(table: &'a LinkTable, key: InodeKey) -> Self {
        ClaimGuard {
            table,
            key,
            finished: false,
        }
    }

    /// The copy is complete at `rel`.
    pub fn done(mut self, rel: &Path) {
        self.table.done(self.key, rel);
        self.finished = true;
    }
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.table.abandon(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_second_name_waits_for_the_first_copy() {
        let t = Arc::new(LinkTable::default());
        assert_eq!(t.claim((1, 1)).expect("claim"), LinkClaim::Mine);
        let waiter = {
            let t = t.clone();
            std::thread::spawn(move || t.claim((1, 1)).expect("claim"))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished());
        t.done((1, 1), Path::new("a/x"));
        assert_eq!(
            waiter.join().expect("join"),
            LinkClaim::LinkTo(PathBuf::from("a/x"))
        );
    }

    #[test]
    fn a_dropped_guard_hands_the_claim_on() {
        let t = LinkTable::default();
        assert_eq!(t.claim((2, 2)).expect("claim"), LinkClaim::Mine);
        drop(ClaimGuard::new(&t, (2, 2)));
        assert_eq!(t.claim((2, 2)).expect("claim"), LinkClaim::Mine);
        t.seed((3, 3), Path::new("s"));
        assert_eq!(
            t.claim((3, 3)).expect("claim"),
            LinkClaim::LinkTo(PathBuf::from("s"))
        );
    }
}
