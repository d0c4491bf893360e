"""R's number and table formatting, reproduced digit for digit (R 4.2).

lme4's printouts are built from a handful of base-R primitives: ``format()``
of a numeric vector (C ``formatReal`` + ``EncodeReal0``), ``formatC()``,
``round()``/``signif()``, ``format.pval()``, ``printCoefmat()``,
``abbreviate()`` and ``print()`` of a character matrix.  Each function here is
a line-by-line port of the corresponding R source (``src/main/format.c``,
``src/nmath/fround.c``, ``src/nmath/fprec.c``, ``src/main/character.c``,
``src/main/printmatrix.c`` and the R-level functions of base/stats), so the
strings we print are the strings R prints.

Missing values: R distinguishes ``NA`` from ``NaN``.  Pass ``None`` (or
:data:`NA_REAL`, a NaN carrying R's NA payload, or a masked entry of a numpy
masked array) where R would have ``NA``; a plain ``float('nan')`` is R's
``NaN``.  Use :func:`nan_to_na` to turn every NaN into NA.

Index arguments (``cs_ind``, ``tst_ind``, ``zap_ind``) are 0-based, unlike R.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "NA_REAL",
    "DBL_EPSILON",
    "SIGNIF_LEGEND",
    "is_na",
    "nan_to_na",
    "r_round",
    "signif",
    "zapsmall",
    "format_info",
    "format_num",
    "format1",
    "formatC",
    "format_pval",
    "signif_stars",
    "CoefTable",
    "format_coefmat",
    "abbreviate",
    "print_matrix",
]

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

#: The text ``printCoefmat`` prints after ``---`` (UTF-8 locale, as R 4.2).
SIGNIF_LEGEND: str = (
    "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 "
    "0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
)


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


# --------------------------------------------------------------------------
# formatReal / EncodeReal0 (format())
# --------------------------------------------------------------------------

_KP_MAX = 27
_TBL: list[np.longdouble] = [np.longdouble(1) / np.longdouble(10)]
_t = np.longdouble(1)
for _i in range(_KP_MAX + 1):
    _TBL.append(_t)  # _TBL[k + 1] == 10^k exactly (64-bit mantissa)
    _t = _t * np.longdouble(10)
del _t, _i


def _scientific(x: float, digits: int) -> tuple[int, int, int, bool]:
    """Port of format.c ``scientific()``: (neg, kpower, nsig, roundingwidens)."""
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0.0 else 0
    r = -x if neg else x
    if digits >= _DBL_DIG + 1:
        buff = "%#.*e" % (digits - 1, r)
        kpower = int(buff[digits + 2:])
        i = digits
        while i >= 2:
            if buff[i] != "0":
                break
            i -= 1
        return neg, kpower, i, False
    kp = int(math.floor(math.log10(r))) - digits + 1
    r_prec = np.longdouble(r)
    if abs(kp) <= _KP_MAX:
        if kp > 0:
            r_prec = r_prec / _TBL[kp + 1]
        elif kp < 0:
            r_prec = r_prec * _TBL[-kp + 1]
    else:
        r_prec = r_prec / np.power(np.longdouble(10), np.longdouble(kp))
    if r_prec < _TBL[digits]:
        r_prec = r_prec * np.longdouble(10)
        kp -= 1
    alpha = float(np.rint(r_prec))
    nsig = digits
    for _ in range(digits):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = digits - kpower
    rgt = 0 if rgt < 0 else (_KP_MAX if rgt > _KP_MAX else rgt)
    fuzz = 0.5 / float(_TBL[1 + rgt])
    widens = bool(
        0 < kpower <= _KP_MAX
        and np.longdouble(r) < _TBL[kpower + 1] - np.longdouble(fuzz)
    )
    return neg, kpower, nsig, widens


def _format_real(vals: Sequence[tuple[float, str]], digits: int, nsmall: int = 0,
                 scipen: int = 0, na_width: int = 2) -> tuple[int, int, int]:
    """Port of format.c ``formatReal``: common (width, decimals, exponent flag)."""
    naflag = nanflag = posinf = neginf = False
    neg = 0
    rgt = mxl = mxsl = mxns = -(2 ** 31)
    mnl = 2 ** 31 - 1
    for v, k in vals:
        if k == "na":
            naflag = True
        elif k == "nan":
            nanflag = True
        elif k == "inf":
            posinf = True
        elif k == "-inf":
            neginf = True
        else:
            neg_i, kpower, nsig, widens = _scientific(v, digits)
            left = kpower + 1
            if widens:
                left -= 1
            sleft = neg_i + (1 if left <= 0 else left)
            right = nsig - left
            if neg_i:
                neg = 1
            rgt = max(rgt, right)
            mxl = max(mxl, left)
            mnl = min(mnl, left)
            mxsl = max(mxsl, sleft)
            mxns = max(mxns, nsig)
    if digits == 0:
        rgt = 0
    if mxl < 0:
        mxsl = 1 + neg
    if rgt < 0:
        rgt = 0
    wF = mxsl + rgt + (rgt != 0)
    e = 2 if (mxl > 100 or mnl <= -99) else 1
    if mxns != -(2 ** 31):
        d = mxns - 1
        w = neg + (d > 0) + d + 4 + e
        if wF <= w + scipen:
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                wF = mxsl + rgt + (rgt != 0)
            d = rgt
            w = wF
    else:
        w = d = e = 0
    if naflag and w < na_width:
        w = na_width
    if nanflag and w < 3:
        w = 3
    if posinf and w < 3:
        w = 3
    if neginf and w < 4:
        w = 4
    return w, d, e


def _encode_real(v: float, kind: str, w: int, d: int, e: int, na_string: str = "NA") -> str:
    """Port of printutils.c ``EncodeReal0`` (decimal mark '.')."""
    if kind != "fin":
        s = {"na": na_string, "nan": "NaN", "inf": "Inf", "-inf": "-Inf"}[kind]
        return s.rjust(w)
    if v == 0.0:
        v = 0.0  # drop the sign of -0
    if e:
        if d:
            return "%#*.*e" % (w, d, v)
        return "%*.*e" % (w, d, v)
    return "%*.*f" % (w, d, v)


def _scipen(scientific: bool | int | None) -> int:
    if scientific is None:
        return 0
    if scientific is True:
        return -100
    if scientific is False:
        return 100
    return int(scientific)


def format_info(x: Any, digits: int = 7, nsmall: int = 0,
                scientific: bool | int | None = None) -> tuple[int, int, int]:
    """R's ``format.info(x, digits, nsmall)`` for a numeric vector: (width, decimals, exp)."""
    return _format_real(_coerce(x), int(digits), int(nsmall), _scipen(scientific))


