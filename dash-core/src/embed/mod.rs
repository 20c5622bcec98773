//! Text embedders: what turns a claim or a query without a vector into one.
//!
//! The store calls an [`Embedder`] off the write path, in batches, for claims sent without an
//! `embedding`, and on the query path for queries sent without a `query_embedding`
//! ([`StoreBuilder::embedder`](crate::StoreBuilder::embedder)). A tenant records which model
//! made its vectors ([`Embedder::model`]); vectors of two models never mix in one tenant.

use std::fmt::Debug;
use std::path::PathBuf;

#[cfg(feature = "embed")]
mod bert;
#[cfg(feature = "embed")]
mod minilm;
#[cfg(feature = "embed")]
pub use minilm::MiniLmEmbedder;

/// Turns texts into vectors. Implementations must be deterministic (the same text gives the same
/// vector) and return L2-normalised vectors of [`Embedder::dimension`] components.
///
/// ```
/// use dash_core::embed::{EmbedError, Embedder};
///
/// /// Two features: the share of vowels and of other letters (a toy, to show the shape).
/// #[derive(Debug)]
/// struct Letters;
///
/// impl Embedder for Letters {
///     fn model(&self) -> &str {
///         "letters-v1"
///     }
///     fn dimension(&self) -> usize {
///         2
///     }
///     fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
///         Ok(texts
///             .iter()
///             .map(|t| {
///                 let vowels = t.chars().filter(|c| "aeiou".contains(*c)).count() as f32;
///                 let others = t.chars().filter(|c| c.is_alphabetic()).count() as f32 - vowels;
///                 let norm = (vowels * vowels + others * others).sqrt().max(f32::MIN_POSITIVE);
///                 vec![vowels / norm, others / norm]
///             })
///             .collect())
///     }
/// }
/// assert_eq!(Letters.embed(&["aaa"])?, [vec![1.0, 0.0]]);
/// # Ok::<(), EmbedError>(())
/// ```
pub trait Embedder: Send + Sync + Debug {
    /// A stable name of the model (for example `sentence-transformers/all-MiniLM-L6-v2`); a
    /// tenant records it with its first store-made vector.
    fn model(&self) -> &str;

    /// The length of every vector it returns.
    fn dimension(&self) -> usize;

    /// One L2-normalised vector per text, in order.
    ///
    /// # Errors
    /// [`EmbedError::Inference`] when the model fails on this input.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Why an embedder could not be loaded or could not embed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// A file of the model folder is missing, unreadable or not what it should be.
    #[error("model file {}: {reason}", file.display())]
    ModelFile {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The model failed on an input.
    #[error("embedding failed: {0}")]
    Inference(String),
}
