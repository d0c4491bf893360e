"""R's values as a model formula sees them: numeric vectors and matrices, logicals, character
vectors and factors, each with R's missing value.

The safe evaluator (:mod:`mlm_wrap.spec.evaluate`) computes with these and nothing else:
a data column becomes one of them (:func:`from_column`), R's functions map them to new ones,
and the model matrix (:mod:`mlm_wrap.spec.model_matrix`) turns them into columns.  No value
carries behaviour: these are plain arrays with R's type attached.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Union

import numpy as np
import pandas as pd

from mlm_wrap.errors import DataError
from mlm_wrap.rformat.numbers import format_num


@dataclass
class Num:
    """A double (or integer) vector, or a numeric matrix (``poly()``, ``ns()``, ``scale()``);
    NaN is R's NA.  ``colnames`` names a matrix's columns (None: R's ``1, 2, ...``)."""

    values: np.ndarray
    colnames: list[str] | None = None
    integer: bool = False

    def __len__(self) -> int:
        return len(self.values)

    @property
    def is_matrix(self) -> bool:
        return self.values.ndim == 2

    def na(self) -> np.ndarray:
        v = self.values
        return np.isnan(v).any(axis=1) if v.ndim == 2 else np.isnan(v)

    def take(self, rows: np.ndarray) -> "Num":
        return replace(self, values=self.values[rows])


@dataclass
class Lgl:
    """A logical vector: 1.0 TRUE, 0.0 FALSE, NaN NA."""

    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def na(self) -> np.ndarray:
        return np.isnan(self.values)

    def take(self, rows: np.ndarray) -> "Lgl":
        return Lgl(self.values[rows])


class Chr:
    """A character vector (object array of str; None is NA).  Built from a data column it
    keeps the column's factorisation instead (``codes`` into the sorted distinct strings,
    -1 for NA, as pandas' Arrow dictionary encoding gives it) and makes the strings only
    when asked: ``factor()`` of a million-row string column then costs one encoding pass."""

    def __init__(self, values: np.ndarray | None = None, *, codes: np.ndarray | None = None,
                 uniques: np.ndarray | None = None):
        self._values, self._codes, self._uniques = values, codes, uniques

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            lv = np.empty(len(self._uniques) + 1, dtype=object)
            lv[:-1] = self._uniques
            self._values = lv[self._codes]  # code -1 takes the last entry, None
        return self._values

    def __len__(self) -> int:
        return len(self._codes) if self._values is None else len(self._values)

    def __repr__(self) -> str:
        return f"Chr({self.values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chr) and np.array_equal(self.values, other.values)

    def na(self) -> np.ndarray:
        if self._codes is not None:
            return self._codes < 0
        return pd.isna(self.values).astype(bool)

    def encoded(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, sorted distinct strings)`` where the vector was built encoded."""
        return None if self._codes is None else (self._codes, self._uniques)

    def take(self, rows: np.ndarray) -> "Chr":
        if self._codes is not None:
            return Chr(codes=self._codes[rows], uniques=self._uniques)
        return Chr(self.values[rows])


@dataclass
class Fct:
    """A factor: 0-based codes (-1 is NA) into ``levels``; ``contrasts`` is what ``C()``
    attached (a contrast name such as ``"contr.sum"``, or a matrix), None for the default."""

    codes: np.ndarray
    levels: list[str]
    ordered: bool = False
    contrasts: Any = field(default=None)

    def __len__(self) -> int:
        return len(self.codes)

    def na(self) -> np.ndarray:
        return self.codes < 0

    def take(self, rows: np.ndarray) -> "Fct":
        return replace(self, codes=self.codes[rows])

    def labels(self) -> np.ndarray:
        """The level label of every element (None for NA)."""
        lv = np.array(list(self.levels) + [None], dtype=object)
        return lv[np.where(self.codes < 0, len(self.levels), self.codes)]


RValue = Union[Num, Lgl, Chr, Fct]


# ------------------------------------------------------------------------ R's as.character
def num_labels(values: np.ndarray, integer: bool = False) -> list[str | None]:
    """R's ``as.character()`` of numbers (15 significant digits, R's choice of fixed or
    scientific notation per element): the labels ``factor()`` gives numeric levels."""
    out: list[str | None] = []
    for v in np.asarray(values, float):
        if np.isnan(v):
            out.append(None)
        elif integer:
            out.append(str(int(v)))
        else:
            out.append(format_num([float(v)], digits=15)[0].strip())
    return out


def level_label(v: Any) -> str:
    """R's label of one level value of a data column."""
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return num_labels(np.array([float(v)]))[0] or "NA"
    return str(v)


def sort_levels(values: list) -> list:
    """``sort(unique(x))`` as R orders a factor's levels: numbers numerically, strings as text."""
    try:
        return sorted(values)
    except TypeError:  # mixed kinds: R holds them as character
        return sorted(values, key=str)


