//! all-MiniLM-L6-v2 in process: candle's BERT on the CPU, in f32, with the model's own WordPiece
//! tokenizer. What it computes is what sentence-transformers computes for this model
//! (`modules.json`: Transformer → mean Pooling → Normalize):
//!
//! 1. tokenise with `[CLS] … [SEP]`, truncated to [`MAX_SEQ_LEN`] word pieces (the model's
//!    `max_seq_length` in `sentence_bert_config.json`, special tokens included);
//! 2. pad each batch to its longest sequence and run the 6-layer BERT;
//! 3. average the last hidden state over the attention mask (padding excluded);
//! 4. divide by the L2 norm.
//!
//! As sentence-transformers does, texts are sorted by length before they are cut into batches of
//! [`BATCH_SIZE`], so that a batch holds texts of similar length and pads little; the answer is
//! in input order.

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

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
/// deterministic and thread-safe: one instance can serve many threads (`&self`), and the BERT's
/// matrix products run on candle's own thread pool (one thread per physical core unless
/// `CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS` says otherwise).
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
    bert: BertModel,
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
        let tokenizer = read_tokenizer(&tokenizer_path, &config)?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let weights = read_file(&weights_path)?;
        let bert = VarBuilder::from_slice_safetensors(&weights, DType::F32, &device)
            .and_then(|vb| BertModel::load(vb, &config))
            .map_err(|e| model_file(&weights_path, e))?;

        Ok(Self {
            bert,
            tokenizer,
            device,
            dimension: config.hidden_size,
        })
    }

    /// Embeds one batch (at most [`BATCH_SIZE`] texts), writing the vector of `texts[i]` to
    /// `out[i]`.
    fn embed_batch(&self, texts: &[&str], out: &mut [Vec<f32>]) -> Result<(), EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        let batch = encodings.len();
        // Padding is `BatchLongest`: every encoding has the same length.
        let seq_len = encodings.first().map_or(0, tokenizers::Encoding::len);
        let mut ids = Vec::with_capacity(batch * seq_len);
        let mut type_ids = Vec::with_capacity(batch * seq_len);
        let mut mask = Vec::with_capacity(batch * seq_len);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            type_ids.extend_from_slice(encoding.get_type_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        if ids.len() != batch * seq_len || mask.len() != batch * seq_len {
            return Err(EmbedError::Inference(
                "tokenizer returned encodings of unequal length".to_owned(),
            ));
        }

        let hidden = self
            .device
            .with_context(|| -> candle_core::Result<Vec<f32>> {
                let ids = Tensor::from_vec(ids, (batch, seq_len), &self.device)?;
                let type_ids = Tensor::from_vec(type_ids, (batch, seq_len), &self.device)?;
                let mask = Tensor::from_slice(&mask, (batch, seq_len), &self.device)?;
                self.bert
                    .forward(&ids, &type_ids, Some(&mask))?
                    .flatten_all()?
                    .to_vec1::<f32>()
            })
            .map_err(|e| EmbedError::Inference(format!("model: {e}")))?;
        let dim = self.dimension;
        if hidden.len() != batch * seq_len * dim {
            return Err(EmbedError::Inference(format!(
                "model returned {} values for {batch} × {seq_len} tokens × {dim}",
                hidden.len()
            )));
        }

        for (i, slot) in out.iter_mut().enumerate().take(batch) {
            let mut sum = vec![0.0f32; dim];
            let mut count = 0.0f32;
            let rows = hidden[i * seq_len * dim..(i + 1) * seq_len * dim].chunks_exact(dim);
            for (row, &m) in rows.zip(&mask[i * seq_len..(i + 1) * seq_len]) {
                if m != 0 {
                    count += 1.0;
                    for (s, h) in sum.iter_mut().zip(row) {
                        *s += h;
                    }
                }
            }
            // sentence-transformers: sum / clamp(count, 1e-9), then x / max(‖x‖, 1e-12).
            let count = count.max(1e-9);
            let norm = sum
                .iter()
                .map(|s| (s / count) * (s / count))
                .sum::<f32>()
                .sqrt();
            let scale = 1.0 / (count * norm.max(1e-12));
            for s in &mut sum {
                *s *= scale;
            }
            *slot = sum;
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
        // Longest first, as sentence-transformers orders them: similar lengths share a batch.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));

        let mut out = vec![Vec::new(); texts.len()];
        let mut batch_out = Vec::with_capacity(BATCH_SIZE.min(texts.len()));
        let mut batch_texts = Vec::with_capacity(BATCH_SIZE.min(texts.len()));
        for chunk in order.chunks(BATCH_SIZE) {
            batch_texts.clear();
            batch_texts.extend(chunk.iter().map(|&i| texts[i]));
            batch_out.clear();
            batch_out.resize(chunk.len(), Vec::new());
            self.embed_batch(&batch_texts, &mut batch_out)?;
            for (&i, vector) in chunk.iter().zip(batch_out.drain(..)) {
                out[i] = vector;
            }
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

/// Reads `tokenizer.json` and sets this model's truncation and padding (the file's own settings,
/// fixed-length 128, are those of an older export and not what sentence-transformers uses).
fn read_tokenizer(path: &Path, config: &Config) -> Result<Tokenizer, EmbedError> {
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
    let pad_id = u32::try_from(config.pad_token_id).map_err(|_| {
        model_file(
            path,
            format!("pad_token_id {} too large", config.pad_token_id),
        )
    })?;
    let pad_token = tokenizer
        .id_to_token(pad_id)
        .unwrap_or_else(|| "[PAD]".to_owned());
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id,
        pad_type_id: 0,
        pad_token,
    }));
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
