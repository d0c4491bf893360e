"""The response, prior weights and offsets of a glmer() call: ``cbind(successes, failures)``,
proportions with ``weights =``, ``offset()`` terms and ``offset =``, checked as glm() checks them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlm_wrap.engines.pirls import (
    Family,
)
from mlm_wrap.errors import DataError, FormulaError, ModelError
from mlm_wrap.spec.evaluate import evaluate
from mlm_wrap.spec.formula import call_arguments
from mlm_wrap.spec.r_ast import _Binary, _Call, _Name, _Unary
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.r_parser import _parse
from mlm_wrap.spec.rvalues import Chr, Fct, Num, as_factor, as_numeric, from_column

_YCOL = "mlmwrap_glmer_response_"  # internal response column of the copy given to build_design


# ------------------------------------------------------------------------------ response
def _eval_numeric(expr: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """An R expression of the data's columns (``size - incidence``, ``log(exposure)``) as a
    float array (NaN where an input is missing), by the safe evaluator."""
    name = expr.strip().strip("`")
    if name in data.columns:
        s = data[name]
        if isinstance(s.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            raise DataError(f"{what} {expr!r} must be numeric; it is a "
                            f"{'factor' if isinstance(s.dtype, pd.CategoricalDtype) else str(s.dtype)} column")
    try:
        node = _parse(expr)
    except FormulaError as e:
        raise FormulaError(f"{what} {expr!r}: {e}") from None
    v = evaluate(node, data, expr)
    if isinstance(v, (Fct, Chr)) or (isinstance(v, Num) and v.is_matrix and v.values.shape[1] != 1):
        raise DataError(f"{what} {expr!r} must be one numeric column")
    out = np.asarray(as_numeric(v).values, float).reshape(-1)
    return np.full(len(data), out[0]) if out.size == 1 else out


@dataclass
class GlmResponse:
    """The response as glm's ``initialize`` codes it, one entry per data row."""

    y: np.ndarray  # proportion (binomial) or count
    n: np.ndarray  # glm's n: trials for a cbind response, else 1
    weights: np.ndarray  # prior weights (times n for a cbind response)
    kind: str  # "cbind", "factor", "numeric"
    levels: list[str] | None = None
    messages: list[str] = field(default_factory=list)


