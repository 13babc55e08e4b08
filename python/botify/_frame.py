"""Columns from the native module as numpy arrays and pandas DataFrames."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np
import pandas as pd


def column(dtype: str, data: Any) -> Any:
    """One column: raw bytes with a numpy dtype, a list of strings, or category codes."""
    if dtype == "str":
        return np.asarray(data, dtype=object)
    if dtype == "category":
        codes, categories = data
        return pd.Categorical.from_codes(
            np.frombuffer(codes, dtype="<i4"), categories=list(categories)
        )
    return np.frombuffer(data, dtype=dtype)


def frame(cols: List[Tuple[str, str, Any]]) -> pd.DataFrame:
    """A DataFrame from the native module's columns (numeric ones share no memory with Rust:
    the bytes were copied once, and numpy views them without another copy)."""
    return pd.DataFrame({name: column(dtype, data) for name, dtype, data in cols}, copy=False)


def arrays(cols: List[Tuple[str, str, Any]]) -> dict:
    """Columns as a dict of numpy arrays."""
    return {name: column(dtype, data) for name, dtype, data in cols}
