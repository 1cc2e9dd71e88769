//! The file system the store's synchronous steps go through (open, create,
//! delete, sweep, check, repair, import, and the test driver's data path).
//! [`StdFs`] is the real one; `fault::FaultFs` models what a crash keeps
//! and injects errors, as raft-engine's tests do. Path based: these steps
//! are rare, so a file opened per call costs nothing that matters. The
//! relay's data path (write_at, read_at, sync_data) goes through io_uring
//! on files it opens itself at the paths of [`crate::layout::Layout`].

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (one path component).
    pub name: OsString,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// File operations the store needs. Offsets and lengths in bytes.
pub trait FileSystem: Send + Sync {
    /// Creates one directory (its parent must exist). `AlreadyExists` if it does.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates a new file of `len` bytes (fails if it exists). `reserve`
    /// allocates the space (fallocate) rather than leaving a sparse file.
    fn create_file(&self, path: &Path, len: u64, reserve: bool) -> io::Result<()>;
    /// Writes all of `bytes` at `offset`.
    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Reads into `buf` at `offset`; returns the bytes read (short only at
    /// the end of the file).
    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// The whole file: a regular file's bytes up to the length it had when
    /// opened. Anything else (a device, a FIFO: /dev/full or /dev/zero
    /// would never end, a FIFO would wait for a writer) is `InvalidInput`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// File length in bytes.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Number of names (hard links) of the file.
    fn links(&self, path: &Path) -> io::Result<u64>;
    /// fdatasync: the file's data (and the metadata needed to read it).
    fn sync_data(&self, path: &Path) -> io::Result<()>;
    /// fsync: data and all metadata (size, allocation).
    fn sync_all(&self, path: &Path) -> io::Result<()>;
    /// fsync of a directory: its entries (creates, links, removes) are durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Removes a file (a link of it).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// A new name `to` for the file `from`.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Entries of a directory (unordered).
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>>;
    /// Whether something exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Bytes available to unprivileged users on the file system of `path`.
    fn free_space(&self, path: &Path) -> io::Result<u64>;
}

/// Removes `path` and everything under it through `fs`.
pub fn remove_all(fs: &dyn FileSystem, path: &Path) -> io::Result<()> {
    for e in fs.list(path)? {
        let p = path.join(&e.name);
        if e.is_dir {
            remove_all(fs, &p)?;
        } else {
            fs.remove_file(&p)?;
        }
    }
    fs.remove_dir(path)
}

/// The operating system's file system (std::fs, rustix for fallocate and
/// statvfs).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

impl FileSystem for StdFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn create_file(&self, path: &Path, len: u64, reserve: bool) -> io::Result<()> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        if reserve && len > 0 {
            match rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, len) {
                Ok(()) => return Ok(()),
                // File systems without fallocate (tmpfs on old kernels,
                // some FUSE) still get the size, sparsely.
                Err(e) if e == rustix::io::Errno::OPNOTSUPP => {}
                Err(e) => return Err(e.into()),
            }
        }
        f.set_len(len)
    }

    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        open_rw(path)?.write_all_at(bytes, offset)
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let f = File::open(path)?;
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        // Non-blocking, so a FIFO does not wait for a writer before it is
        // refused; a regular file reads the same either way.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(meta.len() as usize)
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        file.take(meta.len()).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn links(&self, path: &Path) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(fs::metadata(path)?.nlink())
    }

    fn sync_data(&self, path: &Path) -> io::Result<()> {
        open_rw(path)?.sync_data()
    }

    fn sync_all(&self, path: &Path) -> io::Result<()> {
        open_rw(path)?.sync_all()
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            out.push(Entry {
                name: e.file_name(),
                is_dir: e.file_type()?.is_dir(),
            });
        }
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok()
    }

    fn free_space(&self, path: &Path) -> io::Result<u64> {
        let s = rustix::fs::statvfs(path)?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }
}

impl<T: FileSystem + ?Sized> FileSystem for std::sync::Arc<T> {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        (**self).create_dir(path)
    }
    fn create_file(&self, path: &Path, len: u64, reserve: bool) -> io::Result<()> {
        (**self).create_file(path, len, reserve)
    }
    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        (**self).write_at(path, offset, bytes)
    }
    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(path, offset, buf)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        (**self).read(path)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        (**self).len(path)
    }
    fn links(&self, path: &Path) -> io::Result<u64> {
        (**self).links(path)
    }
    fn sync_data(&self, path: &Path) -> io::Result<()> {
        (**self).sync_data(path)
    }
    fn sync_all(&self, path: &Path) -> io::Result<()> {
        (**self).sync_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        (**self).sync_dir(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        (**self).remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        (**self).remove_dir(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        (**self).hard_link(from, to)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        (**self).list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        (**self).exists(path)
    }
    fn free_space(&self, path: &Path) -> io::Result<u64> {
        (**self).free_space(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_takes_a_regular_file_whole_and_refuses_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"record").unwrap();
        assert_eq!(StdFs.read(&path).unwrap(), b"record");
        // A manifest swapped for a device would never end.
        let err = StdFs.read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Nor does a FIFO wait for a writer.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = StdFs.read(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