# ------------------------------------------------------------------------ data -> values
def from_column(s: pd.Series, name: str) -> RValue:
    """A data column as R holds it: numeric, logical, character or factor (a pandas
    Categorical keeps its category order as the factor's levels)."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = [level_label(c) for c in dt.categories]
        return Fct(np.asarray(s.cat.codes, dtype=np.int64), cats, ordered=bool(dt.ordered))
    if pd.api.types.is_bool_dtype(dt):
        vals = s.astype("float64") if not pd.api.types.is_extension_array_dtype(dt) else \
            s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        return Lgl(np.asarray(vals, dtype=float))
    if pd.api.types.is_numeric_dtype(dt):
        if pd.api.types.is_complex_dtype(dt):
            raise DataError(f"column {name!r} is complex-valued; model formulas take real numbers")
        integer = pd.api.types.is_integer_dtype(dt)
        if pd.api.types.is_extension_array_dtype(dt):
            arr = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            arr = np.asarray(s, dtype=float)
        return Num(arr, integer=integer)
    if dt == object:
        present = [v for v in s.tolist() if not (v is None or v is pd.NA or
                                                 (isinstance(v, float) and np.isnan(v)))]
        if present and all(isinstance(v, (bool, np.bool_)) for v in present):  # logical with NA
            return Lgl(np.array([float(v) if isinstance(v, (bool, np.bool_)) else np.nan
                                 for v in s.tolist()], dtype=float))
    if isinstance(dt, pd.StringDtype):  # pandas' str / string[pyarrow]: encode, keep codes
        codes, uniques = pd.factorize(s, sort=True)  # Arrow's dictionary encoding, sorted
        return Chr(codes=np.asarray(codes, dtype=np.int64),
                   uniques=np.asarray(uniques, dtype=object))
    if pd.api.types.is_string_dtype(dt) or dt == object:
        if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):  # the common case, fast
            vals = s.to_numpy(dtype=object, na_value=None)
            return Chr(vals)
        vals = np.empty(len(s), dtype=object)
        for i, v in enumerate(s.tolist()):
            vals[i] = None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA \
                else level_label(v)
        return Chr(vals)
    raise DataError(f"column {name!r} has type {dt}, which a model formula cannot use "
                    "(numbers, logicals, strings and categoricals can be used)")


def as_factor(v: RValue, what: str = "value") -> Fct:
    """R's ``as.factor()``: a factor stays, a character or logical vector gets sorted levels,
    numbers get numerically sorted levels labelled as R labels them."""
    if isinstance(v, Fct):
        return v
    if isinstance(v, Chr):
        enc = v.encoded()
        if enc is not None:  # sorted distinct strings already: drop those no row uses
            codes, uniques = enc
            used = np.bincount(codes[codes >= 0], minlength=len(uniques)) > 0
            if used.all():
                return Fct(codes, [str(u) for u in uniques])
            remap = np.cumsum(used) - 1
            return Fct(np.where(codes >= 0, remap[codes], -1),
                       [str(u) for u in uniques[used]])
        na = v.na()
        codes = np.full(len(v), -1, dtype=np.int64)
        found, uniques = pd.factorize(v.values[~na], sort=True)  # sorted as R's sort() in C
        codes[~na] = found
        return Fct(codes, [str(u) for u in uniques])
    if isinstance(v, Lgl):
        na = v.na()
        present = sorted({bool(x) for x in v.values[~na]})
        levels = ["TRUE" if b else "FALSE" for b in present]
        pos = {b: i for i, b in enumerate(present)}
        codes = np.array([-1 if m else pos[bool(x)] for x, m in zip(v.values, na)], dtype=np.int64)
        return Fct(codes, levels)
    if isinstance(v, Num):
        if v.is_matrix:
            raise DataError(f"{what} is a matrix and cannot be a factor")
        na = v.na()
        uniq = np.unique(v.values[~na])
        labels = num_labels(uniq, v.integer)
        codes = np.full(len(v), -1, dtype=np.int64)
        codes[~na] = np.searchsorted(uniq, v.values[~na])
        return Fct(codes, [str(x) for x in labels])
    raise DataError(f"{what} cannot be a factor")


def as_numeric(v: RValue, what: str = "value") -> Num:
    """R's ``as.numeric()``: logicals 0/1, factors their codes (1-based, as R)."""
    if isinstance(v, Num):
        return v
    if isinstance(v, Lgl):
        return Num(v.values.copy())
    if isinstance(v, Fct):
        return Num(np.where(v.codes < 0, np.nan, v.codes + 1.0), integer=True)
    raise DataError(f"{what} is character; R cannot use it as a number here")


def as_strings(v: RValue) -> np.ndarray:
    """R's ``as.character()`` (object array, None for NA)."""
    if isinstance(v, Chr):
        return v.values
    if isinstance(v, Fct):
        return v.labels()
    if isinstance(v, Lgl):
        return np.array([None if np.isnan(x) else ("TRUE" if x else "FALSE") for x in v.values],
                        dtype=object)
    return np.array(num_labels(v.values, v.integer), dtype=object)
