//! [`FileStorage`]: the store's directory on a real file system.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{FileBytes, Storage, StorageFile};

/// A store directory on the local file system.
#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
}

impl FileStorage {
    /// Storage rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory this storage lives in.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }
}

#[derive(Debug)]
struct AppendFile {
    file: File,
}

impl StorageFile for AppendFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

impl Storage for FileStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(self.path(dir))
    }

    fn local_path(&self, path: &Path) -> Option<PathBuf> {
        Some(self.path(path))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path(path))?;
        Ok(Box::new(AppendFile { file }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new().append(true).open(self.path(path))?;
        Ok(Box::new(AppendFile { file }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(self.path(path))
    }

    #[allow(unsafe_code)]
    fn map(&self, path: &Path) -> io::Result<FileBytes> {
        let file = File::open(self.path(path))?;
        if file.metadata()?.len() == 0 {
            return Ok(FileBytes::from(Vec::new())); // nothing to map (and mmap refuses length 0)
        }
        // SAFETY: a mapping is sound while nobody changes the file under it. The store maps
        // only segment files, which are written whole and fsynced before they are mapped and
        // never written, truncated or renamed over afterwards (a new segment gets a new name);
        // garbage collection unlinks a segment only once no manifest names it, and an unlinked
        // file keeps its pages while mapped. The directory lock keeps a second DASH process
        // out. What remains is another program truncating a segment while the store runs: the
        // lost pages then raise SIGBUS on the next read, ending the process (documented in
        // docs/design.md); a store reopened afterwards finds the damage by length and BLAKE3.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(FileBytes::mapped(map))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(self.path(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(self.path(from), self.path(to))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(self.path(path))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path(path))?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Linux a directory opened read-only can be fsynced; that is what makes entries durable.
        File::open(self.path(dir))?.sync_all()
    }

    fn lock(&self) -> io::Result<Option<Box<dyn Debug + Send + Sync>>> {
        fs::create_dir_all(&self.root)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.root.join("LOCK"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::smaps::{resident, smaps_field};

    /// `len` bytes written to `path`, synced, and the file mapped.
    fn written_and_mapped(storage: &FileStorage, path: &Path, len: u32) -> (Vec<u8>, FileBytes) {
        let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut file = storage.create(path).unwrap();
        file.append(&content).unwrap();
        file.sync_data().unwrap();
        (content, storage.map(path).unwrap())
    }

    #[test]
    fn map_gives_the_file_bytes_through_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        let path = Path::new("seg");
        let (content, mapped) = written_and_mapped(&storage, path, 100_000);
        assert!(mapped.is_mapped());
        assert_eq!(&mapped[..], &content[..]);
        // An unlinked file keeps its pages while mapped (what garbage collection relies on).
        storage.remove(path).unwrap();
        assert_eq!(&mapped[..], &content[..]);
    }

    /// The mapping's read-ahead advice, from its `VmFlags` (`rr`: random, `sr`: sequential).
    fn advice(name: &str) -> &'static str {
        let flags = smaps_field(name, "VmFlags").unwrap();
        let flags: Vec<&str> = flags.split_whitespace().collect();
        match (flags.contains(&"rr"), flags.contains(&"sr")) {
            (true, _) => "random",
            (_, true) => "sequential",
            _ => "normal",
        }
    }

    #[test]
    fn released_pages_leave_the_resident_set_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        let (content, mapped) = written_and_mapped(&storage, Path::new("released-seg"), 4_000_000);
        assert_eq!(
            crate::codec::hash_bytes(&mapped),
            crate::codec::hash_bytes(&content)
        );
        assert!(
            resident("released-seg") >= 3_000_000,
            "the pass mapped the pages"
        );
        assert_eq!(advice("released-seg"), "normal");
        mapped.release();
        assert!(resident("released-seg") < 1_000_000, "released");
        assert_eq!(
            advice("released-seg"),
            "random",
            "no read-ahead for scattered reads"
        );
        assert_eq!(&mapped[..], &content[..], "read back through the mapping");
        // A read-through (a merge) reads ahead while it lasts, and releases again after.
        {
            let _reading = mapped.read_through();
            assert_eq!(advice("released-seg"), "sequential");
            assert_eq!(
                crate::codec::hash_bytes(&mapped),
                crate::codec::hash_bytes(&content)
            );
        }
        assert_eq!(advice("released-seg"), "random");
        assert!(
            resident("released-seg") < 1_000_000,
            "released after the pass"
        );
    }

    #[test]
    fn a_pass_lets_go_of_the_pages_behind_it_as_it_goes() {
        const LEN: usize = 32 << 20;
        const STEP: usize = 4 << 20;
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        let (content, mapped) = written_and_mapped(&storage, Path::new("passed-seg"), LEN as u32);
        let expected = content.iter().map(|&b| u64::from(b)).sum::<u64>();
        // The largest resident set of a pass reading 1 MiB at a time, saying how far it got
        // (or not).
        let pass = |tell: bool| {
            mapped.release();
            let reading = mapped.read_through_in_steps(STEP);
            let (mut sum, mut most) = (0u64, 0u64);
            for (i, chunk) in mapped.chunks(1 << 20).enumerate() {
                sum += chunk.iter().map(|&b| u64::from(b)).sum::<u64>();
                if tell {
                    reading.passed((i + 1) << 20);
                }
                most = most.max(resident("passed-seg"));
            }
            assert_eq!(sum, expected, "the pass reads the file's bytes");
            reading.passed(2 * LEN); // past the end: nothing to do
            drop(reading);
            assert!(resident("passed-seg") < 1 << 20, "released after the pass");
            most
        };
        let whole = pass(false);
        let stepped = pass(true);
        assert!(whole >= (LEN as u64) * 3 / 4, "without: {whole} resident");
        // A step behind the pass, and the kernel's read-ahead in front of it.
        assert!(stepped <= (LEN as u64) / 2, "stepped: {stepped} resident");
        assert_eq!(&mapped[..], &content[..], "read back the same");
    }

    #[test]
    fn a_hash_pass_gives_the_prefix_hash_and_leaves_nothing_resident() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        let (content, mapped) = written_and_mapped(&storage, Path::new("hashed-seg"), 5_000_000);
        for len in [0, 1, 4_096, 4_999_999, 5_000_000] {
            assert_eq!(
                mapped.hash_prefix(len),
                crate::codec::hash_bytes(&content[..len]),
                "prefix {len}"
            );
            assert!(
                resident("hashed-seg") < 1 << 20,
                "resident after hashing {len}"
            );
        }
        // Past the end: the whole file.
        assert_eq!(
            mapped.hash_prefix(9_000_000),
            crate::codec::hash_bytes(&content)
        );
        let heap = FileBytes::from(content.clone());
        assert_eq!(
            heap.hash_prefix(10),
            crate::codec::hash_bytes(&content[..10])
        );
    }

    #[test]
    fn reads_asked_ahead_change_nothing_and_ranges_outside_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        let (content, mapped) = written_and_mapped(&storage, Path::new("ahead-seg"), 100_000);
        mapped.release();
        for range in [
            10..5_000,
            4_095..4_097,
            99_999..100_000,
            5..5,
            90_000..200_000,
        ] {
            mapped.will_need(range);
        }
        assert_eq!(&mapped[..], &content[..]);
        FileBytes::from(content.clone()).will_need(0..10); // heap bytes: nothing to do
    }

    #[test]
    fn map_of_an_empty_or_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        storage.create(Path::new("empty")).unwrap();
        let empty = storage.map(Path::new("empty")).unwrap();
        assert!(empty.is_empty() && !empty.is_mapped());
        let missing = storage.map(Path::new("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
