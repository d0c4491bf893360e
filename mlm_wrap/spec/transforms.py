"""R's data-dependent transforms a model formula may call: ``poly()``, ``scale()``,
``splines::ns()``, ``splines::bs()``, ``cut()``; and ``interaction()`` and ``cbind()``
(``offset()`` is in :mod:`mlm_wrap.spec.rfunctions`).

Each is a port of R 4.2's own code (``stats::poly``, ``base::scale.default``,
``splines::ns``/``bs``/``splineDesign`` and its C ``spline_basis``, ``base::cut.default`` and
its C ``.bincode``, ``base::interaction``), step for step, so the numbers, knots and level
labels are R's (tests/test_transforms.py checks them against R's own values).

The data-dependent functions (``stateful=True``) keep in ``call.saved`` what they computed
from the fit's data and use it for new data (``call.predicting``), as R's ``makepredictcall``
makes ``predict()`` do: poly's ``coefs`` (``alpha``, ``norm2``: new data gets R's three-term
recurrence, as ``predict.poly``); scale's ``center`` and ``scale`` (None where not applied);
ns/bs's ``knots``, ``Boundary.knots``, ``intercept`` (bs: ``degree``; new data beyond the
boundary knots: ns extrapolates linearly, bs warns and extrapolates, as R does); cut's
``breaks`` (R has no makepredictcall for cut and would recompute the breaks from the new
data, giving other levels: new data is cut at the fit's breaks here).
Saved values are plain lists of floats (JSON-serialisable).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg

from mlm_wrap.errors import FormulaError
from mlm_wrap.rformat import formatC
from mlm_wrap.spec.rfunctions import (
    RCall,
    RWarning,
    numeric_arg,
    rfunction,
    scalar_bool,
    scalar_num,
    scalar_str,
)
from mlm_wrap.spec.rvalues import (
    Chr,
    Fct,
    Lgl,
    Num,
    RValue,
    as_factor,
    as_numeric,
    as_strings,
)


# ------------------------------------------------------------------------------ helpers
def _vector_x(v, call: RCall, what: str = "x") -> np.ndarray:
    """A numeric argument as a plain vector (R's ``as.vector``; a one-column matrix is
    taken as its column)."""
    x = numeric_arg(v, call, what)
    vals = np.asarray(x.values, float)
    if vals.ndim == 2:
        if vals.shape[1] != 1:
            raise call.error(f"'{what}' is a matrix with {vals.shape[1]} columns; "
                             f"{call.name}() takes one variable")
        vals = vals[:, 0]
    return vals


def _whole(v, what: str, call: RCall) -> int:
    f = scalar_num(v, what, call)
    if not math.isfinite(f) or f != math.floor(f):
        raise call.error(f"'{what}' must be a whole number, not {v.values[0]!r}")
    return int(f)


def _numbers(v, what: str, call: RCall) -> np.ndarray:
    """A numeric vector argument (``knots = c(1, 2)``); factors and strings are refused."""
    if isinstance(v, (Fct, Chr)) or not isinstance(v, (Num, Lgl)) or \
            getattr(v, "is_matrix", False):
        raise call.error(f"'{what}' must be numbers")
    return np.asarray(as_numeric(v).values, float).ravel()


def _r_mean(x: np.ndarray) -> float:
    """R's ``mean()``: the sum divided by n, then corrected by the mean of the residuals."""
    n = len(x)
    s = math.fsum(x) / n
    if math.isfinite(s):
        s += math.fsum(x - s) / n
    return s


def _seq_length_out(start: float, end: float, n: int) -> np.ndarray:
    """R's ``seq.int(from, to, length.out = n)`` (R 4.2: ``from + i * by``, the last
    element exactly ``to``)."""
    out = start + np.arange(n) * ((end - start) / (n - 1))
    out[0], out[-1] = start, end
    return out


