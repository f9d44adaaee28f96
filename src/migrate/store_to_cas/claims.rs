//! Which objects exist, shared by the packages migrating at once. The first
//! package to meet a content claims it and writes the object; a package
//! meeting the same content while that write is in flight waits for it, so
//! no package is verified against an object that is not on disk yet.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// The outcome of claiming an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody stored it: the caller writes it, then calls `stored` or `abandon`.
    Mine,
    /// It is on disk already: the caller's file is deduplicated.
    Stored,
}

/// Objects by raw BLAKE3 hash: `true` once on disk, `false` while being written.
#[derive(Default)]
pub struct ObjectClaims {
    objects: Mutex<HashMap<[u8; 32], bool>>,
    written: Condvar,
}

impl ObjectClaims {
    /// Record objects known to be stored (from `store.db`).
    pub fn extend_stored(&self, hashes: impl IntoIterator<Item = [u8; 32]>) {
        if let Ok(mut m) = self.objects.lock() {
            m.extend(hashes.into_iter().map(|h| (h, true)));
        }
    }

    /// Claim `hash`; waits while another package is writing it.
    pub fn claim(&self, hash: [u8; 32]) -> Claim {
        let Ok(mut m) = self.objects.lock() else {
            return Claim::Mine;
        };
        loop {
            match m.get(&hash) {
                None => {
                    m.insert(hash, false);
                    return Claim::Mine;
                }
                Some(true) => return Claim::Stored,
                Some(false) => match self.written.wait(m) {
                    Ok(guard) => m = guard,
                    Err(_) => return Claim::Mine,
                },
            }
        }
    }

    /// The claimed object is on disk.
    pub fn stored(&self, hash: [u8; 32]) {
        if let Ok(mut m) = self.objects.lock() {
            m.insert(hash, true);
        }
        self.written.notify_all();
    }

    /// Writing the claimed object failed: someone else may claim it.
    pub fn abandon(&self, hash: [u8; 32]) {
        if let Ok(mut m) = self.objects.lock() {
            m.remove(&hash);
        }
        self.written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_second_claim_waits_for_the_write() {
        let claims = Arc::new(ObjectClaims::default());
        assert_eq!(claims.claim([1; 32]), Claim::Mine);
        let waiter = {
            let claims = claims.clone();
            std::thread::spawn(move || claims.claim([1; 32]))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "waits while the object is written");
        claims.stored([1; 32]);
        assert_eq!(waiter.join().expect("join"), Claim::Stored);
    }

    #[test]
    fn an_abandoned_claim_passes_to_the_next() {
        let claims = ObjectClaims::default();
        assert_eq!(claims.claim([2; 32]), Claim::Mine);
        claims.abandon([2; 32]);
        assert_eq!(claims.claim([2; 32]), Claim::Mine);
        claims.extend_stored([[3; 32]]);
        assert_eq!(claims.claim([3; 32]), Claim::Stored);
    }
}
