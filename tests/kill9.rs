//! Real-process crashes: `kill -9` of a process writing to a store on a real directory loses no
//! acknowledged write.
//!
//! The parent test re-executes this test binary as a child (running only the `#[ignore]`d
//! `kill9_child` test, with `DASH_KILL9_CHILD` naming the store directory). The child opens the
//! store in `Durability::Strict` mode with small automatic-checkpoint thresholds (so checkpoints
//! and merges run while it is killed) and ingests claims from several threads, printing the id of
//! each claim to stdout (flushed) only after `ingest` returned `Ok`. The parent reads that pipe,
//! sends SIGKILL after a random 50–400 ms, reopens the store and checks that every printed id is
//! there with its exact content, that each writer thread's claims form a gap-free prefix with at
//! most one extra (in-flight or acknowledged-but-unprinted) claim, and that nothing else appeared.
//! Five rounds run against the same directory, so each child also recovers from the previous kill
//! and every round re-checks all earlier rounds.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dash::feed::{Change, FeedStart};
use dash::{Claim, ClaimId, Durability, Evidence, IngestItem, Stance, Store, TenantId};
use dash_bench::rng::SplitMix;

const CHILD_ENV: &str = "DASH_KILL9_CHILD";
const ROUND_ENV: &str = "DASH_KILL9_ROUND";
const CHILD_TEST: &str = "kill9_child";
const TENANT: &str = "kill9";
const THREADS: usize = 3;
const ROUNDS: u32 = 5;
const SIGKILL: i32 = 9;
/// The child stops by itself after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

fn claim_id(round: u32, thread: usize, seq: u64) -> String {
    format!("r{round}-t{thread}-{seq}")
}

fn parse_claim_id(id: &str) -> Option<(u32, usize, u64)> {
    let mut parts = id.split('-');
    let round = parts.next()?.strip_prefix('r')?.parse().ok()?;
    let thread = parts.next()?.strip_prefix('t')?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((round, thread, seq))
}

/// The exact item the child writes for `id` (a few hundred bytes, so the WAL grows quickly).
fn make_item(id: &str) -> IngestItem {
    let text = format!("claim {id}: {}", "lorem ipsum dolor sit amet ".repeat(8));
    let mut ev = Evidence::new(
        format!("{id}-ev"),
        id,
        format!("source-of-{id}"),
        Stance::Supports,
    );
    ev.excerpt = Some(format!("excerpt of {id}"));
    IngestItem::new(Claim::new(TENANT, id, text)).with_evidence(ev)
}

/// The child: writes until killed. Inert unless the parent launched it.
#[test]
#[ignore = "child process of `acknowledged_writes_survive_sigkill`; does nothing on its own"]
fn kill9_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let round: u32 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let store = Arc::new(
        Store::builder(dir)
            .durability(Durability::Strict)
            .checkpoint_wal_bytes(64 * 1024)
            .checkpoint_wal_records(40)
            .max_segments(3)
            .open()
            .expect("child: open"),
    );
    let deadline = Instant::now() + CHILD_LIFETIME;
    let writers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for seq in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let id = claim_id(round, thread, seq);
                    store.ingest(make_item(&id)).expect("child: ingest");
                    // Printed only once acknowledged; one write per line, flushed at once.
                    let mut out = std::io::stdout().lock();
                    if writeln!(out, "ACK {id}")
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        break; // the parent is gone
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
}

