//! Loading a store in batches, as every bench that fills one does.

use dash_core::{IngestItem, Store};

use crate::Res;

/// Claims per `ingest_batch` when a bench loads a store.
pub const BATCH: usize = 1000;

/// Ingests `items` with `ingest_batch` in batches of `size` (commit ids `{tag}-0`, `{tag}-1`,
/// …); the number of batches. Items are taken one batch at a time, so a caller that passes
/// `slice.iter().cloned()` holds at most one batch of copies.
pub fn in_batches(
    store: &Store,
    items: impl IntoIterator<Item = IngestItem>,
    tag: &str,
    size: usize,
) -> Res<usize> {
    let mut items = items.into_iter().peekable();
    let mut n = 0;
    while items.peek().is_some() {
        let batch: Vec<IngestItem> = items.by_ref().take(size.max(1)).collect();
        store.ingest_batch(format!("{tag}-{n}"), batch)?;
        n += 1;
    }
    Ok(n)
}
