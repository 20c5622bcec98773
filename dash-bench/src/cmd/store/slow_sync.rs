//! A real directory whose WAL fsyncs are made slower: emulates a slower device, to see how group
//! commit behaves when the fsync (not the CPU) dominates.

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::time::Duration;

use dash_core::{FileStorage, Storage, StorageFile};

/// [`FileStorage`] whose files' `sync_data` take `extra` longer than the disk's.
#[derive(Debug)]
pub struct SlowSync {
    /// The real directory.
    inner: FileStorage,
    /// Added to every `sync_data`.
    extra: Duration,
}

impl SlowSync {
    /// `dir` with every file sync made `extra` slower.
    pub fn new(dir: &Path, extra: Duration) -> Self {
        Self {
            inner: FileStorage::new(dir),
            extra,
        }
    }

    /// Wraps a file of the directory.
    fn wrap(&self, inner: Box<dyn StorageFile>) -> Box<dyn StorageFile> {
        Box::new(SlowFile {
            inner,
            extra: self.extra,
        })
    }
}

/// A file whose `sync_data` sleeps `extra` after the real one.
#[derive(Debug)]
struct SlowFile {
    /// The real file.
    inner: Box<dyn StorageFile>,
    /// Added to every `sync_data`.
    extra: Duration,
}

impl StorageFile for SlowFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.append(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()?;
        std::thread::sleep(self.extra);
        Ok(())
    }
}

impl Storage for SlowSync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        Ok(self.wrap(self.inner.create(path)?))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        Ok(self.wrap(self.inner.open_append(path)?))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }

    fn lock(&self) -> io::Result<Option<Box<dyn Debug + Send + Sync>>> {
        self.inner.lock()
    }
}
