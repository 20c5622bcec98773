//! An IR set in the peers' layout (`shared/bench/peers/make_ir_set.py`): `corpus.jsonl`
//! `{"id","text"}` with `corpus.f32` + `corpus.ids` (one vector row per id line), and
//! `queries.jsonl` `{"id","text","gold":[ids]}` with `queries.f32` + `queries.ids`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::vectors::Matrix;
use crate::Res;

/// One document of the corpus.
#[derive(Debug, Clone, Deserialize)]
pub struct Doc {
    /// The document's id.
    pub id: String,
    /// Its text.
    pub text: String,
}

/// One query with its relevant documents.
#[derive(Debug, Clone, Deserialize)]
pub struct IrQuery {
    /// The query's id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// The ids of the relevant documents.
    pub gold: Vec<String>,
}

/// A whole IR set in memory.
#[derive(Debug, Clone)]
pub struct IrSet {
    /// The documents, in file order.
    pub docs: Vec<Doc>,
    /// Row `i` is the vector of `docs[i]`.
    pub doc_vectors: Matrix,
    /// The queries, in file order.
    pub queries: Vec<IrQuery>,
    /// Row `i` is the vector of `queries[i]`.
    pub query_vectors: Matrix,
}

fn jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Res<Vec<T>> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

/// The vectors of `stem.f32` reordered to follow `ids` (the `.ids` file gives each row's id).
fn aligned(dir: &Path, stem: &str, dim: usize, ids: &[&str]) -> Res<Matrix> {
    let m = Matrix::read(&dir.join(format!("{stem}.f32")), dim, None)?;
    let row_ids = std::fs::read_to_string(dir.join(format!("{stem}.ids")))?;
    let at: HashMap<&str, usize> = row_ids.lines().zip(0..).collect();
    if at.len() != m.rows() {
        return Err(format!("{stem}.ids and {stem}.f32 disagree on the row count").into());
    }
    let mut data = Vec::with_capacity(ids.len() * dim);
    for id in ids {
        let row = at
            .get(id)
            .ok_or_else(|| format!("{stem}.ids has no vector for {id}"))?;
        data.extend_from_slice(m.row(*row));
    }
    Ok(Matrix { dim, data })
}

impl IrSet {
    /// Reads the set in `dir` with `dim`-float vectors (384 for the Climate-FEVER set).
    pub fn read(dir: &Path, dim: usize) -> Res<Self> {
        let docs: Vec<Doc> = jsonl(&dir.join("corpus.jsonl"))?;
        let queries: Vec<IrQuery> = jsonl(&dir.join("queries.jsonl"))?;
        let doc_ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        let query_ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        let doc_vectors = aligned(dir, "corpus", dim, &doc_ids)?;
        let query_vectors = aligned(dir, "queries", dim, &query_ids)?;
        Ok(Self {
            docs,
            doc_vectors,
            queries,
            query_vectors,
        })
    }
}
