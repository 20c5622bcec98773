//! `MiniLmEmbedder` against sentence-transformers: vectors of Climate-FEVER claims compared with
//! the reference embeddings in `../shared/data/climate-fever/` (made by sentence-transformers with
//! all-MiniLM-L6-v2), and the load errors of broken model folders.
//!
//! The model comes from `DASH_MODEL_DIR`, else `target/models/all-MiniLM-L6-v2` under the
//! workspace root (`scripts/fetch-model.sh` puts it there). Without it the tests that need it
//! print `SKIPPED` and pass, unless `DASH_REQUIRE_MODEL=1` (CI), which makes them fail.
#![cfg(feature = "embed")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dash_core::embed::{EmbedError, Embedder, MiniLmEmbedder};

const DIM: usize = 384;
const CLAIMS: usize = 100;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_dir() -> PathBuf {
    std::env::var_os("DASH_MODEL_DIR").map_or_else(
        || workspace_root().join("target/models/all-MiniLM-L6-v2"),
        PathBuf::from,
    )
}

fn data_dir() -> PathBuf {
    workspace_root().join("../shared/data/climate-fever")
}

/// The model, loaded once for all tests; `None` (after printing why) when it is absent and not
/// required.
fn embedder() -> Option<&'static MiniLmEmbedder> {
    static EMBEDDER: OnceLock<Option<MiniLmEmbedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let dir = model_dir();
            let present = ["config.json", "tokenizer.json", "model.safetensors"]
                .iter()
                .all(|f| dir.join(f).is_file());
            if !present {
                assert!(
                    std::env::var("DASH_REQUIRE_MODEL").as_deref() != Ok("1"),
                    "DASH_REQUIRE_MODEL=1 but the model is not at {}; run scripts/fetch-model.sh",
                    dir.display()
                );
                println!(
                    "SKIPPED: model not found at {}; run scripts/fetch-model.sh",
                    dir.display()
                );
                return None;
            }
            let start = std::time::Instant::now();
            let embedder = MiniLmEmbedder::load(&dir).unwrap();
            println!("model loaded in {:?}", start.elapsed());
            Some(embedder)
        })
        .as_ref()
}

