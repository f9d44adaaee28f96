//! Two trees compared, each on its own node (locally or over SSH), without
//! cutover installed there and without holding either tree in memory: each
//! node streams a manifest sorted by path (`find | sort -z | stat`), then the
//! content hashes of its files in the same order (`sha256sum -z`), then its
//! extended attributes (`getfattr`), and the streams are merged side by side.
//! Only the shown differences, hard-link groups and a sample's names are
//! kept.
//!
//! Compared per entry: type, permission bits, owner, group; for files size,
//! modification time (whole seconds: zfs-fuse keeps no more), hard-link
//! group and content; for directories their time (not the root's); for
//! symlinks their target. Names travel as arguments to a fixed script
//! (`sh -c SCRIPT sh ROOT`), never pasted into a command.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::runner::{ssh_failure, NodeRunner};
use crate::verify::VerifyMode;

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compared {
    /// Entries of the first (source) tree, its root included.
    pub entries: u64,
    /// Bytes of its regular files.
    pub bytes: u64,
    /// Files whose content was hashed on both sides.
    pub hashed: u64,
    /// The first differences, one line each (`+ a missing in target`,
    /// `- b only in target`, `* c content`).
    pub differences: Vec<String>,
    /// How many differences there are in all.
    pub total_differences: u64,
    /// What could not be compared, and why (e.g. no `getfattr` on a node).
    pub notes: Vec<String>,
}

/// How many differences are kept as text.
const SHOWN: usize = 20;

impl Compared {
    fn differ(&mut self, line: String) {
        self.total_differences += 1;
        if self.differences.len() < SHOWN {
            self.differences.push(line);
        }
    }

    /// Whether the trees are equal in everything compared.
    pub fn equal(&self) -> bool {
        self.total_differences == 0
    }

    /// One line: "2 differences: * a content; + b missing in target".
    pub fn summary(&self) -> String {
        let n = self.total_differences;
        let noun = if n == 1 { "difference" } else { "differences" };
        let mut text = format!("{n} {noun}: {}", self.differences.join("; "));
        let more = n.saturating_sub(self.differences.len() as u64);
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        text
    }
}

/// Sorted manifest: `%f` is the raw mode in hex; `%N` with literal quoting
/// is `name -> target` for a symlink.
const MANIFEST: &str = r#"cd -- "$1" || exit 3
find . -xdev -print0 | LC_ALL=C sort -z | QUOTING_STYLE=literal LC_ALL=C xargs -0 -r stat --printf '%f %u %g %s %Y %h %i\0%n\0%N\0' --"#;

/// Every regular file's hash, in manifest order.
const HASH_ALL: &str = r#"cd -- "$1" || exit 3
find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum -z --"#;

/// The hashes of the files named on stdin (NUL-separated, sorted).
const HASH_LISTED: &str = r#"cd -- "$1" || exit 3
xargs -0 -r sha256sum -z --"#;

/// The exit of [`XATTRS`] on a filesystem without extended attributes
/// (zfs-fuse): it has none.
const NO_XATTRS: i32 = 95;

/// Extended attributes (ACLs included) of every entry, in manifest order;
/// a filesystem without extended attributes (zfs-fuse) exits 95.
const XATTRS: &str = r#"cd -- "$1" || exit 3
command -v getfattr >/dev/null 2>&1 || exit 127
if ! err=$(getfattr -h -d -m - -- . 2>&1 >/dev/null); then case "$err" in *"not supported"*) exit 95;; esac; fi
find . -xdev -print0 | LC_ALL=C sort -z | xargs -0 -r getfattr -h -d -m - -e hex --"#;

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    nlink: u64,
    ino: u64,
    link: Option<Vec<u8>>,
}

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

impl Entry {
    fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }

    fn shown(&self) -> String {
        if self.path.is_empty() {
            ".".into()
        } else {
            crate::names::encode(&self.path)
        }
    }
}

/// `./a/b` → `a/b`, `.` → empty.
fn relative(raw: &[u8]) -> Vec<u8> {
    if raw == b"." {
        return Vec::new();
    }
    raw.strip_prefix(b"./").unwrap_or(raw).to_vec()
}

