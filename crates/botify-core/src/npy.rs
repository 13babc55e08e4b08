//! NumPy `.npy` reading and writing for the 2-D float matrix of hidden track embeddings.
//!
//! Reads format versions 1–3, little-endian `<f4` (or `<f8`, converted), C order; writes version
//! 1.0 `<f4`, which `numpy.load` reads.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// A dense row-major `[rows, dim]` f32 matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Embeddings {
    pub fn new(rows: usize, dim: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * dim {
            return Err(Error::Invalid(format!(
                "embedding data has {} values, expected {rows} x {dim}",
                data.len()
            )));
        }
        Ok(Embeddings { rows, dim, data })
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// A 64-bit hash of the shape and every value's bits, the same on every machine and thread
    /// count: files derived from the embeddings (cached neighbour lists) carry it, so a changed
    /// world never uses them.
    pub fn content_hash(&self) -> u64 {
        use crate::rng::mix64;
        use rayon::prelude::*;
        let chunks: Vec<u64> = self
            .data
            .par_chunks(1 << 16)
            .map(|c| {
                c.iter().fold(0x243F_6A88_85A3_08D3, |h, v| {
                    mix64(h ^ u64::from(v.to_bits()))
                })
            })
            .collect();
        chunks
            .into_iter()
            .fold(mix64(self.rows as u64 ^ mix64(self.dim as u64)), |h, c| {
                mix64(h ^ c)
            })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_npy(&bytes).map_err(|m| Error::file(path, m))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = std::io::BufWriter::new(f);
        w.write_all(&self.to_npy())
            .and_then(|_| w.flush())
            .map_err(|e| Error::io(path, e))
    }

    pub fn to_npy(&self) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
            self.rows, self.dim
        );
        // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.data.len() * 4);
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for v in &self.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Parses a `.npy` image; the error says what is wrong with it.
    pub fn from_npy(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err("not a NumPy .npy file (bad magic)".into());
        }
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(format!("unsupported .npy format version {v}")),
        };
        let header = bytes
            .get(start..start + header_len)
            .ok_or("truncated .npy header")?;
        let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
        let descr = dict_value(header, "descr").ok_or("the .npy header has no 'descr'")?;
        let width = match descr.trim_matches(|c| c == '\'' || c == '"') {
            "<f4" | "float32" => 4,
            "<f8" | "float64" => 8,
            other => {
                return Err(format!(
                    "dtype {other} is not supported: embeddings must be little-endian float32 ('<f4') or float64 ('<f8')"
                ));
            }
        };
        if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
            return Err("Fortran-ordered arrays are not supported: save with C order".into());
        }
        let shape = dict_value(header, "shape").ok_or("the .npy header has no 'shape'")?;
        let shape = shape.trim_start_matches('(').trim_end_matches(')');
        let dims: Vec<usize> = shape
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad shape entry {s:?}"))
            })
            .collect::<std::result::Result<_, _>>()?;
        let [rows, dim] = dims[..] else {
            return Err(format!(
                "embeddings must be a 2-D array [tracks, dim], this one has shape {dims:?}"
            ));
        };
        let body = &bytes[start + header_len..];
        let expected = rows
            .checked_mul(dim)
            .and_then(|n| n.checked_mul(width))
            .ok_or("shape overflows")?;
        if body.len() != expected {
            return Err(format!(
                "data has {} bytes, shape ({rows}, {dim}) of {width}-byte floats needs {expected}",
                body.len()
            ));
        }
        let data: Vec<f32> = if width == 4 {
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            body.chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect()
        };
        Ok(Embeddings { rows, dim, data })
    }
}

/// The literal value of `'key'` in a NumPy header dict: a quoted string, a tuple or a bare word.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let at = header.find(&pat1).or_else(|| header.find(&pat2))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = match rest.chars().next()? {
        q @ ('\'' | '"') => rest[1..].find(q)? + 2,
        '(' => rest.find(')')? + 1,
        _ => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(rows in 0usize..20, dim in 1usize..9, seed in any::<u32>()) {
            let data: Vec<f32> = (0..rows * dim).map(|i| (i as f32 + seed as f32).sin()).collect();
            let e = Embeddings::new(rows, dim, data).unwrap();
            let bytes = e.to_npy();
            prop_assert_eq!(Embeddings::from_npy(&bytes).unwrap(), e);
            // Header is 64-byte aligned as NumPy expects.
            let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            prop_assert_eq!((10 + hl) % 64, 0);
        }

        #[test]
        fn corrupted_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..200) {
            let _ = Embeddings::from_npy(&bytes);
            let good = Embeddings::new(3, 2, vec![1.0; 6]).unwrap().to_npy();
            let _ = Embeddings::from_npy(&good[..cut.min(good.len())]);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let mut bad = Embeddings::new(2, 2, vec![0.0; 4]).unwrap().to_npy();
        let at = bad.windows(3).position(|w| w == b"<f4").unwrap();
        bad[at + 1] = b'i';
        assert!(Embeddings::from_npy(&bad).unwrap_err().contains("dtype"));
        let mut v = Embeddings::new(2, 2, vec![0.0; 4]).unwrap().to_npy();
        v.pop();
        assert!(Embeddings::from_npy(&v).unwrap_err().contains("bytes"));
        assert!(
            Embeddings::from_npy(b"hello")
                .unwrap_err()
                .contains("magic")
        );
    }
}