def format_num(x: Any, digits: int = 7, nsmall: int = 0, width: int | None = None,
               trim: bool = False, scientific: bool | int | None = None,
               na_encode: str = "NA") -> list[str]:
    """R's ``format()`` of a numeric vector: common format, right-justified to a common width.

    ``scientific`` is R's argument (``True``/``False``) or a ``scipen`` penalty (int).
    """
    if _is_integer_input(x):
        return _format_integer(x, width, trim, na_encode)
    vals = _coerce(x)
    w, d, e = _format_real(vals, int(digits), int(nsmall), _scipen(scientific))
    if trim:
        w = 0
    if width is not None:
        w = max(w, int(width))
    return [_encode_real(v, k, w, d, e, na_encode) for v, k in vals]


def _is_integer_input(x: Any) -> bool:
    """True for R integer vectors: numpy integer arrays / scalars, lists of Python ints."""
    if isinstance(x, bool) or isinstance(x, np.bool_):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "iu"
    if isinstance(x, (list, tuple)) and x:
        return all((isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))
                   or v is None for v in x) and any(v is not None for v in x)
    return False


def _format_integer(x: Any, width: int | None, trim: bool, na_string: str) -> list[str]:
    """R's ``formatInteger`` + ``EncodeInteger``: common width, NA as "NA"."""
    items = [None if v is None else int(v) for v in _flatten(x)]
    strs = [na_string if v is None else str(v) for v in items]
    w = 0 if trim else max([1] + [len(t) for t in strs])
    if width is not None:
        w = max(w, int(width))
    return [t.rjust(w) for t in strs]


