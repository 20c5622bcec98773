//! The common synthetic corpus of `shared/bench/synthetic.py` (seed 7): `claims.jsonl` (one
//! ingest item a line: claim, evidence, entities, edges), `vectors.f32` (128-d rows, one per
//! claim line), `queries.jsonl` (`{"text", ...}`) and `queries.f32`.
//!
//! ```sh
//! pip install numpy && python3 ../shared/bench/synthetic.py 100000 /tmp/syn100k
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use dash_core::IngestItem;
use serde_json::Value;

use crate::vectors::Matrix;
use crate::Res;

/// The corpus' vector dimension.
pub const DIM: usize = 128;

/// One corpus directory.
#[derive(Debug, Clone)]
pub struct Synthetic {
    dir: PathBuf,
    growing: bool,
}

/// The corpus' queries: text and vector, in file order.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    /// Query texts.
    pub texts: Vec<String>,
    /// One vector per text.
    pub vectors: Matrix,
}

impl Synthetic {
    /// The corpus in `dir`; an error naming the generator when its files are missing.
    pub fn open(dir: &Path) -> Res<Self> {
        for file in [
            "claims.jsonl",
            "vectors.f32",
            "queries.jsonl",
            "queries.f32",
        ] {
            if !dir.join(file).is_file() {
                return Err(format!(
                    "{} has no {file}: create the corpus with `python3 ../shared/bench/synthetic.py N {}`",
                    dir.display(),
                    dir.display()
                )
                .into());
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            growing: false,
        })
    }

    /// A corpus the generator is still writing (its queries come last): [`Self::parts`] waits
    /// for lines not written yet, so a long load can start with the generation.
    pub fn growing(dir: &Path) -> Res<Self> {
        if !dir.join("claims.jsonl").is_file() {
            return Err(format!("{} has no claims.jsonl yet", dir.display()).into());
        }
        Ok(Self {
            dir: dir.to_owned(),
            growing: true,
        })
    }

