//! What the run sends, made from the common synthetic corpus ([`Synthetic`]): the load's batch
//! bodies (the first `--n` claim lines), the fresh claims of the write phases (renamed copies of
//! the next `--pool` lines) and the queries. Every claim goes to the first claim's tenant (a
//! batch is one tenant).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use dash_bench::corpus::Synthetic;
use dash_bench::Res;
use serde_json::{json, Value};

use super::client::Req;
use super::loops::Gen;
use super::wire::{self, batch_body, Line};
use super::Args;

/// Corpus lines that fresh claims are made from, each with its vector.
pub(super) struct Pool {
    /// The lines.
    lines: Vec<(Line, Vec<f32>)>,
}

impl Pool {
    /// The item `claim_id` made from line `seq % len`: ids renamed (claim, evidence, edge
    /// sources), the text prefixed with `token` if given.
    pub(super) fn item(&self, claim_id: &str, seq: usize, token: Option<&str>) -> Res<Vec<u8>> {
        let (line, embedding) = self
            .lines
            .get(seq % self.lines.len().max(1))
            .ok_or("empty pool")?;
        let mut claim = line.claim.clone();
        claim.insert("claim_id".into(), json!(claim_id));
        if let Some(token) = token {
            let text = claim.get("canonical_text").and_then(Value::as_str);
            let text = text.unwrap_or_default();
            claim.insert("canonical_text".into(), json!(format!("{token} {text}")));
        }
        let rename = |values: &[Value], key: &str| -> Vec<Value> {
            let mut values = values.to_vec();
            for (j, value) in values.iter_mut().enumerate() {
                if let Some(object) = value.as_object_mut() {
                    object.insert(key.into(), json!(claim_id));
                    if object.contains_key("evidence_id") {
                        object.insert("evidence_id".into(), json!(format!("{claim_id}-e{j}")));
                    }
                }
            }
            values
        };
        wire::item(
            &claim,
            embedding,
            &rename(&line.evidence, "claim_id"),
            &rename(&line.edges, "from_claim_id"),
        )
    }

    /// `count` batch bodies of `size` fresh items: claims `<tag>-<i>`, `commit_id`s `<tag>-<n>`.
    pub(super) fn batches(&self, tag: &str, count: usize, size: usize) -> Res<Vec<Bytes>> {
        (0..count)
            .map(|b| {
                let items = (b * size..(b + 1) * size)
                    .map(|i| self.item(&format!("{tag}-{i}"), i, None))
                    .collect::<Res<Vec<_>>>()?;
                batch_body(&format!("{tag}-{b}"), &items)
            })
            .collect()
    }
}

/// What the run sends.
pub(super) struct Corpus {
    /// The tenant of every claim and query.
    pub(super) tenant: String,
    /// Claims in the load batches.
    pub(super) loaded: usize,
    /// The load's `POST /v1/ingest/batch` bodies.
    pub(super) load_batches: Vec<Bytes>,
    /// The lines fresh claims are made from.
    pub(super) pool: Arc<Pool>,
    /// The corpus' queries as `POST /v1/retrieve` requests.
    pub(super) queries: Vec<Req>,
    /// Bytes in the load batches.
    body_bytes: usize,
}

impl Corpus {
    /// Reads the corpus of `--data` as `args` asks (on a blocking thread).
    pub(super) async fn read(args: &Args) -> Res<Self> {
        let (dir, n, pool, size) = (args.data.clone(), args.n, args.pool, args.batch_size);
        let started = Instant::now();
        eprintln!(
            "reading {} claims (+{pool} fresh) from {}",
            n,
            dir.display()
        );
        let corpus =
            tokio::task::spawn_blocking(move || Self::read_blocking(&dir, n, pool, size)).await??;
        eprintln!(
            "corpus ready in {:.1} s: {} batches, {:.0} MB",
            started.elapsed().as_secs_f64(),
            corpus.load_batches.len(),
            corpus.body_bytes as f64 / 1e6
        );
        Ok(corpus)
    }

    /// The first `n` lines of `dir` in batches of `size`, the next `pool` (at least 1) as the
    /// pool, and the queries.
    fn read_blocking(dir: &Path, n: usize, pool: usize, size: usize) -> Res<Self> {
        let synthetic = Synthetic::open(dir)?;
        let rows = n + pool.max(1);
        let vectors = synthetic.vectors(rows)?;
        let mut tenant: Option<String> = None;
        let (mut batches, mut current, mut templates) = (Vec::new(), Vec::new(), Vec::new());
        synthetic.for_each_line(0, rows, |i, text| {
            let mut line: Line = serde_json::from_str(text)
                .map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
            line.claim.remove("embedding");
            let first = line
                .claim
                .get("tenant_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let tenant = match &tenant {
                Some(t) => t.clone(),
                None => tenant
                    .insert(first.ok_or("the first claim has no tenant_id")?)
                    .clone(),
            };
            line.claim.insert("tenant_id".into(), json!(tenant));
            let embedding = vectors.row(i);
            if embedding.is_empty() {
                return Err("vectors.f32 is short".into());
            }
            if i >= n {
                templates.push((line, embedding.to_vec()));
                return Ok(());
            }
            current.push(wire::item(
                &line.claim,
                embedding,
                &line.evidence,
                &line.edges,
            )?);
            if current.len() == size || i + 1 == n {
                batches.push(batch_body(&format!("load-{}", batches.len()), &current)?);
                current.clear();
            }
            Ok(())
        })?;
        let tenant = tenant.ok_or("no claims")?;
        let queries = synthetic.queries()?;
        let queries = queries
            .texts
            .iter()
            .zip(queries.vectors.iter())
            .map(|(text, vector)| {
                let body = wire::retrieve_body(&tenant, text, vector)?;
                Ok(Req::post("/v1/retrieve", body))
            })
            .collect::<Res<Vec<_>>>()?;
        if queries.is_empty() {
            return Err("no queries".into());
        }
        Ok(Self {
            body_bytes: batches.iter().map(Bytes::len).sum(),
            loaded: n,
            load_batches: batches,
            pool: Arc::new(Pool { lines: templates }),
            queries,
            tenant,
        })
    }

    /// What was read, as JSON.
    pub(super) fn describe(&self) -> Value {
        json!({
            "tenant": self.tenant,
            "claims_loaded": self.loaded,
            "load_batches": self.load_batches.len(),
            "load_body_mb": self.body_bytes as f64 / 1e6,
            "fresh_claim_templates": self.pool.lines.len(),
            "queries": self.queries.len(),
            "query": "POST /v1/retrieve {tenant_id, query, query_embedding (128-d), top_k: 10}",
        })
    }

    /// The queries, round-robin.
    pub(super) fn retrieve_gen(&self) -> Gen {
        let queries = Arc::new(self.queries.clone());
        Arc::new(move |i| {
            queries
                .get(i as usize % queries.len().max(1))
                .cloned()
                .ok_or_else(|| "no queries".into())
        })
    }

    /// Fresh single claims `<tag>-<i>` for `POST /v1/ingest`.
    pub(super) fn ingest_gen(&self, tag: &str) -> Gen {
        let (pool, tag) = (Arc::clone(&self.pool), tag.to_owned());
        Arc::new(move |i| {
            let body = pool.item(&format!("{tag}-{i}"), i as usize, None)?;
            Ok(Req::post("/v1/ingest", body.into()))
        })
    }
}