def format1(x: Any, digits: int = 7, nsmall: int = 0) -> str:
    """``format(x, digits)`` of one number, without padding."""
    return format_num([x], digits=digits, nsmall=nsmall, trim=True)[0]


# --------------------------------------------------------------------------
# formatC
# --------------------------------------------------------------------------

_FLAG_CHARS = set("0+- #")


def formatC(x: Any, digits: int | None = None, format: str | None = None,
            width: int | None = None, flag: str = "", mode: str | None = None) -> list[str]:
    """R's ``formatC()`` for numbers: formats ``"f"``, ``"e"``, ``"E"``, ``"g"``, ``"G"``, ``"d"``, ``"fg"``.

    Each element is formatted separately with C's ``sprintf``, as R does.
    ``width=None`` and ``digits=None`` mean R's ``NULL`` defaults.
    """
    if any(c not in _FLAG_CHARS for c in flag):
        raise ValueError("flag should contain only characters from [0+- #]")
    if mode is None:
        arr = np.asarray(x) if not isinstance(x, (list, tuple)) else None
        is_int = arr is not None and arr.dtype.kind in "iub"
        if isinstance(x, (list, tuple)):
            is_int = len(x) > 0 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in x)
        mode = "integer" if is_int else "double"
    elif mode == "real":
        mode = "double"
    vals = _coerce(x)
    if not vals:
        return []
    if format is None:
        format = "d" if mode == "integer" else "g"
    elif format in ("f", "e", "E", "g", "G", "fg"):
        if mode == "integer":
            mode = "double"
    elif format == "d":
        if mode != "integer":
            mode = "integer"
            # storage.mode<- "integer": truncate; non-finite / out of range -> NA
            vals = [(float(math.trunc(v)), k) if (k == "fin" and abs(v) < 2147483648.0)
                    else (NA_REAL, "na") for v, k in vals]
    else:
        raise ValueError("'format' must be one of {\"f\",\"e\",\"E\",\"g\",\"G\", \"fg\"}")
    if width is None and digits is None:
        width = 1
    if digits is None:
        digits = 2 if mode == "integer" else 4
    elif digits < 0:
        digits = 6
    else:
        max_digits = 50 if format != "f" else 324
        digits = min(int(digits), max_digits)
    if width is None:
        width = digits + 1
    elif width == 0:
        width = digits
    width = int(width)
    nf = list(flag)
    cdigits = -digits if (digits > 0 and "#" in nf) else digits
    dig = abs(cdigits)
    rm_trailing_0 = cdigits >= 0

    if width == 0:
        raise ValueError("width cannot be zero")
    # glibc pads with zeros on the right for a negative '*' width with the '0' flag
    zero_right = width < 0 and "0" in nf and "-" not in nf and format != "d"
    cflag = flag.replace("0", "") if zero_right else flag

    out: list[str] = []
    special: list[int] = []
    for i, (v, k) in enumerate(vals):
        if k != "fin":
            special.append(i)
            out.append("")
            continue
        if format == "d":
            s = ("%" + cflag + "*d") % (width, int(v))
        elif format == "fg":
            s = _fg(v, width, dig, cflag, rm_trailing_0)
        else:
            s = ("%" + cflag + "*.*" + format) % (width, dig, v)
        if zero_right:
            t = s.rstrip(" ")
            s = t + "0" * (len(s) - len(t))
        out.append(s)
    if special:
        rq = [{"na": "NA", "nan": "NaN", "inf": "Inf", "-inf": "-Inf"}[vals[i][1]] for i in special]
        w = abs(width)
        left = flag == "-" or width < 0
        cw = max([w] + [len(s) for s in rq])
        for i, s in zip(special, rq):
            out[i] = s.ljust(cw) if left else s.rjust(cw)
    return out


