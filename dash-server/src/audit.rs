//! Tamper-evident audit log: one hash-chained JSON line per audited request.
//!
//! # Format
//!
//! A UTF-8 JSONL file; every line is terminated by `\n` and written exactly as
//!
//! ```text
//! {"seq":N,"prev_hash":"<64 hex>","time":"<RFC 3339 UTC>","principal":"...","tenant":"..."|null,"action":"...","ids":["..."],"outcome":"...","hash":"<64 hex>"}
//! └──────────────────────────────────────────────────────────────── prefix ────────────────────────────────────────────────────────────────┘└──── suffix ─────┘
//! ```
//!
//! - `seq` starts at 1 and grows by one per line.
//! - `prev_hash` is 64 zeros on line 1 and the previous line's `hash` afterwards.
//! - `time` is the append time in UTC with microseconds (`2025-01-02T03:04:05.123456Z`).
//! - The prefix is `serde_json`'s compact serialisation of the fields in the order above (so strings
//!   are escaped and a line never contains a raw newline), minus its closing `}`.
//! - `hash` is the lowercase blake3 hex of the prefix bytes; the suffix is `,"hash":"<hex>"}`.
//!
//! The hash covers the raw bytes rather than the parsed values, so any one-byte edit anywhere in
//! a line, whitespace and escapes included, breaks either that line's hash or the chain; [`verify`]
//! also re-serialises each prefix and requires it to be byte-identical (the canonical form).
//! The hash is unkeyed: it detects edits, deletions and reordering, not a forger who rewrites the
//! whole tail of the chain.
//!
//! # Crashes
//!
//! A line is written with one `write_all` in append mode, so a crash leaves at most one partial
//! last line. [`AuditLog::open`] cuts it off and reports the bytes cut in
//! [`AuditLog::repaired_tail`]; [`verify`] reports it as an incomplete last line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `prev_hash` of line 1.
const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Suffix layout: `,"hash":"` then the hex digest then `"}`.
const HASH_KEY: &[u8] = b",\"hash\":\"";
const HEX_OFFSET: usize = HASH_KEY.len();
const HEX_LEN: usize = 64;
const CLOSE_OFFSET: usize = HEX_OFFSET + HEX_LEN;
const CLOSE: &[u8] = b"\"}";
const SUFFIX_LEN: usize = CLOSE_OFFSET + CLOSE.len();
/// How far [`AuditLog::open`] reads backwards at a time looking for line ends.
const TAIL_CHUNK: u64 = 4096;

/// One audited action, as the caller describes it.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    /// Who acted (a token subject, `anonymous`, ...).
    pub principal: &'a str,
    /// The tenant acted on, if the action has one.
    pub tenant: Option<&'a str>,
    /// What was done (`ingest`, `retrieve`, ...).
    pub action: &'a str,
    /// The ids involved (claim ids, ...); may be empty.
    pub ids: &'a [String],
    /// How it ended (`ok`, `denied`, an error code, ...).
    pub outcome: &'a str,
}