def _quantile7(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """R's ``quantile(x, probs)`` (type 7), as ``stats::quantile.default`` computes it."""
    xs = np.sort(x)
    index = 1 + max(len(xs) - 1, 0) * probs
    lo, hi = np.floor(index).astype(int), np.ceil(index).astype(int)
    qs, hx, h = xs[lo - 1], xs[hi - 1], index - lo
    return np.where((index > lo) & (hx != qs), (1 - h) * qs + h * hx, qs)


def _pow_cols(x: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """R's ``outer(x, powers, "^")``."""
    with np.errstate(all="ignore"):
        r = np.power(x[:, None], powers[None, :].astype(float))
    return np.where(powers[None, :] == 0, 1.0, r)


def _labels_of(n: int) -> list[str]:
    return [str(i) for i in range(1, n + 1)]


def _need_saved(call: RCall, key: str):
    if key not in call.saved:
        raise call.error("new data needs the parameters this call computed from the fit's "
                         "data, and none were saved (evaluate the formula on the fit's data "
                         "first)")
    return call.saved[key]


# ------------------------------------------------------------------------------ poly
@rfunction("poly", stateful=True)
def _poly(call: RCall) -> Num:
    """``poly(x, degree = 1, coefs = NULL, raw = FALSE)``: R's orthogonal (or raw)
    polynomials; the orthogonal basis's ``alpha`` and ``norm2`` are kept for new data."""
    pos = list(call.args)
    kw = dict(call.kwargs)
    if "x" in kw:
        xv = kw.pop("x")
    elif pos:
        xv = pos.pop(0)
    else:
        raise FormulaError(f"argument 'x' is missing in '{call.text}'")
    # formals after R's `...` match only by their exact names
    named = {k: kw.pop(k) for k in ("degree", "coefs", "raw", "simple") if k in kw}
    dots = pos + list(kw.values())
    degree_v = named.get("degree")
    if dots:
        if len(dots) == 1 and len(dots[0]) == 1 and not isinstance(dots[0], (Fct, Chr)):
            degree_v = dots[0]
        else:
            raise FormulaError(f"'{call.text}': poly() of several variables (R's polym()) is "
                               "not supported; use one poly() per variable")
    if "coefs" in named:
        raise FormulaError(f"'{call.text}': 'coefs' cannot be given in a formula (the "
                           "coefficients of the fit's data are kept for new data "
                           "automatically)")
    raw = scalar_bool(named["raw"], "raw", call) if "raw" in named else False
    degree = _whole(degree_v, "degree", call) if degree_v is not None else 1
    x = _vector_x(xv, call)
    if degree < 1:
        raise call.error("'degree' must be at least 1")
    powers = np.arange(1, degree + 1)
    if raw:
        return Num(_pow_cols(x, powers), _labels_of(degree))

    if call.predicting:
        coefs = _need_saved(call, "coefs")
        alpha = np.asarray(coefs["alpha"], float)
        norm2 = np.asarray(coefs["norm2"], float)
        if len(alpha) != degree or len(norm2) != degree + 2:
            raise call.error("the saved coefficients do not match 'degree'")
        Z = np.ones((len(x), degree + 1))
        Z[:, 1] = x - alpha[0]
        for i in range(2, degree + 1):
            Z[:, i] = (x - alpha[i - 1]) * Z[:, i - 1] - (norm2[i] / norm2[i - 1]) * Z[:, i - 2]
    else:
        if np.isnan(x).any():
            raise call.error("missing values are not allowed in 'poly' (R evaluates poly() "
                             "on all rows, before rows with missing values are dropped; "
                             "remove those rows from the data first)")
        if not np.isfinite(x).all():
            raise call.error("'x' has infinite values")
        if degree >= len(np.unique(x)):
            raise call.error("'degree' must be less than number of unique points")
        xbar = _r_mean(x)
        xc = x - xbar
        X = _pow_cols(xc, np.arange(0, degree + 1))
        Q, R = np.linalg.qr(X)
        rdiag = np.diag(R)
        colnorm = np.sqrt(np.sum(X * X, axis=0))
        if np.any(np.abs(rdiag) < 1e-7 * colnorm):  # LINPACK dqrdc2's rank test
            raise call.error("'degree' must be less than number of unique points "
                             "(the polynomial basis is numerically rank-deficient)")
        Z = Q * rdiag[None, :]
        norm2 = np.sum(Z * Z, axis=0)
        alpha = (np.sum(xc[:, None] * Z * Z, axis=0) / norm2 + xbar)[:degree]
        norm2 = np.concatenate([[1.0], norm2])
        call.saved["coefs"] = {"alpha": [float(a) for a in alpha],
                               "norm2": [float(v) for v in norm2]}
    Z = Z / np.sqrt(norm2[1:])[None, :]
    return Num(Z[:, 1:], _labels_of(degree))


# ------------------------------------------------------------------------------ scale
def _center_scale_arg(v, what: str, nc: int, call: RCall):
    """``center``/``scale``: TRUE/FALSE, or numbers (one per column)."""
    if isinstance(v, Lgl) and len(v) == 1:
        return scalar_bool(v, what, call)
    if isinstance(v, (Num, Lgl)):
        vals = _numbers(v, what, call)
        if len(vals) != nc:
            raise call.error(f"length of '{what}' must equal the number of columns of 'x'")
        return vals
    raise call.error(f"'{what}' must be TRUE, FALSE or numbers")


@rfunction("scale", stateful=True)
def _scale(call: RCall) -> Num:
    """``scale(x, center = TRUE, scale = TRUE)``: R's ``scale.default``; the centre and
    scale computed from the fit's data are kept for new data."""
    a = call.bind(["x", "center", "scale"])
    xv = a["x"]
    if isinstance(xv, (Fct, Chr)):
        raise call.error("'x' must be numeric")
    x = numeric_arg(xv, call)
    v = np.asarray(x.values, float)
    v = v if v.ndim == 2 else v[:, None]
    nc = v.shape[1]
    if call.predicting:
        _need_saved(call, "center")
        center, scale = (None if call.saved[k] is None else np.asarray(call.saved[k], float)
                         for k in ("center", "scale"))
    else:
        center = _center_scale_arg(a["center"], "center", nc, call) if "center" in a else True
        scale = _center_scale_arg(a["scale"], "scale", nc, call) if "scale" in a else True
        if center is True:
            center = np.array([_nan_mean(v[:, j], 0) for j in range(nc)])
        elif center is False:
            center = None
        if scale is True:
            vc = v - center[None, :] if center is not None else v
            scale = np.array([math.sqrt(_nan_mean(vc[:, j] ** 2, 1)) for j in range(nc)])
        elif scale is False:
            scale = None
        call.saved["center"] = None if center is None else [float(c) for c in center]
        call.saved["scale"] = None if scale is None else [float(s) for s in scale]
    out = v
    if center is not None:
        out = out - center[None, :]
    if scale is not None:
        out = out / scale[None, :]
    return Num(out, list(x.colnames) if x.is_matrix and x.colnames is not None else None)


def _nan_mean(col: np.ndarray, df: int) -> float:
    """sum / (n - df) of the non-missing values (colMeans; scale's sum(v^2)/max(1, n-1))."""
    c = col[~np.isnan(col)]
    if df == 0:
        return math.fsum(c) / len(c) if len(c) else float("nan")
    return math.fsum(c) / max(1, len(c) - df)


# ------------------------------------------------------------------------------ splineDesign
def _diff_table(knots: np.ndarray, curs: np.ndarray, x: np.ndarray, ndiff: int):
    rdel = np.empty((len(x), max(ndiff, 1)))
    ldel = np.empty((len(x), max(ndiff, 1)))
    for i in range(ndiff):
        rdel[:, i] = knots[curs + i] - x
        ldel[:, i] = x - knots[curs - (i + 1)]
    return rdel, ldel


def _basis_funcs(knots: np.ndarray, curs: np.ndarray, x: np.ndarray, ord_: int) -> np.ndarray:
    """The ``ord_`` non-zero B-splines at x (C ``basis_funcs`` of R's splines.c)."""
    m = len(x)
    rdel, ldel = _diff_table(knots, curs, x, ord_ - 1)
    b = np.zeros((m, ord_))
    b[:, 0] = 1.0
    for j in range(1, ord_):
        saved = np.zeros(m)
        for r in range(j):
            den = rdel[:, r] + ldel[:, j - 1 - r]
            nz = den != 0
            term = np.divide(b[:, r], den, out=np.zeros(m), where=nz)
            keep = (r != 0) | (rdel[:, r] != 0)
            b_r = np.where(nz, saved + rdel[:, r] * term, np.where(keep, saved, b[:, r]))
            saved = np.where(nz, ldel[:, j - 1 - r] * term, 0.0)
            b[:, r] = b_r
        b[:, j] = saved
    return b


def _evaluate_deriv(knots: np.ndarray, curs: np.ndarray, x: np.ndarray, ord_: int,
                    nder: int, boundary: np.ndarray) -> np.ndarray:
    """The ``nder``-th derivative of each of the ``ord_`` B-splines at x (C ``evaluate``,
    one unit coefficient vector at a time, as R's ``spline_basis`` does)."""
    m = len(x)
    out = np.empty((m, ord_))
    for ii in range(ord_):
        a = np.zeros((m, ord_))
        a[:, ii] = 1.0
        outer = ord_ - 1
        with np.errstate(all="ignore"):
            for _ in range(nder):
                for k in range(outer):
                    a[:, k] = outer * (a[:, k + 1] - a[:, k]) / \
                        (knots[curs + k] - knots[curs - outer + k])
                outer -= 1
            rdel, ldel = _diff_table(knots, curs, x, outer)
            while outer > 0:
                outer -= 1
                for k in range(outer + 1):
                    a[:, k] = (a[:, k + 1] * ldel[:, outer - k] + a[:, k] * rdel[:, k]) / \
                        (rdel[:, k] + ldel[:, outer - k])
        val = a[:, 0]
        if nder == ord_ - 1:  # at the right boundary the value is arbitrary: R gives 0
            val = np.where(boundary, 0.0, val)
        out[:, ii] = val
    return out


def _spline_design(knots, x, ord_: int, call: RCall, derivs=(0,)) -> np.ndarray:
    """R's ``splines::splineDesign(knots, x, ord, derivs)`` (``outer.ok = FALSE``)."""
    knots = np.sort(np.asarray(knots, float))
    x = np.asarray(x, float)
    nk, nx = len(knots), len(x)
    derivs = np.asarray(derivs, int)
    if nk < 2 * ord_ - 1:
        raise call.error(f"need at least 2*ord -1 (={2 * ord_ - 1}) knots")
    degree = ord_ - 1
    ncoef = nk - ord_
    design = np.zeros((nx, ncoef))
    if nx == 0:
        return design
    if np.any((x < knots[ord_ - 1]) | (knots[nk - degree - 1] < x)):
        lo, hi = formatC([knots[ord_ - 1], knots[nk - degree - 1]], format="g")
        raise call.error(f"the 'x' data must be in the range {lo.strip()} to {hi.strip()} "
                         "(the knots do not cover the data: are the knots inside "
                         "'Boundary.knots'?)")
    # set_cursor: the first knot > x; x at the last legitimate knot uses the interval left of it
    curs = np.searchsorted(knots, x, side="right")
    curs = np.where(curs == nk, np.where(x == knots[-1], nk - 1, -1), curs)
    last = nk - ord_
    boundary = (curs > last) & (x == knots[last])
    curs = np.where(boundary, last, curs)
    io = curs - ord_
    bad = (io < 0) | (io > nk)
    cs = np.where(bad, ord_, curs)
    vals = np.empty((nx, ord_))
    der = derivs[np.arange(nx) % len(derivs)]
    zero = der == 0
    if zero.any():
        vals[zero] = _basis_funcs(knots, cs[zero], x[zero], ord_)
    for d in np.unique(der[~zero]):
        rows = der == d
        vals[rows] = _evaluate_deriv(knots, cs[rows], x[rows], ord_, int(d), boundary[rows])
    vals[bad] = np.nan
    for j in range(ord_):
        cols = io + j
        ok = (cols >= 0) & (cols < ncoef)
        design[np.nonzero(ok)[0], cols[ok]] = vals[ok, j]
    return design


# ------------------------------------------------------------------------------ ns, bs
def _spline_setup(call: RCall, a: dict, kind: str):
    """The knots ns()/bs() use: from the call and the fit's data, or the saved ones for new
    data.  Returns (x without NA, NA mask, knots, Boundary.knots, intercept, degree,
    Boundary.knots given)."""
    xfull = _vector_x(a["x"], call)
    nax = np.isnan(xfull)
    xs = xfull[~nax]
    if call.predicting:
        _need_saved(call, "Boundary.knots")
        s = call.saved
        return (xs, nax, np.asarray(s["knots"], float),
                np.asarray(s["Boundary.knots"], float), bool(s["intercept"]),
                int(s.get("degree", 3)), True)
    intercept = scalar_bool(a["intercept"], "intercept", call) if "intercept" in a else False
    degree = 3
    if kind == "bs" and "degree" in a:
        dv = scalar_num(a["degree"], "degree", call)
        degree = int(dv) if math.isfinite(dv) else 0  # as.integer() truncates
        if degree < 1:
            raise call.error("'degree' must be integer >= 1")
    ord_ = degree + 1
    if np.isinf(xs).any():
        raise call.error("'x' has infinite values")
    bk_given = "Boundary.knots" in a
    if bk_given:
        bk = np.sort(_numbers(a["Boundary.knots"], "Boundary.knots", call))
        if len(bk) != 2 or not np.isfinite(bk).all():
            raise call.error("'Boundary.knots' must be two finite numbers")
        outside = (xs < bk[0]) | (xs > bk[1])
    else:
        if len(xs) == 0:
            raise call.error("'x' has no non-missing values")
        if kind == "ns" and len(xs) == 1:
            bk = xs[0] * np.array([7.0, 9.0]) / 8
        else:
            bk = np.array([xs.min(), xs.max()])
        outside = np.zeros(len(xs), bool)
    knots = np.array([])
    if "knots" in a:
        knots = _numbers(a["knots"], "knots", call)
        if not np.isfinite(knots).all():
            raise call.error("'knots' must be finite numbers")
    elif "df" in a:
        df = _whole(a["df"], "df", call)
        n_iknots = df - 1 - int(intercept) if kind == "ns" else df - ord_ + (1 - int(intercept))
        if n_iknots < 0:
            n_iknots = 0
            used = 1 + int(intercept) if kind == "ns" else ord_ - (1 - int(intercept))
            warnings.warn(RWarning(f"'df' was too small; have used {used}"))
        if n_iknots > 0:
            inside = xs[~outside]
            if len(inside) == 0:
                raise call.error("no values of 'x' lie within 'Boundary.knots'")
            probs = _seq_length_out(0.0, 1.0, n_iknots + 2)[1:-1]
            knots = _quantile7(inside, probs)
    call.saved.update({"knots": [float(k) for k in knots],
                       "Boundary.knots": [float(b) for b in bk],
                       "intercept": bool(intercept)})
    if kind == "bs":
        call.saved["degree"] = degree
    return xs, nax, knots, bk, intercept, degree, bk_given


@rfunction("ns", stateful=True)
def _ns(call: RCall) -> Num:
    """``splines::ns(x, df, knots, intercept = FALSE, Boundary.knots = range(x))``: the
    natural cubic spline basis, linear beyond the boundary knots."""
    return _spline_basis(call, "ns", ["x", "df", "knots", "intercept", "Boundary.knots"])


@rfunction("bs", stateful=True)
def _bs(call: RCall) -> Num:
    """``splines::bs(x, df, knots, degree = 3, intercept = FALSE, Boundary.knots = range(x))``:
    the B-spline basis; beyond the boundary knots R warns and extrapolates."""
    return _spline_basis(call, "bs",
                         ["x", "df", "knots", "degree", "intercept", "Boundary.knots"])


def _spline_basis(call: RCall, kind: str, formals: list[str]) -> Num:
    """The bodies of R's ns() and bs(): ns extrapolates the basis linearly from the boundary
    knots, bs its Taylor polynomial from a pivot a quarter of the way to the next knot."""
    a = call.bind(formals)
    xs, nax, knots, bk, intercept, degree, bk_given = _spline_setup(call, a, kind)
    ord_ = degree + 1
    aknots = np.sort(np.concatenate([np.repeat(bk, ord_), knots]))
    ol = xs < bk[0] if bk_given else np.zeros(len(xs), bool)
    orr = xs > bk[1] if bk_given else np.zeros(len(xs), bool)
    if ol.any() or orr.any():
        if kind == "bs":
            warnings.warn(RWarning("some 'x' values beyond boundary knots may cause "
                                  "ill-conditioned bases"))
        ext, e = (1, 0.0) if kind == "ns" else (degree, 0.25)
        scalef = np.array([math.gamma(i) for i in range(1, ext + 2)])
        basis = np.zeros((len(xs), len(aknots) - ord_))
        pivots = ((ol, (1 - e) * bk[0] + e * aknots[ord_]),
                  (orr, (1 - e) * bk[1] + e * aknots[len(aknots) - ord_ - 1]))
        for mask, pivot in pivots:
            if mask.any():
                xl = np.column_stack([np.ones(mask.sum()),
                                      _pow_cols(xs[mask] - pivot, np.arange(1, ext + 1))])
                tt = _spline_design(aknots, np.full(ext + 1, pivot), ord_, call,
                                    derivs=np.arange(ext + 1))
                basis[mask] = xl @ (tt / scalef[:, None])
        inside = ~(ol | orr)
        if inside.any():
            basis[inside] = _spline_design(aknots, xs[inside], ord_, call)
    else:
        basis = _spline_design(aknots, xs, ord_, call)
    if not intercept:
        basis = basis[:, 1:]
    if kind == "ns":
        const = _spline_design(aknots, bk, 4, call, derivs=(2, 2))[:, 0 if intercept else 1:]
        if not np.isfinite(const).all() or const.shape[1] < 2:
            raise call.error("cannot build the natural spline basis (are the knots distinct "
                             "and inside 'Boundary.knots'?)")
        q = scipy.linalg.qr(const.T)[0]  # LINPACK's and LAPACK's Householder reflections agree
        basis = basis @ q[:, 2:]
    if nax.any():
        full = np.full((len(nax), basis.shape[1]), np.nan)
        full[~nax] = basis
        basis = full
    return Num(basis, _labels_of(basis.shape[1]))


# ------------------------------------------------------------------------------ cut
def _bincode(x: np.ndarray, breaks: np.ndarray, right: bool, include_lowest: bool) -> np.ndarray:
    """R's C ``.bincode``: 0-based interval codes, -1 for NA and values outside."""
    code = np.full(len(x), -1, dtype=np.int64)
    ok = ~np.isnan(x) & (x >= breaks[0]) & (x <= breaks[-1])
    if right:
        ok &= include_lowest | (x != breaks[0])
        lo = np.maximum(np.searchsorted(breaks, x, side="left") - 1, 0)
    else:
        ok &= include_lowest | (x != breaks[-1])
        lo = np.minimum(np.searchsorted(breaks, x, side="right") - 1, len(breaks) - 2)
    code[ok] = lo[ok]
    return code


def _cut_labels(breaks: np.ndarray, right: bool, include_lowest: bool, dig_lab: int) -> list[str]:
    nb, ok, ch = len(breaks), False, []
    for dig in range(dig_lab, max(12, dig_lab) + 1):
        ch = [s.strip() for s in formatC(breaks + 0.0, digits=dig, width=1)]
        ok = all(ch[i + 1] != ch[i] for i in range(nb - 1))
        if ok:
            break
    if not ok:
        return [f"Range_{i}" for i in range(1, nb)]
    labels = [("(" if right else "[") + ch[i] + "," + ch[i + 1] + ("]" if right else ")")
              for i in range(nb - 1)]
    if include_lowest:
        if right:
            labels[0] = "[" + labels[0][1:]
        else:
            labels[-1] = labels[-1][:-1] + "]"
    return labels


@rfunction("cut")
def _cut(call: RCall) -> RValue:
    """``cut(x, breaks, labels = NULL, include.lowest = FALSE, right = TRUE, dig.lab = 3,
    ordered_result = FALSE)``: R's ``cut.default``.  As in R (no ``makepredictcall`` for
    cut), breaks given as a number of intervals are computed again on new data, whose
    intervals then are new levels, an error in ``predict``."""
    a = call.bind(["x", "breaks", "labels", "include.lowest", "right", "dig.lab",
                   "ordered_result"], required=2)
    xv = a["x"]
    if not isinstance(xv, Num) or xv.is_matrix:
        kinds = {Fct: "a factor", Chr: "character", Lgl: "logical", Num: "a matrix"}
        raise call.error(f"'x' must be numeric (it is {kinds.get(type(xv), type(xv).__name__)})")
    x = np.asarray(xv.values, float)
    right = scalar_bool(a["right"], "right", call) if "right" in a else True
    il = a.get("include.lowest", Lgl(np.array([0.0])))
    if not isinstance(il, (Lgl, Num)) or len(il) != 1 or np.isnan(il.values[0]):
        raise call.error("invalid 'include.lowest' argument")
    include_lowest = bool(il.values[0])
    dig_lab = _whole(a["dig.lab"], "dig.lab", call) if "dig.lab" in a else 3
    ordered = scalar_bool(a["ordered_result"], "ordered_result", call) \
        if "ordered_result" in a else False

    if call.predicting and "breaks" in call.saved:
        breaks = np.asarray(call.saved["breaks"], float)
    else:
        br = _numbers(a["breaks"], "breaks", call)
        if len(br) == 1:
            if not math.isfinite(br[0]) or br[0] < 2:
                raise call.error("invalid number of intervals")
            nb = int(br[0] + 1)
            xs = x[~np.isnan(x)]
            if len(xs) == 0 or not np.isfinite(xs).all():
                raise call.error("'x' has no non-missing values to compute breaks from" if
                                 len(xs) == 0 else "'x' has infinite values: give 'breaks' "
                                 "as a vector")
            rx = (float(xs.min()), float(xs.max()))
            dx = rx[1] - rx[0]
            if dx == 0:
                dx = abs(rx[0]) if rx[0] != 0 else 1.0
                breaks = _seq_length_out(rx[0] - dx / 1000, rx[1] + dx / 1000, nb)
            else:
                breaks = _seq_length_out(rx[0], rx[1], nb)
                breaks[0], breaks[-1] = rx[0] - dx / 1000, rx[1] + dx / 1000
        else:
            breaks = np.sort(br[~np.isnan(br)])  # sort.int drops NA
        if len(breaks) < 2:
            raise call.error("'breaks' must give at least two break points")
        if len(np.unique(breaks)) != len(breaks):
            raise call.error("'breaks' are not unique")
        if not call.predicting:
            call.saved["breaks"] = [float(b) for b in breaks]

    lv = a.get("labels")
    code = _bincode(x, breaks, right, include_lowest)
    if isinstance(lv, Lgl) and len(lv) == 1 and lv.values[0] == 0:  # labels = FALSE
        return Num(np.where(code < 0, np.nan, code + 1.0), integer=True)
    if lv is None:
        labels = _cut_labels(breaks, right, include_lowest, dig_lab)
    else:
        labels = as_strings(lv).tolist()
        if any(s is None for s in labels):
            raise call.error("'labels' must not contain NA")
        if len(labels) != len(breaks) - 1:
            raise call.error("lengths of 'breaks' and 'labels' differ")
    # factor(code, seq_along(labels), labels): duplicated labels make one level
    levels = list(dict.fromkeys(labels))
    pos = np.array([levels.index(s) for s in labels], dtype=np.int64)
    codes = np.where(code < 0, -1, pos[np.maximum(code, 0)])
    return Fct(codes, levels, ordered=ordered)


# ------------------------------------------------------------------------------ interaction
def _keep_used(codes: np.ndarray, levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Drop the levels no element has (codes renumbered, NA stays -1)."""
    used = np.unique(codes[codes >= 0])
    remap = np.full(len(levels), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return np.where(codes >= 0, remap[np.maximum(codes, 0)], -1), [levels[i] for i in used]


@rfunction("interaction")
def _interaction(call: RCall) -> Fct:
    """``interaction(..., drop = FALSE, sep = ".", lex.order = FALSE)``: R's levels (the
    first factor varying fastest unless ``lex.order``), unused combinations kept unless
    ``drop = TRUE``."""
    kw = dict(call.kwargs)
    drop = scalar_bool(kw.pop("drop"), "drop", call) if "drop" in kw else False
    sep = scalar_str(kw.pop("sep"), "sep", call) if "sep" in kw else "."
    lex = scalar_bool(kw.pop("lex.order"), "lex.order", call) if "lex.order" in kw else False
    if kw:
        raise FormulaError(f"'{call.text}': interaction() takes its factors unnamed "
                           f"(unknown argument '{min(kw)}'; options are drop, sep, "
                           "lex.order)")
    args = list(call.args)
    if not args:
        raise call.error("No factors specified")
    n = len(args[0])
    if any(len(v) != n for v in args):
        raise call.error("the factors have different lengths")
    ans = lvs = None
    for i in range(len(args) - 1, -1, -1):
        if isinstance(args[i], Num) and args[i].is_matrix:
            raise call.error("a matrix cannot be a factor")
        f = as_factor(args[i], call.text)
        if1, lv = _keep_used(f.codes, list(f.levels)) if drop else (f.codes, list(f.levels))
        if ans is None:
            ans, lvs = if1.copy(), lv
            continue
        na = (ans < 0) | (if1 < 0)
        if lex:
            ll = len(lvs)
            ans = ans + ll * if1
            lvs = [p + sep + q for p in lv for q in lvs]
        else:
            ans = ans * len(lv) + if1
            lvs = [p + sep + q for q in lvs for p in lv]
        ans = np.where(na, -1, ans)
        if len(set(lvs)) != len(lvs):
            ans, lvs = _merge_duplicated(ans, lvs)
        if drop:
            ans, lvs = _keep_used(ans, lvs)
    return Fct(ans, lvs)


def _merge_duplicated(ans: np.ndarray, lvs: list[str]) -> tuple[np.ndarray, list[str]]:
    """interaction()'s handling of combinations whose labels coincide (``"a.b" + "c"`` and
    ``"a" + "b.c"``): they become one level, at its first position."""
    lvs = list(lvs)
    while len(set(lvs)) != len(lvs):
        dup = next(k for k in range(len(lvs)) if lvs[k] in lvs[:k])
        first = lvs.index(lvs[dup])
        del lvs[dup]
        ans = np.where(ans == dup, first, np.where(ans > dup, ans - 1, ans))
    return ans, lvs


# ------------------------------------------------------------------------------ cbind
@rfunction("cbind")
def _cbind(call: RCall) -> Num:
    """``cbind(...)``: a numeric matrix (``cbind(successes, failures)``).  Columns are named
    by named arguments or a matrix's own names; R's names from unnamed arguments' expressions
    are not available here (None when no column has a name).  Named and unnamed arguments
    cannot be mixed (their order is not kept)."""
    kw = {k: v for k, v in call.kwargs.items() if k != "deparse.level"}
    if call.args and kw:
        raise FormulaError(f"'{call.text}': give cbind() either all arguments named or none")
    items = [(None, v) for v in call.args] + list(kw.items())
    if not items:
        raise call.error("cbind() needs at least one argument")
    cols: list[np.ndarray] = []
    names: list[str] = []
    for name, v in items:
        if isinstance(v, Chr):
            raise call.error("a character argument cannot be a column of a numeric matrix")
        x = as_numeric(v)  # factors: their codes, as R's cbind gives
        vals = np.asarray(x.values, float)
        if vals.ndim == 2:
            cols += [vals[:, j] for j in range(vals.shape[1])]
            names += list(x.colnames) if x.colnames is not None else [""] * vals.shape[1]
        else:
            cols.append(vals)
            names.append(name or "")
    n = max(len(c) for c in cols)
    if any(len(c) not in (1, n) for c in cols):
        raise call.error(f"argument lengths differ ({sorted({len(c) for c in cols})})")
    out = np.column_stack([np.broadcast_to(c, (n,)) for c in cols]).astype(float)
    return Num(out, names if any(names) else None)
