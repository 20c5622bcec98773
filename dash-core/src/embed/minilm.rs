//! all-MiniLM-L6-v2 in process: a BERT encoder on candle tensors ([`super::bert`]) on the CPU, in
//! f32, with the model's own WordPiece tokenizer. What it computes is what sentence-transformers
//! computes for this model (`modules.json`: Transformer → mean Pooling → Normalize):
//!
//! 1. tokenise with `[CLS] … [SEP]`, truncated to [`MAX_SEQ_LEN`] word pieces (the model's
//!    `max_seq_length` in `sentence_bert_config.json`, special tokens included);
//! 2. run the 6-layer BERT on batches of [`BATCH_SIZE`] texts;
//! 3. average each text's last hidden state over its tokens;
//! 4. divide by the L2 norm.
//!
//! sentence-transformers pads a batch to its longest text and masks the padding out of the
//! attention and the mean; here a batch is packed instead (no padding, attention per text, see
//! [`super::bert::Bert::forward`]), which gives the same vectors (a masked position weighs
//! exactly 0) without the work on padding.

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::Device;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::bert::{Bert, Config};
use super::{EmbedError, Embedder};

/// The name [`MiniLmEmbedder::model`] reports. The folder's `config.json` does not name the model
/// (its `_name_or_path` is the base checkpoint, `nreimers/MiniLM-L6-H384-uncased`), so the name
/// is fixed; [`MiniLmEmbedder::load`] checks that the configuration has this model's shape.
pub const MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The longest input in word pieces, `[CLS]` and `[SEP]` included; the rest of a text is cut
/// off (sentence-transformers' `max_seq_length` for this model).
pub const MAX_SEQ_LEN: usize = 256;

/// How many texts go through the model at once.
pub const BATCH_SIZE: usize = 32;

/// The shape of all-MiniLM-L6-v2 (`config.json`): hidden size and layers.
const HIDDEN_SIZE: usize = 384;
const LAYERS: usize = 6;

const CONFIG_FILE: &str = "config.json";
const TOKENIZER_FILE: &str = "tokenizer.json";
const WEIGHTS_FILE: &str = "model.safetensors";

/// The sentence embedder all-MiniLM-L6-v2 (384 dimensions), run in process on the CPU.
///
/// Loaded from a folder holding `config.json`, `tokenizer.json` and `model.safetensors` (what
/// `scripts/fetch-model.sh` fetches); nothing is downloaded at run time. Embedding is
/// deterministic and thread-safe: one instance can serve many threads (`&self`).
///
/// # Threads
/// The model runs on candle's own thread pool, one thread per physical core unless
/// `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS` says otherwise; a matrix product splits over
/// `RAYON_NUM_THREADS` threads (default: the physical cores).
/// NOTE: set `RAYON_NUM_THREADS` in the process environment (to the number of cores) for speed.
/// When it is unset, candle 0.11 counts the physical cores afresh at every matrix product by
/// reading `/proc/cpuinfo` (`num_cpus::get_physical`): about 60 µs a read on a 2-core VM, and a
/// short query makes 36 products. A library cannot set it safely once threads run; the
/// application can, first thing in `main` (as `dash-bench embed` does) or in its launch
/// environment.
///
/// ```no_run
/// use dash_core::embed::{Embedder, MiniLmEmbedder};
///
/// let embedder = MiniLmEmbedder::load("target/models/all-MiniLM-L6-v2")?;
/// let vectors = embedder.embed(&["Sea levels are rising.", "Glaciers are retreating."])?;
/// assert_eq!(vectors.len(), 2);
/// assert_eq!(vectors[0].len(), embedder.dimension());
/// # Ok::<(), dash_core::embed::EmbedError>(())
/// ```
pub struct MiniLmEmbedder {
    bert: Bert,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
}

impl fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("model", &MODEL_NAME)
            .field("dimension", &self.dimension)
            .field("max_seq_len", &MAX_SEQ_LEN)
            .finish_non_exhaustive()
    }
}

impl MiniLmEmbedder {
    /// Loads the model from `dir`, which holds `config.json` (the BERT configuration),
    /// `tokenizer.json` and `model.safetensors`. The weights are read into memory (about 90 MB).
    ///
    /// # Errors
    /// [`EmbedError::ModelFile`] naming the first file that is missing, unreadable or malformed:
    /// a `config.json` that is not a BERT configuration of this model's shape (384 hidden, 6
    /// layers), a `tokenizer.json` the tokenizer cannot read, a `model.safetensors` that is
    /// truncated, not safetensors, or lacks a tensor of the expected shape.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EmbedError> {
        let dir = dir.as_ref();
        let device = Device::Cpu;

