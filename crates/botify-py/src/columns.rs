//! Columns handed to Python as raw little-endian bytes with a numpy dtype string (one copy, no
//! Python object per value); `botify._frame` turns them into numpy arrays and a DataFrame.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

/// Ordered (name, dtype, data) columns; strings travel as a Python list.
#[derive(Default)]
pub struct Columns {
    cols: Vec<(String, Col)>,
}

enum Col {
    Bytes(&'static str, Vec<u8>),
    Strings(Vec<String>),
    /// Codes into categories; -1 is missing.
    Category(Vec<u8>, Vec<String>),
}

macro_rules! numeric {
    ($name:ident, $t:ty, $dtype:literal) => {
        pub fn $name(&mut self, name: &str, values: impl IntoIterator<Item = $t>) -> &mut Self {
            let bytes = values.into_iter().flat_map(<$t>::to_le_bytes).collect();
            self.cols
                .push((name.to_string(), Col::Bytes($dtype, bytes)));
            self
        }
    };
}

impl Columns {
    numeric!(u8, u8, "<u1");
    numeric!(u32, u32, "<u4");
    numeric!(i64, i64, "<i8");
    numeric!(f32, f32, "<f4");
    numeric!(f64, f64, "<f8");

    pub fn strings(&mut self, name: &str, values: impl IntoIterator<Item = String>) -> &mut Self {
        self.cols
            .push((name.to_string(), Col::Strings(values.into_iter().collect())));
        self
    }

    /// A categorical column: `codes` index `categories`, -1 for a missing value.
    pub fn category(
        &mut self,
        name: &str,
        codes: impl IntoIterator<Item = i32>,
        categories: Vec<String>,
    ) -> &mut Self {
        let bytes = codes.into_iter().flat_map(i32::to_le_bytes).collect();
        self.cols
            .push((name.to_string(), Col::Category(bytes, categories)));
        self
    }

    /// A list of `(name, dtype, bytes)`, `(name, "category", (codes, categories))` and `(name, "str", list)` tuples.
    pub fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
        let items = self
            .cols
            .into_iter()
            .map(|(name, col)| -> PyResult<Bound<'_, PyTuple>> {
                match col {
                    Col::Bytes(dtype, b) => PyTuple::new(
                        py,
                        [
                            name.into_pyobject(py)?.into_any(),
                            dtype.into_pyobject(py)?.into_any(),
                            PyBytes::new(py, &b).into_any(),
                        ],
                    ),
                    Col::Category(codes, cats) => PyTuple::new(
                        py,
                        [
                            name.into_pyobject(py)?.into_any(),
                            "category".into_pyobject(py)?.into_any(),
                            (PyBytes::new(py, &codes), PyList::new(py, cats)?)
                                .into_pyobject(py)?
                                .into_any(),
                        ],
                    ),
                    Col::Strings(v) => PyTuple::new(
                        py,
                        [
                            name.into_pyobject(py)?.into_any(),
                            "str".into_pyobject(py)?.into_any(),
                            PyList::new(py, v)?.into_any(),
                        ],
                    ),
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
}
