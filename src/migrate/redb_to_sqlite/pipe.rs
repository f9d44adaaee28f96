//! Streaming a source table on its own thread: a reader thread scans redb,
//! copies entries into bounded batches and hashes them; the caller's thread
//! consumes them (writes SQLite, or compares with the target). Memory is a
//! few batches, whatever the table's size.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use super::source::{Source, TableInfo};

/// Entries per batch.
const BATCH_ENTRIES: usize = 4096;
/// Bytes of keys and values per batch (one larger entry still fits alone).
const BATCH_BYTES: usize = 4 << 20;
/// Batches in flight between the threads.
const IN_FLIGHT: usize = 2;

/// The order-independent checksum of a table: the number of entries and
/// the sum (mod 2^128) of a keyed BLAKE3 of every (table, key, value).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    pub entries: u64,
    pub sum: u128,
}

impl Checksum {
    /// Count one entry of hash `h`.
    pub fn add(&mut self, h: u128) {
        self.entries += 1;
        self.sum = self.sum.wrapping_add(h);
    }

    /// Fold another checksum in (a file's checksum is its tables' combined).
    pub fn combine(&mut self, other: &Checksum) {
        self.entries += other.entries;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// The sum as 32 hex digits.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

/// Hashes entries of one table: BLAKE3 keyed by the table's name, over the
/// key, the value and the key's length (u64 LE): `key ‖ value ‖ len(key)`.
#[derive(Debug, Clone)]
pub struct EntryHasher {
    key: [u8; 32],
}

impl EntryHasher {
    /// The hasher of table `name`.
    pub fn new(name: &str) -> Self {
        EntryHasher {
            key: blake3::derive_key("cutover redb-to-sqlite entry checksum v1", name.as_bytes()),
        }
    }

    /// Hash of one entry.
    pub fn hash(&self, key: &[u8], value: &[u8]) -> u128 {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(key);
        h.update(value);
        h.update(&(key.len() as u64).to_le_bytes());
        first_128(h.finalize())
    }

    /// Hash of one entry laid out as `key ‖ value ‖ len(key)` (one call, faster).
    pub fn hash_laid_out(&self, input: &[u8]) -> u128 {
        first_128(blake3::keyed_hash(&self.key, input))
    }
}

fn first_128(h: blake3::Hash) -> u128 {
    let mut first = [0u8; 16];
    first.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(first)
}

/// One entry handed to the consumer.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Its checksum hash, when the reader computed it.
    pub hash: Option<u128>,
    /// `key ‖ value ‖ len(key)`, what [`EntryHasher::hash_laid_out`] takes.
    pub laid_out: &'a [u8],
}

impl Entry<'_> {
    /// The entry's hash: the reader's, or computed now.
    pub fn hash_with(&self, hasher: &EntryHasher) -> u128 {
        self.hash
            .unwrap_or_else(|| hasher.hash_laid_out(self.laid_out))
    }
}

/// Which thread hashes the entries: the reader while the consumer is busy
/// writing SQLite; both, in turns, when the consumer compares with the
/// target (an entry equal on both sides is hashed once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOn {
    Reader,
    /// The reader hashes every other batch; the consumer the rest.
    Shared,
}

#[derive(Default)]
struct Batch {
    /// Entries laid out as `key ‖ value ‖ len(key)`, one after the other.
    data: Vec<u8>,
    /// (key end, value end) offsets into `data`; each entry starts 8 bytes
    /// after the last one's value ended.
    ends: Vec<(usize, usize)>,
    hashes: Vec<Option<u128>>,
}

impl Batch {
    fn with_capacity() -> Batch {
        Batch {
            data: Vec::with_capacity(BATCH_BYTES),
            ends: Vec::with_capacity(BATCH_ENTRIES),
            hashes: Vec::with_capacity(BATCH_ENTRIES),
        }
    }

    /// Append an entry; returns it laid out for hashing.
    fn push(&mut self, key: &[u8], value: &[u8]) -> &[u8] {
        let start = self.data.len();
        self.data.extend_from_slice(key);
        let k = self.data.len();
        self.data.extend_from_slice(value);
        self.ends.push((k, self.data.len()));
        self.data
            .extend_from_slice(&(key.len() as u64).to_le_bytes());
        self.hashes.push(None);
        &self.data[start..]
    }

    fn full(&self) -> bool {
        self.ends.len() >= BATCH_ENTRIES || self.data.len() >= BATCH_BYTES
    }

    fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        let mut start = 0;
        self.ends
            .iter()
            .zip(&self.hashes)
            .map(move |(&(k, v), &hash)| {
                let e = Entry {
                    key: &self.data[start..k],
                    value: &self.data[k..v],
                    hash,
                    laid_out: &self.data[start..v + 8],
                };
                start = v + 8;
                e
            })
    }
}

/// Values above this size are sampled by their digest, not kept.
const SAMPLE_VALUE_MAX: usize = 64 << 10;

/// A sampled value: its bytes, or for a large value its length and BLAKE3
/// (so a sample holds at most `SAMPLE_VALUE_MAX` bytes per value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sampled {
    Bytes(Vec<u8>),
    Digest { len: usize, hash: [u8; 32] },
}

impl Sampled {
    /// Keep `value` (or its digest, when large and `may_digest`).
    pub fn of(value: &[u8], may_digest: bool) -> Sampled {
        if may_digest && value.len() > SAMPLE_VALUE_MAX {
            Sampled::Digest {
                len: value.len(),
                hash: *blake3::hash(value).as_bytes(),
            }
        } else {
            Sampled::Bytes(value.to_vec())
        }
    }

    /// Whether `value` is the sampled value.
    pub fn matches(&self, value: &[u8]) -> bool {
        match self {
            Sampled::Bytes(b) => b == value,
            Sampled::Digest { len, hash } => {
                *len == value.len() && blake3::hash(value).as_bytes() == hash
            }
        }
    }
}

/// A seeded sample of a table's entries: the `n` whose sample key (BLAKE3
/// of seed, table and key) is smallest. Memory: `n` keys and values (large
/// values by digest).
#[derive(Debug, Clone)]
pub struct SampleSet {
    seed: u64,
    n: usize,
    table: Vec<u8>,
    /// Multimap values are looked up, so they are kept whole.
    may_digest: bool,
    heap: BinaryHeap<(u64, Vec<u8>, Sampled)>,
}

impl SampleSet {
    /// An empty sample of `n` entries of `table` under `seed`.
    pub fn new(seed: u64, n: u64, table: &TableInfo) -> Self {
        let mut prefix = table.name.as_bytes().to_vec();
        prefix.push(0);
        SampleSet {
            seed,
            n: usize::try_from(n).unwrap_or(usize::MAX),
            table: prefix,
            may_digest: !table.multimap,
            heap: BinaryHeap::new(),
        }
    }

    /// Offer one entry.
    pub fn offer(&mut self, key: &[u8], value: &[u8]) {
        if self.n == 0 {
            return;
        }
        let mut path = Vec::with_capacity(self.table.len() + key.len());
        path.extend_from_slice(&self.table);
        path.extend_from_slice(key);
        let k = crate::verify::sample::key(self.seed, &path);
        if self.heap.len() < self.n {
            self.heap
                .push((k, key.to_vec(), Sampled::of(value, self.may_digest)));
        } else if self.heap.peek().is_some_and(|top| k < top.0) {
            self.heap.pop();
            self.heap
                .push((k, key.to_vec(), Sampled::of(value, self.may_digest)));
        }
    }

    /// The sampled (key, value) pairs, in sample-key order.
    pub fn into_entries(self) -> Vec<(Vec<u8>, Sampled)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect()
    }
}

/// Why a stream stopped early.
#[derive(Debug)]
pub enum Stopped<E> {
    /// Reading the source failed.
    Source(String),
    /// The operator cancelled.
    Cancelled,
    /// The consumer stopped with its own error.
    Consumer(E),
}

/// What the reader thread found: the source-side checksum and the sample.
#[derive(Debug)]
pub struct Scanned {
    pub checksum: Checksum,
    pub sample: Option<SampleSet>,
}