/// What can go wrong opening, appending to or verifying an audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file or its directory could not be read, written or synced. After a failed write or
    /// sync the log refuses further appends with this error; reopen it to repair the tail.
    #[error("audit log I/O error on {}: {source}", path.display())]
    Io {
        /// The audit log file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The last complete line is not a valid audit line, so the chain cannot be continued.
    #[error("audit log is corrupt at line {line}: {reason}")]
    Corrupt {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A record could not be serialised.
    #[error("could not serialise an audit record: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyReport {
    /// Every line is intact and the chain is unbroken.
    Ok {
        /// Number of lines.
        records: u64,
    },
    /// The first line that fails a check.
    Broken {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// The prefix fields in their on-disk order; serialising it gives the prefix plus `}`. Written
/// borrowed (`Record<&str, &[String]>`), read back owned ([`ParsedRecord`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record<S, V> {
    seq: u64,
    prev_hash: S,
    time: S,
    principal: S,
    tenant: Option<S>,
    action: S,
    ids: V,
    outcome: S,
}

type ParsedRecord = Record<String, Vec<String>>;

/// What a line contributes to the chain, once its own checks pass.
struct Link {
    seq: u64,
    prev_hash: String,
    hash: String,
}

#[derive(Debug)]
struct State {
    file: File,
    seq: u64,
    last_hash: String,
    failed: bool,
}

/// An open, append-only audit log. Appends are serialised by an internal mutex.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    sync: bool,
    repaired_tail: Option<u64>,
    state: Mutex<State>,
}

impl AuditLog {
    /// Opens the log at `path`, creating it and its parent directories if missing.
    ///
    /// An existing file is not verified whole (see [`verify`]): only its last complete line is
    /// read, from the end, to continue the chain. A partial last line (a crash mid-write) is cut
    /// off and the cut reported by [`AuditLog::repaired_tail`]. With `sync`, every append is
    /// fsynced before it returns (survives power loss); without, an append survives a process
    /// crash but may be lost with the machine.
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] if the last complete line is not a valid audit line (the file is
    /// then left untouched); [`AuditError::Io`] if the file cannot be created, read or repaired.
    pub fn open(path: &Path, sync: bool) -> Result<AuditLog, AuditError> {
        let io_err = io_error(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        let (mut file, created) = match options.clone().create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                (options.open(path).map_err(io_err)?, false)
            }
            Err(e) => return Err(io_err(e)),
        };
        if created && sync {
            sync_parent_dir(path).map_err(io_err)?;
        }

        let len = file.metadata().map_err(io_err)?.len();
        let complete_end = rfind_newline(&mut file, len)
            .map_err(io_err)?
            .map_or(0, |p| p + 1);
        let (seq, last_hash) = if complete_end == 0 {
            (0, ZERO_HASH.to_owned())
        } else {
            let start = rfind_newline(&mut file, complete_end - 1)
                .map_err(io_err)?
                .map_or(0, |p| p + 1);
            let mut line = Vec::new();
            file.seek(SeekFrom::Start(start)).map_err(io_err)?;
            (&file)
                .take(complete_end - 1 - start)
                .read_to_end(&mut line)
                .map_err(io_err)?;
            match check_line(&line) {
                Ok(last) => (last.seq, last.hash),
                Err(reason) => {
                    let line = count_newlines(&mut file, start).map_err(io_err)? + 1;
                    return Err(AuditError::Corrupt { line, reason });
                }
            }
        };
        let repaired_tail = if complete_end < len {
            file.set_len(complete_end).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            Some(len - complete_end)
        } else {
            None
        };
        Ok(AuditLog {
            path: path.to_owned(),
            sync,
            repaired_tail,
            state: Mutex::new(State {
                file,
                seq,
                last_hash,
                failed: false,
            }),
        })
    }

    /// Appends one line for `event` and returns its `seq`. Fsyncs first if the log was opened
    /// with `sync`.
    ///
    /// # Errors
    /// [`AuditError::Io`] if the write or sync fails, or failed on an earlier append.
    pub fn append(&self, event: &AuditEvent<'_>) -> Result<u64, AuditError> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        if state.failed {
            return Err(self.poisoned());
        }
        let seq = state.seq + 1;
        let time = now_rfc3339_micros();
        let mut line = serde_json::to_vec(&Record::<&str, &[String]> {
            seq,
            prev_hash: &state.last_hash,
            time: &time,
            principal: event.principal,
            tenant: event.tenant,
            action: event.action,
            ids: event.ids,
            outcome: event.outcome,
        })?;
        // serde_json ends an object with `}`; the prefix is everything before it.
        line.pop();
        let hash = blake3::hash(&line).to_hex();
        line.extend_from_slice(HASH_KEY);
        line.extend_from_slice(hash.as_bytes());
        line.extend_from_slice(CLOSE);
        line.push(b'\n');
        let written = state.file.write_all(&line).and_then(|()| {
            if self.sync {
                state.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(source) = written {
            // NOTE: a partial line may now be on disk, and after a failed fsync the page cache
            // cannot be trusted ("fsyncgate"): refuse further appends until a reopen repairs it.
            state.failed = true;
            return Err(io_error(&self.path)(source));
        }
        state.seq = seq;
        state.last_hash = hash.to_string();
        Ok(seq)
    }

    /// Fsyncs everything appended so far (useful when opened without `sync`).
    ///
    /// # Errors
    /// [`AuditError::Io`] if the sync fails, or a write or sync failed before.
    pub fn sync(&self) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failed {
            return Err(self.poisoned());
        }
        state.file.sync_data().map_err(|source| {
            state.failed = true;
            io_error(&self.path)(source)
        })
    }

    /// The `seq` of the last line, which is the number of lines in an intact log.
    pub fn records(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seq
    }

    /// The file this log writes to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a partial last line that [`AuditLog::open`] cut off, if it cut any.
    pub fn repaired_tail(&self) -> Option<u64> {
        self.repaired_tail
    }

    fn poisoned(&self) -> AuditError {
        let source = io::Error::other("an earlier write or sync failed; reopen the audit log");
        io_error(&self.path)(source)
    }
}

/// Checks the whole log at `path`, streaming it line by line, and reports the first bad line.
///
/// Each line must be UTF-8, end with `,"hash":"<64 lowercase hex>"}`, have a prefix in canonical
/// form with exactly the expected fields, carry `seq` one more than the previous line's (1 first)
/// and `prev_hash` equal to the previous line's hash (zeros first), and hash to its `hash`. A last
/// line without `\n` is reported as incomplete. An empty file is `Ok { records: 0 }`.
///
/// # Errors
/// [`AuditError::Io`] if the file cannot be opened or read; a bad line is not an error but a
/// [`VerifyReport::Broken`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let io_err = io_error(path);
    let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut prev_hash = ZERO_HASH.to_owned();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err)? == 0 {
            return Ok(VerifyReport::Ok { records: line });
        }
        line += 1;
        let broken = |reason: String| Ok(VerifyReport::Broken { line, reason });
        let Some(body) = buf.strip_suffix(b"\n") else {
            return broken("incomplete last line".into());
        };
        let this = match check_line(body) {
            Ok(this) => this,
            Err(reason) => return broken(reason),
        };
        if this.seq != line {
            return broken(format!("seq {} follows {}", this.seq, line - 1));
        }
        if this.prev_hash != prev_hash {
            return broken(if line == 1 {
                "prev_hash of line 1 is not all zeros".into()
            } else {
                format!("prev_hash does not match line {}'s hash", line - 1)
            });
        }
        prev_hash = this.hash;
    }
}