def _fg(xx: float, width: int, dig: int, flag: str, rm_trailing_0: bool) -> str:
    """The ``"fg"`` branch of R's C ``str_signif``."""
    if xx == 0.0:
        return "0"
    xxx = abs(xx)
    iex = int(math.floor(math.log10(xxx) + 1e-12))
    X = _fround(xxx / (10.0 ** iex) + 1e-12, float(dig - 1))
    if iex > 0 and X >= 10:
        xx = X * (10.0 ** iex)
        iex += 1
    if iex == -4 and abs(xx) < 1e-4:
        iex = -5
    if iex < -4:
        s = ("%" + flag + ".*f") % (dig - 1 + -iex, xx)
        if rm_trailing_0:
            s = s.rstrip("0")
        return s
    return ("%" + flag + "*.*g") % (width, (iex + 1) if iex >= dig else dig, xx)


# --------------------------------------------------------------------------
# format.pval
# --------------------------------------------------------------------------


def format_pval(pv: Any, digits: int = 5, eps: float = DBL_EPSILON,
                na_form: str = "NA") -> list[str]:
    """R's ``format.pval(pv, digits, eps, na.form)``; ``digits`` default is R's max(1, 7 - 2)."""
    vals = _coerce(pv)
    ina = [k in ("na", "nan") for _, k in vals]
    ok = [(v, k) for (v, k), m in zip(vals, ina) if not m]
    is0 = [v < eps for v, _ in ok]
    r = [""] * len(ok)
    rr: list[str] = []
    if not all(is0):
        rest = [(v, k) for (v, k), z in zip(ok, is0) if not z]
        expo = [float(np.floor(np.log10(v if v > 0 else 1e-50))) for v, _ in rest]
        fixp = [e >= -3 or (e == -4 and digits > 1) for e in expo]
        rr = [""] * len(rest)
        for want in (True, False):  # R formats the two groups separately
            idx = [i for i, f in enumerate(fixp) if f == want]
            if idx:
                f = format_num([rest[i][0] for i in idx], digits=digits)
                for i, s in zip(idx, f):
                    rr[i] = s
        j = 0
        for i, z in enumerate(is0):
            if not z:
                r[i] = rr[j]
                j += 1
    if any(is0):
        dg = max(1, digits - 2)
        if not all(is0):
            nc = max(len(s) for s in rr)
            if dg > 1 and dg + 6 > nc:
                dg = max(1, nc - 7)
            sep = "" if (dg == 1 and nc <= 6) else " "
        else:
            sep = "" if dg == 1 else " "
        s0 = "<" + sep + format_num([eps], digits=dg)[0]
        for i, z in enumerate(is0):
            if z:
                r[i] = s0
    if any(ina):
        full: list[str] = []
        it = iter(r)
        for m in ina:
            full.append(na_form if m else next(it))
        return full
    return r


# --------------------------------------------------------------------------
# printCoefmat
# --------------------------------------------------------------------------


def signif_stars(pv: Any) -> list[str]:
    """R's ``symnum(pv, corr=FALSE, na=FALSE, cutpoints=c(0,.001,.01,.05,.1,1), ...)``.

    Unpadded symbols; NA or out-of-range p-values give ``""``.
    """
    cuts = (0.001, 0.01, 0.05, 0.1, 1.0)
    syms = ("***", "**", "*", ".", " ")
    out: list[str] = []
    for v, k in _coerce(pv):
        if k != "fin" or v < 0 or v > 1:
            out.append("")
            continue
        for c, s in zip(cuts, syms):
            if v <= c:
                out.append(s)
                break
    return out


_symnum_stars = signif_stars


@dataclass
class CoefTable:
    """Formatted coefficient table as ``printCoefmat`` would print it.

    ``cells[i][j]`` are the strings of the character matrix R passes to
    ``print.default(quote = FALSE, right = TRUE)``; ``colnames`` includes the
    unnamed stars column (``""``) when stars are shown; ``legend`` is the
    ``Signif. codes:`` line (without the ``---`` line) or None.
    """

    rownames: list[str]
    colnames: list[str]
    cells: list[list[str]]
    legend: str | None = None

    def render(self, width: int = 80) -> str:
        """The exact console text of ``printCoefmat`` (ends with a newline)."""
        out = print_matrix(self.rownames, self.colnames, self.cells, right=True, width=width)
        if self.legend is not None:
            out += "---\n" + self.legend + "\n"
        return out


