"""lme4's profiled criterion from accumulated cross-products only (the out-of-core fit).

lme4's criterion at a given theta needs the data only through ``Z'Z``, ``Z'X``, ``X'X``,
``Z'y``, ``X'y``, ``y'y``, ``n`` and ``sum(log w)`` (Bates et al. 2015, sec. 3): the blocked
factor of :mod:`mlm_wrap.engines.cholesky` reads ``Z'Z`` in its blocks, and the penalised
residual sum of squares is the last pivot of the augmented system.  :class:`CrossprodProblem`
is :class:`~mlm_wrap.engines.lmm.LmmProblem` built from those products (summed chunk by
chunk by :mod:`mlm_wrap.models.outofcore`) instead of per-row X, Z and y, so the optimiser
(:func:`mlm_wrap.engines.mixedlm.fit_theta`, lme4's ``optimizeLmer`` path) runs unchanged on
a system whose size does not depend on the number of rows.  Per-row quantities (fitted
values, residuals) are not here: the models layer computes them chunk-wise from beta and b.
"""
from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from mlm_wrap.engines.cholesky import ReBlock, ReTerms, crossprods_from_blocks
from mlm_wrap.engines.dense import (Crossprods, DenseCriterion, ProfiledXCriterion,
                                    profiled_criterion, use_dense, use_profiled_x)
from mlm_wrap.engines.lmm import LmmProblem, Solution
from mlm_wrap.errors import OutOfCoreError


#: set while :meth:`CrossprodProblem.solve` runs LmmProblem's solve on zero-row stand-ins
_solving = threading.local()
_ROWS_MESSAGE = ("needs every row of the data in memory; an out-of-core fit (lmer(data=<dask "
                 "frame | parquet>)) keeps only cross-products: fit the model in memory for this")


def level_blocks(ZtZ: sp.csr_matrix, nlevels: int, p: int) -> np.ndarray:
    """The (nlevels, p, p) diagonal blocks of the first term's part of ``Z'Z``."""
    base = np.arange(nlevels) * p
    G = np.empty((nlevels, p, p))
    for a in range(p):
        for c in range(a, p):
            G[:, a, c] = G[:, c, a] = np.asarray(ZtZ[base + a, base + c]).ravel()
    return G


class CrossprodProblem(LmmProblem):
    """An :class:`LmmProblem` whose data are the working cross-products (weight-scaled,
    offset removed, as lme4's): ``shapes`` is each term's ``(nlevels, p)`` in lme4's order,
    ``ZtZ`` sparse ``q x q``.  No per-row arrays are kept: ``X``, ``Z``, ``y`` raise
    :class:`OutOfCoreError` (hat values, simulation, Kenward-Roger need the rows)."""

    def __init__(self, shapes: list[tuple[int, int]], ZtZ: sp.spmatrix, ZtX: np.ndarray,
                 Zty: np.ndarray, XtX: np.ndarray, Xty: np.ndarray, yty: float, n: int,
                 ldW: float = 0.0):
        blocks = [ReBlock(np.zeros(0, np.int64), np.zeros((0, p)), nl) for nl, p in shapes]
        ReTerms.__init__(self, blocks)
        self.n, self.p = int(n), XtX.shape[0]
        self.weights, self.ldW = None, float(ldW)
        # zero-row stand-ins: LmmProblem.solve's per-row products come out empty
        self._zero = {"X": np.zeros((0, self.p)), "y": np.zeros(0),
                      "Z": sp.csc_matrix((0, self.q))}
        self.sw, self.offset = np.ones(0), np.zeros(0)
        self.ZtZ = sp.csr_matrix(ZtZ)
        self.XtX, self.Xty, self.yty = np.asarray(XtX, float), np.asarray(Xty, float), float(yty)
        self.ZtX, self.Zty = np.asarray(ZtX, float), np.asarray(Zty, float)
        q1 = self.q1
        self.xp = crossprods_from_blocks(self, level_blocks(self.ZtZ, blocks[0].nlevels, blocks[0].p),
                                         self.ZtZ[q1:, :q1].tocsr(), self.ZtZ[q1:, q1:].tocsr())

    def _rows(self, what: str):
        if getattr(_solving, "depth", 0):
            return self._zero[what]
        raise OutOfCoreError(f"the model's {what} {_ROWS_MESSAGE}")

    X = property(lambda self: self._rows("X"))
    Z = property(lambda self: self._rows("Z"))
    y = property(lambda self: self._rows("y"))

    def with_response(self, y: np.ndarray) -> "LmmProblem":
        raise OutOfCoreError("refitting an out-of-core fit to a new response (refit, simulate, "
                             "bootMer, power simulations) needs every row in memory; fit the "
                             "model in memory (lmer(formula, data=pandas_frame)) for that")

    def dense(self) -> DenseCriterion | None:
        """The dense augmented criterion where the engine's cost model picks it (small q);
        otherwise None: the blocked factor on ``Z'Z``'s blocks."""
        if "_dense" not in self.__dict__:
            terms = [(int(o), b.nlevels, b.p) for o, b in zip(self.offsets, self.blocks)]
            kind = (ProfiledXCriterion if use_profiled_x(self.q, self.p) else
                    DenseCriterion if use_dense(self.q, self.p, len(self.blocks)) else None)
            self._dense = None if kind is None else kind(
                Crossprods(self.ZtZ.toarray(), self.ZtX, self.Zty, self.XtX, self.Xty,
                           self.yty, self.n), terms, self.ldW)
        return self._dense

    def solve(self, theta: np.ndarray, full: bool = False) -> Solution:
        """lme4's solve at theta; the penalised residual sum of squares from the
        cross-products (``|y - X beta - Z b|^2 + |u|^2`` expanded), ``fitted`` empty."""
        _solving.depth = getattr(_solving, "depth", 0) + 1
        try:
            sol = super().solve(theta, full=full)
        finally:
            _solving.depth -= 1
        beta, b, u = sol.beta, sol.b, sol.u
        Xb = self.XtX @ beta
        pwrss = (self.yty - 2.0 * float(beta @ self.Xty) - 2.0 * float(b @ self.Zty)
                 + float(beta @ Xb) + 2.0 * float(b @ (self.ZtX @ beta))
                 + float(b @ (self.ZtZ @ b)) + float(u @ u))
        n, p = self.n, self.p
        sol.pwrss, sol.sigma2_ml, sol.sigma2_reml = pwrss, pwrss / n, pwrss / (n - p)
        sol.deviance_ml = profiled_criterion(sol.logdet_L, 0.0, pwrss, n, p, False, self.ldW)
        sol.reml_crit = profiled_criterion(sol.logdet_L, sol.logdet_RX, pwrss, n, p, True, self.ldW)
        return sol


