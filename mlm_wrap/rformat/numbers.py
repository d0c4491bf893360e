"""R's ``format()`` of numbers (format.c ``formatReal`` + ``EncodeReal0``), ``formatC()`` and ``format.pval()``."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from mlm_wrap.rformat.na import (
    _DBL_DIG,
    DBL_EPSILON,
    NA_REAL,
    _coerce,
    _flatten,
)
from mlm_wrap.rformat.rounding import _fround

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

