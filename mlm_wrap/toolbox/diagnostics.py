"""lme4's leverage diagnostics: ``hatvalues.merMod`` and ``cooks.distance.merMod``.

lme4 forms, from its factors ``L`` (of ``Lambda'Z'WZ Lambda + I``), ``RZX`` and ``RX``,

    CL = L^-1 Lambda'Z' sqrt(W_prior),   CR = RX'^-1 (X' sqrt(W_prior) - RZX' CL)

and returns ``colSums(CL^2) + colSums(CR^2)``: the diagonal of
``s A M^-1 A' s`` with ``A = [Z Lambda, X]``, ``s = sqrt(prior weights)`` and ``M`` the
blocked system ``A' W A + diag(I_q, 0)`` whose Cholesky factor is ``[[L', RZX], [0, RX]]``.
For an lmer fit ``W`` is the prior weights; for a glmer fit it is PIRLS' working weights
at convergence while ``s`` stays the prior weights (so for binomial proportions with
``cbind()`` counts the values can exceed 1: lme4 warns that "the hat matrix may not make
sense for GLMMs").  The computation here is dense in ``n x (q + p)``.

``influence(m, groups=)`` is lme4's ``influence.merMod`` (leave-one-group-out refits) for
lmer fits.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from mlm_wrap.engines.lmm import LmmProblem, ReBlock
from mlm_wrap.engines.optimize import lme4_minimize
from mlm_wrap.errors import ModelError, caught_warnings
from mlm_wrap.models.base import is_glmm
from mlm_wrap.models.loglik import make_unique

#: largest n * (q + p) the dense computation accepts
MAX_DENSE = 50_000_000


def _z_lambda(problem, Ts) -> np.ndarray:
    """Dense ``Z Lambda`` (unweighted blocks for a GLMM, sqrt(w)-scaled for an LMM)."""
    Z = getattr(problem, "Z", None)  # the LMM keeps its (weighted) Z; the GLMM never forms it
    if not sp.issparse(Z):
        Z = sp.hstack([b.Z() for b in problem.blocks], format="csc")
    Lam = problem.lambda_matrix(Ts)
    return np.asarray((Z @ Lam).todense())


def _hat_parts(m) -> tuple[np.ndarray, np.ndarray]:
    """(sqrt(prior weights) * A, M) of the module docstring."""
    pb = m._problem
    Ts = pb.factors(m.theta)
    n, q, p = pb.n, pb.q, pb.p
    if n * (q + p) > MAX_DENSE:
        raise ModelError(f"hatvalues: n = {n} rows by q + p = {q + p} columns is too large "
                         f"for the dense hat-matrix computation (limit n*(q+p) <= {MAX_DENSE})")
    ZL = _z_lambda(pb, Ts)
    if is_glmm(m):
        A = np.hstack([ZL, pb.X])
        w = np.asarray(m._state.weights, float)
        M = A.T @ (A * w[:, None])
        sA = A * np.sqrt(pb.wt)[:, None]
    else:
        A = np.hstack([ZL, pb.X])  # already sqrt(w)-scaled, as lme4's weighted system
        M = A.T @ A
        sA = A
    M[np.arange(q), np.arange(q)] += 1.0
    return sA, M


def _pad(m, values: np.ndarray, name: str) -> pd.Series:
    """Values per used row, NA at rows na.exclude dropped (lme4's ``napredict``)."""
    padded = getattr(m, "_padded", None)
    if padded is not None:
        return padded(values, name)
    return pd.Series(values, index=m.design.index, name=name)


def hatvalues(m, full_hat_matrix: bool = False):
    """lme4's ``hatvalues(m)`` (``fullHatMatrix = TRUE``: the whole n x n matrix)."""
    if is_glmm(m):
        warnings.warn("the hat matrix may not make sense for GLMMs", UserWarning, stacklevel=2)
    C = _cl_cr(m)
    if full_hat_matrix:
        return pd.DataFrame(C.T @ C, index=m.design.index, columns=m.design.index)
    return _pad(m, np.sum(C * C, axis=0), "hatvalues")


def _pearson(m) -> np.ndarray:
    r = m.residuals(type="pearson")
    return m.design.unpad(r)


def cooks_distance(m) -> pd.Series:
    """lme4's ``cooks.distance(m)``: ``(r / (1 - h))^2 h / (sigma^2 rank(X))`` with Pearson
    residuals r and hat values h; infinite values become NaN."""
    with caught_warnings():
        C = _cl_cr(m)
        h = np.sum(C * C, axis=0)
    p = np.linalg.matrix_rank(np.asarray(m.design.X, float))
    r = _pearson(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = (r / (1.0 - h)) ** 2 * h / (m.sigma() ** 2 * p)
    res[np.isinf(res)] = np.nan
    return _pad(m, res, "cooks.distance")


def _cl_cr(m) -> np.ndarray:
    """lme4's ``rbind(CL, CR)``: ``R'^-1 (s A)'`` with ``M = R'R``."""
    sA, M = _hat_parts(m)
    R = sla.cholesky(M, lower=False)
    return sla.solve_triangular(R, sA.T, trans="T", lower=False)


# ----------------------------------------------------------------------------- influence
def _subset_problem(m, keep: np.ndarray) -> LmmProblem:
    """The model's LMM on the rows ``keep``, unused levels dropped (as lme4's refit)."""
    d = m.design
    blocks = []
    for t in d.terms:
        uniq, codes = np.unique(np.asarray(t.factor.codes)[keep], return_inverse=True)
        blocks.append(ReBlock(codes, np.asarray(t.Xt)[keep], len(uniq)))
    w = None if d.weights is None else np.asarray(d.weights, float)[keep]
    off = None if d.offset is None else np.asarray(d.offset, float)[keep]
    return LmmProblem(np.asarray(d.X, float)[keep], np.asarray(d.y, float)[keep], blocks,
                      weights=w, offset=off)


def _vc_values(m, problem, theta, sigma: float) -> tuple[list[str], list[float]]:
    """lme4's ``var.cov.comps``: sigma^2, then each term's lower triangle (column-major),
    ``v[name]`` on the diagonal and ``C[row,col]`` below it, prefixed ``group:`` when the
    model has several terms."""
    names, vals = ["sigma^2"], [sigma ** 2]
    groups = make_unique([t.name for t in m.design.terms])
    several = len(groups) > 1
    for g, td, T in zip(groups, m.design.terms, problem.factors(theta)):
        V = (T @ T.T) * sigma ** 2
        cn = list(td.cnames)
        for j in range(len(cn)):
            for i in range(j, len(cn)):
                nm = f"v[{cn[i]}]" if i == j else f"C[{cn[i]},{cn[j]}]"
                names.append(f"{g}:{nm}" if several else nm)
                vals.append(float(V[i, j]))
    return names, vals


def _group_labels(m, groups, data) -> np.ndarray:
    d = m.design
    if groups is None:  # lme4: data$.case <- rownames(data)
        idx = d.all_index if data is None else data.index
        if isinstance(idx, pd.RangeIndex):
            lab = pd.Series([str(i + 1) for i in range(len(idx))], index=idx)
        else:
            lab = pd.Series([str(i) for i in idx], index=idx)
        return lab
    if not isinstance(groups, str):
        if len(groups) != 1:
            raise NotImplementedError("influence(groups=) with several columns is not "
                                      "supported; paste them into one column first")
        groups = groups[0]
    src = data if data is not None else d.frame.set_axis(d.index)
    if groups not in src.columns:
        raise ModelError(f"influence(): no column {groups!r} in the data; pass data=")
    return src[groups].astype(object).map(lambda v: None if pd.isna(v) else str(v))


def influence(m, groups: str | None = None, data: pd.DataFrame | None = None,
              maxfun: int = 1000) -> dict:
    """lme4's ``influence(m, groups =)`` for an lmer fit: the model refitted without each
    group (each row when ``groups`` is None), started at the fit's theta (nloptwrap,
    ``maxfun``).  Returns a dict with lme4's names: ``fixed.effects``,
    ``fixed.effects[-g]``, ``var.cov.comps``, ``var.cov.comps[-g]``, ``vcov``,
    ``vcov[-g]``, ``groups``, ``deleted``, ``converged``, ``function.evals``."""
    if is_glmm(m):
        raise NotImplementedError("influence() is implemented for lmer fits only")
    lab = _group_labels(m, groups, data)
    deleted = [v for v in pd.unique(lab.to_numpy()) if v is not None]
    d = m.design
    if len(lab) == d.n and (groups is not None and data is None):
        model_lab = lab.to_numpy()  # the model frame's own column
    elif data is None and d.rows is not None:  # the data's rows, by position (labels may repeat)
        model_lab = lab.to_numpy()[d.rows]
    else:
        model_lab = lab.reindex(d.index).to_numpy()
    fe = m.fixef()
    vnames, vvals = _vc_values(m, m._problem, m.theta, m.sigma())
    fixed1, vc1, vcov1, conv, fev = [], [], {}, [], []
    for del_ in deleted:
        keep = model_lab != del_
        pb = _subset_problem(m, keep)
        f = lambda th: pb.objective(th, m.REML)  # noqa: E731
        theta, _, evals = lme4_minimize("nloptwrap", f, m.theta, pb.lower, maxfun=maxfun)
        sol = pb.solve(theta)
        s2 = sol.sigma2_reml if m.REML else sol.sigma2_ml
        fixed1.append(sol.beta)
        vc1.append(_vc_values(m, pb, theta, float(np.sqrt(s2)))[1])
        vcov1[del_] = pd.DataFrame(s2 * np.linalg.inv(sol.RXtRX), index=fe.index,
                                   columns=fe.index)
        conv.append(evals < maxfun)
        fev.append(evals)
    g = "case" if groups is None else (groups if isinstance(groups, str) else groups[0])
    return {
        "fixed.effects": fe,
        f"fixed.effects[-{g}]": pd.DataFrame(fixed1, index=deleted, columns=fe.index),
        "var.cov.comps": pd.Series(vvals, index=vnames),
        f"var.cov.comps[-{g}]": pd.DataFrame(vc1, index=deleted, columns=vnames),
        "vcov": m.vcov(), f"vcov[-{g}]": vcov1, "groups": g, "deleted": deleted,
        "converged": pd.Series(conv, index=deleted), "function.evals": pd.Series(fev, index=deleted),
    }


__all__ = ["cooks_distance", "hatvalues", "influence"]
