//! [`MemStorage`]: an in-memory directory that can lose power.
//!
//! It keeps two images of everything: the *live* one every call sees, and the *durable* one a
//! power cut would leave. `sync_data` copies a file's live bytes to its durable image;
//! `sync_dir` copies a directory's live entries (names → files) to its durable entries. A power
//! cut can be scheduled at the N-th sync: that sync fails, and so does every call after it, until
//! [`MemStorage::crash`] rolls the live image back to the durable one, as a reboot would.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Storage, StorageFile};

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    /// Bytes `data[..durable_len]` survive a power cut. Files are append-only between truncates,
    /// so the durable image is always a prefix of the live one.
    durable_len: usize,
}

#[derive(Debug, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    live: BTreeMap<PathBuf, u64>,
    durable: BTreeMap<PathBuf, u64>,
    next_inode: u64,
    syncs: u64,
    cut_at_sync: Option<u64>,
    powered_off: bool,
    locked: bool,
}

impl State {
    fn check_power(&self) -> io::Result<()> {
        if self.powered_off {
            Err(io::Error::other("simulated power cut"))
        } else {
            Ok(())
        }
    }

    /// Counts a sync; the scheduled one cuts the power instead of completing.
    fn sync_point(&mut self) -> io::Result<()> {
        self.check_power()?;
        self.syncs += 1;
        if self.cut_at_sync == Some(self.syncs) {
            self.powered_off = true;
            return Err(io::Error::other("simulated power cut"));
        }
        Ok(())
    }

    fn inode_of(&self, path: &Path) -> io::Result<u64> {
        self.live
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }

    /// Drops inodes no name (live or durable) refers to any more.
    fn collect_garbage(&mut self) {
        let State {
            inodes,
            live,
            durable,
            ..
        } = self;
        inodes
            .retain(|ino, _| live.values().any(|i| i == ino) || durable.values().any(|i| i == ino));
    }
}

/// An in-memory [`Storage`] with a simulated power cut, for crash tests. Cloning shares the
/// same "disk".
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave `State` half-updated in a way that matters to
    // a test double, so a poisoned lock is simply taken over.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemStorage {
    /// An empty disk.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules a power cut at the `n`-th sync (`sync_data` or `sync_dir`) counted from the
    /// start of this storage; `None` cancels it.
    pub fn cut_power_at_sync(&self, n: Option<u64>) {
        lock(&self.state).cut_at_sync = n;
    }

    /// How many syncs have completed or been attempted so far.
    #[must_use]
    pub fn sync_count(&self) -> u64 {
        lock(&self.state).syncs
    }

    /// True once a scheduled power cut has happened (and until [`Self::crash`]).
    #[must_use]
    pub fn is_powered_off(&self) -> bool {
        lock(&self.state).powered_off
    }

    /// Cuts the power now: every later call fails until [`Self::crash`].
    pub fn power_off(&self) {
        lock(&self.state).powered_off = true;
    }

    /// Reboots: the live image becomes the durable one (unsynced bytes and directory changes are
    /// lost), the power is back on and the lock is released.
    pub fn crash(&self) {
        self.crash_keeping(|_, _| 0);
    }

    /// Reboots like [`Self::crash`], but keeps the first `keep(path, unsynced_len)` unsynced bytes
    /// of each durable file (clamped to what was written): a torn write.
    pub fn crash_keeping(&self, mut keep: impl FnMut(&Path, usize) -> usize) {
        let mut st = lock(&self.state);
        let durable = st.durable.clone();
        for (path, ino) in &durable {
            if let Some(inode) = st.inodes.get_mut(ino) {
                let unsynced = inode.data.len() - inode.durable_len;
                let kept = keep(path, unsynced).min(unsynced);
                inode.data.truncate(inode.durable_len + kept);
                inode.durable_len = inode.data.len();
            }
        }
        st.live = durable;
        st.powered_off = false;
        st.cut_at_sync = None;
        st.locked = false;
        st.collect_garbage();
    }

    /// Names of all live files, sorted.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        lock(&self.state).live.keys().cloned().collect()
    }

    /// Overwrites the file's bytes in both images (for corruption tests).
    ///
    /// # Errors
    /// `NotFound` if the file does not exist.
    pub fn overwrite(&self, path: &Path, data: Vec<u8>) -> io::Result<()> {
        let mut st = lock(&self.state);
        let ino = st.inode_of(path)?;
        let inode = st.inodes.entry(ino).or_default();
        inode.durable_len = data.len();
        inode.data = data;
        Ok(())
    }
}