/// One manifest record from its three NUL-ended fields.
fn parse_entry(fields: &[u8], name: &[u8], quoted: &[u8]) -> Option<Entry> {
    let text = std::str::from_utf8(fields).ok()?;
    let mut it = text.split(' ');
    let mode = u32::from_str_radix(it.next()?, 16).ok()?;
    let uid = it.next()?.parse().ok()?;
    let gid = it.next()?.parse().ok()?;
    let size = it.next()?.parse().ok()?;
    let mtime = it.next()?.parse().ok()?;
    let nlink = it.next()?.parse().ok()?;
    let ino = it.next()?.parse().ok()?;
    let link = if mode & S_IFMT == S_IFLNK {
        let mut arrow = name.to_vec();
        arrow.extend_from_slice(b" -> ");
        Some(quoted.strip_prefix(arrow.as_slice())?.to_vec())
    } else {
        None
    };
    Some(Entry {
        path: relative(name),
        mode,
        uid,
        gid,
        size,
        mtime,
        nlink,
        ino,
        link,
    })
}

/// A running script on a node, read as NUL-ended fields.
struct Stream {
    node: String,
    ssh: Option<super::file::Ssh>,
    what: &'static str,
    reader: BufReader<duct::ReaderHandle>,
    done: bool,
    /// The script's exit code, once it ended.
    code: Option<i32>,
}

impl Stream {
    fn start(
        runner: &NodeRunner,
        script: &str,
        root: &Path,
        what: &'static str,
        stdin: Option<Vec<u8>>,
    ) -> Result<Stream, String> {
        let argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            script.into(),
            "sh".into(),
            root.to_string_lossy().into_owned(),
        ];
        let mut expr = runner.expression(&argv)?.stderr_capture().unchecked();
        expr = match stdin {
            Some(bytes) => expr.stdin_bytes(bytes),
            None => expr.stdin_null(),
        };
        let reader = expr.reader().map_err(|e| {
            format!(
                "node {}: cannot start the {what} of {}: {e}",
                runner.node().name,
                root.display()
            )
        })?;
        Ok(Stream {
            node: runner.node().name.clone(),
            ssh: runner.node().ssh.clone(),
            what,
            reader: BufReader::with_capacity(1 << 16, reader),
            done: false,
            code: None,
        })
    }

    /// The next NUL-ended field; `None` at the end (after checking how the
    /// script ended).
    fn field(&mut self, root: &Path) -> Result<Option<Vec<u8>>, String> {
        if self.done {
            return Ok(None);
        }
        let mut buf = Vec::new();
        let n = self
            .reader
            .read_until(0, &mut buf)
            .map_err(|e| self.failed(root, &e.to_string()))?;
        if n == 0 {
            self.done = true;
            self.finish(root)?;
            return Ok(None);
        }
        if buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(Some(buf))
    }

    /// The whole rest of the output (for line-based streams).
    fn rest(&mut self, root: &Path) -> Result<Vec<u8>, String> {
        let mut all = Vec::new();
        self.reader
            .read_to_end(&mut all)
            .map_err(|e| self.failed(root, &e.to_string()))?;
        self.done = true;
        self.finish(root)?;
        Ok(all)
    }

    fn finish(&mut self, root: &Path) -> Result<(), String> {
        let out = self
            .reader
            .get_ref()
            .try_wait()
            .map_err(|e| self.failed(root, &e.to_string()))?;
        let Some(out) = out else {
            return Ok(());
        };
        let code = out.status.code().unwrap_or(-1);
        self.code = Some(code);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match (code, &self.ssh) {
            (0, _) => Ok(()),
            (255, Some(ssh)) => Err(ssh_failure(&self.node, ssh, &stderr)),
            (3, _) => Err(format!(
                "node {}: {} is not a directory there",
                self.node,
                root.display()
            )),
            _ => Err(self.failed(root, stderr.trim().lines().last().unwrap_or("failed"))),
        }
    }

    fn failed(&self, root: &Path, why: &str) -> String {
        format!(
            "node {}: the {} of {} failed: {why}",
            self.node,
            self.what,
            root.display()
        )
    }
}

/// A manifest stream, one entry at a time.
struct Manifest {
    stream: Stream,
    root: std::path::PathBuf,
    next: Option<Entry>,
}

impl Manifest {
    fn start(runner: &NodeRunner, root: &Path) -> Result<Manifest, String> {
        let stream = Stream::start(runner, MANIFEST, root, "manifest", None)?;
        let mut m = Manifest {
            stream,
            root: root.to_path_buf(),
            next: None,
        };
        m.advance()?;
        Ok(m)
    }