/// The checks one line (without its `\n`) must pass on its own, outside the chain.
fn check_line(line: &[u8]) -> Result<Link, String> {
    if std::str::from_utf8(line).is_err() {
        return Err("line is not valid UTF-8".into());
    }
    let Some(prefix_len) = line.len().checked_sub(SUFFIX_LEN) else {
        return Err("line is too short to end with a hash".into());
    };
    let (prefix, suffix) = line.split_at(prefix_len);
    let hex = &suffix[HEX_OFFSET..CLOSE_OFFSET];
    if &suffix[..HEX_OFFSET] != HASH_KEY || &suffix[CLOSE_OFFSET..] != CLOSE || !is_lower_hex(hex) {
        return Err("line does not end with ,\"hash\":\"<64 lowercase hex>\"}".into());
    }
    if blake3::hash(prefix).to_hex().as_bytes() != hex {
        return Err("hash mismatch".into());
    }
    let mut json = Vec::with_capacity(prefix.len() + 1);
    json.extend_from_slice(prefix);
    json.push(b'}');
    let parsed: ParsedRecord =
        serde_json::from_slice(&json).map_err(|e| format!("fields do not parse: {e}"))?;
    let canonical = serde_json::to_vec(&parsed).map_err(|e| format!("cannot reserialise: {e}"))?;
    if canonical != json {
        return Err("fields are not in canonical form".into());
    }
    if parsed.seq == 0 {
        return Err("seq 0 is not valid".into());
    }
    if parsed.prev_hash.len() != HEX_LEN || !is_lower_hex(parsed.prev_hash.as_bytes()) {
        return Err("prev_hash is not 64 lowercase hex digits".into());
    }
    match OffsetDateTime::parse(&parsed.time, &Rfc3339) {
        Ok(t) if t.offset().is_utc() => {}
        _ => return Err("time is not an RFC 3339 UTC timestamp".into()),
    }
    let hash = String::from_utf8_lossy(hex).into_owned();
    Ok(Link {
        seq: parsed.seq,
        prev_hash: parsed.prev_hash,
        hash,
    })
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> AuditError + Copy + '_ {
    move |source| AuditError::Io {
        path: path.to_owned(),
        source,
    }
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn now_rfc3339_micros() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Position of the last `\n` in `file[..end]`, reading backwards in chunks.
fn rfind_newline(file: &mut File, end: u64) -> io::Result<Option<u64>> {
    let mut buf = Vec::new();
    let mut hi = end;
    while hi > 0 {
        let lo = hi.saturating_sub(TAIL_CHUNK);
        buf.clear();
        file.seek(SeekFrom::Start(lo))?;
        (&*file).take(hi - lo).read_to_end(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
    }
    Ok(None)
}

/// Number of `\n` in `file[..end]` (only on the error path, to name the corrupt line).
fn count_newlines(file: &mut File, end: u64) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    // `end` is 0 or just past a `\n`, so every split piece ends with one.
    let mut pieces = BufReader::new((&*file).take(end)).split(b'\n');
    pieces.try_fold(0, |n, piece| piece.map(|_| n + 1))
}

/// Makes a newly created file's directory entry durable.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        File::open(parent.unwrap_or(Path::new(".")))?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event<'a>(principal: &'a str, ids: &'a [String]) -> AuditEvent<'a> {
        AuditEvent {
            principal,
            tenant: Some("acme"),
            action: "ingest",
            ids,
            outcome: "ok",
        }
    }

    fn write_log(path: &Path, n: u64) {
        let log = AuditLog::open(path, false).unwrap();
        let ids = vec!["c1".to_owned(), "c2".to_owned()];
        for i in 1..=n {
            assert_eq!(log.append(&event("alice", &ids)).unwrap(), i);
        }
    }

    fn lines(path: &Path) -> Vec<Vec<u8>> {
        fs::read(path)
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// `line` with `from` replaced by `to` in its prefix and the hash recomputed.
    fn rehashed(line: &[u8], from: &str, to: &str) -> Vec<u8> {
        let prefix = String::from_utf8(line[..line.len() - SUFFIX_LEN - 1].to_vec()).unwrap();
        let prefix = prefix.replacen(from, to, 1);
        let hash = blake3::hash(prefix.as_bytes()).to_hex();
        format!("{prefix},\"hash\":\"{hash}\"}}\n").into_bytes()
    }

    fn broken_line(path: &Path) -> (u64, String) {
        match verify(path).unwrap() {
            VerifyReport::Broken { line, reason } => (line, reason),
            ok @ VerifyReport::Ok { .. } => panic!("expected Broken, got {ok:?}"),
        }
    }

    #[test]
    fn append_then_verify_and_exact_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/audit.jsonl");
        write_log(&path, 10);
        assert_eq!(verify(&path).unwrap(), VerifyReport::Ok { records: 10 });
        let first = String::from_utf8(lines(&path).remove(0)).unwrap();
        let prefix = format!("{{\"seq\":1,\"prev_hash\":\"{ZERO_HASH}\",\"time\":\"");
        assert!(first.starts_with(&prefix), "{first}");
        let rest = ",\"principal\":\"alice\",\"tenant\":\"acme\",\"action\":\"ingest\",\
                    \"ids\":[\"c1\",\"c2\"],\"outcome\":\"ok\",\"hash\":\"";
        assert!(first.contains(rest), "{first}");
        let time = &first[prefix.len()..prefix.len() + 27];
        assert!(
            OffsetDateTime::parse(time, &Rfc3339).is_ok() && time.ends_with('Z'),
            "{time}"
        );
        assert_eq!(ZERO_HASH.len(), HEX_LEN);
    }

    #[test]
    fn empty_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        assert!(matches!(verify(&path), Err(AuditError::Io { .. })));
        let log = AuditLog::open(&path, true).unwrap();
        assert_eq!(
            (log.records(), log.repaired_tail(), log.path()),
            (0, None, path.as_path())
        );
        assert_eq!(verify(&path).unwrap(), VerifyReport::Ok { records: 0 });
    }

    #[test]
    fn reopen_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 2);
        // A last line longer than the backwards-read chunk.
        let big_ids = vec!["x".repeat(3 * 4096)];
        AuditLog::open(&path, false)
            .unwrap()
            .append(&event("bob", &big_ids))
            .unwrap();
        let log = AuditLog::open(&path, true).unwrap();
        assert_eq!((log.records(), log.repaired_tail()), (3, None));
        assert_eq!(log.append(&event("bob", &[])).unwrap(), 4);
        log.sync().unwrap();
        let all = lines(&path);
        let third = check_line(all[2].strip_suffix(b"\n").unwrap()).unwrap();
        let fourth = check_line(all[3].strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!((fourth.seq, fourth.prev_hash), (4, third.hash));
        assert_eq!(verify(&path).unwrap(), VerifyReport::Ok { records: 4 });
    }

    #[test]
    fn every_single_byte_flip_is_detected_on_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 3);
        let original = fs::read(&path).unwrap();
        for i in 0..original.len() {
            let mut bytes = original.clone();
            bytes[i] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            let own = original[..i].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let (line, reason) = broken_line(&path);
            let next_ok = original[i] == b'\n' && line == own + 1;
            assert!(
                line == own || next_ok,
                "flip at {i}: line {line} ({reason}), byte on {own}"
            );
        }
    }

    #[test]
    fn deleted_and_swapped_lines_break_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 5);
        let all = lines(&path);
        let without_third: Vec<u8> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .flat_map(|(_, l)| l.clone())
            .collect();
        fs::write(&path, without_third).unwrap();
        assert_eq!(broken_line(&path), (3, "seq 4 follows 2".to_owned()));
        let mut swapped = all.clone();
        swapped.swap(1, 2);
        fs::write(&path, swapped.concat()).unwrap();
        assert_eq!(broken_line(&path), (2, "seq 3 follows 1".to_owned()));
        // A line whose seq was edited and rehashed still breaks the chain at prev_hash.
        let mut forged = all;
        forged.remove(2);
        forged[2] = rehashed(&forged[2], "\"seq\":4", "\"seq\":3");
        fs::write(&path, forged.concat()).unwrap();
        let expected = "prev_hash does not match line 2's hash".to_owned();
        assert_eq!(broken_line(&path), (3, expected));
    }

    #[test]
    fn rehashed_lines_must_still_be_canonical_and_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 1);
        let line = &lines(&path)[0];
        let cases = [
            ("\"seq\":1,", "\"seq\": 1,", "canonical"),
            (
                "\"outcome\":\"ok\"",
                "\"outcome\":\"ok\",\"x\":1",
                "unknown field",
            ),
            // serde reads a missing `Option` field as `None`; only the canonical check sees it.
            (",\"tenant\":\"acme\"", "", "canonical"),
            ("Z\",\"principal", "+01:00\",\"principal", "RFC 3339 UTC"),
            ("\"seq\":1,", "\"seq\":0,", "seq 0"),
            ("\"prev_hash\":\"0", "\"prev_hash\":\"A", "64 lowercase hex"),
        ];
        for (from, to, expected) in cases {
            let edited = rehashed(line, from, to);
            let reason = check_line(edited.strip_suffix(b"\n").unwrap())
                .err()
                .unwrap();
            assert!(reason.contains(expected), "{to}: {reason}");
        }
        assert!(check_line(rehashed(line, "", "").strip_suffix(b"\n").unwrap()).is_ok());
    }

    #[test]
    fn partial_last_line_is_reported_then_repaired_by_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 4);
        let full = fs::read(&path).unwrap();
        let keep = full.len() - 40;
        fs::write(&path, &full[..keep]).unwrap();
        let (line, reason) = broken_line(&path);
        assert!(
            line == 4 && reason.contains("incomplete"),
            "{line}: {reason}"
        );
        let fourth_start = full[..keep].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        let log = AuditLog::open(&path, true).unwrap();
        assert_eq!(log.repaired_tail(), Some((keep - fourth_start) as u64));
        assert_eq!(fs::read(&path).unwrap(), &full[..fourth_start]);
        assert_eq!(log.records(), 3);
        assert_eq!(log.append(&event("carol", &[])).unwrap(), 4);
        assert_eq!(verify(&path).unwrap(), VerifyReport::Ok { records: 4 });
    }

    #[test]
    fn open_refuses_a_corrupt_last_line_and_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 2);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(b"not an audit line\npartial");
        fs::write(&path, &bytes).unwrap();
        let err = AuditLog::open(&path, false).unwrap_err();
        assert!(matches!(err, AuditError::Corrupt { line: 3, .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), bytes);
        // A tampered last line is caught by its own hash, not continued.
        write_log(&dir.path().join("b.jsonl"), 2);
        let mut bytes = fs::read(dir.path().join("b.jsonl")).unwrap();
        let at = bytes.len() - 100;
        bytes[at] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let err = AuditLog::open(&path, false).unwrap_err();
        assert!(matches!(err, AuditError::Corrupt { line: 2, .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("audit log is corrupt at line 2: "),
            "{err}"
        );
    }

    #[test]
    fn awkward_strings_are_escaped_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, false).unwrap();
        let principal = "a\"b\\c\nd\r\t\u{0}é🦀 \u{2028}";
        let ids = vec![
            "\"}\n,\"hash\":\"".to_owned(),
            "ünï\u{7f}".to_owned(),
            String::new(),
        ];
        let ev = AuditEvent {
            principal,
            tenant: None,
            action: "q\"",
            ids: &ids,
            outcome: "}",
        };
        log.append(&ev).unwrap();
        log.append(&ev).unwrap();
        assert_eq!(verify(&path).unwrap(), VerifyReport::Ok { records: 2 });
        let first = &lines(&path)[0];
        assert!(String::from_utf8_lossy(first).contains("\"tenant\":null"));
        let parsed: ParsedRecord =
            serde_json::from_slice(&[&first[..first.len() - SUFFIX_LEN - 1], b"}"].concat())
                .unwrap();
        assert_eq!((parsed.principal.as_str(), parsed.ids), (principal, ids));
    }

    #[test]
    fn concurrent_appends_form_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, false).unwrap();
        let mut seqs: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let log = &log;
                    s.spawn(move || {
                        let ids = vec![format!("thread-{t}")];
                        (0..50)
                            .map(|_| log.append(&event("t", &ids)).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        assert_eq!(verify(&path).unwrap(), VerifyReport::Ok { records: 200 });
    }
}
