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

/// Copy everything `input` yields into `output`, hashing the bytes as they
/// pass (one read of the source); `on_chunk` sees each chunk's length.
/// Returns the BLAKE3 of the bytes and how many were copied.
pub fn copy_hashing(
    input: &mut impl Read,
    output: &mut impl io::Write,
    mut on_chunk: impl FnMut(usize),
) -> io::Result<(blake3::Hash, u64)> {
    with_buffer(BUF_SIZE, |buf| {
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        loop {
            let n = match input.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n])?;
            total += n as u64;
            on_chunk(n);
        }
        Ok((hasher.finalize(), total))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_hashes_in_one_pass() {
        let data = vec![7u8; BUF_SIZE + 123];
        let mut out = Vec::new();
        let mut chunks = 0;
        let (h, n) = copy_hashing(&mut &data[..], &mut out, |_| chunks += 1).expect("copy");
        assert_eq!((n, out.len()), (data.len() as u64, data.len()));
        assert_eq!(h, blake3::hash(&data));
        assert!(chunks >= 2);
    }

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
