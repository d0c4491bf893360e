"""lme4's accessors of a fitted model: ``getME(m, name)``, ``model.matrix``, ``formula``,
``terms``, ``df.residual``, ``weights``, ``family``, named and shaped as lme4 has them.

Everything is read from the model (``m.design``, ``m._problem``, ``m._sol``); nothing is
refitted.  Sparse matrices (``Z``, ``Zt``, ``Lambda``, ``Lambdat``) are scipy CSC matrices,
as lme4's are ``dgCMatrix``; ``X`` and ``model_matrix`` are DataFrames with R's column
names.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlm_wrap.engines.cholesky import ReBlock
from mlm_wrap.rformat.objects import RFrame, RList, RSeries
from mlm_wrap.spec.formula import deparse_formula, expand_double_verts

GETME_NAMES = ("X", "Z", "Zt", "theta", "beta", "Lambda", "Lambdat", "u", "b", "flist",
               "cnms", "lower", "n", "N", "p", "q", "devcomp", "y", "mu", "REML",
               "is_REML", "Tlist", "glmer.nb.theta")


def _is_glmm(m) -> bool:
    return hasattr(m, "family_object")


def theta_names(m) -> list[str]:
    """lme4's ``names(getME(m, "theta"))``: ``g.(Intercept)``, ``g.Days.(Intercept)``, ...
    (the lower triangle of each term's factor, column by column)."""
    out = []
    for td in m.design.terms:
        c, p = list(td.cnames), len(td.cnames)
        for j in range(p):
            for i in range(j, p):
                out.append(f"{td.name}.{c[i]}" if i == j else f"{td.name}.{c[i]}.{c[j]}")
    return out


def _z_matrix(m) -> sp.csc_matrix:
    """Z on the data's scale (not the weighted working scale), level-major per term."""
    Zs = [ReBlock(td.factor.codes, td.Xt, td.factor.nlevels).Z() for td in m.design.terms]
    return sp.hstack(Zs, format="csc")


def _z_colnames(m) -> list[str]:
    """R's ``colnames(getME(m, "Z"))``: each level's label, repeated for its columns."""
    return [lv for td in m.design.terms for lv in td.factor.levels for _ in td.cnames]


def _lambda(m) -> sp.csc_matrix:
    P = m._problem
    return sp.csc_matrix(P.lambda_matrix(P.factors(m.theta)))


def _flist(m) -> RList:
    out = RList()
    for td in m.design.terms:
        if td.name not in out:
            out[td.name] = pd.Categorical.from_codes(td.factor.codes, td.factor.levels)
    return out


def _cnms(m):
    """lme4's ``cnms``: a dict by grouping factor, or (name, columns) pairs when a factor
    has several terms (R's list then has repeated names)."""
    pairs = [(td.name, list(td.cnames)) for td in m.design.terms]
    names = [p[0] for p in pairs]
    return dict(pairs) if len(set(names)) == len(names) else pairs


def devcomp(m) -> dict:
    """lme4's ``getME(m, "devcomp")``: ``{"cmp": ..., "dims": ...}`` (lmer fits)."""
    if _is_glmm(m):
        raise NotImplementedError("getME(m, 'devcomp') is available for lmer fits; for a "
                                  "glmer fit use logLik(m), deviance(m)")
    s, n, p = m._sol, m.design.n, len(m.design.xnames)
    ussq = float(s.u @ s.u)
    cmp = RSeries({"ldL2": s.logdet_L, "ldRX2": s.logdet_RX, "wrss": s.pwrss - ussq,
                   "ussq": ussq, "pwrss": s.pwrss, "drsum": np.nan,
                   "REML": s.reml_crit if m.REML else np.nan,
                   "dev": np.nan if m.REML else s.deviance_ml,
                   "sigmaML": np.sqrt(s.pwrss / n), "sigmaREML": np.sqrt(s.pwrss / (n - p))},
                  name="cmp", dtype=float)
    dims = RSeries({"N": n, "n": n, "p": p, "nmp": n - p, "q": int(m._problem.q),
                    "nth": len(m.theta), "useSc": 1, "reTrms": len(m.design.terms), "spFe": 0,
                    "REML": p if m.REML else 0, "GLMM": 0, "NLMM": 0}, name="dims", dtype=int)
    return {"cmp": cmp, "dims": dims}


def getME(m, name: str):
    """lme4's ``getME(m, name)`` for ``X, Z, Zt, theta, beta, Lambda, Lambdat, u, b, flist,
    cnms, lower, n, N, p, q, devcomp, y, mu, REML, Tlist, glmer.nb.theta`` (theta of a
    :func:`~mlm_wrap.glmer_nb` fit; NA, here NaN, for other fits).  ``theta`` and ``beta`` are named as in
    lme4; ``Z``/``Lambda`` are scipy sparse (lme4's dgCMatrix)."""
    d = m.design
    if name == "X":
        return pd.DataFrame(d.X, columns=d.xnames, index=d.index)
    if name == "Z":
        return _z_matrix(m)
    if name == "Zt":
        return _z_matrix(m).T.tocsc()
    if name == "theta":
        return RSeries(np.asarray(m.theta, float), index=theta_names(m), name="theta")
    if name == "beta":
        return np.asarray(m._sol.beta, float).copy()
    if name == "Lambda":
        return _lambda(m)
    if name == "Lambdat":
        return _lambda(m).T.tocsc()
    if name == "u":
        return np.asarray(m._sol.u, float).copy()
    if name == "b":
        return np.asarray(m._sol.b, float).copy()
    if name == "flist":
        return _flist(m)
    if name == "cnms":
        return _cnms(m)
    if name == "lower":
        return np.asarray(m._problem.lower, float).copy()
    if name in ("n", "N"):
        return int(d.n)
    if name == "p":
        return len(d.xnames)
    if name == "q":
        return int(m._problem.q)
    if name == "devcomp":
        return devcomp(m)
    if name == "y":
        return np.asarray(m._problem.y if _is_glmm(m) else d.y, float).copy()
    if name == "mu":
        return np.asarray(m._sol.fitted, float).copy()
    if name == "REML":  # lme4: dims["REML"], p for a REML fit, 0 otherwise
        return len(d.xnames) if m.REML else 0
    if name == "is_REML":
        return bool(m.REML)
    if name == "Tlist":  # each term's lower-triangular relative covariance factor
        return list(m._problem.factors(m.theta))
    if name == "glmer.nb.theta":  # lme4: getNBdisp for a negative binomial fit, else NA
        th = getattr(getattr(m, "family_object", None), "theta", None) if _is_glmm(m) else None
        return float(th) if th is not None else float("nan")
    raise ValueError(f"getME(m, {name!r}): unknown name; lme4's names available here are "
                     f"{', '.join(GETME_NAMES)}")


def model_matrix(m, type: str = "fixed") -> pd.DataFrame:
    """R's ``model.matrix(m)`` (``type="fixed"``: X with R's column names) or
    ``model.matrix(m, type = "random")`` (Z, one column per level and term column, named by
    the level as lme4 names them), rows labelled as the data's rows."""
    if type == "fixed":
        return RFrame(m.design.X, index=m.design.index, columns=m.design.xnames)
    if type == "random":
        return RFrame(_z_matrix(m).toarray(), index=m.design.index, columns=_z_colnames(m))
    raise ValueError(f"type must be 'fixed' or 'random', not {type!r}")


def formula(m) -> str:
    """lme4's ``formula(m)`` as R deparses it (``||`` expanded, as lme4 stores it)."""
    return deparse_formula(expand_double_verts(m.formula))


def terms(m) -> list[str]:
    """``attr(terms(m), "term.labels")``: the fixed part's term labels, in R's order."""
    return list(m.design.fixed_terms.labels)


def df_residual(m) -> int:
    """lme4's ``df.residual(m)``: observations minus parameters (fixed, theta and sigma)."""
    return int(m.df_residual())


def weights(m) -> np.ndarray:
    """``weights(m)``: the prior weights (ones when none; for a binomial glmer, the
    numbers of trials times the prior weights, as lme4)."""
    if _is_glmm(m):
        return np.asarray(m._problem.wt, float).copy()
    w = m.design.weights
    return np.ones(m.design.n) if w is None else np.asarray(w, float).copy()


class RFamily:
    """What ``family(m)`` prints: ``Family: gaussian`` / ``Link function: identity``."""

    def __init__(self, family: str, link: str):
        self.family, self.link = family, link

    def __str__(self) -> str:
        return f"\nFamily: {self.family} \nLink function: {self.link} \n"

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        return isinstance(other, RFamily) and (self.family, self.link) == (other.family, other.link)


def family(m) -> RFamily:
    """``family(m)``: gaussian(identity) for lmer, the glm family for glmer."""
    if _is_glmm(m):
        return RFamily(m.family, m.link)
    return RFamily("gaussian", "identity")


__all__ = [
    "RFamily",
    "devcomp",
    "df_residual",
    "family",
    "formula",
    "getME",
    "model_matrix",
    "terms",
    "theta_names",
    "weights",
]
