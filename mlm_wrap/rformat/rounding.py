"""R's ``round()``, ``signif()`` and ``zapsmall()`` (ports of src/nmath/fround.c and fprec.c)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlm_wrap.rformat.na import (
    _DBL_DIG,
    _DBL_MAX_10_EXP,
    _M_LOG10_2,
    NA_REAL,
    _coerce,
    _is_na_scalar,
)

# --------------------------------------------------------------------------
# round() and signif()
# --------------------------------------------------------------------------


def _R_pow_di(x: float, n: int) -> float:
    """R's ``R_pow_di``: x^n by repeated squaring (exactly as R computes it)."""
    xn = 1.0
    if x != x:
        return x
    if n != 0:
        if not math.isfinite(x):
            return x ** n
        is_neg = n < 0
        if is_neg:
            n = -n
        while True:
            if n & 1:
                xn *= x
            n >>= 1
            if n:
                x *= x
            else:
                break
        if is_neg:
            xn = 1.0 / xn
    return xn


def _nearbyint(v: float) -> float:
    """C ``nearbyint`` in the default rounding mode (ties to even)."""
    return float(np.rint(v))


def _fround(x: float, digits: float) -> float:
    """Port of R 4.x ``fround`` (src/nmath/fround.c): R's ``round(x, digits)``."""
    max_digits = _DBL_MAX_10_EXP + _DBL_DIG
    if x != x or digits != digits:
        return x + digits
    if not math.isfinite(x):
        return x
    if digits > max_digits or x == 0.0:
        return x
    if digits < -_DBL_MAX_10_EXP:
        return 0.0
    if digits == 0.0:
        return _nearbyint(x)
    dig = int(math.floor(digits + 0.5))
    sgn = 1.0
    if x < 0.0:
        sgn = -1.0
        x = -x
    l10x = _M_LOG10_2 * (0.5 + (math.frexp(x)[1] - 1))  # logb(x)
    if l10x + dig > _DBL_DIG:
        return sgn * x
    if dig <= _DBL_MAX_10_EXP:
        pow10 = _R_pow_di(10.0, dig)
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:
        e10 = dig - _DBL_MAX_10_EXP
        p10 = _R_pow_di(10.0, e10)
        pow10 = _R_pow_di(10.0, _DBL_MAX_10_EXP)
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def _fprec(x: float, digits: float) -> float:
    """Port of R's ``fprec`` (src/nmath/fprec.c): R's ``signif(x, digits)``."""
    max_digits = 22
    max10e = _DBL_MAX_10_EXP
    if x != x or digits != digits:
        return x + digits
    if not math.isfinite(x):
        return x
    if not math.isfinite(digits):
        if digits > 0.0:
            return x
        digits = 1.0
    if x == 0:
        return x
    dig = int(math.floor(digits + 0.5))
    if dig > max_digits:
        return x
    if dig < 1:
        dig = 1
    sgn = 1.0
    if x < 0.0:
        sgn = -sgn
        x = -x
    l10 = math.log10(x)
    e10 = int(dig - 1 - math.floor(l10))
    if abs(l10) < max10e - 2:
        p10 = 1.0
        if e10 > max10e:
            p10 = _R_pow_di(10.0, e10 - max10e)
            e10 = max10e
        if e10 > 0:
            pow10 = _R_pow_di(10.0, e10)
            return sgn * (_nearbyint((x * pow10) * p10) / pow10) / p10
        pow10 = _R_pow_di(10.0, -e10)
        return sgn * (_nearbyint(x / pow10) * pow10)
    do_round = max10e - l10 >= _R_pow_di(10.0, -dig)
    e2 = dig + (1 if e10 > 0 else -1) * max_digits
    p10 = _R_pow_di(10.0, e2)
    x *= p10
    P10 = _R_pow_di(10.0, e10 - e2)
    x *= P10
    if do_round:
        x += 0.5
    x = math.floor(x) / p10
    return sgn * x / P10


def _vectorize(fun: Any, x: Any, digits: float) -> Any:
    """Apply a scalar R math function to a scalar or array, keeping NA payloads."""
    if np.ndim(x) == 0 and not isinstance(x, (list, tuple)):
        if _is_na_scalar(x):
            return NA_REAL
        return fun(float(x), float(digits))
    arr = np.asarray(x, dtype=object) if isinstance(x, (list, tuple)) else np.asarray(x)
    flat = [NA_REAL if _is_na_scalar(v) else fun(float(v), float(digits)) for v in arr.ravel().tolist()]
    return np.array(flat, dtype=float).reshape(arr.shape)


def r_round(x: Any, digits: float = 0) -> Any:
    """R's ``round(x, digits)`` (R >= 4.0.0 algorithm); scalar in -> float out."""
    return _vectorize(_fround, x, digits)


def signif(x: Any, digits: float = 6) -> Any:
    """R's ``signif(x, digits)``; scalar in -> float out, array in -> ndarray out."""
    return _vectorize(_fprec, x, digits)


def zapsmall(x: Any, digits: int = 7) -> np.ndarray:
    """R 4.2's ``zapsmall``: round to ``digits`` significant digits of max(|x|)."""
    arr = np.asarray(x, dtype=float)
    vals = [(v, k) for v, k in _coerce(arr)]
    finite_or_inf = [abs(v) for v, k in vals if k not in ("na", "nan")]
    if not finite_or_inf:
        return arr
    mx = max(finite_or_inf)
    d = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    return np.asarray(r_round(arr, d), dtype=float)