    fn advance(&mut self) -> Result<(), String> {
        let root = self.root.clone();
        self.next = match self.stream.field(&root)? {
            None => None,
            Some(fields) => {
                let name = self.stream.field(&root)?.unwrap_or_default();
                let quoted = self.stream.field(&root)?.unwrap_or_default();
                Some(parse_entry(&fields, &name, &quoted).ok_or_else(|| {
                    self.stream.failed(
                        &root,
                        "printed a line cutover cannot read (is GNU stat there?)",
                    )
                })?)
            }
        };
        Ok(())
    }
}

/// Hard-link groups: the first path seen of each inode with more than one
/// link, so that "a and b are one file" can be compared across trees.
#[derive(Default)]
struct Links(HashMap<u64, Vec<u8>>);

impl Links {
    fn first_of(&mut self, e: &Entry) -> Option<Vec<u8>> {
        (e.kind() == S_IFREG && e.nlink > 1).then(|| {
            self.0
                .entry(e.ino)
                .or_insert_with(|| e.path.clone())
                .clone()
        })
    }
}

/// The `n` paths with the smallest sample keys, kept while streaming.
struct Sampler {
    seed: u64,
    n: usize,
    heap: BinaryHeap<(u64, Vec<u8>)>,
}

impl Sampler {
    fn offer(&mut self, path: &[u8]) {
        if self.n == 0 {
            return;
        }
        let k = crate::verify::sample::key(self.seed, path);
        if self.heap.len() < self.n {
            self.heap.push((k, path.to_vec()));
        } else if self.heap.peek().is_some_and(|(top, _)| k < *top) {
            self.heap.pop();
            self.heap.push((k, path.to_vec()));
        }
    }

    /// The chosen paths, sorted as the manifests are, as `./p\0` input.
    fn list(self) -> (usize, Vec<u8>) {
        let mut paths: Vec<Vec<u8>> = self.heap.into_iter().map(|(_, p)| p).collect();
        paths.sort();
        let mut out = Vec::new();
        for p in &paths {
            out.extend_from_slice(b"./");
            out.extend_from_slice(p);
            out.push(0);
        }
        (paths.len(), out)
    }
}

/// Compare tree `a` (the source) on its node with tree `b` (the target) on
/// its node: metadata of every entry, content of every file (`Full`) or of
/// a seeded sample (`Sample(n)`), extended attributes of every entry.
/// `Err` only when a tree cannot be read at all.
pub fn compare(
    a: (&NodeRunner, &Path),
    b: (&NodeRunner, &Path),
    mode: &VerifyMode,
    seed: u64,
) -> Result<Compared, String> {
    let mut out = Compared::default();
    let mut sampler = match mode {
        VerifyMode::Full => None,
        VerifyMode::Sample(n) => Some(Sampler {
            seed,
            n: usize::try_from(*n).unwrap_or(usize::MAX),
            heap: BinaryHeap::new(),
        }),
    };
    compare_manifests(a, b, &mut out, sampler.as_mut())?;
    let listed = sampler.map(Sampler::list);
    compare_hashes(a, b, &mut out, listed)?;
    compare_xattrs(a, b, &mut out)?;
    Ok(out)
}

fn compare_manifests(
    a: (&NodeRunner, &Path),
    b: (&NodeRunner, &Path),
    out: &mut Compared,
    mut sampler: Option<&mut Sampler>,
) -> Result<(), String> {
    let mut left = Manifest::start(a.0, a.1)?;
    let mut right = Manifest::start(b.0, b.1)?;
    let (mut links_a, mut links_b) = (Links::default(), Links::default());
    loop {
        let order = match (&left.next, &right.next) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.path.cmp(&y.path),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some(x) = &left.next {
                    out.entries += 1;
                    if x.kind() == S_IFREG {
                        out.bytes += x.size;
                    }
                    out.differ(format!("+ {} missing in target", x.shown()));
                }
                left.advance()?;
            }
            std::cmp::Ordering::Greater => {
                if let Some(y) = &right.next {
                    out.differ(format!("- {} only in target", y.shown()));
                }
                right.advance()?;
            }
            std::cmp::Ordering::Equal => {
                if let (Some(x), Some(y)) = (&left.next, &right.next) {
                    out.entries += 1;
                    if x.kind() == S_IFREG {
                        out.bytes += x.size;
                        if let Some(s) = sampler.as_deref_mut() {
                            s.offer(&x.path);
                        }
                    }
                    let (la, lb) = (links_a.first_of(x), links_b.first_of(y));
                    for what in entry_differences(x, y, la, lb) {
                        out.differ(format!("* {} {what}", x.shown()));
                    }
                }
                left.advance()?;
                right.advance()?;
            }
        }
    }
    Ok(())
}