/// Starts a child on `dir`; returns it with a channel of the ids it acknowledged.
fn spawn_child(dir: &Path, round: u32) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--ignored"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line cut short by the kill has no newline: it proves nothing.
            let Some(complete) = line.strip_suffix('\n') else {
                continue;
            };
            // The test harness may print its own text on the same line first.
            if let Some(at) = complete.rfind("ACK ") {
                if tx.send(complete[at + 4..].to_string()).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

/// Checks the store in `dir` against everything acknowledged so far:
/// `printed[(round, thread)]` = the sequence numbers the child printed.
fn verify(dir: &Path, printed: &BTreeMap<(u32, usize), Vec<u64>>, rounds: u32) -> u64 {
    let store = Store::builder(dir)
        .open()
        .unwrap_or_else(|e| panic!("reopen after SIGKILL failed: {e}"));
    let tenant = TenantId::new(TENANT);
    let mut total = 0;
    for round in 0..rounds {
        for thread in 0..THREADS {
            let acked = printed.get(&(round, thread)).cloned().unwrap_or_default();
            // A thread prints its ids in order, so what was printed is 0..n.
            let p = acked.len() as u64;
            assert!(
                acked.iter().copied().eq(0..p),
                "round {round} thread {thread}: printed ids are not a prefix: {acked:?}"
            );
            let mut present = 0u64;
            while let Some(rec) = store
                .get_claim(&tenant, &ClaimId::new(claim_id(round, thread, present)))
                .unwrap()
            {
                let id = claim_id(round, thread, present);
                assert_eq!(*rec.item, make_item(&id), "{id}: content");
                assert_eq!(rec.version, 1, "{id}: version");
                present += 1;
            }
            assert!(
                present >= p,
                "round {round} thread {thread}: acknowledged write lost: {p} acknowledged, \
                 only the first {present} survived"
            );
            // At most one more: the write in flight, or acknowledged but killed before printing.
            assert!(
                present <= p + 1,
                "round {round} thread {thread}: {present} present but only {p} acknowledged"
            );
            for seq in present + 1..present + 4 {
                let id = claim_id(round, thread, seq);
                assert!(
                    store
                        .get_claim(&tenant, &ClaimId::new(id.as_str()))
                        .unwrap()
                        .is_none(),
                    "{id} present after a gap"
                );
            }
            total += present;
        }
    }
    assert_eq!(
        store.stats().claims,
        total,
        "the store holds claims no writer wrote"
    );
    // The change feed's history, read back from the WAL the crashes left: every claim that
    // survived exactly once, in strictly increasing cursor order, and nothing else.
    let mut feed = store.subscribe(&tenant, FeedStart::Oldest).unwrap();
    let (mut seen, mut last) = (std::collections::BTreeSet::new(), None);
    while let Some(event) = feed.next_timeout(Duration::from_millis(500)).unwrap() {
        assert!(
            Some(event.cursor) > last,
            "cursor {} out of order",
            event.cursor
        );
        last = Some(event.cursor);
        if let Change::ClaimVersion { claim_id, .. } = &event.change {
            assert!(
                seen.insert(claim_id.as_str().to_owned()),
                "{claim_id} twice in the feed"
            );
        }
    }
    assert_eq!(
        seen.len() as u64,
        total,
        "the feed's history and the store disagree"
    );
    total
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill9 seed {seed}");
    let mut rng = SplitMix::new(seed);
    let mut printed: BTreeMap<(u32, usize), Vec<u64>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(50 + rng.next_u64() % 351);
        let (mut child, acks) = spawn_child(dir.path(), round);
        // Time the kill from the first acknowledged write, so it lands mid-ingest.
        let first = match acks.recv_timeout(Duration::from_secs(60)) {
            Ok(id) => id,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                panic!("round {round}: the child acknowledged nothing ({e:?}); it exited {status}");
            }
        };
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(SIGKILL),
            "round {round}: the child must die by SIGKILL, not exit by itself ({status})"
        );
        let mut count = 0;
        // The reader stops at EOF, which the kill guarantees.
        for id in std::iter::once(first).chain(acks.iter()) {
            let (r, thread, seq) = parse_claim_id(&id)
                .unwrap_or_else(|| panic!("round {round}: garbled acknowledgement {id:?}"));
            assert_eq!(r, round, "acknowledgement from another round: {id}");
            printed.entry((r, thread)).or_default().push(seq);
            count += 1;
        }
        let total = verify(dir.path(), &printed, round + 1);
        eprintln!(
            "round {round}: killed after {} ms, {count} acknowledged, {total} claims in the store",
            delay.as_millis()
        );
    }
}
