"""Model frame and design matrices, built as lme4 builds them and named as R names them.

What R users expect from ``model.frame`` / ``model.matrix`` / ``mkReTrms``:

* rows with a missing value in any variable the model uses are dropped (``na.omit``)
  and counted;
* a string column is a factor with sorted levels, a pandas Categorical keeps its
  category order (R's factor levels), a boolean is a factor FALSE/TRUE;
* columns carry R's names: ``(Intercept)``, ``periodB``, ``x:fb``, ``I(age^2)``;
* rank-deficient fixed-effect columns are dropped as lme4 drops them;
* grouping factors drop unused levels, ``a:b`` is the interaction factor with R's
  level order (first factor slowest), and terms are ordered as lme4 orders them
  (by decreasing number of levels, when not already so);
* every variable is an R expression evaluated by the safe evaluator
  (:mod:`mlm_wrap.spec.evaluate`), never as Python code, and the columns are R's
  ``model.matrix`` (:mod:`mlm_wrap.spec.model_matrix`);
* what the fit learnt from the data (factor levels, contrasts, ``poly()`` coefficients,
  ``scale()`` centres, spline knots) is kept, so ``predict(newdata)`` rebuilds exactly the
  same columns.

The caller's DataFrame is never modified: everything works on a copy of the columns
the model uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlm_wrap.errors import DataError, FormulaError, ModelError, UnknownColumnError
from mlm_wrap.spec import checks
from mlm_wrap.spec.evaluate import Evaluator, check_allowed, unknown_column_message
from mlm_wrap.spec.formula import ParsedFormula, all_vars
from mlm_wrap.spec.model_matrix import (Coding, TermsInfo, drop_unused, expand_dot, model_matrix,
                                        r_terms)
from mlm_wrap.spec.r_ast import Node, deep_enough
from mlm_wrap.spec.r_parser import _parse
from mlm_wrap.spec.rvalues import Chr, Fct, Lgl, Num, RValue, as_factor, as_strings, from_column
from mlm_wrap.spec.rank import surely_full_rank
from mlm_wrap.spec.terms import RandomTerm

# ---------------------------------------------------------------------------- frame
def _as_factor(s: pd.Series) -> pd.Categorical:
    """A column as R treats it as a factor (levels as :func:`~mlm_wrap.spec.rvalues.as_factor`
    gives them: a Categorical keeps its order, other values are sorted)."""
    f = as_factor(from_column(s, str(s.name)), str(s.name))
    return pd.Categorical.from_codes(f.codes, categories=f.levels, ordered=f.ordered)


def _prepare_column(s: pd.Series) -> pd.Series:
    """A data column of the model frame kept for plots and new data (strings, logicals ->
    factors with R's levels; nullable and Arrow numbers -> float)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.remove_unused_categories()  # R's model.frame(drop.unused.levels = TRUE)
    if pd.api.types.is_bool_dtype(s.dtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        return pd.Series(_as_factor(s), index=s.index, name=s.name)
    if pd.api.types.is_extension_array_dtype(s.dtype):  # Int64, Float64, arrow numerics
        return s.astype("float64")
    return s


@dataclass
class GroupFactor:
    """A grouping factor: its R name, level labels, the level code of every row, and for
    ``a:b`` the (a, b) labels of each level (levels are pairs, never joined strings)."""

    name: str
    levels: list[str]
    codes: np.ndarray
    keys: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def nlevels(self) -> int:
        return len(self.levels)


@dataclass
class TermDesign:
    """One random-effects term's columns and grouping factor."""

    term: RandomTerm
    factor: GroupFactor
    Xt: np.ndarray
    cnames: list[str]
    tinfo: TermsInfo  # R's terms of the term's left side
    codings: dict[int, Coding]  # how its variables were coded (for new data)

    @property
    def name(self) -> str:
        return self.factor.name


@dataclass
class Design:
    """Everything the engines and the results object need from the data."""

    parsed: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    xnames: list[str]
    terms: list[TermDesign]
    frame: pd.DataFrame  # the data columns the model uses (copy, rows of the model frame)
    index: pd.Index  # row labels of the kept rows in the user's data
    n_na_dropped: int
    fixed_terms: TermsInfo  # R's terms of the fixed part
    fixed_codings: dict[int, Coding]
    state: dict  # what the data-dependent functions learnt at fit time (R's predvars)
    dropped_columns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    data_name: str | None = None
    all_index: pd.Index | None = None  # row labels of the user's data, before na.omit
    offset: np.ndarray | None = None  # offset() terms plus the offset= argument (None: none)
    weights: np.ndarray | None = None  # prior weights (None: none)
    na_action: str = "na.omit"
    n_subset_dropped: int = 0  # rows left out by subset=
    exclude_index: pd.Index | None = None  # rows na.exclude pads: the subset's rows, NA ones too
    rows: np.ndarray | None = None  # 0-based positions of the model frame's rows in the data
    subset_rows: np.ndarray | None = None  # 0-based positions of the subset's rows (NA ones too)

    @property
    def n(self) -> int:
        return len(self.y)

    def na_omitted(self) -> pd.Index:
        """R's ``na.action``: the labels of the rows dropped for a missing value, one per
        dropped row (by position, so duplicated labels are all reported), subset's rows
        excluded."""
        if self.rows is None or self.subset_rows is None or self.all_index is None:
            kept = set(self.index)  # a design made before positions were kept
            return pd.Index([i for i in (self.all_index if self.all_index is not None else [])
                             if i not in kept], name="omit")
        pos = np.setdiff1d(self.subset_rows, self.rows)
        out = self.all_index[pos]
        return out.rename("omit") if out.nlevels == 1 else out

    def unpad(self, values) -> np.ndarray:
        """The values of the model frame's rows from per-row values that are either the
        model frame's (length n) or padded by ``na.exclude`` (by position, never by
        label: row labels may repeat)."""
        v = np.asarray(values, float)
        if len(v) == self.n:
            return v
        if self.rows is not None and len(v) == len(self.subset_rows):
            return v[np.searchsorted(self.subset_rows, self.rows)]
        if self.rows is not None and self.all_index is not None and len(v) == len(self.all_index):
            return v[self.rows]
        raise ValueError(f"{len(v)} values for a model frame of {self.n} rows")

    def pad(self, values, name: str) -> pd.Series:
        """Per-row values of the model frame; with ``na.exclude`` the rows dropped for a
        missing value come back as NaN in the data's row order (R's ``naresid``),
        placed by position (duplicated row labels are fine)."""
        values = np.asarray(values)
        if self.na_action != "na.exclude" or not self.n_na_dropped or self.rows is None:
            return pd.Series(values, index=self.index, name=name)
        full = np.full(len(self.subset_rows), np.nan)
        full[np.searchsorted(self.subset_rows, self.rows)] = values
        return pd.Series(full, index=self.exclude_index, name=name)


def _unknown_column(name: str, data: pd.DataFrame, where: str) -> str:
    return unknown_column_message(name, data, where)


def _parse_part(text: str, what: str) -> Node:
    try:
        return _parse(text)
    except FormulaError as e:
        raise FormulaError(f"{what}: {e}") from None


def group_factor(values: list[RValue], term: RandomTerm) -> GroupFactor:
    """``a:b`` as lme4 builds it (``as.factor(a:b)[, drop = TRUE]``): R's interaction,
    first factor slowest, unused levels dropped; level keys are tuples of labels."""
    facs = [as_factor(v, term.group) for v in values]
    f = facs[0]
    keys = [(lv,) for lv in f.levels]
    for g in facs[1:]:
        keys = [k + (lv,) for k in keys for lv in g.levels]
        f = _cross(f, g)
    present = np.bincount(f.codes[f.codes >= 0], minlength=len(f.levels)) > 0
    if present.all():
        return GroupFactor(term.group, list(f.levels), f.codes, keys)
    used = np.flatnonzero(present)
    remap = np.full(len(f.levels), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    codes = np.where(f.codes >= 0, remap[np.maximum(f.codes, 0)], -1)
    return GroupFactor(term.group, [f.levels[i] for i in used], codes, [keys[i] for i in used])


def _cross(a: Fct, b: Fct) -> Fct:
    """All level pairs of two factors, first slowest (no level dropped yet)."""
    nb = len(b.levels)
    na = (a.codes < 0) | (b.codes < 0)
    codes = np.where(na, -1, a.codes * nb + b.codes)
    return Fct(codes, [f"{x}:{y}" for x in a.levels for y in b.levels])


def _lme4_order(terms: list[TermDesign]) -> list[TermDesign]:
    """lme4's mkReTrms: if any term has more levels than the one before, order by
    decreasing number of levels using ``rev(order(nl))`` (so ties come out reversed)."""
    nl = [t.factor.nlevels for t in terms]
    if any(b > a for a, b in zip(nl, nl[1:])):
        order = sorted(range(len(nl)), key=lambda i: nl[i], reverse=False)  # stable ascending
        order = order[::-1]
        return [terms[i] for i in order]
    return terms


def drop_rank_deficient(X: np.ndarray, names: list[str], tol: float = 1e-7) -> list[int]:
    """Columns to keep, dropping later columns that are linear combinations of earlier
    ones (what R's pivoting QR in lme4's chkRank.drop.cols does): column j goes when the
    part of it not in the span of the columns before it, |R_jj| of the QR decomposition,
    is below ``tol`` times its norm."""
    if X.shape[1] == 0:
        return []
    X = np.asarray(X, float)
    # wide or long designs: X'X's Cholesky factor proves full rank without the O(n p^2) QR
    # (not proven, e.g. when X'X overflows or a column is near-dependent: the QR decides)
    if (X.shape[1] >= 50 or X.shape[0] >= 10_000) and surely_full_rank(X):
        return list(range(X.shape[1]))
    amax = np.max(np.abs(X), axis=0) if X.shape[0] else np.zeros(X.shape[1])
    # scale each column by a power of 2 (exact, and the test is per column) so that
    # norms and the QR neither overflow (1e300) nor underflow
    X = np.ldexp(X, -np.frexp(np.where(amax > 0, amax, 1.0))[1])
    norms = np.linalg.norm(X, axis=0)
    R = np.linalg.qr(X, mode="r")
    d = np.zeros(X.shape[1])
    k = min(R.shape)
    d[:k] = np.abs(np.diag(R)[:k])  # columns past the number of rows are dependent
    return [j for j in range(X.shape[1]) if norms[j] > 0 and d[j] > tol * norms[j]]


class _Builder:
    """Evaluates every variable of an lme4 formula once, on the whole data (R's
    ``model.frame``: evaluation, then subset and ``na.omit``, then unused levels dropped)."""

    def __init__(self, parsed: ParsedFormula, data: pd.DataFrame) -> None:
        self.parsed = parsed
        self.data = data
        self.where = parsed.formula
        self.ev = Evaluator(data, where=parsed.formula)

    def values(self, tinfo: TermsInfo, skip_response: bool = False) -> dict[int, RValue]:
        out = {}
        for i, node in enumerate(tinfo.nodes):
            if skip_response and i == tinfo.response:
                continue
            out[i] = self.ev.eval(node)
        return out


NA_ACTIONS = ("na.omit", "na.exclude", "na.fail")


def _argument(x, data: pd.DataFrame, b: "_Builder", what: str) -> RValue:
    """``weights=`` / ``offset=`` / ``subset=``: an R expression of the data's columns (text,
    evaluated by the safe evaluator) or one value per row (array-like)."""
    if isinstance(x, str):
        node = _parse_part(x, what)
        check_allowed(node, f"{what} = {x}")
        return Evaluator(data, state=b.ev.state, where=f"{what} = {x}").eval(node)
    if isinstance(x, pd.Series):
        if len(x) != len(data):
            raise DataError(f"{what} has {len(x)} values; the data has {len(data)} rows")
        return from_column(x.reset_index(drop=True), what)
    arr = np.asarray(x)
    if arr.dtype == bool:
        return Lgl(arr.astype(float).ravel())
    try:
        arr = arr.astype(float).ravel()
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers (or a column name)") from None
    if arr.size not in (1, len(data)):
        raise DataError(f"{what} has {arr.size} values; the data has {len(data)} rows")
    return Num(np.full(len(data), arr[0]) if arr.size == 1 else arr)


def subset_mask(subset, data: pd.DataFrame, state: dict | None = None) -> np.ndarray:
    """R's ``subset =``: an R expression of the data's columns (evaluated safely) or a
    boolean mask; rows where it is NA are left out, as R does."""
    if isinstance(subset, str):
        node = _parse_part(subset, "subset")
        check_allowed(node, f"subset = {subset}")
        sv = Evaluator(data, state=state, where=f"subset = {subset}").eval(node)
    else:
        arr = np.asarray(subset)
        if arr.dtype != bool:
            raise DataError("subset must be a logical condition (R: 'subset' must be logical)")
        if arr.size != len(data):
            raise DataError(f"subset has {arr.size} values; the data has {len(data)} rows")
        sv = Lgl(arr.astype(float).ravel())
    if not isinstance(sv, Lgl):
        raise DataError("subset must be a logical condition (R: 'subset' must be logical)")
    return _vector(sv, len(data), "subset") == 1.0


def _vector(v: RValue, n: int, what: str) -> np.ndarray:
    if isinstance(v, (Fct, Chr)) or (isinstance(v, Num) and v.is_matrix and v.values.shape[1] != 1):
        raise DataError(f"{what} must be one number per row")
    out = np.asarray(v.values, float).reshape(len(v), -1)[:, 0]
    return np.full(n, out[0]) if len(out) == 1 else out


def build_design(parsed: ParsedFormula, data: pd.DataFrame, data_name: str | None = None,
                 allow_n: bool = False, contrasts: dict[str, str] | None = None,
                 weights=None, offset=None, subset=None, na_action: str = "na.omit") -> Design:
    """Model frame, response, fixed-effects matrix and random-effects terms, as lme4's
    ``lFormula``: ``subset`` (an R expression or a boolean mask) is applied first, then rows
    with a missing value in any variable, ``weights`` or ``offset`` are dropped
    (``na_action="na.omit"``/``"na.exclude"``) or refused (``"na.fail"``).  ``allow_n``:
    glmer's checks (a grouping factor may have one level per observation)."""
    if na_action not in NA_ACTIONS:
        raise ValueError(f"na_action must be one of {', '.join(NA_ACTIONS)}, not {na_action!r}")
    with deep_enough(parsed.formula):
        return _build_design(parsed, data, data_name, allow_n, contrasts, weights, offset,
                             subset, na_action)


def _build_design(parsed: ParsedFormula, data, data_name, allow_n, contrasts, weights, offset,
                  subset, na_action) -> Design:
    checks.check_terms_present(parsed)
    if not isinstance(data, pd.DataFrame):
        data = _to_pandas(data)
    if len(data) == 0:
        raise DataError("the data has no rows")
    if data.columns.duplicated().any():
        dup = list(dict.fromkeys(data.columns[data.columns.duplicated()]))
        raise DataError(f"the data has duplicated column names: {dup}")
    where = parsed.formula
    resp_node = _parse_part(parsed.response, "the response")
    fixed_node = _parse_part(parsed.fixed, "the fixed effects")
    cols = [str(c) for c in data.columns]
    fixed_node = expand_dot(fixed_node, cols, set(all_vars(parsed.response)))
    check_allowed(resp_node, where)
    check_allowed(fixed_node, where)
    lhs_nodes = []
    for t in parsed.random:
        node = _parse_part(t.expr, f"the random-effects term {t}")
        check_allowed(node, where)
        lhs_nodes.append(node)
        for v in t.group_vars:
            if v not in data.columns:
                raise UnknownColumnError(_unknown_column(v, data, f"grouping factor of {t}"))
            if data[v].isna().all():
                raise DataError(f"grouping factor {v!r} of {t} has no non-missing values")
    fixed_t = r_terms(fixed_node, parsed.fixed_formula(), resp_node)
    b = _Builder(parsed, data)
    fvals = b.values(fixed_t)
    y_val = fvals[fixed_t.response]
    if isinstance(y_val, (Fct, Chr)) or (isinstance(y_val, Lgl) and parsed.response.strip() in data.columns):
        kind = "factor" if isinstance(y_val, Fct) else str(data[parsed.response.strip()].dtype) \
            if parsed.response.strip() in data.columns else "character"
        raise DataError(f"the response {parsed.response.strip()!r} must be numeric; it is a "
                        f"{kind} column")
    if isinstance(y_val, Num) and y_val.is_matrix and y_val.values.shape[1] != 1:
        raise DataError(f"the response {parsed.response!r} must be a single numeric column")
    rterms = [r_terms(node, f"~ {t.expr}") for node, t in zip(lhs_nodes, parsed.random)]
    for rt, t in zip(rterms, parsed.random):
        if not rt.intercept and not rt.terms:
            raise FormulaError(f"the random-effects term '{t}' has no columns: its left side "
                               f"'{t.expr}' removes the intercept and adds nothing (lme4: "
                               "'length(theta) > 0L is not TRUE')")
    rvals = [b.values(rt) for rt in rterms]
    gvals = [[from_column(data[v], v) for v in t.group_vars] for t in parsed.random]
    wv = _argument(weights, data, b, "weights") if weights is not None else None
    ov = _argument(offset, data, b, "offset") if offset is not None else None
    keep_rows = np.ones(len(data), dtype=bool) if subset is None else \
        subset_mask(subset, data, b.ev.state)
    # the model frame: rows with a missing value in any variable are dropped (na.omit)
    allv = list(fvals.values()) + [v for d in rvals for v in d.values()] + \
        [v for g in gvals for v in g] + [v for v in (wv, ov) if v is not None]
    bad = np.zeros(len(data), dtype=bool)
    for v in allv:
        if len(v) == len(data):
            bad |= v.na()
        elif len(v) != 1:
            raise DataError(f"a variable of {where!r} has {len(v)} values; the data has "
                            f"{len(data)} rows")
    bad &= keep_rows
    if na_action == "na.fail" and bad.any():
        raise DataError(f"missing values in object (na.fail): {int(bad.sum())} rows of the "
                        f"model's variables have a missing value")
    rows = np.flatnonzero(keep_rows & ~bad)
    n_drop = int(bad.sum())
    if len(rows) == 0:
        raise ModelError("no rows left after removing rows with missing values "
                         f"in {', '.join(_data_columns(parsed, data))}")

    def take(v: RValue) -> RValue:
        return drop_unused(v.take(rows)) if len(v) == len(data) else v

    fvals = {i: take(v) for i, v in fvals.items()}
    rvals = [{i: take(v) for i, v in d.items()} for d in rvals]
    gvals = [[take(v) for v in g] for g in gvals]
    index = data.index[rows]
    frame = pd.DataFrame({c: _prepare_column(data[c].iloc[rows])
                          for c in _data_columns(parsed, data)}, index=index)
    yv = fvals[fixed_t.response]
    y = np.asarray(yv.values, float).reshape(len(rows), -1)[:, 0] if len(yv) == len(rows) else \
        np.full(len(rows), float(np.asarray(yv.values).ravel()[0]))
    checks.check_response(y, parsed.response, index)
    checks.check_magnitude(y, [parsed.response.strip()], "the response")
    X, xnames, _, fcod = model_matrix(fixed_t, fvals, len(rows), contrasts)
    offset = None if ov is None else _vector(ov, len(data), "offset")[rows]
    w = None
    if wv is not None:
        w = _vector(wv, len(data), "weights")[rows]
        if np.any(w < 0):
            raise DataError("negative weights not allowed")
        if not np.all(np.isfinite(w)):
            raise DataError("weights must be finite")
    for i in fixed_t.offsets:
        ov = fvals[i]
        o = np.asarray(ov.values, float).reshape(len(rows), -1)[:, 0] if len(ov) == len(rows) \
            else np.full(len(rows), float(np.asarray(ov.values).ravel()[0]))
        offset = o if offset is None else offset + o
    checks.check_fixed(X, xnames, index)
    checks.check_magnitude(X, xnames, "the fixed-effects column")
    keep = drop_rank_deficient(X, xnames)
    messages, dropped = [], []
    if len(keep) < X.shape[1]:
        dropped = [xnames[j] for j in range(X.shape[1]) if j not in keep]
        k = len(dropped)
        messages.append(f"fixed-effect model matrix is rank deficient so dropping {k} "
                        f"column{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}")
        X = X[:, keep]
        xnames = [xnames[j] for j in keep]
    terms = []
    for t, rt, vals, gv in zip(parsed.random, rterms, rvals, gvals):
        Xt, cnames, _, cod = model_matrix(rt, vals, len(rows), contrasts)
        checks.check_magnitude(Xt, cnames, f"the column of random-effects term ({t})")
        terms.append(TermDesign(t, group_factor(gv, t), Xt, cnames, rt, cod))
    terms = _lme4_order(terms)
    checks.check_levels(terms, len(y), allow_n)
    checks.check_nobs_vs_nre(terms, len(y), allow_n)
    scale_msg = checks.scale_message(X)
    if scale_msg:
        messages.append(scale_msg)
    return Design(parsed=parsed, y=y, X=X, xnames=xnames, terms=terms, frame=frame,
                  index=index, n_na_dropped=n_drop, fixed_terms=fixed_t, fixed_codings=fcod,
                  state=b.ev.state, dropped_columns=dropped, messages=messages,
                  data_name=data_name, all_index=data.index, offset=offset, weights=w,
                  na_action=na_action, n_subset_dropped=int((~keep_rows).sum()),
                  exclude_index=data.index[keep_rows], rows=rows,
                  subset_rows=np.flatnonzero(keep_rows))


def _data_columns(parsed: ParsedFormula, data: pd.DataFrame) -> list[str]:
    """The data's columns the formula names, in order of appearance."""
    names: list[str] = []
    for text in [parsed.response, parsed.fixed] + [t.expr for t in parsed.random]:
        for v in all_vars(text):
            if v in data.columns and v not in names:
                names.append(v)
    for t in parsed.random:
        for v in t.group_vars:
            if v not in names:
                names.append(v)
    if "." in all_vars(parsed.fixed):
        resp = set(all_vars(parsed.response))
        names += [str(c) for c in data.columns if str(c) not in names and str(c) not in resp]
    return names


def _to_pandas(data) -> pd.DataFrame:
    """Accept polars/pyarrow frames and dicts of columns by converting to a pandas copy."""
    if hasattr(data, "to_pandas"):
        try:
            return data.to_pandas()
        except Exception as e:
            raise DataError(f"could not convert the {type(data).__name__} data to pandas: {e}") from None
    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except Exception as e:
            raise DataError(f"could not make a data frame of the dict given as data: {e}") from None
    raise DataError("data must be a DataFrame (pandas or polars) or a dict of columns, "
                    f"not {type(data).__name__}")


def _new_values(design: Design, tinfo: TermsInfo, newdata: pd.DataFrame, what: str
                ) -> dict[int, RValue]:
    """The variables of ``tinfo`` evaluated on new data with the fit's parameters."""
    ev = Evaluator(newdata, state=design.state, predicting=True, where=design.parsed.formula)
    out = {}
    for i in tinfo.used():
        try:
            out[i] = ev.eval(tinfo.nodes[i])
        except UnknownColumnError as e:
            raise UnknownColumnError(f"{e} ({what})") from None
    return out


def new_fixed_matrix(design: Design, newdata: pd.DataFrame) -> np.ndarray:
    """The fixed-effects columns for new data, rebuilt as the fit built them (R's predvars
    and xlevels); rows with a missing variable give NaN."""
    t = design.fixed_terms
    vals = _new_values(design, t, newdata, "needed by the fixed effects")
    X, names, _, _ = model_matrix(t, vals, len(newdata), codings=design.fixed_codings)
    idx = [names.index(c) for c in design.xnames]
    return X[:, idx]


def new_offset(design: Design, newdata: pd.DataFrame) -> np.ndarray:
    """The formula's ``offset()`` terms on new data (zeros when it has none)."""
    t = design.fixed_terms
    out = np.zeros(len(newdata))
    if t.offsets:
        ev = Evaluator(newdata, state=design.state, predicting=True, where=design.parsed.formula)
        for i in t.offsets:
            v = ev.eval(t.nodes[i])
            out = out + np.asarray(v.values, float).reshape(len(v), -1)[:, 0]
    return out


def new_term_rows(design: Design, td: TermDesign, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For new data: a term's columns and each row's level index (-1 for a new level)."""
    vals = _new_values(design, td.tinfo, newdata, f"random-effects term {td.term}")
    Xt, _, _, _ = model_matrix(td.tinfo, vals, len(newdata), codings=td.codings)
    parts = []
    for v in td.term.group_vars:
        if v not in newdata.columns:
            raise DataError(_unknown_column(v, newdata, f"grouping factor of {td.term}"))
        parts.append(as_strings(from_column(newdata[v], v)))
    pos = {k: i for i, k in enumerate(td.factor.keys)}
    codes = np.array([pos.get(tuple(k), -1) if all(x is not None for x in k) else -1
                      for k in zip(*parts)], dtype=np.int64)
    return Xt, codes


@dataclass
class FormulaMatrix:
    """R's ``model.matrix(~ rhs, data)`` with what predicting from it needs."""

    X: np.ndarray
    names: list[str]
    rows: np.ndarray  # 0-based data rows kept (na.omit)
    offset: np.ndarray | None
    tinfo: TermsInfo
    codings: dict[int, Coding]
    state: dict

    def new(self, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The same columns for new data (R: ``model.frame(terms, newdata, xlev =)``, then
        ``model.matrix``): (X, kept rows, offset)."""
        ev = Evaluator(newdata, state=self.state, predicting=True, where="newdata")
        vals = {i: ev.eval(n) for i, n in enumerate(self.tinfo.nodes) if i != self.tinfo.response}
        rows, vals = _complete_rows(vals, len(newdata))
        X, _, _, _ = model_matrix(self.tinfo, vals, len(rows), codings=self.codings)
        return X, rows, _offsets(self.tinfo, vals, len(rows))


def _complete_rows(vals: dict[int, RValue], n: int) -> tuple[np.ndarray, dict[int, RValue]]:
    """R's ``na.omit`` on a model frame of ``n`` rows: the rows where no variable is
    missing, and the variables cut to them (length-1 values kept whole)."""
    bad = np.zeros(n, dtype=bool)
    for v in vals.values():
        if len(v) == n:
            bad |= v.na()
    rows = np.flatnonzero(~bad)
    return rows, {i: (v.take(rows) if len(v) == n else v) for i, v in vals.items()}


def _offsets(tinfo: TermsInfo, vals: dict[int, RValue], n: int) -> np.ndarray | None:
    out = None
    for i in tinfo.offsets:
        o = _vector(vals[i], n, "offset")
        out = o if out is None else out + o
    return out


def formula_matrix(rhs: str, data: pd.DataFrame, contrasts: dict[str, str] | None = None,
                   drop_unused_levels: bool = False, response: str | None = None) -> FormulaMatrix:
    """``model.matrix(response ~ rhs, data, contrasts.arg = contrasts)`` as R computes it: every
    variable of the formula in the model frame, rows with a missing value dropped, unused
    factor levels kept unless ``drop_unused_levels``."""
    where = f"{response or ''} ~ {rhs}".strip()
    node = _parse_part(rhs, "the formula")
    resp = _parse_part(response, "the response") if response else None
    node = expand_dot(node, [str(c) for c in data.columns],
                      set(all_vars(response)) if response else set())
    check_allowed(node, where)
    if resp is not None:
        check_allowed(resp, where)
    tinfo = r_terms(node, where, resp)
    ev = Evaluator(data, where=where)
    vals = {i: ev.eval(n) for i, n in enumerate(tinfo.nodes)}
    rows, vals = _complete_rows(vals, len(data))
    if drop_unused_levels:
        vals = {i: drop_unused(v) for i, v in vals.items()}
    X, names, _, codings = model_matrix(tinfo, vals, len(rows), contrasts)
    return FormulaMatrix(X, names, rows, _offsets(tinfo, vals, len(rows)), tinfo, codings,
                         ev.state)