/// What differs between two entries of one path.
fn entry_differences(
    x: &Entry,
    y: &Entry,
    link_x: Option<Vec<u8>>,
    link_y: Option<Vec<u8>>,
) -> Vec<String> {
    let mut what = Vec::new();
    if x.kind() != y.kind() {
        what.push("type".to_string());
        return what;
    }
    if x.mode & 0o7777 != y.mode & 0o7777 {
        what.push(format!(
            "mode {:o} vs {:o}",
            x.mode & 0o7777,
            y.mode & 0o7777
        ));
    }
    if x.uid != y.uid || x.gid != y.gid {
        what.push(format!("owner {}:{} vs {}:{}", x.uid, x.gid, y.uid, y.gid));
    }
    match x.kind() {
        S_IFREG => {
            if x.size != y.size {
                what.push(format!("size {} vs {}", x.size, y.size));
            }
            if x.mtime != y.mtime {
                what.push("modification time".into());
            }
            if link_x != link_y {
                what.push("hard link not preserved".into());
            }
        }
        S_IFDIR if !x.path.is_empty() && x.mtime != y.mtime => {
            what.push("modification time".into());
        }
        S_IFLNK if x.link != y.link => {
            what.push("symlink target".into());
        }
        _ => {}
    }
    what
}

/// One `sha256sum -z` record: the hash and the relative path.
fn parse_hash(record: &[u8]) -> Option<Hashed> {
    let hash = record.get(..64)?.to_vec();
    let name = record.get(64..)?.strip_prefix(b"  ")?;
    Some((hash, relative(name)))
}

fn compare_hashes(
    a: (&NodeRunner, &Path),
    b: (&NodeRunner, &Path),
    out: &mut Compared,
    listed: Option<(usize, Vec<u8>)>,
) -> Result<(), String> {
    let (script, input) = match listed {
        None => (HASH_ALL, None),
        Some((0, _)) => return Ok(()),
        Some((_, list)) => (HASH_LISTED, Some(list)),
    };
    let mut left = Stream::start(a.0, script, a.1, "hashing", input.clone())?;
    let mut right = Stream::start(b.0, script, b.1, "hashing", input)?;
    let mut x = next_hash(&mut left, a.1)?;
    let mut y = next_hash(&mut right, b.1)?;
    loop {
        match (&x, &y) {
            (None, None) => break,
            (Some((hx, px)), Some((hy, py))) if px == py => {
                out.hashed += 1;
                if hx != hy {
                    out.differ(format!("* {} content", crate::names::encode(px)));
                }
                x = next_hash(&mut left, a.1)?;
                y = next_hash(&mut right, b.1)?;
            }
            // Names present on one side only were reported by the
            // manifests; skip them here.
            (Some((_, px)), Some((_, py))) if px < py => x = next_hash(&mut left, a.1)?,
            (Some(_), None) => x = next_hash(&mut left, a.1)?,
            _ => y = next_hash(&mut right, b.1)?,
        }
    }
    Ok(())
}

/// A file's content hash and relative path.
type Hashed = (Vec<u8>, Vec<u8>);

fn next_hash(s: &mut Stream, root: &Path) -> Result<Option<Hashed>, String> {
    match s.field(root)? {
        None => Ok(None),
        Some(rec) => parse_hash(&rec)
            .map(Some)
            .ok_or_else(|| s.failed(root, "printed a hash cutover cannot read")),
    }
}

/// The attributes `getfattr` printed, as (file, attribute line) pairs;
/// `security.selinux` is left out (each host labels its own files).
fn xattr_lines(text: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut file = String::new();
    for line in String::from_utf8_lossy(text).lines() {
        if let Some(f) = line.strip_prefix("# file: ") {
            file = f.strip_prefix("./").unwrap_or(f).to_string();
        } else if !line.is_empty() && !line.starts_with("security.selinux=") {
            out.push((file.clone(), line.to_string()));
        }
    }
    out
}

