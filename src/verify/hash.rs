//! Content hashing (BLAKE3) of files, streamed with a fixed buffer.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Size of the read buffer used for hashing and copying.
pub const BUF_SIZE: usize = 1 << 20;

/// BLAKE3 of a file's bytes and how many bytes were read. Never follows a
/// symlink at the last component.
pub fn hash_file(path: &Path) -> io::Result<(blake3::Hash, u64)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    hash_reader(file)
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's reusable I/O buffer of at least `len` bytes.
/// Buffers are allocated (and zeroed) once per thread, not once per file.
pub fn with_buffer<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        // Re-entered on the same thread: use a temporary buffer.
        Err(_) => f(&mut vec![0u8; len]),
    })
}

/// BLAKE3 of everything a reader yields.
pub fn hash_reader(file: File) -> io::Result<(blake3::Hash, u64)> {
    with_buffer(BUF_SIZE, |buf| hash_with(file, buf))
}

fn hash_with(mut file: File, buf: &mut [u8]) -> io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_b3sum() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").expect("write");
        let (h, n) = hash_file(&p).expect("hash");
        assert_eq!(n, 6);
        assert_eq!(h, blake3::hash(b"hello\n"));
    }
}