        let config_path = dir.join(CONFIG_FILE);
        let config = read_config(&config_path)?;

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer = read_tokenizer(&tokenizer_path)?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let weights = read_file(&weights_path)?;
        let tensors = candle_core::safetensors::load_buffer(&weights, &device)
            .map_err(|e| model_file(&weights_path, e))?;
        drop(weights);
        let bert =
            Bert::new(tensors, &config, &device).map_err(|e| model_file(&weights_path, e))?;

        Ok(Self {
            bert,
            tokenizer,
            device,
            dimension: config.hidden_size,
        })
    }

    /// Embeds one batch (at most [`BATCH_SIZE`] texts), appending one vector per text to `out`.
    fn embed_batch(&self, texts: &[&str], out: &mut Vec<Vec<f32>>) -> Result<(), EmbedError> {
        // One text after the other on this thread: tokenising is some 1% of the model's time,
        // and `encode_batch` would hand the texts to rayon's global pool, beside candle's own.
        let encodings = texts
            .iter()
            .map(|text| self.tokenizer.encode_fast(*text, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        let lens: Vec<usize> = encodings.iter().map(tokenizers::Encoding::len).collect();
        if lens.contains(&0) {
            return Err(EmbedError::Inference(
                "the tokenizer returned no token".to_owned(),
            ));
        }
        let tokens = lens.iter().sum();
        let mut ids = Vec::with_capacity(tokens);
        let mut type_ids = Vec::with_capacity(tokens);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            type_ids.extend_from_slice(encoding.get_type_ids());
        }

        let hidden = self
            .device
            .with_context(|| {
                self.bert
                    .forward(&ids, &type_ids, &lens)?
                    .flatten_all()?
                    .to_vec1::<f32>()
            })
            .map_err(|e| EmbedError::Inference(format!("model: {e}")))?;
        let dim = self.dimension;
        if hidden.len() != tokens * dim {
            return Err(EmbedError::Inference(format!(
                "the model returned {} values for {tokens} tokens × {dim}",
                hidden.len()
            )));
        }

        let mut rows = hidden.chunks_exact(dim);
        for &n in &lens {
            // sentence-transformers: the mean over the tokens, then x / max(‖x‖, 1e-12).
            let mut sum = vec![0.0f32; dim];
            for row in rows.by_ref().take(n) {
                for (s, h) in sum.iter_mut().zip(row) {
                    *s += h;
                }
            }
            let count = n as f32;
            let norm = sum
                .iter()
                .map(|s| (s / count) * (s / count))
                .sum::<f32>()
                .sqrt();
            let scale = 1.0 / (count * norm.max(1e-12));
            for s in &mut sum {
                *s *= scale;
            }
            out.push(sum);
        }
        Ok(())
    }
}

impl Embedder for MiniLmEmbedder {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH_SIZE) {
            self.embed_batch(chunk, &mut out)?;
        }
        Ok(out)
    }
}

/// Reads and checks `config.json`.
fn read_config(path: &Path) -> Result<Config, EmbedError> {
    let bytes = read_file(path)?;
    let config: Config = serde_json::from_slice(&bytes).map_err(|e| model_file(path, e))?;
    if config.hidden_size != HIDDEN_SIZE || config.num_hidden_layers != LAYERS {
        return Err(model_file(
            path,
            format!(
                "not the configuration of {MODEL_NAME}: hidden_size {} and num_hidden_layers {} \
                 (expected {HIDDEN_SIZE} and {LAYERS})",
                config.hidden_size, config.num_hidden_layers
            ),
        ));
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(model_file(
            path,
            format!(
                "num_attention_heads {} does not divide hidden_size {}",
                config.num_attention_heads, config.hidden_size
            ),
        ));
    }
    if config.hidden_act != "gelu" || config.position_embedding_type != "absolute" {
        return Err(model_file(
            path,
            format!(
                "hidden_act {:?} and position_embedding_type {:?}: only \"gelu\" and \"absolute\" \
                 are supported",
                config.hidden_act, config.position_embedding_type
            ),
        ));
    }
    if config.max_position_embeddings < MAX_SEQ_LEN {
        return Err(model_file(
            path,
            format!(
                "max_position_embeddings {} is below the {MAX_SEQ_LEN} word pieces a text is cut to",
                config.max_position_embeddings
            ),
        ));
    }
    Ok(config)
}

/// Reads `tokenizer.json` and sets this model's truncation, without padding (the file's own
/// settings, truncation and padding to 128, are not what sentence-transformers uses).
fn read_tokenizer(path: &Path) -> Result<Tokenizer, EmbedError> {
    let bytes = read_file(path)?;
    let mut tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| model_file(path, e))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: MAX_SEQ_LEN,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| model_file(path, e))?;
    // No padding: batches are packed (the file asks for fixed-length padding to 128).
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

fn read_file(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| model_file(path, e))
}

fn model_file(path: &Path, reason: impl fmt::Display) -> EmbedError {
    EmbedError::ModelFile {
        file: PathBuf::from(path),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<MiniLmEmbedder>();
    }
}