    /// The claims from line `from` on, read in order a part at a time (one pass over the
    /// file, where [`Self::items`] scans from the first line each time).
    pub fn parts(&self, from: usize) -> Res<Parts> {
        let mut parts = Parts {
            lines: BufReader::with_capacity(1 << 20, File::open(self.dir.join("claims.jsonl"))?),
            vectors: self.dir.join("vectors.f32"),
            next: 0,
            growing: self.growing,
            line: String::new(),
        };
        for _ in 0..from {
            parts.read_line(from)?;
        }
        parts.next = from;
        Ok(parts)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many claim lines the corpus holds (from the size of `vectors.f32`).
    pub fn len(&self) -> Res<usize> {
        let bytes = std::fs::metadata(self.dir.join("vectors.f32"))?.len();
        Ok(usize::try_from(bytes)? / (DIM * 4))
    }

    /// Whether the corpus holds no claims.
    pub fn is_empty(&self) -> Res<bool> {
        Ok(self.len()? == 0)
    }

    /// The vectors of the first `rows` claims.
    pub fn vectors(&self, rows: usize) -> Res<Matrix> {
        Matrix::read(&self.dir.join("vectors.f32"), DIM, Some(rows))
    }

    /// Calls `f(line_number, raw_json)` for lines `[from, to)` of `claims.jsonl`; an error when
    /// the file ends before `to`.
    pub fn for_each_line(
        &self,
        from: usize,
        to: usize,
        mut f: impl FnMut(usize, &str) -> Res<()>,
    ) -> Res<()> {
        let file = File::open(self.dir.join("claims.jsonl"))?;
        let mut seen = from;
        for (i, line) in BufReader::with_capacity(1 << 20, file)
            .lines()
            .enumerate()
            .skip(from)
            .take(to.saturating_sub(from))
        {
            f(i, &line?)?;
            seen = i + 1;
        }
        if seen < to {
            return Err(format!("claims.jsonl has fewer than {to} lines").into());
        }
        Ok(())
    }

    /// Lines `[from, to)` as ingest items, each with its corpus vector (read for just those
    /// lines: a caller streams a large corpus in parts).
    pub fn items(&self, from: usize, to: usize) -> Res<Vec<IngestItem>> {
        self.parts(from)?.next_part(to.saturating_sub(from))
    }

    /// The canonical text of lines `[0, n)`.
    pub fn texts(&self, n: usize) -> Res<Vec<String>> {
        let mut out = Vec::with_capacity(n);
        self.for_each_line(0, n, |i, line| {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
            let text = v["claim"]["canonical_text"]
                .as_str()
                .ok_or_else(|| format!("claims.jsonl line {}: no claim.canonical_text", i + 1))?;
            out.push(text.to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    /// The queries with their vectors (of a growing corpus: once the generator has written
    /// them, last).
    pub fn queries(&self) -> Res<Queries> {
        let start = std::time::Instant::now();
        loop {
            match self.read_queries() {
                Err(_) if self.growing && start.elapsed() <= GROWING_PATIENCE => {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                read => return read,
            }
        }
    }

    fn read_queries(&self) -> Res<Queries> {
        let file = File::open(self.dir.join("queries.jsonl"))?;
        let mut texts = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let v: Value = serde_json::from_str(&line?)
                .map_err(|e| format!("queries.jsonl line {}: {e}", i + 1))?;
            let text = v["text"]
                .as_str()
                .ok_or_else(|| format!("queries.jsonl line {}: no text", i + 1))?;
            texts.push(text.to_owned());
        }
        let vectors = Matrix::read(&self.dir.join("queries.f32"), DIM, Some(texts.len()))?;
        if texts.is_empty() || vectors.rows() != texts.len() {
            return Err("queries.jsonl and queries.f32 do not hold the same queries".into());
        }
        Ok(Queries { texts, vectors })
    }
}

/// How long a growing corpus may stay the same size before [`Parts`] gives up on it.
const GROWING_PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

/// The corpus' claims read in order ([`Synthetic::parts`]).
#[derive(Debug)]
pub struct Parts {
    lines: BufReader<File>,
    vectors: PathBuf,
    /// The number of the next line.
    next: usize,
    growing: bool,
    line: String,
}

impl Parts {
    /// The next `rows` lines as ingest items, each with its vector; an error when the corpus
    /// ends before (a growing one: when it stops growing for ten minutes).
    pub fn next_part(&mut self, rows: usize) -> Res<Vec<IngestItem>> {
        let from = self.next;
        let end = from + rows;
        let mut out = Vec::with_capacity(rows);
        for i in from..end {
            self.read_line(end)?;
            let item: IngestItem = serde_json::from_str(self.line.trim_end())
                .map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
            out.push(item);
        }
        self.next = end;
        // The generator writes a block's vectors before its lines, but a line read here may
        // come before the vector bytes reach the file: wait for them too.
        let need = (end * DIM * 4) as u64;
        self.wait(|| Ok(std::fs::metadata(&self.vectors)?.len() >= need))?;
        let vectors = Matrix::read_rows(&self.vectors, DIM, from, rows)?;
        for (i, item) in out.iter_mut().enumerate() {
            item.claim.embedding = Some(vectors.row(i).to_vec());
        }
        Ok(out)
    }

    /// Reads the next whole line into `self.line` (`to`: for the error message).
    fn read_line(&mut self, to: usize) -> Res<()> {
        self.line.clear();
        let mut waited = std::time::Instant::now();
        loop {
            if self.lines.read_line(&mut self.line)? > 0 {
                waited = std::time::Instant::now();
            }
            if self.line.ends_with('\n') || (!self.growing && !self.line.is_empty()) {
                return Ok(());
            }
            if !self.growing || waited.elapsed() > GROWING_PATIENCE {
                return Err(format!("claims.jsonl has fewer than {to} lines").into());
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// Returns once `ready` is true; a corpus that is not growing must be ready at once.
    fn wait(&self, mut ready: impl FnMut() -> Res<bool>) -> Res<()> {
        let start = std::time::Instant::now();
        while !ready()? {
            if !self.growing || start.elapsed() > GROWING_PATIENCE {
                return Err("vectors.f32 is shorter than claims.jsonl".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        Ok(())
    }
}
