"""Model frame and design matrices, built with formulaic and named as R names them.

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
* the formulaic ``ModelSpec`` of every part is kept, so ``predict(newdata)`` rebuilds
  exactly the same columns.

The caller's DataFrame is never modified: everything works on a copy of the columns
the model uses.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from mlm_wrap.errors import DataError, ModelError, UnknownColumnError
from mlm_wrap.spec import checks
from mlm_wrap.spec.formula import ParsedFormula, all_vars
from mlm_wrap.spec.terms import RandomTerm

# ---------------------------------------------------------------------------- names
_BRACKET = re.compile(r"\[(?:T\.)?([^\[\]]*)\]")


def r_column_name(name: str) -> str:
    """formulaic's column name -> R's: ``Intercept`` -> ``(Intercept)``, ``f[T.b]`` -> ``fb``."""
    if name == "Intercept":
        return "(Intercept)"
    name = _BRACKET.sub(lambda m: m.group(1), name)
    return name.replace(" ** ", "^")


def to_python_expr(rside: str) -> str:
    """R formula text -> text formulaic evaluates the same way (``^`` inside calls is ``**``)."""
    out, depth = [], 0
    for ch in rside:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "^" and depth > 0:
            out.append("**")
        else:
            out.append(ch)
    return "".join(out).replace("TRUE", "True").replace("FALSE", "False")


# ---------------------------------------------------------------------------- frame
def _as_factor(s: pd.Series) -> pd.Categorical:
    """A column as R would treat it as a factor: keep Categorical order, else sorted levels."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(np.asarray(s.cat.codes),
                                         categories=[_label(c) for c in s.cat.categories])
    vals = s.dropna().unique()
    if s.dtype == bool or str(s.dtype) == "boolean":
        labels = {False: "FALSE", True: "TRUE"}
        return pd.Categorical(s.map(lambda v: labels.get(bool(v)) if pd.notna(v) else None),
                              categories=[labels[v] for v in sorted(bool(v) for v in vals)])
    try:
        levels = list(dict.fromkeys(_label(v) for v in sorted(vals)))
    except TypeError:  # mixed types: R would hold them as character, sorted as text
        levels = sorted({_label(v) for v in vals})
    return pd.Categorical(s.map(lambda v: _label(v) if pd.notna(v) else None), categories=levels)


def _label(v) -> str:
    """R's label for a level value: integers print without '.0'."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _prepare_column(s: pd.Series) -> pd.Series:
    """Column as the formula evaluator should see it (strings/bools -> factors)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s
    if s.dtype == bool or str(s.dtype) == "boolean":
        return pd.Series(_as_factor(s), index=s.index, name=s.name)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        return pd.Series(_as_factor(s), index=s.index, name=s.name)
    if pd.api.types.is_extension_array_dtype(s.dtype):  # Int64, Float64, arrow numerics
        return s.astype("float64")
    return s


@dataclass
class GroupFactor:
    """A grouping factor: its R name, level labels and the level code of every row."""

    name: str
    levels: list[str]
    codes: np.ndarray

    @property
    def nlevels(self) -> int:
        return len(self.levels)