def _as_numeric(s: str) -> float | None:
    """R's ``as.numeric`` of a formatted number (None for NA)."""
    t = s.strip()
    if t in ("", "NA"):
        return None
    try:
        return float(t)
    except ValueError:
        return None


def format_coefmat(x: Any, rownames: Sequence[str] | None = None,
                   colnames: Sequence[str] | None = None,
                   digits: int = 5, signif_stars: bool = True,
                   signif_legend: bool | None = None, dig_tst: int | None = None,
                   cs_ind: Sequence[int] | None = None, tst_ind: Sequence[int] | None = None,
                   zap_ind: Sequence[int] = (), P_values: bool | None = None,
                   has_Pvalue: bool | None = None, eps_Pvalue: float = DBL_EPSILON,
                   na_print: str = "NA") -> CoefTable:
    """Port of ``stats::printCoefmat`` returning the formatted cells instead of printing.

    ``x`` is an (n, nc) table: nested lists, a numpy (masked) array or a pandas
    DataFrame (whose index / columns are the default row / column names).
    None / NA_REAL / masked entries are NA.  ``cs_ind``, ``tst_ind`` and
    ``zap_ind`` are 0-based column indices.  lme4's summary calls it with
    ``digits = max(3, getOption("digits") - 3)`` i.e. 4; R's default is 5.
    """
    if hasattr(x, "columns") and hasattr(x, "index"):  # pandas DataFrame
        if rownames is None:
            rownames = [str(v) for v in x.index]
        if colnames is None:
            colnames = [str(v) for v in x.columns]
        x = x.to_numpy(dtype=object)
    if isinstance(x, np.ma.MaskedArray):
        x = np.where(np.ma.getmaskarray(x), None, np.asarray(x.data, dtype=object))
    if isinstance(x, np.ndarray):
        rows = [list(r) for r in (x.tolist() if x.ndim == 2 else [x.tolist()])]
    else:
        rows = [list(r) for r in x]
    if colnames is None or rownames is None:
        raise ValueError("rownames and colnames are required unless x is a DataFrame")
    n = len(rows)
    nc = len(colnames)
    if any(len(r) != nc for r in rows):
        raise ValueError("every row of x needs one value per column name")
    # xm[i][j] as (value, kind)
    xm = [[_coerce([v])[0] for v in r] for r in rows]
    cn = list(colnames)
    if has_Pvalue is None:
        has_Pvalue = nc >= 4 and cn[nc - 1][:3] in ("Pr(", "p-v")
    if P_values is None:
        P_values = has_Pvalue
    elif P_values and not has_Pvalue:
        raise ValueError("'P.values' is TRUE, but 'has.Pvalue' is not")
    if has_Pvalue and not P_values:
        xm = [r[:-1] for r in xm]
        cn = cn[:-1]
        nc -= 1
        has_Pvalue = False
    tst_missing = tst_ind is None
    k = nc - int(has_Pvalue) - (1 if tst_missing else len(tst_ind))  # type: ignore[arg-type]
    if cs_ind is None:
        cs = list(range(k)) if k >= 1 else [0]  # R's 1:k
    else:
        if len(cs_ind) > k:
            raise ValueError("wrong k / cs.ind")
        cs = list(cs_ind)
    tst = [k] if tst_missing else list(tst_ind)  # type: ignore[arg-type]
    if dig_tst is None:
        dig_tst = max(1, min(5, digits - 1))

    Cf = [[""] * nc for _ in range(n)]
    ina = [[kk in ("na", "nan") for _, kk in r] for r in xm]
    ok = [[not m for m in r] for r in ina]
    for j in zap_ind:
        col = zapsmall([xm[i][j][0] for i in range(n)], digits)
        for i in range(n):
            if xm[i][j][1] == "fin":
                xm[i][j] = (float(col[i]), "fin")

    if cs:
        acs = [abs(xm[i][j][0]) for j in cs for i in range(n) if xm[i][j][1] not in ("na", "nan")]
        fin = [a for a in acs if math.isfinite(a)]
        if fin:
            nz = [a for a in fin if a != 0]
            if nz:
                digmin = [1 + math.floor(math.log10(min(nz))), 1 + math.floor(math.log10(max(nz)))]
            else:
                digmin = [1]
            rd = max([1] + [digits - dm for dm in digmin])
            cells = [(xm[i][j], i, j) for j in cs for i in range(n)]
            rounded = [((_fround(v, rd), kk) if kk == "fin" else (v, kk)) for (v, kk), _, _ in cells]
            w, d, e = _format_real(rounded, digits)
            for (v, kk), (_, i, j) in zip(rounded, cells):
                Cf[i][j] = _encode_real(v, kk, w, d, e)
    if tst:
        cells = [(xm[i][j], i, j) for j in tst for i in range(n)]
        rounded = [((_fround(v, dig_tst), kk) if kk == "fin" else (v, kk)) for (v, kk), _, _ in cells]
        w, d, e = _format_real(rounded, digits)
        for (v, kk), (_, i, j) in zip(rounded, cells):
            Cf[i][j] = _encode_real(v, kk, w, d, e)
    skip = set(cs) | set(tst) | ({nc - 1} if has_Pvalue else set())
    for j in range(nc):
        if j not in skip:
            col = [xm[i][j] for i in range(n)]
            w, d, e = _format_real(col, digits)
            for i in range(n):
                Cf[i][j] = _encode_real(col[i][0], col[i][1], w, d, e)
    for i in range(n):
        for j in tst:
            ok[i][j] = False
    # cells whose zero-ness changed by formatting get reformatted with digits - 1
    last = nc - 1 if has_Pvalue else nc
    changed = []
    for j in range(last):
        for i in range(n):
            if not ok[i][j]:
                continue
            num = _as_numeric(Cf[i][j])
            if num is None:
                continue
            if (xm[i][j][0] == 0) != (num == 0):
                changed.append((i, j))
    if changed:
        ff = format_num([xm[i][j][0] for i, j in changed], digits=max(1, digits - 1))
        for (i, j), s in zip(changed, ff):
            Cf[i][j] = s
    for i in range(n):
        for j in range(nc):
            if ina[i][j]:
                Cf[i][j] = na_print
            if xm[i][j][1] == "nan":
                Cf[i][j] = "NaN"
    legend: str | None = None
    show_stars = False
    if P_values:
        okP = [ok[i][nc - 1] for i in range(n)]
        if any(okP):
            pv = [xm[i][nc - 1][0] for i in range(n)]
            idx = [i for i in range(n) if okP[i]]
            fp = format_pval([pv[i] for i in idx], digits=dig_tst, eps=eps_Pvalue)
            for i, s in zip(idx, fp):
                Cf[i][nc - 1] = s
            show_stars = signif_stars and any(pv[i] < 0.1 for i in idx)
            if show_stars:
                stars = _symnum_stars([None if ina[i][nc - 1] else pv[i] for i in range(n)])
                sw = max(len(s) for s in stars)
                for i in range(n):
                    Cf[i].append(stars[i].ljust(sw))
                cn = cn + [""]
    if signif_legend is None:
        signif_legend = show_stars
    if show_stars and signif_legend:
        legend = SIGNIF_LEGEND
    return CoefTable(rownames=list(rownames), colnames=cn, cells=Cf, legend=legend)