/// Stream every entry of `table` to `consume`, reading on another thread.
/// `sample`, when given, is filled on the reader thread. With
/// [`HashOn::Shared`] the returned checksum is empty: the consumer adds up
/// the hashes (`Entry::hash_with`).
pub fn stream<E: Send>(
    source: &Source,
    table: &TableInfo,
    cancel: &AtomicBool,
    mut sample: Option<SampleSet>,
    hash_on: HashOn,
    mut consume: impl FnMut(Entry<'_>) -> Result<(), E>,
) -> Result<Scanned, Stopped<E>> {
    let hasher = EntryHasher::new(&table.name);
    let (tx, rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (back_tx, back_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut checksum = Checksum::default();
            let mut batch = Batch::with_capacity();
            let mut odd = false;
            let scanned = source.scan(table, |key, value| {
                if let Some(s) = sample.as_mut() {
                    s.offer(key, value);
                }
                let hash_here = hash_on == HashOn::Reader || odd;
                let laid_out = batch.push(key, value);
                if hash_here {
                    let h = hasher.hash_laid_out(laid_out);
                    if hash_on == HashOn::Reader {
                        checksum.add(h);
                    }
                    if let Some(last) = batch.hashes.last_mut() {
                        *last = Some(h);
                    }
                }
                if batch.full() {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(());
                    }
                    let next = back_rx
                        .try_recv()
                        .unwrap_or_else(|_| Batch::with_capacity());
                    let full = std::mem::replace(&mut batch, next);
                    odd = !odd;
                    tx.send(full).map_err(|_| ())?;
                }
                Ok(())
            });
            let result = match scanned {
                Err(e) => Err(Some(e)),
                Ok(Err(())) => Err(None),
                Ok(Ok(())) => {
                    if !batch.ends.is_empty() && tx.send(batch).is_err() {
                        Err(None)
                    } else {
                        Ok(())
                    }
                }
            };
            drop(tx);
            result.map(|()| Scanned { checksum, sample })
        });
        let mut stopped: Option<E> = None;
        for mut batch in rx.iter() {
            for entry in batch.entries() {
                if let Err(e) = consume(entry) {
                    stopped = Some(e);
                    break;
                }
            }
            if stopped.is_some() {
                break;
            }
            batch.data.clear();
            batch.ends.clear();
            batch.hashes.clear();
            let _ = back_tx.send(batch);
        }
        drop(rx);
        let read = reader
            .join()
            .map_err(|_| Stopped::Source("the reader thread failed".into()))?;
        if let Some(e) = stopped {
            return Err(Stopped::Consumer(e));
        }
        match read {
            Ok(scanned) => Ok(scanned),
            Err(Some(e)) => Err(Stopped::Source(e)),
            Err(None) => Err(Stopped::Cancelled),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_order_independent_and_sample_is_seeded() {
        let h = EntryHasher::new("t");
        let (mut a, mut b) = (Checksum::default(), Checksum::default());
        for i in 0..10u8 {
            a.add(h.hash(&[i], b"v"));
        }
        for i in (0..10u8).rev() {
            b.add(h.hash(&[i], b"v"));
        }
        assert_eq!(a, b);
        assert_ne!(h.hash(b"ab", b"c"), h.hash(b"a", b"bc"));
        assert_eq!(
            h.hash(b"ab", b"c"),
            h.hash_laid_out(b"abc\x02\0\0\0\0\0\0\0")
        );
        let mut batch = Batch::with_capacity();
        batch.push(b"k1", b"v1");
        batch.push(b"", b"value");
        let laid: Vec<(Vec<u8>, Vec<u8>, u128)> = batch
            .entries()
            .map(|e| (e.key.to_vec(), e.value.to_vec(), e.hash_with(&h)))
            .collect();
        assert_eq!(
            laid[0],
            (b"k1".to_vec(), b"v1".to_vec(), h.hash(b"k1", b"v1"))
        );
        assert_eq!(
            laid[1],
            (Vec::new(), b"value".to_vec(), h.hash(b"", b"value"))
        );
        assert_ne!(EntryHasher::new("u").hash(b"a", b"b"), h.hash(b"a", b"b"));
        let pick = |seed| {
            let mut s = SampleSet {
                seed,
                n: 3,
                table: b"t\0".to_vec(),
                may_digest: true,
                heap: BinaryHeap::new(),
            };
            for i in 0..100u8 {
                s.offer(&[i], b"v");
            }
            s.into_entries()
        };
        assert_eq!(pick(1).len(), 3);
        assert_eq!(pick(1), pick(1));
        assert_ne!(pick(1), pick(2));
        let big = vec![7u8; SAMPLE_VALUE_MAX + 1];
        let d = Sampled::of(&big, true);
        assert!(matches!(d, Sampled::Digest { .. }) && d.matches(&big));
        assert!(!d.matches(&big[1..]));
        assert_eq!(Sampled::of(b"v", true), Sampled::Bytes(b"v".to_vec()));
    }
}
