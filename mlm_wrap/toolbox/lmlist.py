"""lme4's ``lmList(y ~ x | g, data)``: one ordinary least-squares fit per level of ``g``,
and a teaching table of complete, no and partial pooling.

Each group's model matrix is R's ``model.matrix`` of the formula's right side on that
group's rows (:func:`mlm_wrap.spec.design.formula_matrix`: the safe evaluator, R's column
names); aliased columns get ``NaN`` coefficients as ``lm`` gives ``NA``.  As lme4's
``summary.lmList`` (``pool = TRUE`` for linear models), ``summary`` uses the pooled residual
standard error ``sqrt(sum(RSS) / sum(df))`` with the pooled degrees of freedom; ``confint``
gives each group's own t intervals, as lme4's ``confint.lmList4`` does by default.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.errors import DataError, FormulaError
from mlm_wrap.rformat.objects import RFrame, RList
from mlm_wrap.spec.design import drop_rank_deficient, formula_matrix
from mlm_wrap.spec.r_ast import _Binary
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.r_parser import _parse
from mlm_wrap.spec.rvalues import as_factor, from_column


@dataclass
class _GroupFit:
    names: list[str]
    coef: np.ndarray  # NaN where aliased
    unscaled: np.ndarray  # (X'X)^-1 of the kept columns, NaN rows/cols where aliased
    rss: float
    df: int
    r_squared: float


def _split_formula(formula: str) -> tuple[str, str, str]:
    node = _parse(formula)
    if not (isinstance(node, _Binary) and node.op == "~" and node.left is not None
            and isinstance(node.right, _Binary) and node.right.op == "|"):
        raise FormulaError(f"lmList needs a formula 'y ~ x | g', not {formula!r}")
    return _deparse(node.left), _deparse(node.right.left), _deparse(node.right.right)


def _group_levels(data: pd.DataFrame, group: str) -> tuple[pd.Series, list[str]]:
    if group not in data.columns:
        raise DataError(f"lmList: the grouping variable {group!r} is not a column of the data")
    # R's factor(): a Categorical keeps its levels, other values are sorted in R's character
    # form (TRUE, 1, 2.5, a: an object column may mix types; only None/NaN are missing)
    f = as_factor(from_column(data[group], group), group)
    return pd.Series(f.labels(), index=data.index, dtype=object), list(f.levels)


def _ols(X: np.ndarray, y: np.ndarray, names: list[str]) -> _GroupFit:
    keep = drop_rank_deficient(X, names)
    Xk = X[:, keep]
    coef = np.full(X.shape[1], np.nan)
    unscaled = np.full((X.shape[1], X.shape[1]), np.nan)
    if keep:
        beta, *_ = np.linalg.lstsq(Xk, y, rcond=None)
        coef[keep] = beta
        resid = y - Xk @ beta
        unscaled[np.ix_(keep, keep)] = np.linalg.inv(Xk.T @ Xk)
    else:
        resid = y
    rss = float(resid @ resid)
    has_int = "(Intercept)" in names
    tss = float(np.sum((y - y.mean()) ** 2)) if has_int else float(y @ y)
    return _GroupFit(names, coef, unscaled, rss, len(y) - len(keep),
                     1.0 - rss / tss if tss > 0 else np.nan)


class LmList:
    """lme4's ``lmList`` object: ``fits`` (one per level, R's level order), ``coef()``,
    ``confint()``, ``summary()``, ``pooled_sd()``."""

    def __init__(self, formula: str, data: pd.DataFrame):
        self.formula = formula
        lhs, rhs, group = _split_formula(formula)
        self.response, self.rhs, self.group = lhs, rhs, group
        gvals, self.levels = _group_levels(data, group)
        self.fits: dict[str, _GroupFit] = {}
        names: list[str] | None = None
        for lv in self.levels:
            rows = (gvals == lv).to_numpy()
            if not rows.any():
                continue
            gdata = data.loc[rows]
            fm = formula_matrix(rhs, gdata, response=lhs)
            ym = formula_matrix(f"0 + ({lhs})", gdata)
            y = np.full(len(gdata), np.nan)
            y[ym.rows] = ym.X[:, 0]
            y = y[fm.rows]
            if np.isnan(y).any():  # response missing where the predictors are not
                ok = ~np.isnan(y)
                X, y = fm.X[ok], y[ok]
            else:
                X = fm.X
            if len(y) == 0:
                continue
            names = names or list(fm.names)
            self.fits[lv] = _ols(X, y, list(fm.names))
        if names is None:
            raise DataError("lmList: no group has complete data")
        self.names = names

    # -- R's accessors -----------------------------------------------------------------
    def coef(self) -> RFrame:
        """``coef(lmList)``: one row per group level, one column per coefficient."""
        return RFrame([f.coef for f in self.fits.values()], index=list(self.fits),
                      columns=self.names)

    def pooled_sd(self) -> tuple[float, int]:
        """lme4's ``pooledSD``: ``sqrt(sum(RSS) / sum(df))`` and the pooled df."""
        rss = sum(f.rss for f in self.fits.values())
        df = sum(f.df for f in self.fits.values())
        return float(np.sqrt(rss / df)) if df > 0 else np.nan, int(df)

    def _se(self) -> np.ndarray:
        sd, _ = self.pooled_sd()
        return np.array([sd * np.sqrt(np.diag(f.unscaled)) for f in self.fits.values()])

    def confint(self, level: float = 0.95, pool: bool = False) -> RFrame:
        """lme4's ``confint(lmList)`` flattened: one row per level, columns (coefficient,
        ``"2.5 %"`` / ``"97.5 %"``) from R's array [level, bound, coefficient].  As lme4's
        ``confint.lmList4`` (whose ``object$pool`` is NULL), each group's own ``lm`` t
        interval by default; ``pool=True``: pooled sd and pooled df."""
        a = (1 - level) / 2
        est = self.coef().to_numpy()
        if pool:
            df = self.pooled_sd()[1]
            se = self._se()
            q = np.full(len(self.fits), stats.t.ppf(1 - a, df))
        else:
            se = np.array([np.sqrt(f.rss / f.df) * np.sqrt(np.diag(f.unscaled)) if f.df > 0
                           else np.full(len(self.names), np.nan) for f in self.fits.values()])
            q = np.array([stats.t.ppf(1 - a, f.df) if f.df > 0 else np.nan
                          for f in self.fits.values()])
        pct = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
        cols = pd.MultiIndex.from_tuples([(c, b) for c in self.names for b in pct])
        data = np.column_stack([x for j in range(len(self.names))
                                for x in (est[:, j] - q * se[:, j], est[:, j] + q * se[:, j])])
        return RFrame(data, index=list(self.fits), columns=cols)

    def summary(self) -> LmListSummary:
        return LmListSummary(self)

    def __str__(self) -> str:
        return f"Call: lmList(formula = {self.formula})\nCoefficients:\n{self.coef()}\n" \
               f"\nDegrees of freedom: {sum(f.df + int(np.sum(np.isfinite(f.coef))) for f in self.fits.values())} " \
               f"total; {self.pooled_sd()[1]} residual\nResidual standard error: {self.pooled_sd()[0]:.7g}"

    __repr__ = __str__