# --------------------------------------------------------------------------
# abbreviate
# --------------------------------------------------------------------------

_VOWELS_W = {chr(c) for c in (
    0x61, 0x65, 0x69, 0x6F, 0x75, 0xE0, 0xE1, 0x2E, 0xE3, 0xE4, 0xE5,
    0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF,
    0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC,
    0x101, 0x103, 0x105, 0x113, 0x115, 0x117, 0x118, 0x11B,
    0x129, 0x12B, 0x12D, 0x12F, 0x131, 0x14D, 0x14F, 0x151,
    0x169, 0x16B, 0x16D, 0x16F, 0x171, 0x173)}
_VOWELS_A = set("aeiou")
_C_SPACE = set(" \t\n\v\f\r")


def _stripchars(inchar: str, minlen: int, usecl: bool) -> str:
    """Port of character.c ``stripchars`` / ``wstripchars`` (one name)."""
    s = list(inchar)
    wide = not inchar.isascii()
    vowels = _VOWELS_W if wide else _VOWELS_A

    def isspace(c: str) -> bool:
        return c.isspace() if wide else c in _C_SPACE

    def islower(c: str) -> bool:
        return "a" <= c <= "z"

    def firstchar(i: int) -> bool:
        return isspace(s[i - 1])

    def lastchar(i: int) -> bool:
        return (not isspace(s[i - 1])) and (i + 1 >= len(s) or isspace(s[i + 1]))

    nspace = 0

    def done() -> bool:
        return len(s) - nspace <= minlen

    def body() -> None:
        nonlocal nspace
        if len(s) < minlen:
            return
        j = 1
        for i in range(len(s) - 1, 0, -1):
            if isspace(s[i]):
                if j:
                    del s[i:]
                else:
                    nspace += 1
            else:
                j = 0
            if done():
                return
        if usecl:
            passes = (
                lambda i: s[i] in vowels and lastchar(i),
                lambda i: s[i] in vowels and not firstchar(i),
                lambda i: islower(s[i]) and lastchar(i),
                lambda i: islower(s[i]) and not firstchar(i),
            )
            for test in passes:
                for i in range(len(s) - 1, 0, -1):
                    if test(i):
                        del s[i]
                    if done():
                        return
        for i in range(len(s) - 1, 0, -1):
            if not firstchar(i) and not isspace(s[i]):
                del s[i]
            if done():
                return

    body()
    if len(s) > minlen:
        for i in range(len(s) - 1, 0, -1):
            if isspace(s[i]):
                del s[i]
    return "".join(s)


