//! The optional local embedder of `--embedder DIR` (feature `embed`): the store's embedder and
//! the judge's span guard.

use std::path::Path;
use std::sync::Arc;

use dash_bench::Res;
use dash_core::detect::{DetectionConfig, RuleConfig, RuleDetector};
use dash_core::embed::Embedder;
use dash_core::{Store, StoreBuilder};

/// The embedder, when `--embedder` gave one.
#[derive(Clone, Default)]
pub struct Model(Option<Arc<dyn Embedder>>);

impl Model {
    /// Loads all-MiniLM-L6-v2 from `dir`.
    #[cfg(feature = "embed")]
    pub fn load(dir: &Path) -> Res<Self> {
        Ok(Self(Some(Arc::new(
            dash_core::embed::MiniLmEmbedder::load(dir)?,
        ))))
    }

    /// Without the `embed` feature there is no embedder to load.
    #[cfg(not(feature = "embed"))]
    pub fn load(_dir: &Path) -> Res<Self> {
        Err("--embedder needs the `embed` feature: \
             cargo run --release -p dash-bench --features embed -- detection ..."
            .into())
    }

    /// Whether an embedder is loaded.
    pub fn is_loaded(&self) -> bool {
        self.0.is_some()
    }

    /// A store builder with the embedder and its span guard, when there is one.
    pub fn builder(&self, dir: &Path) -> StoreBuilder {
        let builder = Store::builder(dir);
        match &self.0 {
            None => builder,
            Some(e) => builder
                .embedder(e.clone())
                .detection(DetectionConfig::default().detector(Arc::new(
                    RuleDetector::with_embedder(RuleConfig::default(), e.clone()),
                ))),
        }
    }
}