fn compare_xattrs(
    a: (&NodeRunner, &Path),
    b: (&NodeRunner, &Path),
    out: &mut Compared,
) -> Result<(), String> {
    let read = |side: (&NodeRunner, &Path)| -> Result<Option<Vec<u8>>, String> {
        let mut s = Stream::start(side.0, XATTRS, side.1, "attribute listing", None)?;
        match s.rest(side.1) {
            Ok(text) => Ok(Some(text)),
            Err(_) if s.code == Some(127) => Ok(None),
            // No attributes on that filesystem: none to compare (a copy
            // that lost the other side's attributes still differs).
            Err(_) if s.code == Some(NO_XATTRS) => Ok(Some(Vec::new())),
            Err(e) => Err(e),
        }
    };
    let (Some(x), Some(y)) = (read(a)?, read(b)?) else {
        out.notes.push(
            "extended attributes and ACLs not compared: getfattr (package attr) is missing on a node"
                .into(),
        );
        return Ok(());
    };
    let (x, y) = (xattr_lines(&x), xattr_lines(&y));
    let (in_x, in_y): (HashSet<_>, HashSet<_>) = (x.iter().collect(), y.iter().collect());
    let mut shown_files = std::collections::BTreeSet::new();
    for (file, line) in x.iter().filter(|l| !in_y.contains(l)) {
        let name = line.split('=').next().unwrap_or(line);
        if shown_files.insert((file.clone(), name.to_string())) {
            out.differ(format!("* {file} extended attribute {name}"));
        }
    }
    for (file, line) in y.iter().filter(|l| !in_x.contains(l)) {
        let name = line.split('=').next().unwrap_or(line);
        if shown_files.insert((file.clone(), name.to_string())) {
            out.differ(format!("* {file} extended attribute {name} only in target"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_records_are_read_with_any_name() {
        let e = parse_entry(b"a1ff 0 0 3 17 1 99", b"./l\tx -> y", b"./l\tx -> y -> a b")
            .expect("a symlink record");
        assert_eq!(e.path, b"l\tx -> y");
        assert_eq!(e.link.as_deref(), Some(&b"a b"[..]));
        assert_eq!(e.kind(), S_IFLNK);
        let root = parse_entry(b"41ed 5 6 4096 17 2 1", b".", b".").expect("the root");
        assert!(root.path.is_empty());
        assert_eq!((root.uid, root.gid, root.mode & 0o7777), (5, 6, 0o755));
        assert!(parse_entry(b"zz 0 0", b"./a", b"./a").is_none());
    }

    #[test]
    fn differences_name_what_differs() {
        let file = |mode, mtime, nlink| Entry {
            path: b"a".to_vec(),
            mode,
            uid: 1,
            gid: 1,
            size: 3,
            mtime,
            nlink,
            ino: 7,
            link: None,
        };
        let x = file(0o100_644, 10, 1);
        assert!(entry_differences(&x, &x.clone(), None, None).is_empty());
        let y = file(0o100_600, 11, 1);
        let d = entry_differences(&x, &y, None, None);
        assert_eq!(d, ["mode 644 vs 600", "modification time"]);
        let d = entry_differences(&x, &x.clone(), Some(b"a".to_vec()), None);
        assert_eq!(d, ["hard link not preserved"]);
        let dir = file(0o040_755, 10, 2);
        assert_eq!(entry_differences(&x, &dir, None, None), ["type"]);
    }

    #[test]
    fn hashes_and_attributes_are_parsed() {
        let rec = [vec![b'a'; 64], b"  ./n\nl".to_vec()].concat();
        assert_eq!(parse_hash(&rec), Some((vec![b'a'; 64], b"n\nl".to_vec())));
        let text = b"# file: ./a\nuser.color=0x626c7565\nsecurity.selinux=0x00\n\n# file: ./b\nsystem.posix_acl_access=0x02\n\n";
        assert_eq!(
            xattr_lines(text),
            [
                ("a".to_string(), "user.color=0x626c7565".to_string()),
                ("b".to_string(), "system.posix_acl_access=0x02".to_string())
            ]
        );
    }

    #[test]
    fn a_sample_is_the_same_paths_sorted() {
        let mut s = Sampler {
            seed: 9,
            n: 2,
            heap: BinaryHeap::new(),
        };
        for p in ["c", "a", "b", "d"] {
            s.offer(p.as_bytes());
        }
        let (n, list) = s.list();
        assert_eq!(n, 2);
        let names: Vec<&[u8]> = list.split(|b| *b == 0).filter(|p| !p.is_empty()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
