//! Files in format v2 (written by redb 2.x), read with redb 2.6, through a
//! storage backend that refuses every write: the source is never changed.

super::raw::raw_reader!(redb2);

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

/// The type names' classification and user-defined test for this version.
/// (redb 2 keeps `TypeName::name` private: the name is read from the
/// `Debug` text too.)
pub fn describe(name: &TypeName) -> (String, Option<super::super::types::Class>) {
    let debug = format!("{name:?}");
    let text = super::super::types::name_from_debug(&debug).unwrap_or_default();
    let class = if *name == TypeName::new(&text) {
        Some(super::super::types::Class::UserDefined)
    } else {
        super::super::types::Class::from_debug(&debug)
    };
    (text, class)
}

/// Block size of the in-memory overlay.
const BLOCK: u64 = 4096;
/// The most redb may "write" while a source is open (it rewrites headers
/// and allocator state on open); beyond this the open fails.
const OVERLAY_LIMIT: usize = 256 << 20;

/// A redb 2 storage backend over a file opened read-only. redb 2 writes to
/// a database when it opens it, even to read: those writes go to memory
/// (copy-on-write blocks) and never reach the file.
#[derive(Debug)]
pub struct ReadOnlyFile {
    file: File,
    /// Bytes of the file that are still visible (a shrink hides the rest).
    file_len: u64,
    overlay: Mutex<Overlay>,
}

#[derive(Debug, Default)]
struct Overlay {
    len: u64,
    /// Only the file's bytes below this show through (after a shrink).
    visible: u64,
    blocks: HashMap<u64, Box<[u8]>>,
}

impl ReadOnlyFile {
    /// Wrap `file` (opened read-only, already locked by the caller).
    pub fn new(file: File) -> io::Result<Self> {
        let file_len = file.metadata()?.len();
        Ok(ReadOnlyFile {
            file,
            file_len,
            overlay: Mutex::new(Overlay {
                len: file_len,
                visible: file_len,
                blocks: HashMap::new(),
            }),
        })
    }

    fn overlay(&self) -> io::Result<std::sync::MutexGuard<'_, Overlay>> {
        self.overlay
            .lock()
            .map_err(|_| io::Error::other("overlay lock poisoned"))
    }

    /// Read the file's own bytes at `offset` into `buf`, zeros past what is visible.
    fn read_file(&self, visible: u64, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        let from_file = visible.min(self.file_len).min(end).saturating_sub(offset) as usize;
        if from_file > 0 {
            self.file.read_exact_at(&mut buf[..from_file], offset)?;
        }
        buf[from_file..].fill(0);
        Ok(())
    }
}

fn too_much() -> io::Error {
    io::Error::other("redb needed more memory than cutover allows to open this source read-only")
}

impl redb2::StorageBackend for ReadOnlyFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.overlay()?.len)
    }

    fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let ov = self.overlay()?;
        let end = offset + len as u64;
        if end > ov.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the database",
            ));
        }
        let mut buf = vec![0; len];
        self.read_file(ov.visible, offset, &mut buf)?;
        if !ov.blocks.is_empty() {
            for b in offset / BLOCK..end.div_ceil(BLOCK) {
                if let Some(block) = ov.blocks.get(&b) {
                    let start = (b * BLOCK).max(offset);
                    let stop = ((b + 1) * BLOCK).min(end);
                    let src = &block[(start - b * BLOCK) as usize..(stop - b * BLOCK) as usize];
                    buf[(start - offset) as usize..(stop - offset) as usize].copy_from_slice(src);
                }
            }
        }
        Ok(buf)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut ov = self.overlay()?;
        if len < ov.len {
            ov.visible = ov.visible.min(len);
            ov.blocks.retain(|b, _| b * BLOCK < len);
            // Zero the tail of a block cut by the shrink.
            if let Some(block) = ov.blocks.get_mut(&(len / BLOCK)) {
                block[(len % BLOCK) as usize..].fill(0);
            }
        }
        ov.len = len;
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut ov = self.overlay()?;
        let end = offset + data.len() as u64;
        if end > ov.len {
            ov.len = end;
        }
        for b in offset / BLOCK..end.div_ceil(BLOCK) {
            if !ov.blocks.contains_key(&b) {
                if (ov.blocks.len() + 1) * BLOCK as usize > OVERLAY_LIMIT {
                    return Err(too_much());
                }
                let mut block = vec![0u8; BLOCK as usize].into_boxed_slice();
                self.read_file(ov.visible, b * BLOCK, &mut block)?;
                ov.blocks.insert(b, block);
            }
            let start = (b * BLOCK).max(offset);
            let stop = ((b + 1) * BLOCK).min(end);
            if let Some(block) = ov.blocks.get_mut(&b) {
                block[(start - b * BLOCK) as usize..(stop - b * BLOCK) as usize]
                    .copy_from_slice(&data[(start - offset) as usize..(stop - offset) as usize]);
            }
        }
        Ok(())
    }
}