def glm_response(text: str, data: pd.DataFrame, family: Family, prior: np.ndarray) -> GlmResponse:
    """R's ``binomial()$initialize`` / ``poisson()$initialize`` on the response ``text``."""
    text = text.strip()
    msgs: list[str] = []
    m = re.fullmatch(r"cbind\s*\((.*)\)", text, flags=re.S)
    if m:
        args = call_arguments(text)
        if len(args) != 2:
            raise DataError(f"the response {text!r} must have two columns: cbind(successes, failures)")
        if family.family != "binomial":
            raise DataError(f"a two-column response {text!r} needs family = binomial, "
                            f"not {family.family}")
        s, f = (_eval_numeric(a, data, "the response column") for a in args)
        ok = np.isfinite(s) & np.isfinite(f)
        if np.any((s[ok] < 0) | (f[ok] < 0)):
            raise DataError(f"the response {text!r} has negative counts")
        if np.any(np.abs(np.r_[s[ok], f[ok]] - np.round(np.r_[s[ok], f[ok]])) > 1e-3):
            msgs.append("non-integer counts in a binomial glm!")
        n = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(n == 0, 0.0, s / np.where(n == 0, 1.0, n))
        return GlmResponse(y=y, n=n, weights=prior * n, kind="cbind", messages=msgs)
    name = text.strip("`")
    levels = None
    if name in data.columns and (isinstance(data[name].dtype, pd.CategoricalDtype)
                                 or pd.api.types.is_bool_dtype(data[name].dtype)
                                 or data[name].dtype == object
                                 or pd.api.types.is_string_dtype(data[name].dtype)):
        if family.family != "binomial":
            raise DataError(f"the response {text!r} must be numeric for family {family.family}")
        col = data[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            y = col.astype("float64").to_numpy()  # pandas boolean NA -> NaN
            kind = "numeric"
        else:
            fac = as_factor(from_column(col, name), name)
            levels = list(fac.levels)
            codes = fac.codes
            y = np.where(codes < 0, np.nan, (codes > 0).astype(float))
            kind = "factor"
    else:
        y = _eval_numeric(text, data, "the response")
        kind = "numeric"
    ok = np.isfinite(y)
    if family.family == "binomial":
        y = np.where(prior == 0, 0.0, y)
        if np.any((y[ok] < 0) | (y[ok] > 1)):
            raise ModelError("y values must be 0 <= y <= 1")
        mm = (prior * y)[ok & np.isfinite(prior)]
        if np.any(np.abs(mm - np.round(mm)) > 1e-3):
            msgs.append("non-integer #successes in a binomial glm!")
    elif family.family == "Gamma":
        if np.any(y[ok] <= 0):
            raise ModelError("non-positive values not allowed for the 'Gamma' family")
    elif family.family == "inverse.gaussian":
        if np.any(y[ok] <= 0):
            raise ModelError("positive values only are allowed for the 'inverse.gaussian' family")
    elif family.family == "gaussian":
        if (family.link == "inverse" and np.any(y[ok] == 0)) or (
                family.link == "log" and np.any(y[ok] <= 0)):
            raise ModelError("cannot find valid starting values: please specify some")
    else:
        if np.any(y[ok] < 0):
            raise ModelError("negative values not allowed for the 'Poisson' family")
        if np.any(np.abs(y[ok] - np.round(y[ok])) > 1e-8):
            msgs.append("non-integer response values in a Poisson glm: the log-likelihood "
                        "(R's dpois) is -Inf for them")
    return GlmResponse(y=y, n=np.ones_like(y), weights=prior.astype(float), kind=kind,
                       levels=levels, messages=msgs)


# ------------------------------------------------------------------------------ offsets
def split_offsets(fixed: str) -> tuple[str, list[str]]:
    """Remove top-level ``offset(...)`` terms from the fixed part: (rest, offset exprs)."""
    if "offset" not in fixed:
        return fixed, []
    node = _parse(fixed)
    terms: list[tuple[str, object]] = []

    def flat(nd, sign="+"):
        if isinstance(nd, _Binary) and nd.op in ("+", "-"):
            flat(nd.left, sign)
            terms.append((nd.op, nd.right))
        elif isinstance(nd, _Unary) and nd.op == "-" and not terms:
            terms.append(("-", nd.operand))
        else:
            terms.append((sign, nd))

    flat(node)
    keep, offs = [], []
    for sign, t in terms:
        if isinstance(t, _Call) and isinstance(t.fn, _Name) and t.fn.name == "offset":
            if sign == "-":
                raise ModelError(f"cannot subtract an offset term ('- {_deparse(t)}')")
            if len(t.args) != 1:
                raise ModelError(f"offset() takes one argument: {_deparse(t)!r}")
            offs.append(_deparse(t.args[0][1]))
        else:
            if "offset(" in _deparse(t):
                raise ModelError(f"offset() must be a term of its own in the formula, not part of "
                                 f"{_deparse(t)!r}")
            keep.append((sign, _deparse(t)))
    if not keep:
        return "1", offs
    text = keep[0][1] if keep[0][0] == "+" else f"1 - {keep[0][1]}"
    for sign, t in keep[1:]:
        text += f" {sign} {t}"
    return text, offs


def _vector_arg(x, data: pd.DataFrame, what: str) -> np.ndarray:
    """``weights=`` / ``offset=``: a column name or one value per data row."""
    if isinstance(x, str):
        return _eval_numeric(x, data, what)
    arr = np.asarray(x, dtype=float).ravel() if not isinstance(x, pd.Series) else \
        pd.to_numeric(x, errors="coerce").astype(float).to_numpy()
    if arr.size == 1:
        return np.full(len(data), float(arr[0]))
    if arr.size != len(data):
        raise DataError(f"{what} has {arr.size} values; the data has {len(data)} rows")
    return arr


def _near_01(mu: np.ndarray, wt: np.ndarray) -> bool:
    """glm.fit's check (``eps <- 10 * .Machine$double.eps``)."""
    e = 10 * np.finfo(float).eps
    return bool(np.any(((mu > 1 - e) | (mu < e)) & (wt > 0)))
