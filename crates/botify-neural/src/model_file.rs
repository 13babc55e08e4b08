//! The safetensors files the neural models are saved as: named tensors plus the parameters as
//! JSON bytes (`params_json`). Reading one gives errors that name the file.

use crate::{Error, Result};
use candle_core::{Device, Tensor};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `params` as the `params_json` tensor of a model file.
pub(crate) fn params_tensor(params: &impl Serialize) -> Result<Tensor> {
    let json = serde_json::to_vec(params).map_err(|e| Error::Invalid(e.to_string()))?;
    let n = json.len();
    Ok(Tensor::from_vec(json, n, &Device::Cpu)?)
}

/// An opened model file whose tensors are taken out one by one.
pub(crate) struct Reader {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Reader {
    /// Opens `path`; anything but a safetensors file is an error saying it is no `kind` model.
    pub fn open(path: &Path, kind: &str) -> Result<Reader> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            Error::Invalid(format!("{}: not a {kind} model file ({e})", path.display()))
        })?;
        Ok(Reader {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// An error about this file.
    pub fn bad(&self, what: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: {what}", self.path.display()))
    }

    pub fn take(&mut self, name: &str) -> Result<Tensor> {
        self.tensors
            .remove(name)
            .ok_or_else(|| self.bad(format!("no tensor `{name}`")))
    }

    /// The parameters saved by [`params_tensor`].
    pub fn params<P: DeserializeOwned>(&mut self) -> Result<P> {
        let json: Vec<u8> = self.take("params_json")?.to_vec1()?;
        serde_json::from_slice(&json).map_err(|e| self.bad(format!("bad parameters: {e}")))
    }
}