def _abbrev_internal(names: Sequence[str], minlen: int, usecl: bool) -> list[str]:
    """R's ``.Internal(abbreviate(x, minlength, use.classes))``."""
    return [_stripchars(s, minlen, usecl) if len(s) > minlen else s for s in names]


def _duplicated(x: Sequence[str]) -> list[bool]:
    seen: set[str] = set()
    out = []
    for v in x:
        out.append(v in seen)
        seen.add(v)
    return out


def abbreviate(names: Iterable[str], minlength: int = 6, use_classes: bool = True,
               dot: bool = False, strict: bool = False,
               method: str = "left.kept") -> list[str]:
    """R's ``abbreviate(names.arg, minlength, use.classes, dot, strict, method)``.

    Note the default ``minlength=6`` (what lme4 uses for correlation headers);
    R's own default is 4.  Drops lower-case vowels from the right end of words,
    then lower-case letters, then anything but first characters, until the
    name has ``minlength`` characters, then lengthens until all are unique.
    """
    orig = list(names)
    if minlength <= 0:
        return ["" for _ in orig]
    cleaned = [re.sub(r"^ +", "", re.sub(r" +$", "", s)) for s in orig]
    dups = _duplicated(cleaned)
    uniq = [s for s, d in zip(cleaned, dups) if not d]
    x = list(uniq)
    if strict:
        x = _abbrev_internal(x, minlength, use_classes)
    else:
        if method not in ("left.kept", "both.sides"):
            raise ValueError("method must be 'left.kept' or 'both.sides'")

        def rev(v: list[str]) -> list[str]:
            return [s[::-1] for s in v]

        dup2 = [True] * len(uniq)
        these = list(uniq)
        while True:
            ans = _abbrev_internal(these, minlength, use_classes)
            it = iter(ans)
            x = [next(it) if d else v for v, d in zip(x, dup2)]
            dup2 = _duplicated(x)
            if not any(dup2):
                break
            if method == "both.sides":
                sub = [uniq[i] for i, d in enumerate(dup2) if d]
                ans2 = rev(_abbrev_internal(rev(sub), minlength, use_classes))
                it = iter(ans2)
                x = [next(it) if d else v for v, d in zip(x, dup2)]
                dup2 = _duplicated(x)
                if not any(dup2):
                    break
            minlength += 1
            dupvals = {v for v, d in zip(x, dup2) if d}
            dup2 = [d or (v in dupvals) for v, d in zip(x, dup2)]
            these = [u for u, d in zip(uniq, dup2) if d]
    if any(dups):
        pos = {u: i for i, u in enumerate(uniq)}
        x = [x[pos[s]] for s in cleaned]
    if dot:
        x = [v + "." if v != o else v for v, o in zip(x, cleaned)]
    return x


