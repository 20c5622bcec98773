//! Readers never wait on the WAL fsync: while the writer is stuck inside `sync_data`, reads and
//! stats answer, and the write in flight is not visible until its fsync returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use dash::{Claim, ClaimId, IngestItem, MemStorage, Storage, StorageFile, Store, TenantId};

/// A gate that, once armed, holds every WAL `sync_data` until opened.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<(bool, bool, bool)>, // (armed, open, someone waiting)
    cv: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut st = self.state.lock().unwrap();
        if !st.0 {
            return;
        }
        st.2 = true;
        self.cv.notify_all();
        while !st.1 {
            st = self.cv.wait(st).unwrap();
        }
    }
    fn wait_until_held(&self) {
        let mut st = self.state.lock().unwrap();
        while !st.2 {
            st = self.cv.wait(st).unwrap();
        }
    }
    fn set(&self, armed: bool, open: bool) {
        let mut st = self.state.lock().unwrap();
        st.0 = armed;
        st.1 = open;
        self.cv.notify_all();
    }
}

#[derive(Debug)]
struct GatedFile {
    inner: Box<dyn StorageFile>,
    gate: Arc<Gate>,
}

impl StorageFile for GatedFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.append(buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.gate.pass();
        self.inner.sync_data()
    }
}

#[derive(Debug)]
struct GatedStorage {
    inner: MemStorage,
    gate: Arc<Gate>,
}

impl Storage for GatedStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let inner = self.inner.create(path)?;
        Ok(Box::new(GatedFile {
            inner,
            gate: Arc::clone(&self.gate),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let inner = self.inner.open_append(path)?;
        Ok(Box::new(GatedFile {
            inner,
            gate: Arc::clone(&self.gate),
        }))
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

#[test]
fn reads_answer_while_the_writer_is_inside_fsync() {
    let gate = Arc::new(Gate::default());
    let storage = Arc::new(GatedStorage {
        inner: MemStorage::new(),
        gate: Arc::clone(&gate),
    });
    let store = Arc::new(Store::builder_with_storage(storage).open().unwrap());
    let t = TenantId::new("t");
    store
        .ingest(IngestItem::new(Claim::new("t", "old", "already durable")))
        .unwrap();

    gate.set(true, false);
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            store
                .ingest(IngestItem::new(Claim::new("t", "new", "in flight")))
                .unwrap()
        })
    };
    gate.wait_until_held();

    // Reads run on another thread so that a reader blocked on the fsync shows up as a timeout
    // here (a liveness check, not a timing measurement).
    let (tx, rx) = mpsc::channel();
    {
        let store = Arc::clone(&store);
        let t = t.clone();
        std::thread::spawn(move || {
            let old = store.get_claim(&t, &ClaimId::new("old")).unwrap().is_some();
            let new = store.get_claim(&t, &ClaimId::new("new")).unwrap().is_some();
            let claims = store.stats().claims;
            tx.send((old, new, claims)).unwrap();
        });
    }
    let answer = rx.recv_timeout(Duration::from_secs(30));
    gate.set(false, true);
    let (old, new, claims) = answer.expect("a read waited for the WAL fsync");
    assert!(old, "durable claim readable during the fsync");
    assert!(
        !new,
        "the write in flight is not visible before its fsync returns"
    );
    assert_eq!(claims, 1);

    writer.join().unwrap();
    assert!(store.get_claim(&t, &ClaimId::new("new")).unwrap().is_some());
}