# ------------------------------------------------------------------------ accumulation
def partition_sums(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                   offset: np.ndarray | None, terms: list[tuple[np.ndarray, np.ndarray]],
                   nlevels: list[int]) -> dict:
    """One chunk's share of every cross-product lme4's criterion needs, in the working
    (``sqrt(w)``-scaled, offset-removed) scale of :class:`LmmProblem`; plus what the
    checks need: unweighted ``X'X`` (lme4's rank check), column sums and 0/1 flags
    (checkScaleX), the response's range and non-finite count."""
    yw = y - offset if offset is not None else y
    sw = None if weights is None else np.sqrt(weights)
    Xw = X if sw is None else X * sw[:, None]
    if sw is not None:
        yw = yw * sw
    blocks = [ReBlock(codes, Xt if sw is None else Xt * sw[:, None], nl)
              for (codes, Xt), nl in zip(terms, nlevels)]
    Z = sp.hstack([b.Z() for b in blocks], format="csc")
    XtX = Xw.T @ Xw
    fin = np.isfinite(y)
    return {"n": len(y), "XtX": XtX, "Xty": Xw.T @ yw, "yty": float(yw @ yw),
            "ZtX": np.asarray((Z.T @ Xw)), "Zty": np.asarray(Z.T @ yw).ravel(),
            "ZtZ": (Z.T @ Z).tocsr(),
            "ldW": 0.0 if weights is None else float(np.sum(np.log(weights))),
            "XtX_raw": XtX if sw is None else X.T @ X, "colsum": X.sum(axis=0),
            "binary": np.all((X == 0.0) | (X == 1.0), axis=0),
            "ymin": float(np.min(y, initial=np.inf)), "ymax": float(np.max(y, initial=-np.inf)),
            "y_nonfinite": int((~fin).sum()),
            "ysum": np.array([float(y[fin].sum()), float((y[fin] ** 2).sum())])}


def add_sums(a: dict, b: dict) -> dict:
    """Two chunks' :func:`partition_sums` as one."""
    out = {}
    for k, v in a.items():
        if k == "binary":
            out[k] = v & b[k]
        elif k == "ymin":
            out[k] = min(v, b[k])
        elif k == "ymax":
            out[k] = max(v, b[k])
        else:
            out[k] = v + b[k]
    return out


def gram_rank_keep(XtX: np.ndarray, tol: float = 1e-7) -> list[int]:
    """lme4's rank check (``chkRank.drop.cols``, R's QR with tolerance ``tol``) from ``X'X``:
    column j is kept when the part of it outside the span of the kept columns before it has
    norm above ``tol`` times its own (the QR's ``|R_jj|``, here from the Gram matrix)."""
    d = np.sqrt(np.clip(np.diag(XtX), 0.0, None))
    keep: list[int] = []
    for j in range(len(d)):
        if not d[j] > 0:
            continue
        g = XtX[j, j] / (d[j] * d[j])
        if keep:
            S = XtX[np.ix_(keep, keep)] / np.outer(d[keep], d[keep])
            s = XtX[keep, j] / (d[keep] * d[j])
            g -= float(s @ np.linalg.solve(S, s))
        if g > tol * tol:
            keep.append(j)
    return keep


def scale_message(colsum: np.ndarray, sumsq: np.ndarray, binary: np.ndarray, n: int,
                  tol: float = 1000.0) -> str | None:
    """lme4's checkScaleX (:func:`mlm_wrap.spec.checks.scale_message`) from column sums and
    sums of squares instead of the rows."""
    if n < 2:
        return None
    cont = ~binary
    var = (sumsq[cont] - colsum[cont] ** 2 / n) / (n - 1)
    sd = np.sqrt(np.clip(var, 0.0, None))
    sd = sd[sd > 0]
    if not len(sd):
        return None
    comp = np.abs(np.log(sd[:, None] / sd[None, :]))
    if np.any(comp > np.log(tol)) or np.any(np.abs(np.log(sd)) > np.log(tol)):
        return "Some predictor variables are on very different scales: consider rescaling"
    return None
