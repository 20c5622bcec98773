//! `dash-bench restart`: how soon a clean restart answers, with claims spread over many tenants
//! (the disk-resident-indexes issue's "20,000 tenants × 50 claims" target), once indexing the
//! segments (no catalog image) and once from the catalog image the close wrote.
//!
//! ```text
//! python3 ../shared/bench/synthetic.py 1000000 target/scorecard/synthetic-1000000
//! cargo run --release -p dash-bench --features mimalloc -- restart \
//!     --data target/scorecard/synthetic-1000000 --claims 1000000 --tenants 20000
//! ```
//!
//! Claim `i` of the corpus goes to tenant `t{i % tenants}`; each tenant's claims are ingested as
//! one batch, checkpointed, and the store closed. Then, each in a fresh `Store` of this process
//! (the page cache warm, the directory synced): the image removed, open and time the first
//! answer of a tenant in the middle; open again (the previous close wrote the image) and time it
//! again.

use std::path::PathBuf;
use std::time::Instant;

use dash_bench::corpus::Synthetic;
use dash_bench::{synth, Res};
use dash_core::{Durability, IngestItem, Query, Store};

/// Arguments of `dash-bench restart`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The synthetic corpus (`python3 ../shared/bench/synthetic.py N DIR`).
    #[arg(long, default_value = "/tmp/synth")]
    pub data: PathBuf,
    /// Claims loaded.
    #[arg(long, default_value_t = 1_000_000)]
    pub claims: usize,
    /// Tenants they are spread over.
    #[arg(long, default_value_t = 20_000)]
    pub tenants: usize,
    /// Keep the store of the previous run (same sizes) and skip the load.
    #[arg(long)]
    pub reuse: bool,
    /// Only the open from the image (with `--reuse`: the last run's close wrote it).
    #[arg(long)]
    pub image_only: bool,
}

/// Runs the restart bench.
///
/// # Errors
/// A missing corpus, or any store error.
pub fn run(a: Args) -> Res<()> {
    let tenants = a.tenants.max(1);
    let dir = synth::target_dir("bench_restart");
    if !(a.reuse && dir.exists()) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let corpus = Synthetic::open(&a.data)?;
        let items = corpus.items(0, a.claims)?;
        let mut by_tenant: Vec<Vec<IngestItem>> = (0..tenants).map(|_| Vec::new()).collect();
        for (i, mut item) in items.into_iter().enumerate() {
            let tenant = format!("t{}", i % tenants);
            item.claim.tenant_id = tenant.as_str().into();
            by_tenant[i % tenants].push(item);
        }
        let start = Instant::now();
        let store = Store::builder(&dir)
            .durability(Durability::Batched {
                max_records: dash_core::SAFE_BATCH_RECORDS,
                max_delay: dash_core::SAFE_BATCH_DELAY,
            })
            .open()?;
        for (t, items) in by_tenant.into_iter().enumerate() {
            store.ingest_batch(format!("load-{t}"), items)?;
        }
        store.flush()?;
        store.checkpoint()?;
        store.wait_for_indexes();
        store.close()?;
        println!(
            "load: {} claims over {tenants} tenants in {:.1} s",
            a.claims,
            start.elapsed().as_secs_f64()
        );
    }
    let probe = format!("t{}", tenants / 2);
    let passes: &[bool] = if a.image_only {
        &[true]
    } else {
        &[false, true]
    };
    for &image in passes {
        if !image {
            let _ = std::fs::remove_file(dir.join("catalog.image"));
        }
        let start = Instant::now();
        let store = Store::builder(&dir).open()?;
        let opened = Instant::now();
        let answer = store.retrieve(&Query::new(probe.as_str()).text("ice sheet"))?;
        let answered = opened.elapsed();
        // (After the answer: the statistics read every tenant, decoding those not read yet.)
        let stats = store.stats();
        println!(
            "{}: open {:.2} s, first answer ({} results) {:.2} s after open returned (catalog image {})",
            if image { "from the image" } else { "indexing the segments" },
            (opened - start).as_secs_f64(),
            answer.results.len(),
            answered.as_secs_f64(),
            if stats.catalog_image_loaded {
                "read".to_owned()
            } else {
                format!(
                    "not read: {}",
                    stats.catalog_image_unused.as_deref().unwrap_or("none")
                )
            }
        );
        store.wait_for_indexes();
        store.close()?;
        // The close just wrote the image: let it reach the disk before the next open is timed.
        std::process::Command::new("sync").status()?;
    }
    Ok(())
}
