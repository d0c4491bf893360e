"""R's missing values: NA (a NaN with R's payload) versus NaN, and the coercions the formatters share."""
from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

# --------------------------------------------------------------------------
# NA handling
# --------------------------------------------------------------------------

#: R's ``NA_real_``: a NaN whose low 32-bit word is 1954 (see R's arithmetic.c).
NA_REAL: float = struct.unpack("<d", struct.pack("<Q", 0x7FF00000000007A2))[0]

#: ``.Machine$double.eps``
DBL_EPSILON: float = 2.220446049250313e-16

_DBL_DIG = 15
_DBL_MAX_10_EXP = 308
_M_LOG10_2 = 0.301029995663981195213738894724


def _is_na_scalar(v: Any) -> bool:
    """True for R's NA: None, pandas.NA / NaT-like, or a NaN with R's NA payload."""
    if v is None:
        return True
    if type(v).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f != f:
            low = struct.unpack("<Q", struct.pack("<d", f))[0] & 0xFFFFFFFF
            return low == 1954
    return False


def is_na(x: Any) -> bool | list[bool]:
    """R's ``is.na`` restricted to NA proper (not NaN): scalar -> bool, else list."""
    if np.ndim(x) == 0 and not isinstance(x, (list, tuple)):
        return _is_na_scalar(x)
    return [k == "na" for _, k in _coerce(x)]


def nan_to_na(x: Any) -> list[float]:
    """Map every NaN/None to :data:`NA_REAL` (for data whose NaN really means NA)."""
    out: list[float] = []
    for v, k in _coerce(x):
        out.append(NA_REAL if k in ("na", "nan") else v)
    return out


def _flatten(x: Any) -> list[Any]:
    """Flatten scalars / sequences / arrays (column-major like R is not needed)."""
    if isinstance(x, np.ma.MaskedArray):
        data = np.asarray(x.data, dtype=float).ravel()
        mask = np.ma.getmaskarray(x).ravel()
        return [None if m else float(d) for d, m in zip(data, mask)]
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return list(x.ravel())
        return list(x.ravel().tolist())
    if isinstance(x, (list, tuple)):
        out: list[Any] = []
        for v in x:
            if isinstance(v, (list, tuple, np.ndarray)):
                out.extend(_flatten(v))
            else:
                out.append(v)
        return out
    if hasattr(x, "to_numpy"):  # pandas objects
        arr = x.to_numpy(dtype=object)
        return list(arr.ravel())
    return [x]


def _coerce(x: Any) -> list[tuple[float, str]]:
    """Turn input into (value, kind) pairs; kind in fin/na/nan/inf/-inf."""
    out: list[tuple[float, str]] = []
    for v in _flatten(x):
        if _is_na_scalar(v):
            out.append((NA_REAL, "na"))
            continue
        f = float(v)
        if f != f:
            out.append((f, "nan"))
        elif f == math.inf:
            out.append((f, "inf"))
        elif f == -math.inf:
            out.append((f, "-inf"))
        else:
            out.append((f, "fin"))
    return out
