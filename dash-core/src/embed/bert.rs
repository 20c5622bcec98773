//! The BERT encoder of all-MiniLM-L6-v2, inference only, on candle tensors.
//!
//! It computes what Hugging Face's `BertModel` computes (`modeling_bert.py`: embeddings, then per
//! layer self-attention, add & LayerNorm, feed-forward with exact (erf) GELU, add & LayerNorm),
//! and returns the last hidden state. It is ours rather than candle-transformers' `BertModel`
//! for speed: on 2 cores that one spent half of a short query outside gemm's matrix kernels
//! (this one about a fifth), and padded its batches:
//! - a batch is packed, not padded: the tokens of all its texts are the rows of one matrix, and
//!   only the attention runs per text ([`Bert::forward`]);
//! - every projection is one matrix product of those rows with a weight stored transposed and
//!   contiguous (`in × out`), which gemm reads without repacking; the query, key and value
//!   projections are one product with the three weights side by side;
//! - GELU uses a rational approximation of erf that the compiler vectorises (absolute error
//!   below 1e-6 over all `f32`, see the tests) instead of a scalar `erf` per element, which
//!   took a fifth of the time of a short query.

use std::collections::HashMap;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};

/// The configuration fields the encoder uses (`config.json`).
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Config {
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Rows of the position embedding table.
    pub max_position_embeddings: usize,
    /// Rows of the word embedding table.
    pub vocab_size: usize,
    /// Rows of the token type embedding table.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// The feed-forward activation; only `gelu` (exact, erf-based) is supported.
    pub hidden_act: String,
    /// Only `absolute` is supported.
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".to_owned()
}

/// One encoder layer; weights of projections are stored `in × out`.
struct Layer {
    qkv_w: Tensor,
    qkv_b: Tensor,
    attn_out_w: Tensor,
    attn_out_b: Tensor,
    attn_ln_w: Tensor,
    attn_ln_b: Tensor,
    up_w: Tensor,
    up_b: Tensor,
    down_w: Tensor,
    down_b: Tensor,
    out_ln_w: Tensor,
    out_ln_b: Tensor,
}

/// The encoder.
pub(crate) struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_ln_w: Tensor,
    emb_ln_b: Tensor,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    eps: f32,
    device: Device,
}

/// Why the weights do not fit the configuration.
pub(crate) type LoadError = String;

