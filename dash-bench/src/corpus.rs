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
        })
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
        let rows = to.saturating_sub(from);
        let vectors = Matrix::read_rows(&self.dir.join("vectors.f32"), DIM, from, rows)?;
        let mut out = Vec::with_capacity(rows);
        self.for_each_line(from, to, |i, line| {
            let mut item: IngestItem = serde_json::from_str(line)
                .map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
            item.claim.embedding = Some(vectors.row(i - from).to_vec());
            out.push(item);
            Ok(())
        })?;
        Ok(out)
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

    /// The queries with their vectors.
    pub fn queries(&self) -> Res<Queries> {
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
        Ok(Queries { texts, vectors })
    }
}