#[derive(Debug)]
struct MemFile {
    state: Arc<Mutex<State>>,
    ino: u64,
}

impl StorageFile for MemFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check_power()?;
        st.inodes
            .entry(self.ino)
            .or_default()
            .data
            .extend_from_slice(buf);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.sync_point()?;
        let inode = st.inodes.entry(self.ino).or_default();
        inode.durable_len = inode.data.len();
        Ok(())
    }
}

#[derive(Debug)]
struct MemLock {
    state: Arc<Mutex<State>>,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        lock(&self.state).locked = false;
    }
}

impl Storage for MemStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        lock(&self.state).check_power()
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let mut st = lock(&self.state);
        st.check_power()?;
        st.next_inode += 1;
        let ino = st.next_inode;
        st.inodes.insert(ino, Inode::default());
        st.live.insert(path.to_path_buf(), ino);
        st.collect_garbage();
        Ok(Box::new(MemFile {
            state: Arc::clone(&self.state),
            ino,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let st = lock(&self.state);
        st.check_power()?;
        let ino = st.inode_of(path)?;
        Ok(Box::new(MemFile {
            state: Arc::clone(&self.state),
            ino,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = lock(&self.state);
        st.check_power()?;
        let ino = st.inode_of(path)?;
        Ok(st
            .inodes
            .get(&ino)
            .map(|i| i.data.clone())
            .unwrap_or_default())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.state);
        st.check_power()?;
        Ok(st
            .live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check_power()?;
        let ino = st.inode_of(from)?;
        st.live.remove(from);
        st.live.insert(to.to_path_buf(), ino);
        st.collect_garbage();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check_power()?;
        st.inode_of(path)?;
        st.live.remove(path);
        st.collect_garbage();
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.sync_point()?;
        let ino = st.inode_of(path)?;
        let inode = st.inodes.entry(ino).or_default();
        let len = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(inode.data.len());
        inode.data.truncate(len);
        inode.durable_len = len;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.sync_point()?;
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        st.durable.retain(|p, _| !in_dir(p));
        let entries: Vec<(PathBuf, u64)> = st
            .live
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        st.durable.extend(entries);
        st.collect_garbage();
        Ok(())
    }

    fn lock(&self) -> io::Result<Option<Box<dyn Debug + Send + Sync>>> {
        let mut st = lock(&self.state);
        st.check_power()?;
        if st.locked {
            return Ok(None);
        }
        st.locked = true;
        Ok(Some(Box::new(MemLock {
            state: Arc::clone(&self.state),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_data_and_names_are_lost_on_crash() {
        let s = MemStorage::new();
        let dir = Path::new("d");
        let a = dir.join("a");
        let mut f = s.create(&a).unwrap();
        f.append(b"hello").unwrap();
        f.sync_data().unwrap();
        s.crash();
        // The data was synced but the name never was.
        assert!(s.read(&a).is_err());

        let mut f = s.create(&a).unwrap();
        f.append(b"hello").unwrap();
        f.sync_data().unwrap();
        s.sync_dir(dir).unwrap();
        f.append(b" world").unwrap();
        s.crash();
        assert_eq!(s.read(&a).unwrap(), b"hello");
    }

    #[test]
    fn scheduled_power_cut_fails_that_sync_and_everything_after() {
        let s = MemStorage::new();
        let dir = Path::new("d");
        let mut f = s.create(&dir.join("a")).unwrap();
        s.sync_dir(dir).unwrap();
        s.cut_power_at_sync(Some(2));
        f.append(b"x").unwrap();
        assert!(f.sync_data().is_err());
        assert!(s.is_powered_off());
        assert!(s.read(&dir.join("a")).is_err());
        s.crash();
        assert_eq!(s.read(&dir.join("a")).unwrap(), b"");
    }

    #[test]
    fn rename_is_durable_only_after_dir_sync() {
        let s = MemStorage::new();
        let dir = Path::new("d");
        let mut f = s.create(&dir.join("tmp")).unwrap();
        f.append(b"v2").unwrap();
        f.sync_data().unwrap();
        s.sync_dir(dir).unwrap();
        s.rename(&dir.join("tmp"), &dir.join("final")).unwrap();
        s.crash();
        assert!(s.read(&dir.join("final")).is_err());
        assert_eq!(s.read(&dir.join("tmp")).unwrap(), b"v2");
    }
}
