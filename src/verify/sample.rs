//! Seeded sampling that needs no list of every file: each path gets a key
//! from (seed, path); planning keeps the N smallest keys, and a file is in
//! the sample when its key is at most the N-th smallest. The same seed on the
//! same tree always selects the same files.

use std::collections::BinaryHeap;

/// A 64-bit mixer (splitmix64 finaliser).
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The sample key of a path under a seed.
pub fn key(seed: u64, path: &[u8]) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(path);
    let bytes = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Collects the N smallest keys while planning (memory: N keys).
#[derive(Debug, Clone)]
pub struct SampleBuilder {
    seed: u64,
    n: u64,
    heap: BinaryHeap<u64>,
}

impl SampleBuilder {
    /// A builder for a sample of `n` files under `seed`.
    pub fn new(seed: u64, n: u64) -> Self {
        SampleBuilder {
            seed,
            n,
            heap: BinaryHeap::new(),
        }
    }

    /// Offer one file's relative path.
    pub fn offer(&mut self, path: &[u8]) {
        if self.n == 0 {
            return;
        }
        let k = key(self.seed, path);
        if (self.heap.len() as u64) < self.n {
            self.heap.push(k);
        } else if self.heap.peek().is_some_and(|&top| k < top) {
            self.heap.pop();
            self.heap.push(k);
        }
    }

    /// The finished selection rule.
    pub fn finish(&self) -> Sample {
        let threshold = if self.n == 0 {
            None
        } else if (self.heap.len() as u64) < self.n {
            Some(u64::MAX)
        } else {
            self.heap.peek().copied()
        };
        Sample {
            seed: self.seed,
            threshold,
        }
    }
}

/// Decides whether a path is in the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub seed: u64,
    /// `None`: nothing is sampled; `Some(t)`: keys ≤ t are.
    pub threshold: Option<u64>,
}

impl Sample {
    /// Every file is selected (full verification).
    pub fn all() -> Self {
        Sample {
            seed: 0,
            threshold: Some(u64::MAX),
        }
    }

    /// Whether `path` is in the sample.
    pub fn contains(&self, path: &[u8]) -> bool {
        match self.threshold {
            None => false,
            Some(u64::MAX) => true,
            Some(t) => key(self.seed, path) <= t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_exactly_n_and_repeats_with_the_seed() {
        let paths: Vec<String> = (0..1000).map(|i| format!("dir/file-{i}")).collect();
        let pick = |seed| {
            let mut b = SampleBuilder::new(seed, 10);
            for p in &paths {
                b.offer(p.as_bytes());
            }
            let s = b.finish();
            paths
                .iter()
                .filter(|p| s.contains(p.as_bytes()))
                .cloned()
                .collect::<Vec<_>>()
        };
        let a = pick(7);
        assert_eq!(a.len(), 10);
        assert_eq!(a, pick(7));
        assert_ne!(a, pick(8));
    }

    #[test]
    fn small_trees_are_sampled_whole_and_zero_samples_nothing() {
        let mut b = SampleBuilder::new(1, 100);
        b.offer(b"a");
        assert!(b.finish().contains(b"a"));
        assert!(b.finish().contains(b"anything"));
        let z = SampleBuilder::new(1, 0).finish();
        assert!(!z.contains(b"a"));
    }
}