/// `(claim_id, text)` of every claim, in file order.
fn claims() -> Vec<(String, String)> {
    let path = data_dir().join("claims.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared evaluation data)", path.display()));
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["claim_id"].as_str().unwrap().to_owned(),
                v["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The reference vectors by claim id.
fn reference_vectors() -> HashMap<String, Vec<f32>> {
    let dir = data_dir();
    let ids = std::fs::read_to_string(dir.join("claims.minilm384.ids")).unwrap();
    let bytes = std::fs::read(dir.join("claims.minilm384.f32")).unwrap();
    let rows: Vec<Vec<f32>> = bytes
        .chunks_exact(DIM * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect();
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), rows.len(), "one id per reference row");
    ids.into_iter().map(str::to_owned).zip(rows).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn matches_sentence_transformers_in_batches_and_one_at_a_time() {
    let Some(embedder) = embedder() else { return };
    assert_eq!(embedder.model(), "sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(embedder.dimension(), DIM);

    let claims = claims();
    let step = claims.len() / CLAIMS;
    let picked: Vec<&(String, String)> = claims.iter().step_by(step).take(CLAIMS).collect();
    assert_eq!(picked.len(), CLAIMS);
    let texts: Vec<&str> = picked.iter().map(|(_, t)| t.as_str()).collect();
    let reference = reference_vectors();

    // All 100 in one call: batches of 32 texts of mixed lengths.
    let batched = embedder.embed(&texts).unwrap();
    assert_eq!(batched.len(), CLAIMS);

    let mut min_cosine = f32::MAX;
    for ((id, text), vector) in picked.iter().zip(&batched) {
        assert_eq!(vector.len(), DIM);
        let norm = dot(vector, vector).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{id}: norm {norm}");
        let expected = reference.get(id.as_str()).unwrap();
        let cosine = dot(vector, expected);
        assert!(cosine >= 0.999, "{id} ({text:?}): cosine {cosine}");
        min_cosine = min_cosine.min(cosine);
    }
    println!("parity: min cosine {min_cosine} over {CLAIMS} claims");

    // One at a time: the same vectors.
    let mut max_diff = 0.0f32;
    for ((id, text), vector) in picked.iter().zip(&batched) {
        let single = embedder.embed(&[text.as_str()]).unwrap();
        assert_eq!(single.len(), 1);
        for (a, b) in single[0].iter().zip(vector) {
            let diff = (a - b).abs();
            assert!(diff <= 1e-5, "{id}: batched and single differ by {diff}");
            max_diff = max_diff.max(diff);
        }
    }
    println!("batched vs single: max component difference {max_diff}");
}

#[test]
fn answers_in_input_order_whatever_the_lengths() {
    let Some(embedder) = embedder() else { return };
    let short = "Ice melts.";
    let long = "The Arctic sea ice extent in September has declined by about thirteen percent \
                per decade since satellite records began in 1979.";
    let both = embedder.embed(&[short, long, short]).unwrap();
    let alone = embedder.embed(&[long]).unwrap();
    assert_eq!(both.len(), 3);
    assert!(dot(&both[1], &alone[0]) > 0.99999);
    assert!(dot(&both[0], &both[2]) > 0.99999);
    assert!(dot(&both[0], &both[1]) < 0.99);
}

#[test]
fn empty_input_gives_empty_output() {
    let Some(embedder) = embedder() else { return };
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn a_ten_thousand_word_text_is_truncated_not_refused() {
    let Some(embedder) = embedder() else { return };
    let words = [
        "carbon",
        "dioxide",
        "levels",
        "rose",
        "sharply",
        "after",
        "industrial",
        "times",
    ];
    let text: Vec<&str> = words.iter().copied().cycle().take(10_000).collect();
    let long = text.join(" ");
    // 400 words are more than 256 word pieces: the same cut, so the same vector.
    let head = text[..400].join(" ");
    let vectors = embedder.embed(&[long.as_str(), head.as_str()]).unwrap();
    assert_eq!(vectors[0].len(), DIM);
    assert!((dot(&vectors[0], &vectors[0]).sqrt() - 1.0).abs() < 1e-4);
    assert!(dot(&vectors[0], &vectors[1]) > 0.99999);
}

// Broken model folders: no model needed.

/// The configuration of all-MiniLM-L6-v2 (`config.json`).
const CONFIG: &str = r#"{
  "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02,
  "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
  "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
  "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 30522
}"#;

/// A tokenizer.json the tokenizer reads (a tiny WordPiece vocabulary).
const TOKENIZER: &str = r###"{
  "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": null, "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": null,
  "decoder": null,
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": {"[PAD]": 0, "[UNK]": 1}}
}"###;

fn folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

fn assert_bad_file(dir: &Path, name: &str) {
    let err = MiniLmEmbedder::load(dir).unwrap_err();
    let display = err.to_string();
    assert!(
        matches!(&err, EmbedError::ModelFile { file, .. } if *file == dir.join(name)),
        "expected a ModelFile error on {name}, got {err:?}"
    );
    assert!(display.contains(name), "{display}");
}

#[test]
fn a_missing_config_is_named() {
    let dir = folder(&[("tokenizer.json", TOKENIZER.as_bytes())]);
    assert_bad_file(dir.path(), "config.json");
}

#[test]
fn a_config_that_is_not_json_is_named() {
    let dir = folder(&[
        ("config.json", b"hidden_size = 384\n"),
        ("tokenizer.json", TOKENIZER.as_bytes()),
    ]);
    assert_bad_file(dir.path(), "config.json");
}

#[test]
fn the_config_of_another_model_is_named() {
    let other = CONFIG.replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 12");
    let dir = folder(&[
        ("config.json", other.as_bytes()),
        ("tokenizer.json", TOKENIZER.as_bytes()),
    ]);
    assert_bad_file(dir.path(), "config.json");
}

#[test]
fn a_missing_tokenizer_is_named() {
    let dir = folder(&[
        ("config.json", CONFIG.as_bytes()),
        ("model.safetensors", b"\0\0"),
    ]);
    assert_bad_file(dir.path(), "tokenizer.json");
}

#[test]
fn a_tokenizer_that_is_not_a_tokenizer_is_named() {
    let dir = folder(&[
        ("config.json", CONFIG.as_bytes()),
        ("tokenizer.json", br#"{"version": "1.0"}"#),
    ]);
    assert_bad_file(dir.path(), "tokenizer.json");
}

#[test]
fn a_missing_weights_file_is_named() {
    let dir = folder(&[
        ("config.json", CONFIG.as_bytes()),
        ("tokenizer.json", TOKENIZER.as_bytes()),
    ]);
    assert_bad_file(dir.path(), "model.safetensors");
}

#[test]
fn garbage_weights_are_named() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let dir = folder(&[
        ("config.json", CONFIG.as_bytes()),
        ("tokenizer.json", TOKENIZER.as_bytes()),
        ("model.safetensors", &garbage),
    ]);
    assert_bad_file(dir.path(), "model.safetensors");
}

#[test]
fn truncated_weights_are_named() {
    // The real header and half the tensors when the model is here; otherwise a well-formed
    // safetensors header whose data is missing.
    let real = model_dir().join("model.safetensors");
    let truncated = match std::fs::read(&real) {
        Ok(bytes) => bytes[..bytes.len() / 2].to_vec(),
        Err(_) => {
            let header = br#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[30522,384],"data_offsets":[0,46881792]}}"#;
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header);
            bytes.extend_from_slice(&[0u8; 1024]);
            bytes
        }
    };
    let tokenizer = std::fs::read(model_dir().join("tokenizer.json"))
        .unwrap_or_else(|_| TOKENIZER.as_bytes().to_vec());
    let dir = folder(&[
        ("config.json", CONFIG.as_bytes()),
        ("tokenizer.json", &tokenizer),
        ("model.safetensors", &truncated),
    ]);
    assert_bad_file(dir.path(), "model.safetensors");
}

#[test]
fn weights_without_the_bert_tensors_are_named() {
    // A valid safetensors file holding one unrelated tensor.
    let header = br#"{"other":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 8]);
    let dir = folder(&[
        ("config.json", CONFIG.as_bytes()),
        ("tokenizer.json", TOKENIZER.as_bytes()),
        ("model.safetensors", &bytes),
    ]);
    assert_bad_file(dir.path(), "model.safetensors");
}