impl Bert {
    /// Builds the encoder from the tensors of `model.safetensors` (names as Hugging Face writes
    /// them, with or without a `bert.` prefix).
    pub(crate) fn new(
        mut tensors: HashMap<String, Tensor>,
        config: &Config,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let h = config.hidden_size;
        let i = config.intermediate_size;
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor, LoadError> {
            let full = format!("{prefix}{name}");
            let t = tensors
                .remove(&full)
                .ok_or_else(|| format!("no tensor {full}"))?;
            if t.dims() != shape {
                return Err(format!(
                    "tensor {full} has shape {:?}, expected {shape:?}",
                    t.dims()
                ));
            }
            t.to_dtype(DType::F32)
                .map_err(|e| format!("tensor {full}: {e}"))
        };
        // A weight `out × in` as torch stores it, transposed to `in × out`, contiguous.
        let transposed = |t: Tensor| -> Result<Tensor, LoadError> {
            t.t()
                .and_then(|t| t.contiguous())
                .map_err(|e| e.to_string())
        };

        let word = take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = take(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type = take(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        let emb_ln_w = take("embeddings.LayerNorm.weight", &[h])?;
        let emb_ln_b = take("embeddings.LayerNorm.bias", &[h])?;

        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            let mut w = |name: &str, shape: &[usize]| take(&format!("{p}{name}"), shape);
            let q_w = w("attention.self.query.weight", &[h, h])?;
            let k_w = w("attention.self.key.weight", &[h, h])?;
            let v_w = w("attention.self.value.weight", &[h, h])?;
            let q_b = w("attention.self.query.bias", &[h])?;
            let k_b = w("attention.self.key.bias", &[h])?;
            let v_b = w("attention.self.value.bias", &[h])?;
            let qkv_w = Tensor::cat(&[&q_w, &k_w, &v_w], 0).map_err(|e| e.to_string())?;
            let qkv_b = Tensor::cat(&[&q_b, &k_b, &v_b], 0).map_err(|e| e.to_string())?;
            layers.push(Layer {
                qkv_w: transposed(qkv_w)?,
                qkv_b,
                attn_out_w: transposed(w("attention.output.dense.weight", &[h, h])?)?,
                attn_out_b: w("attention.output.dense.bias", &[h])?,
                attn_ln_w: w("attention.output.LayerNorm.weight", &[h])?,
                attn_ln_b: w("attention.output.LayerNorm.bias", &[h])?,
                up_w: transposed(w("intermediate.dense.weight", &[i, h])?)?,
                up_b: w("intermediate.dense.bias", &[i])?,
                down_w: transposed(w("output.dense.weight", &[h, i])?)?,
                down_b: w("output.dense.bias", &[h])?,
                out_ln_w: w("output.LayerNorm.weight", &[h])?,
                out_ln_b: w("output.LayerNorm.bias", &[h])?,
            });
        }
        Ok(Self {
            word,
            position,
            token_type,
            emb_ln_w,
            emb_ln_b,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            hidden: h,
            eps: config.layer_norm_eps as f32,
            device: device.clone(),
        })
    }

    /// The last hidden state of a batch of token sequences packed end to end, without padding:
    /// `ids` and `type_ids` hold the tokens of every sequence one after the other, `lens[i]` is
    /// the length of sequence `i`. Returns `Σ lens × hidden`, one row per token, in the same
    /// order.
    ///
    /// Every per-token step (embeddings, projections, feed-forward, LayerNorm) runs on all rows
    /// at once; only the attention, which mixes tokens, runs per sequence. This is what a padded
    /// batch with an attention mask computes (masked positions get a softmax weight of exactly
    /// 0), minus the work on padding, which on batches of mixed lengths is as much again as the
    /// real tokens.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        type_ids: &[u32],
        lens: &[usize],
    ) -> candle_core::Result<Tensor> {
        let (h, heads, d) = (self.hidden, self.heads, self.head_dim);
        let rows = ids.len();
        if type_ids.len() != rows || lens.iter().sum::<usize>() != rows {
            candle_core::bail!(
                "bert: {rows} ids, {} type ids, lengths {lens:?}",
                type_ids.len()
            );
        }
        let dev = &self.device;

        // Embeddings: word + token type + position (0.. within each sequence), then LayerNorm.
        let positions: Vec<u32> = lens.iter().flat_map(|&n| 0..n as u32).collect();
        let ids = Tensor::from_slice(ids, rows, dev)?;
        let type_ids = Tensor::from_slice(type_ids, rows, dev)?;
        let positions = Tensor::from_vec(positions, rows, dev)?;
        let x = ((self.word.index_select(&ids, 0)?
            + self.token_type.index_select(&type_ids, 0)?)?
            + self.position.index_select(&positions, 0)?)?;
        let mut x = candle_nn::ops::layer_norm(&x, &self.emb_ln_w, &self.emb_ln_b, self.eps)?;

        let scale = 1.0 / (d as f64).sqrt();
        let mut contexts = Vec::with_capacity(lens.len());
        for layer in &self.layers {
            // Self-attention, per sequence.
            let qkv = x.matmul(&layer.qkv_w)?.broadcast_add(&layer.qkv_b)?; // rows × 3h
            contexts.clear();
            let mut offset = 0;
            for &n in lens {
                let qkv = qkv
                    .narrow(0, offset, n)?
                    .reshape((n, 3, heads, d))?
                    .permute((1, 2, 0, 3))?
                    .contiguous()?; // 3 × heads × n × d
                offset += n;
                let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
                let scores = (q.matmul(&k.t()?)? * scale)?; // heads × n × n
                let probs = candle_nn::ops::softmax_last_dim(&scores)?;
                contexts.push(
                    probs
                        .matmul(&v)?
                        .transpose(0, 1)?
                        .contiguous()?
                        .reshape((n, h))?,
                );
            }
            let context = if contexts.len() == 1 {
                contexts.swap_remove(0)
            } else {
                Tensor::cat(&contexts, 0)?
            };
            let attn = context
                .matmul(&layer.attn_out_w)?
                .broadcast_add(&layer.attn_out_b)?;
            x = candle_nn::ops::layer_norm(
                &(attn + &x)?,
                &layer.attn_ln_w,
                &layer.attn_ln_b,
                self.eps,
            )?;

            // Feed-forward.
            let inner = x
                .matmul(&layer.up_w)?
                .broadcast_add(&layer.up_b)?
                .apply_op1_no_bwd(&Gelu)?;
            let out = inner.matmul(&layer.down_w)?.broadcast_add(&layer.down_b)?;
            x = candle_nn::ops::layer_norm(
                &(out + &x)?,
                &layer.out_ln_w,
                &layer.out_ln_b,
                self.eps,
            )?;
        }
        Ok(x)
    }
}