# --------------------------------------------------------------------------
# print of a character matrix
# --------------------------------------------------------------------------


def _index_width(n: int) -> int:
    """R's ``IndexWidth``: digits needed to print n."""
    return int(math.log10(n + 0.5) + 1)


def print_matrix(rownames: Sequence[str] | None, colnames: Sequence[str] | None,
                 cells: Sequence[Sequence[str | None]], right: bool = True,
                 quote: bool = False, width: int = 80, gap: int = 1,
                 na_print: str | None = None) -> str:
    """Lay out a character matrix as R's ``print(m, quote=, right=)`` does (printmatrix.c).

    Row names are left-justified; cells and column names are right-justified
    when ``right`` (printCoefmat) and left-justified, with trailing blanks,
    otherwise (``print.default``'s default, used by lme4's correlation table).
    Columns wrap in blocks to fit ``width`` (R's ``getOption("width")``).
    ``None`` cells are R's NA.  The returned text ends with a newline.
    """
    r = len(cells)
    c = len(cells[0]) if r else (len(colnames) if colnames is not None else 0)
    if r == 0 and c == 0:
        return "<0 x 0 matrix>\n"
    na_s = na_print if na_print is not None else ("NA" if quote else "<NA>")

    def enc(s: str | None) -> str:
        if s is None:
            return na_s
        return '"' + s + '"' if quote else s

    if rownames is not None:
        rlabw = max([len(s) for s in rownames] + [0])
    else:
        rlabw = _index_width(r + 1) + 3
    w = []
    for j in range(c):
        col = [enc(cells[i][j]) for i in range(r)]
        wj = max([len(s) for s in col] + [0])
        clabw = len(colnames[j]) if colnames is not None else _index_width(j + 1) + 3
        w.append(max(wj, clabw))
    out: list[str] = []
    if c == 0:
        out.append(" " * rlabw)
        for i in range(r):
            out.append("\n" + _row_label(rownames, i, rlabw))
        out.append("\n")
        return "".join(out)
    jmin = 0
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + gap
            jmax += 1
            if not (jmax < c and tot + w[jmax] + gap < width):
                break
        out.append(" " * rlabw)
        for j in range(jmin, jmax):
            if colnames is not None:
                lab = colnames[j]
                if right:
                    out.append(" " * (gap + w[j] - len(lab)) + lab)
                else:
                    out.append(" " * gap + lab + " " * (w[j] - len(lab)))
            else:  # R left-aligns "[,j]" labels even when right = TRUE
                lab = "[,%d]" % (j + 1)
                out.append(" " * gap + lab + " " * (w[j] - len(lab)))
        for i in range(r):
            out.append("\n" + _row_label(rownames, i, rlabw))
            for j in range(jmin, jmax):
                s = enc(cells[i][j])
                out.append(" " * gap + (s.rjust(w[j]) if right else s.ljust(w[j])))
        out.append("\n")
        jmin = jmax
    return "".join(out)


def _row_label(rownames: Sequence[str] | None, i: int, rlabw: int) -> str:
    if rownames is not None:
        return rownames[i].ljust(rlabw)
    return ("[%d,]" % (i + 1)).rjust(rlabw)