def group_factor(frame: pd.DataFrame, term: RandomTerm) -> GroupFactor:
    """Build ``a:b`` as R's interaction (first factor slowest), unused levels dropped."""
    facs = [_as_factor(frame[v]) for v in term.group_vars]
    codes = np.zeros(len(frame), dtype=np.int64)
    levels = [""]
    for f in facs:
        c = np.asarray(f.codes, dtype=np.int64)
        k = len(f.categories)
        codes = codes * k + c
        levels = [f"{a}:{b}" if a else str(b) for a in levels for b in f.categories]
    used = np.unique(codes)
    remap = np.full(len(levels), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return GroupFactor(term.group, [levels[i] for i in used], remap[codes])


# ---------------------------------------------------------------------------- design
@dataclass
class TermDesign:
    """One random-effects term's columns and grouping factor."""

    term: RandomTerm
    factor: GroupFactor
    Xt: np.ndarray
    cnames: list[str]
    spec: object  # formulaic ModelSpec of the term's left side

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
    frame: pd.DataFrame  # the model frame (copy, NA rows removed)
    index: pd.Index  # row labels of the kept rows in the user's data
    n_na_dropped: int
    fixed_spec: object
    dropped_columns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    data_name: str | None = None
    all_index: pd.Index | None = None  # row labels of the user's data, before na.omit

    @property
    def n(self) -> int:
        return len(self.y)


def _variables(parsed: ParsedFormula, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` the model uses, in the order they appear."""
    names: list[str] = []
    texts = [f"{to_python_expr(parsed.response)} ~ {to_python_expr(parsed.fixed)}"]
    texts += [f"~ {to_python_expr(t.expr)}" for t in parsed.random]
    for t in texts:
        try:
            req = Formula(t).required_variables
        except Exception as e:  # formulaic parse errors in user terms
            raise DataError(f"cannot read the formula part {t!r}: {e}") from None
        for v in sorted(req, key=lambda v: t.find(str(v))):
            roles = {str(getattr(r, "value", r)) for r in getattr(v, "roles", ())}
            if "callable" in roles and "value" not in roles and str(v) == "offset":
                raise DataError(f"offset() terms are not supported in lmer() formulas yet ({t!r}); "
                                "subtract the offset from the response instead (glmer() takes offset())")
            if "callable" in roles and "value" not in roles:
                raise DataError(f"unknown function {str(v)!r} in {t!r}: formulas may use "
                                "numpy functions (log, exp, sqrt, ...), I(), C(), poly(), scale() "
                                "and center()")
            if str(v) not in data.columns:
                raise UnknownColumnError(_unknown_column(str(v), data, f"used in {t!r}"))
            if str(v) not in names:
                names.append(str(v))
    # formulaic leaves out variables seen only inside stateful transforms (scale(x),
    # center(x), poly(x, 2)); R's all.vars does not
    for t in [parsed.response, parsed.fixed] + [t.expr for t in parsed.random]:
        for v in all_vars(t):
            if v in data.columns and v not in names:
                names.append(v)
    for t in parsed.random:
        for v in t.group_vars:
            if v not in data.columns:
                raise UnknownColumnError(_unknown_column(v, data, f"grouping factor of {t}"))
            if v not in names:
                names.append(v)
    return names


def _unknown_column(name: str, data: pd.DataFrame, where: str) -> str:
    import difflib
    close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"column {name!r} ({where}) is not in the data{hint}"


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
    ones (what R's pivoting QR in lme4's chkRank.drop.cols does)."""
    keep: list[int] = []
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        v = X[:, j].astype(float)
        nrm = np.linalg.norm(v)
        if nrm == 0:
            continue
        r = v - Q @ (Q.T @ v)
        r = r - Q @ (Q.T @ r)
        if np.linalg.norm(r) > tol * nrm:
            keep.append(j)
            Q = np.column_stack([Q, r / np.linalg.norm(r)])
    return keep


def build_design(parsed: ParsedFormula, data: pd.DataFrame, data_name: str | None = None,
                 allow_n: bool = False) -> Design:
    """Model frame, response, fixed-effects matrix and random-effects terms.  ``allow_n``:
    glmer's checks (a grouping factor may have one level per observation)."""
    checks.check_terms_present(parsed)
    if not isinstance(data, pd.DataFrame):
        data = _to_pandas(data)
    if len(data) == 0:
        raise DataError("the data has no rows")
    if data.columns.duplicated().any():
        dup = list(dict.fromkeys(data.columns[data.columns.duplicated()]))
        raise DataError(f"the data has duplicated column names: {dup}")
    cols = _variables(parsed, data)
    for t in parsed.random:
        for v in t.group_vars:
            if data[v].isna().all():
                raise DataError(f"grouping factor {v!r} of {t} has no non-missing values")
    resp = parsed.response.strip()
    if resp in data.columns:
        s = data[resp]
        if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
            raise DataError(f"the response {resp!r} must be numeric; it is a "
                            f"{'factor' if isinstance(s.dtype, pd.CategoricalDtype) else str(s.dtype)} column")
    frame = pd.DataFrame({c: _prepare_column(data[c]) for c in cols}, index=data.index)
    ok = frame.notna().all(axis=1).to_numpy()
    n_drop = int((~ok).sum())
    frame = frame.loc[ok]
    if len(frame) == 0:
        raise ModelError("no rows left after removing rows with missing values "
                         f"in {', '.join(cols)}")
    fixed_text = f"{to_python_expr(parsed.response)} ~ {to_python_expr(parsed.fixed)}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mm = model_matrix(fixed_text, frame, na_action="ignore")
    except Exception as e:
        raise DataError(f"cannot build the fixed-effects part {parsed.fixed_formula()!r}: {e}") from None
    yframe = mm.lhs
    if yframe.shape[1] != 1:
        raise DataError(f"the response {parsed.response!r} must be a single numeric column")
    y = np.asarray(yframe.iloc[:, 0], dtype=float)
    checks.check_response(y, parsed.response, frame.index)
    Xdf = mm.rhs
    xnames = [r_column_name(c) for c in Xdf.columns]
    X = np.asarray(Xdf, dtype=float)
    checks.check_fixed(X, xnames, frame.index)
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
    for t in parsed.random:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                zm = model_matrix(to_python_expr(t.expr), frame, na_action="ignore")
        except Exception as e:
            raise DataError(f"cannot build the random-effects term {str(t)!r}: {e}") from None
        terms.append(TermDesign(t, group_factor(frame, t), np.asarray(zm, float),
                                [r_column_name(c) for c in zm.columns], zm.model_spec))
    terms = _lme4_order(terms)
    checks.check_levels(terms, len(y), allow_n)
    checks.check_nobs_vs_nre(terms, len(y), allow_n)
    scale_msg = checks.scale_message(X)
    if scale_msg:
        messages.append(scale_msg)
    return Design(parsed=parsed, y=y, X=X, xnames=xnames, terms=terms, frame=frame,
                  index=frame.index, n_na_dropped=n_drop, fixed_spec=Xdf.model_spec,
                  dropped_columns=dropped, messages=messages, data_name=data_name,
                  all_index=data.index)


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


def new_fixed_matrix(design: Design, newdata: pd.DataFrame) -> np.ndarray:
    """The fixed-effects columns for new data, rebuilt from the kept ModelSpec."""
    fixed_vars = {str(v) for v in design.fixed_spec.required_variables}
    missing = [v for v in fixed_vars if v not in newdata.columns]
    if missing:
        raise UnknownColumnError(_unknown_column(missing[0], newdata, "needed by the fixed effects"))
    frame = _new_frame(design, newdata, check=fixed_vars)
    mm = design.fixed_spec.get_model_matrix(frame, na_action="ignore")
    names = [r_column_name(c) for c in mm.columns]
    idx = [names.index(c) for c in design.xnames]
    return np.asarray(mm, float)[:, idx]


def _new_frame(design: Design, newdata: pd.DataFrame, check=()) -> pd.DataFrame:
    """New data in the model frame's coding; a new factor level in ``check`` columns is an
    error (R: "factor f has new level(s)"), elsewhere it becomes missing."""
    cols = [c for c in design.frame.columns if c in newdata.columns]
    out = {}
    for c in cols:
        s = newdata[c]
        ref = design.frame[c]
        if isinstance(ref.dtype, pd.CategoricalDtype):
            vals = s.astype(object).map(lambda v: None if pd.isna(v) else _label(v) if not isinstance(v, str) else v)
            if s.dtype == bool or str(s.dtype) == "boolean":
                vals = s.map(lambda v: None if pd.isna(v) else ("TRUE" if v else "FALSE"))
            cats = list(ref.cat.categories)
            new = vals.notna() & ~vals.isin(cats)
            if new.any() and c in check:
                raise DataError(f"factor {c!r} has new level(s) "
                                f"{', '.join(map(repr, vals[new].unique()[:5]))} not seen in the fit")
            out[c] = pd.Categorical(vals.where(~new, None), categories=cats)
        else:
            out[c] = _prepare_column(s)
    return pd.DataFrame(out, index=newdata.index)


def new_term_rows(design: Design, td: TermDesign, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For new data: a term's columns and each row's level index (-1 for a new level)."""
    frame = _new_frame(design, newdata)
    zm = td.spec.get_model_matrix(frame, na_action="ignore")
    Xt = np.asarray(zm, float)
    labels = None
    for v in td.term.group_vars:
        if v not in newdata.columns:
            raise DataError(_unknown_column(v, newdata, f"grouping factor of {td.term}"))
        lab = newdata[v].map(lambda x: None if pd.isna(x) else _label(x) if not isinstance(x, str) else x)
        if newdata[v].dtype == bool:
            lab = newdata[v].map(lambda x: "TRUE" if x else "FALSE")
        labels = lab if labels is None else labels.astype(str) + ":" + lab.astype(str)
    pos = {l: i for i, l in enumerate(td.factor.levels)}
    codes = np.array([pos.get(l, -1) for l in labels], dtype=np.int64)
    return Xt, codes
