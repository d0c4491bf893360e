"""R's emmeans for lmer and glmer fits: ``emmeans(m, specs, by=, at=, lmer_df=, type=, level=)``.

The reference grid is emmeans' (factors at their levels, numeric covariates at their mean
unless ``at=`` gives values), the marginal means average its rows with equal weights over
the other factors.  lmer's df are Kenward-Roger (pbkrtest's adjusted covariance and
``Lb_ddf``), Satterthwaite (lmerTest's) or asymptotic; glmer's are asymptotic.  Contrasts
(``pairs``, ``contrast``) live in ``emm_contrasts``; the printout in ``emm_print``.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.inference import ddf as _ddf
from mlm_wrap.spec.design import new_fixed_matrix
from mlm_wrap.toolbox.emm_contrasts import contrast as _contrast
from mlm_wrap.toolbox.emm_print import EmmTable

__all__ = ["EmmTable", "contrast", "emmeans", "pairs"]

_DF_METHODS = ("kenward-roger", "satterthwaite", "asymptotic")


@dataclass
class _DfEngine:
    """Variance and df of linear functions ``l @ beta`` for one df method."""
    method: str            # "kenward-roger", "satterthwaite", "asymptotic"
    beta: np.ndarray
    V: np.ndarray          # the covariance used for SEs (KR: pbkrtest's adjusted one)
    kr: tuple | None = None
    satt: object | None = None

    def df(self, l: np.ndarray) -> float:
        if self.method == "asymptotic":
            return math.inf
        if self.method == "kenward-roger":
            Phi, P, W = self.kr
            return float(_ddf._lb_ddf(l, Phi, P, W))
        st = self.satt
        var = float(l @ st.vcov @ l)
        grad = np.array([l @ J @ l for J in st.jac])
        return 2.0 * var ** 2 / float(grad @ st.vcov_varpar @ grad)


@dataclass
class _EmmInfo:
    """What a contrast needs from an ``emmeans`` result, and what its printout says."""
    L: np.ndarray
    keys: pd.DataFrame               # spec and by columns as strings (R's as.character)
    key_values: pd.DataFrame         # the same, numbers kept as numbers (for printing)
    numeric_keys: list[str]
    specs: list[str]
    by: list[str]
    engine: _DfEngine
    glmm: bool
    family: str
    link: str
    type: str
    level: float
    averaged: list[str] = field(default_factory=list)
    est_name: str = "emmean"
    messages: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ the reference grid
def _r_char(v: float) -> str:
    """R's as.character() of a number (15 significant digits)."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{float(v):.15g}"


def _as_list(x, name: str) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    try:
        out = list(x)
    except TypeError:
        raise TypeError(f"{name} must be a variable name or a list of names, not {x!r}") from None
    if not all(isinstance(v, str) for v in out):
        raise TypeError(f"{name} must be variable names (strings), not {x!r}")
    return out


def _predictors(m) -> list[str]:
    """The data columns the fixed-effects part uses (R's all.vars of its right-hand side)."""
    d = m.design
    t = d.fixed_terms
    texts = [str(t.variables[i]) for i in t.used()]
    out = []
    for col in d.frame.columns:
        pat = re.compile(r"(?<![\w.])" + re.escape(str(col)) + r"(?![\w.])")
        if any(pat.search(x) for x in texts):
            out.append(str(col))
    return out


def _family_link(m) -> tuple[bool, str, str]:
    fam = getattr(m, "family", None)
    if fam is None or not hasattr(m, "nAGQ"):
        return False, "gaussian", "identity"
    fam = fam() if callable(fam) else fam
    link = getattr(m, "link", None)
    link = link() if callable(link) else link
    fam, link = str(fam), str(link)
    if link in ("None", ""):
        link = {"binomial": "logit", "poisson": "log"}.get(fam, "identity")
    return True, fam, link


