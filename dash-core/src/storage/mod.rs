//! The storage seam: every byte the store reads or writes goes through [`Storage`].
//!
//! Two implementations: [`FileStorage`] (a directory on a real file system) and [`MemStorage`]
//! (in memory, with a simulated power cut, for crash tests). Paths are relative to the store's
//! root and use `/`-separated names; the store only uses flat directories (`wal/`, `segments/`).
//!
//! ## Durability contract (what each method promises after a crash or power cut)
//! - [`StorageFile::append`]: nothing, until [`StorageFile::sync_data`] returns.
//! - [`StorageFile::sync_data`]: the file's bytes appended so far survive. Its *name* survives
//!   only once the parent directory is synced too.
//! - [`Storage::create`], [`Storage::rename`], [`Storage::remove`]: the change to the directory
//!   survives only once [`Storage::sync_dir`] on that directory returns.
//! - [`Storage::truncate`]: durable when it returns (it syncs the file itself).
//! - A failed sync leaves the state unknown: the caller must assume anything since the last
//!   successful sync may or may not be on disk (the store poisons itself).

use std::fmt::Debug;
use std::io;
use std::path::Path;

mod bytes;
mod file;
mod mem;
#[cfg(test)]
pub(crate) mod smaps;

pub use bytes::FileBytes;
pub(crate) use bytes::ReadThrough;
pub use file::FileStorage;
pub use mem::MemStorage;

/// A file open for appending.
pub trait StorageFile: Send + Debug {
    /// Appends `buf` at the end of the file. Not durable until [`Self::sync_data`].
    ///
    /// # Errors
    /// The underlying I/O error.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;

    /// Makes every byte appended so far durable (`fdatasync`).
    ///
    /// # Errors
    /// The underlying I/O error; the file's durable content is then unknown.
    fn sync_data(&mut self) -> io::Result<()>;
}

/// A directory of files: the store's only way to touch the disk.
pub trait Storage: Send + Sync + Debug {
    /// Creates the directory `dir` (and its parents) if missing.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Creates `path` empty (truncating an existing file) and opens it for appending.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;

    /// Opens an existing file for appending at its end.
    ///
    /// # Errors
    /// The underlying I/O error (`NotFound` if missing).
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;

    /// Reads the whole file.
    ///
    /// # Errors
    /// The underlying I/O error (`NotFound` if missing).
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The whole file, for reading only: memory-mapped where the storage can map it (so its
    /// pages live in the page cache, not in the process's heap), else read. The store maps only
    /// immutable files (segments), which it never changes or truncates while they are open.
    ///
    /// # Errors
    /// The underlying I/O error (`NotFound` if missing).
    fn map(&self, path: &Path) -> io::Result<FileBytes> {
        self.read(path).map(FileBytes::from)
    }

    /// Where `path` lies on the local file system, for a library that writes a file itself
    /// (usearch saves a graph through its own buffered writes, so a graph of gigabytes is never
    /// serialized into the heap); `None` (the default) when this storage is not a local
    /// directory, and the caller writes through [`Self::create`] instead.
    fn local_path(&self, _path: &Path) -> Option<std::path::PathBuf> {
        None
    }

    /// Names of the files directly inside `dir`, in no particular order (empty if `dir` is missing).
    ///
    /// # Errors
    /// The underlying I/O error.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Cuts the file to `len` bytes and syncs it.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;

    /// Makes the directory's entries (creates, renames, removes) durable.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Takes an exclusive lock on the store so that a second open fails; released on drop of the
    /// returned guard. `Ok(None)` when another holder has it.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn lock(&self) -> io::Result<Option<Box<dyn Debug + Send + Sync>>>;
}