class LmListSummary:
    """lme4's ``summary(lmList)`` (pooled): ``coefficients`` (per coefficient a table of
    levels by ``Estimate, Std. Error, t value, Pr(>|t|)``), ``RSE`` (pooled residual
    standard error), ``df`` (pooled), ``r_squared`` (per level)."""

    def __init__(self, ll: LmList):
        self.RSE, self.df = ll.pooled_sd()
        est, se = ll.coef().to_numpy(), ll._se()
        t = est / se
        p = 2 * stats.t.sf(np.abs(t), self.df)
        self.coefficients = RList()
        for j, c in enumerate(ll.names):
            self.coefficients[c] = RFrame(
                np.column_stack([est[:, j], se[:, j], t[:, j], p[:, j]]), index=list(ll.fits),
                columns=["Estimate", "Std. Error", "t value", "Pr(>|t|)"])
        self.r_squared = pd.Series([f.r_squared for f in ll.fits.values()], index=list(ll.fits))

    def __str__(self) -> str:
        parts = ["Coefficients:"]
        for c, tab in self.coefficients.items():
            parts += [f"   {c} ", str(tab)]
        parts.append(f"\nResidual standard error: {self.RSE:.7g} on {self.df} degrees of freedom")
        return "\n".join(parts)

    __repr__ = __str__


def lmList(formula: str, data: pd.DataFrame) -> LmList:
    """lme4's ``lmList(y ~ x | g, data)``: one OLS fit per level of ``g`` (R's level order)."""
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    return LmList(formula, data)


def pooling_table(m, x: str, group: str, data: pd.DataFrame | None = None) -> RFrame:
    """Complete pooling (one ``lm``), no pooling (``lmList``) and partial pooling (the mixed
    model's ``coef``) side by side: per level of ``group``, the intercept and the slope of
    ``x`` under each (columns ``complete (Intercept)``, ``none (Intercept)``,
    ``partial (Intercept)``, ``complete x``, ...).  ``data``: the model's own rows and
    columns (``m.design.frame``) unless given."""
    if data is None:
        data = m.design.frame
    y = m.design.parsed.response
    rhs = f"1 + {x}"
    fm = formula_matrix(rhs, data, response=y)
    ym = formula_matrix(f"0 + ({y})", data)
    yv = np.full(len(data), np.nan)
    yv[ym.rows] = ym.X[:, 0]
    full = _ols(fm.X, yv[fm.rows], list(fm.names))
    nopool = lmList(f"{y} ~ {rhs} | {group}", data).coef()
    partial = m.coef()[group]
    cols = list(fm.names)
    out = RFrame(index=nopool.index)
    for c in cols:
        out[f"complete {c}"] = full.coef[cols.index(c)]
        out[f"none {c}"] = nopool[c]
        out[f"partial {c}"] = partial[c].reindex(nopool.index).to_numpy()
    return out


__all__ = ["LmList", "LmListSummary", "lmList", "pooling_table"]