def _df_engine(m, method: str, glmm: bool) -> _DfEngine:
    beta = np.asarray(m.fixef(), float)
    V = np.asarray(m.vcov(), float)
    if glmm or method == "asymptotic":
        return _DfEngine("asymptotic", beta, V)
    if method == "kenward-roger":
        if not m.REML:
            raise ValueError("lmer_df='kenward-roger' needs a REML fit (emmeans would use "
                             "Satterthwaite); pass lmer_df='satterthwaite'")
        Phi, PhiA, P, W = _ddf._kr_pieces(m)
        return _DfEngine(method, beta, PhiA, kr=(Phi, P, W))
    st = _ddf._satt_state(m)
    return _DfEngine(method, beta, st.vcov, satt=st)


def _norm_df(lmer_df: str) -> str:
    key = str(lmer_df).lower().replace("_", "-")
    hits = [k for k in _DF_METHODS if k.startswith(key)] if key else []
    if len(hits) != 1:
        raise ValueError(f"lmer_df must be one of {', '.join(repr(k) for k in _DF_METHODS)}, "
                         f"not {lmer_df!r}")
    return hits[0]


def _grid_levels(m, preds: list[str], at: dict) -> tuple[dict, list[str]]:
    frame = m.design.frame
    levels, numeric = {}, []
    for v in preds:
        col = frame[v]
        if v in at:
            vals = at[v]
            vals = [vals] if np.isscalar(vals) or isinstance(vals, str) else list(vals)
        else:
            vals = None
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            lv = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                  else sorted(pd.unique(col.dropna())))
            if vals is not None:
                bad = [x for x in vals if str(x) not in [str(u) for u in lv]]
                if bad:
                    raise ValueError(f"at: {bad!r} are not levels of {v!r} ({lv})")
                lv = [u for u in lv if str(u) in [str(x) for x in vals]]
            levels[v] = [str(u) for u in lv]
        else:
            numeric.append(v)
            levels[v] = [float(x) for x in vals] if vals is not None else [float(np.mean(col))]
    return levels, numeric


def emmeans(m, specs, by=None, at=None, lmer_df: str = "kenward-roger", type: str = "link",
            level: float = 0.95) -> EmmTable:
    """emmeans' ``emmeans(m, specs, by=, at=, lmer.df=, type=, level=)``."""
    specs, by = _as_list(specs, "specs"), _as_list(by, "by")
    if not specs:
        raise ValueError("specs must name at least one variable of the model")
    at = dict(at or {})
    method = _norm_df(lmer_df)
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    if not 0 < float(level) < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    preds = _predictors(m)
    for name, vs in (("specs", specs), ("by", by), ("at", list(at))):
        bad = [v for v in vs if v not in preds]
        if bad:
            raise ValueError(f"{name}: {', '.join(repr(b) for b in bad)} "
                             f"{'is not a variable' if len(bad) == 1 else 'are not variables'} "
                             f"of the model's fixed effects ({', '.join(preds) or 'none'})")
    if set(specs) & set(by):
        raise ValueError("specs and by name the same variable")
    levels, numeric = _grid_levels(m, preds, at)
    facs = specs + by
    # the full reference grid, first variable fastest (R's expand.grid)
    combos = list(itertools.product(*[levels[v] for v in reversed(preds)]))
    grid = pd.DataFrame([tuple(reversed(c)) for c in combos], columns=preds)
    newdata = pd.DataFrame({v: (pd.Categorical(grid[v], categories=_fit_levels(m, v))
                                if v not in numeric else grid[v].astype(float)) for v in preds})
    Xg = new_fixed_matrix(m.design, newdata)
    # the means: expand.grid over specs + by, average of the grid rows that match
    fcombos = list(itertools.product(*[levels[v] for v in reversed(facs)]))
    fgrid = pd.DataFrame([tuple(reversed(c)) for c in fcombos], columns=facs)
    L = np.empty((len(fgrid), Xg.shape[1]))
    for i, row in enumerate(fgrid.itertuples(index=False)):
        mask = np.ones(len(grid), bool)
        for v, val in zip(facs, row):
            mask &= (grid[v] == val).to_numpy()
        L[i] = Xg[mask].mean(axis=0)
    glmm, fam, link = _family_link(m)
    eng = _df_engine(m, method, glmm)
    keys = pd.DataFrame({v: [(_r_char(x) if v in numeric else x) for x in fgrid[v]] for v in facs})
    averaged = [v for v in preds if v not in facs and v not in numeric and len(levels[v]) > 1]
    info = _EmmInfo(L=L, keys=keys, key_values=fgrid, numeric_keys=[v for v in facs if v in numeric],
                    specs=specs, by=by, engine=eng, glmm=glmm, family=fam, link=link, type=type,
                    level=float(level), averaged=averaged)
    return _summary(info)