/// Exact GELU, `x · (1 + erf(x / √2)) / 2`, elementwise on a contiguous f32 tensor.
struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf-rational"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("gelu: expects a contiguous f32 tensor");
        };
        let out = values
            .get(start..end)
            .ok_or_else(|| candle_core::Error::Msg("gelu: layout outside storage".to_owned()))?
            .iter()
            .map(|&x| gelu(x))
            .collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// GELU with erf from [`erf`].
#[inline]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf for f32 as a rational function, `x · P(x²) / Q(x²)` on `[-4, 4]` (beyond it erf is ±1
/// in f32). The coefficients are Eigen's `generic_fast_erf_float`
/// (`Eigen/src/Core/MathFunctionsImpl.h`), also XLA's CPU erf; branch-free, so it vectorises.
#[inline]
#[expect(
    clippy::excessive_precision,
    reason = "the coefficients as Eigen publishes them"
)]
fn erf(x: f32) -> f32 {
    const A1: f32 = -1.609_603_332_624_15e-2;
    const A3: f32 = -2.954_599_808_540_25e-3;
    const A5: f32 = -7.349_906_303_268_55e-4;
    const A7: f32 = -5.692_506_394_623_46e-5;
    const A9: f32 = -2.101_024_020_825_08e-6;
    const A11: f32 = 2.770_681_424_959_02e-8;
    const A13: f32 = -2.726_142_258_013_06e-10;
    const B0: f32 = -1.426_473_905_141_89e-2;
    const B2: f32 = -7.373_329_167_204_68e-3;
    const B4: f32 = -1.682_826_974_382_03e-3;
    const B6: f32 = -2.133_740_552_789_05e-4;
    const B8: f32 = -1.456_607_184_649_96e-5;
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x;
    let q = (((B8 * x2 + B6) * x2 + B4) * x2 + B2) * x2 + B0;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_a_millionth_of_the_exact_value() {
        let mut worst = 0.0f64;
        for i in -100_000..=100_000 {
            let x = i as f32 * 1e-4; // [-10, 10]
            let exact = candle_core::cpu::erf::erf_f64(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - exact).abs());
        }
        assert!(worst < 1e-6, "max |erf error| {worst}");
    }

    #[test]
    fn gelu_matches_the_exact_definition() {
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3; // [-20, 20]
            let exact = 0.5
                * f64::from(x)
                * (1.0 + candle_core::cpu::erf::erf_f64(f64::from(x) / std::f64::consts::SQRT_2));
            let err = (f64::from(gelu(x)) - exact).abs();
            assert!(err <= 1e-6 * (1.0 + exact.abs()), "gelu({x}): error {err}");
        }
        assert!(gelu(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_op_keeps_the_shape() {
        let t = Tensor::new(&[[-1.0f32, 0.0], [1.0, 2.0]], &Device::Cpu).unwrap();
        let g = t.apply_op1_no_bwd(&Gelu).unwrap();
        assert_eq!(g.dims(), &[2, 2]);
        let v = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!((v[3] - 1.954_5).abs() < 1e-4, "{v:?}");
        assert_eq!(v[1], 0.0);
    }
}
