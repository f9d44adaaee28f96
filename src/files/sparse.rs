//! Copying a file's bytes while keeping its holes (`SEEK_DATA`/`SEEK_HOLE`)
//! and hashing its content (holes hash as the zeros they read as), so a
//! sparse 100 MiB file with 4 KiB of data stays 4 KiB on disk in the target.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;

use crate::verify::hash::{with_buffer, BUF_SIZE};

/// Where the next data at or after `pos` starts (`None`: only a hole
/// remains), or an error when the filesystem cannot say.
fn seek_data(file: &File, pos: u64) -> io::Result<Option<u64>> {
    // SAFETY: the descriptor is open for the life of `file`.
    let r = unsafe { libc::lseek(file.as_raw_fd(), pos as libc::off_t, libc::SEEK_DATA) };
    if r >= 0 {
        return Ok(Some(r as u64));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENXIO) {
        Ok(None)
    } else {
        Err(e)
    }
}

fn seek_hole(file: &File, pos: u64) -> io::Result<u64> {
    // SAFETY: the descriptor is open for the life of `file`.
    let r = unsafe { libc::lseek(file.as_raw_fd(), pos as libc::off_t, libc::SEEK_HOLE) };
    if r >= 0 {
        Ok(r as u64)
    } else {
        Err(io::Error::last_os_error())
    }
}

static ZEROS: [u8; 64 * 1024] = [0u8; 64 * 1024];

fn hash_zeros(hasher: &mut blake3::Hasher, mut len: u64) {
    while len > 0 {
        let n = len.min(ZEROS.len() as u64) as usize;
        hasher.update(&ZEROS[..n]);
        len -= n as u64;
    }
}

/// Copy `input` into the empty file `output`, keeping holes; `on_chunk` sees
/// each chunk of data (and of holes) as it passes. Returns the BLAKE3 of the
/// content and its length. Filesystems that cannot report holes get a plain
/// copy.
pub fn copy_hashing(
    input: &mut File,
    output: &mut File,
    mut on_chunk: impl FnMut(usize),
) -> io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut pos = 0u64;
    with_buffer(BUF_SIZE, |buf| -> io::Result<()> {
        loop {
            let data = match seek_data(input, pos) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(_) if pos == 0 => {
                    // No hole reporting here: read everything.
                    input.seek(SeekFrom::Start(0))?;
                    pos = copy_range(input, output, buf, &mut hasher, None, &mut on_chunk)?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if data > pos {
                hash_zeros(&mut hasher, data - pos);
                on_chunk((data - pos) as usize);
            }
            let end = seek_hole(input, data)?;
            input.seek(SeekFrom::Start(data))?;
            output.seek(SeekFrom::Start(data))?;
            let copied = copy_range(
                input,
                output,
                buf,
                &mut hasher,
                Some(end - data),
                &mut on_chunk,
            )?;
            pos = data + copied;
            if copied < end - data {
                break; // the file shrank while being read
            }
        }
        // A trailing hole: the length the file has now.
        let len = input.metadata()?.len();
        if len > pos {
            hash_zeros(&mut hasher, len - pos);
            on_chunk((len - pos) as usize);
            pos = len;
        }
        Ok(())
    })?;
    output.set_len(pos)?;
    Ok((hasher.finalize(), pos))
}

/// Copy up to `limit` bytes (all when `None`) from the current offsets.
fn copy_range(
    input: &mut File,
    output: &mut File,
    buf: &mut [u8],
    hasher: &mut blake3::Hasher,
    limit: Option<u64>,
    on_chunk: &mut impl FnMut(usize),
) -> io::Result<u64> {
    let mut done = 0u64;
    loop {
        let want = match limit {
            Some(l) if done >= l => break,
            Some(l) => ((l - done) as usize).min(buf.len()),
            None => buf.len(),
        };
        let n = match input.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        done += n as u64;
        on_chunk(n);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn holes_stay_holes_and_hash_as_zeros() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("sparse");
        let dst = dir.path().join("copy");
        {
            let mut f = File::create(&src).expect("create");
            f.seek(SeekFrom::Start(8 << 20)).expect("seek");
            f.write_all(b"middle").expect("write");
            f.set_len(32 << 20).expect("len");
        }
        let mut input = File::open(&src).expect("open");
        let mut output = File::create(&dst).expect("create");
        let (hash, len) = copy_hashing(&mut input, &mut output, |_| {}).expect("copy");
        drop(output);
        let bytes = std::fs::read(&src).expect("read");
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(hash, blake3::hash(&bytes));
        assert_eq!(std::fs::read(&dst).expect("read copy"), bytes);
        let blocks = std::fs::metadata(&dst).expect("md").blocks();
        let src_blocks = std::fs::metadata(&src).expect("md").blocks();
        if src_blocks * 512 < (1 << 20) {
            assert!(blocks * 512 < (1 << 20), "copy allocated {blocks} blocks");
        }
    }

    #[test]
    fn dense_files_copy_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("dense");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).expect("write");
        let mut input = File::open(&src).expect("open");
        let mut out = File::create(dir.path().join("c")).expect("create");
        let (hash, len) = copy_hashing(&mut input, &mut out, |_| {}).expect("copy");
        assert_eq!((hash, len), (blake3::hash(&data), data.len() as u64));
    }
}