def _fit_levels(m, v: str) -> list[str]:
    col = m.design.frame[v]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(u) for u in col.cat.categories]
    return [str(u) for u in sorted(pd.unique(col.dropna()))]


_INV = {"logit": (stats.logistic.cdf, lambda e: stats.logistic.pdf(e)),
        "probit": (stats.norm.cdf, stats.norm.pdf),
        "cloglog": (lambda e: -np.expm1(-np.exp(e)), lambda e: np.exp(e - np.exp(e))),
        "log": (np.exp, np.exp),
        "identity": (lambda e: e, lambda e: np.ones_like(e)),
        "sqrt": (lambda e: e ** 2, lambda e: 2 * e),
        "inverse": (lambda e: 1 / e, lambda e: -1 / e ** 2)}
_RESP_NAME = {"binomial": "prob", "poisson": "rate"}


def _summary(info: _EmmInfo) -> EmmTable:
    eng = info.engine
    est = info.L @ eng.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", info.L, eng.V, info.L))
    dfs = np.array([eng.df(l) for l in info.L])
    asym = bool(np.all(np.isinf(dfs)))
    q = (stats.norm.ppf((1 + info.level) / 2) if asym
         else stats.t.ppf((1 + info.level) / 2, dfs))
    lo, hi = est - q * se, est + q * se
    lcl, ucl = ("asymp.LCL", "asymp.UCL") if asym else ("lower.CL", "upper.CL")
    est_name = "emmean"
    msgs = []
    if info.averaged:
        msgs.append("Results are averaged over the levels of: " + ", ".join(info.averaged))
    back = info.glmm and info.type == "response" and info.link != "identity"
    if back:
        inv, deriv = _INV.get(info.link, (None, None))
        if inv is None:
            raise NotImplementedError(f"type='response' for the {info.link} link")
        est_name = _RESP_NAME.get(info.family, "response")
        se = se * np.abs(deriv(est))
        est, lo, hi = inv(est), inv(lo), inv(hi)
    elif info.glmm and info.link != "identity":
        msgs.append(f"Results are given on the {info.link} (not the response) scale.")
    if not info.glmm:
        msgs.append(f"Degrees-of-freedom method: {eng.method}")
    msgs.append(f"Confidence level used: {_r_char(info.level)}")
    if back:
        msgs.append(f"Intervals are back-transformed from the {info.link} scale")
    tab = pd.DataFrame({est_name: est, "SE": se, "df": dfs, lcl: lo, ucl: hi})
    out = EmmTable(pd.concat([info.keys.reset_index(drop=True), tab], axis=1))
    info.est_name = est_name
    info.messages = msgs
    out._emm = info
    out._print = dict(est_name=est_name, by=info.by, messages=msgs,
                      numeric_cols={k: info.key_values[k].to_numpy(float) for k in info.numeric_keys})
    return out


def pairs(emm: EmmTable, adjust: str | None = None) -> EmmTable:
    """emmeans' ``pairs(emm)``: every pairwise difference, Tukey-adjusted by default."""
    return _contrast(emm, method="pairwise", adjust=adjust)


def contrast(emm: EmmTable, method: str = "eff", adjust: str | None = None) -> EmmTable:
    """emmeans' ``contrast(emm, method=, adjust=)``: pairwise, trt.vs.ctrl, poly."""
    return _contrast(emm, method=method, adjust=adjust)
