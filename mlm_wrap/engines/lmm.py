"""lme4's profiled criterion at a given theta: the math shared by fitting and results.

lme4 (Bates, Maechler, Bolker & Walker 2015) writes a linear mixed model as
``y = X beta + Z Lambda(theta) u + e`` with ``u ~ N(0, sigma^2 I)``.  For a given
relative covariance parameter ``theta`` the fixed effects, the conditional modes and
sigma follow from one penalised least-squares solve, so the (REML) deviance is a
function of theta alone.  Whatever engine found theta (statsmodels MixedLM, or a
direct optimiser), every number the results object reports is computed here, from
lme4's own formulas, so it means what it means in R:

* ``vcov = sigma^2 (RX' RX)^-1`` (not MixedLM's joint-Hessian ``bse_fe``);
* conditional variances ``sigma^2 Lambda (Lambda'Z'Z Lambda + I)^-1 Lambda'``;
* the ML deviance and the REML criterion, eq. (34) and (41) of the lme4 paper.

The Cholesky factor of ``A = Lambda'Z'Z Lambda + I`` is :mod:`mlm_wrap.engines.cholesky`'s
blocked factor (first term block-diagonal, the rest dense), shared with PIRLS; here ``Z'Z``
is formed once, with the way ``L21 L21'`` is formed chosen by its measured cost.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from mlm_wrap.engines.cholesky import (  # ReBlock, split_theta, theta_*: importable here too
    ReBlock,
    ReTerms,
    chol,
    factor,
    split_theta,
    theta_lower,
    theta_start,
    unit_crossprods,
)
from mlm_wrap.engines.cholmod import CholmodCriterion, cholmod_pays, use_cholmod
from mlm_wrap.spec.rank import gram
from mlm_wrap.engines.dense import (
    BlockDiagCriterion,
    Crossprods,
    DenseCriterion,
    DiagPairCriterion,
    ProfiledXCriterion,
    TwoScalarCriterion,
    use_block_diag,
    use_dense,
    use_two_scalar,
    profiled_criterion,
    use_profiled_x,
)



@dataclass
class Solution:
    """Everything lme4 derives from theta by one penalised least-squares solve."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    pwrss: float
    logdet_L: float  # log |L|^2
    logdet_RX: float  # log |RX|^2
    RXtRX: np.ndarray
    sigma2_ml: float
    sigma2_reml: float
    deviance_ml: float
    reml_crit: float
    fitted: np.ndarray
    extras: dict = field(default_factory=dict)


class LmmProblem(ReTerms):
    """Data of one model, with the cross-products kept so each theta costs little."""

    def __init__(self, X: np.ndarray, y: np.ndarray, blocks: list[ReBlock],
                 weights: np.ndarray | None = None, offset: np.ndarray | None = None):
        """``weights``: lme4's prior weights (residual variance sigma^2 / w_i); ``offset``:
        known terms of the linear predictor.  As lme4 does, the rows of X, Z and y - offset
        are scaled by sqrt(w) and the criteria carry ``- sum(log w)``; ``X``, ``y`` and the
        blocks below are those working (scaled) quantities."""
        n = len(y)
        self.offset = np.zeros(n) if offset is None else np.asarray(offset, float)
        self.weights = None if weights is None else np.asarray(weights, float)
        self.sw = np.ones(n) if weights is None else np.sqrt(self.weights)
        self.ldW = 0.0 if weights is None else float(np.sum(np.log(self.weights)))
        if weights is not None:
            blocks = [ReBlock(b.codes, b.Xt * self.sw[:, None], b.nlevels) for b in blocks]
        super().__init__(blocks)
        self.X = np.asarray(X, float) if weights is None else np.asarray(X, float) * self.sw[:, None]
        self.y = (np.asarray(y, float) - self.offset) * self.sw
        self.n, self.p = self.X.shape
        Zs = [b.Z() for b in self.blocks]
        self.Z = sp.hstack(Zs, format="csc") if Zs else sp.csc_matrix((self.n, 0))
        self.XtX = gram(self.X)
        self.Xty = self.X.T @ self.y
        self.yty = float(self.y @ self.y)
        self.ZtX = np.asarray(self.Z.T @ self.X)
        self.Zty = np.asarray(self.Z.T @ self.y).ravel()
        # Z'Z in the factor's blocks, once; the mode says how L21 L21' is formed
        self.xp = unit_crossprods(self, self.Z) if self.blocks else None

    def with_response(self, y: np.ndarray) -> "LmmProblem":
        """The same model for a new response (refit, bootMer, simulate-based inference):
        X, Z, their cross-products, the factor's pattern and the dense system are shared;
        only the response's products are recomputed."""
        new = copy.copy(self)
        if self.xp is not None:  # its own evaluation buffer (engines/cholesky.CrossProducts)
            new.xp = copy.copy(self.xp)
            new.xp.__dict__.pop("_work", None)
        new.y = (np.asarray(y, float) - self.offset) * self.sw
        new.Xty = self.X.T @ new.y
        new.yty = float(new.y @ new.y)
        new.Zty = np.asarray(self.Z.T @ new.y).ravel()
        c = self.__dict__.get("_cholmod")
        if c is not None:  # the symbolic factor shared, its numbers this problem's own
            new._cholmod = c.with_response(new.Zty, new.Xty, new.yty)
        d = self.__dict__.get("_dense")
        if isinstance(d, (BlockDiagCriterion, DiagPairCriterion, TwoScalarCriterion)):
            new._dense = d.with_response(new.y, new.Xty, new.yty)
        elif d is not None:
            new._dense = d.with_response(np.r_[new.Zty, new.Xty, new.yty])
        return new

    def __getstate__(self) -> dict:
        """Pickled and copied without CHOLMOD's factor (not picklable; rebuilt on use)."""
        state = dict(self.__dict__)
        if state.get("_cholmod") is not None:  # a rule's None is kept: no second probe
            del state["_cholmod"]
        return state

    @property
    def mode(self) -> str | None:
        """``"triples"``, ``"dense"`` or ``"sparse"`` (see :mod:`mlm_wrap.engines.cholesky`)."""
        return self.xp.mode if self.xp is not None else None

    # -- the solve ---------------------------------------------------------------------
    def solve(self, theta: np.ndarray, full: bool = False) -> Solution:
        theta = np.asarray(theta, float)
        n, p = self.n, self.p
        if not self.blocks:
            raise ValueError("a mixed model needs at least one random-effects term")
        Ts = self.factors(theta)
        sparse = None if full else self.cholmod()  # the conditional variances: blocked
        if sparse is not None:  # CHOLMOD's factor (engines/cholmod.py): no dense q2 x q2 block
            u, beta, RXtRX, logdet_L, logdet_RX = sparse.solve(theta)
        else:
            L = factor(self, Ts, self.xp)
            cu = L.solve_L(self.lam_t(Ts, self.Zty))
            RZX = L.solve_L(self.lam_t(Ts, self.ZtX)) if p else np.zeros((self.q, 0))
            RXtRX = self.XtX - RZX.T @ RZX
            if p:
                RX = chol(RXtRX)
                beta = sla.cho_solve((RX, True), self.Xty - RZX.T @ cu)
                logdet_RX = 2.0 * float(np.sum(np.log(np.diag(RX))))
            else:
                beta, logdet_RX = np.zeros(0), 0.0
            u = L.solve_Lt(cu - RZX @ beta)
            logdet_L = L.logdet()
        b = self.lam(Ts, u)
        work = self.X @ beta + self.Z @ b
        resid = self.y - work
        fitted = work / self.sw + self.offset
        pwrss = float(resid @ resid + u @ u)
        dev_ml = profiled_criterion(logdet_L, 0.0, pwrss, n, p, False, self.ldW)
        nmp = n - p
        reml = profiled_criterion(logdet_L, logdet_RX, pwrss, n, p, True, self.ldW)
        sol = Solution(theta=theta, beta=beta, u=u, b=b, pwrss=pwrss, logdet_L=logdet_L,
                       logdet_RX=logdet_RX, RXtRX=RXtRX, sigma2_ml=pwrss / n,
                       sigma2_reml=pwrss / nmp, deviance_ml=float(dev_ml),
                       reml_crit=float(reml), fitted=fitted)
        if full:
            sol.extras["condvar_rel"] = self.condvar_blocks(Ts, L)
        return sol

    def dense(self) -> DenseCriterion | None:
        """A dense criterion where the cost model picks one (built once): the block-diagonal
        form for one term or ``(x || g)``, the two-scalar-terms form, the augmented system
        for small problems, X eliminated first for wide X (:mod:`mlm_wrap.engines.dense`);
        None: the blocked factor."""
        if "_dense" not in self.__dict__:
            terms = [(int(o), b.nlevels, b.p) for o, b in zip(self.offsets, self.blocks)]
            self._dense = None
            k, bl = len(self.blocks), self.blocks
            # two scalar terms on one factor ((x || g)): one two-column term, T diagonal
            pair = (k == 2 and bl[0].p == bl[1].p == 1 and bl[0].nlevels == bl[1].nlevels
                    and use_block_diag(2, self.q, self.p)
                    and np.array_equal(bl[0].codes, bl[1].codes))
            # two scalar terms, one of few levels: its small Schur block (TwoScalarCriterion)
            two = (k == 2 and not pair and bl[0].p == bl[1].p == 1
                   and use_two_scalar(bl[0].nlevels, bl[1].nlevels, self.p))
            kind = (None if not k or pair or two
                    or (k == 1 and use_block_diag(bl[0].p, self.q, self.p))
                    else ProfiledXCriterion if use_profiled_x(self.q, self.p) else
                    DenseCriterion if use_dense(self.q, self.p, k) else None)
            if kind is not None:
                xp = Crossprods(np.asarray((self.Z.T @ self.Z).toarray()), self.ZtX, self.Zty,
                                self.XtX, self.Xty, self.yty, self.n)
                self._dense = kind(xp, terms, self.ldW)
            elif two:
                i, j = (0, 1) if bl[0].nlevels >= bl[1].nlevels else (1, 0)
                self._dense = TwoScalarCriterion(
                    bl[i].codes, bl[i].Xt[:, 0], bl[i].nlevels, bl[j].codes, bl[j].Xt[:, 0],
                    bl[j].nlevels, self.X, self.y, self.XtX, self.Xty, self.yty, self.ldW,
                    swap=i == 1)
            elif k == 1 or pair:  # block-diagonal A, batched (dense.BlockDiagCriterion)
                b = bl[0]
                Xt = b.Xt if k == 1 else np.column_stack([bl[0].Xt, bl[1].Xt])
                d = BlockDiagCriterion(b.codes, Xt, b.nlevels, self.X, self.y, self.XtX,
                                       self.Xty, self.yty, self.ldW)
                self._dense = d if k == 1 else DiagPairCriterion(d)
        return self._dense

    def cholmod(self) -> CholmodCriterion | None:
        """CHOLMOD's sparse factor (symbolic analysis once) where scikit-sparse is installed
        and its rule picks it (:mod:`mlm_wrap.engines.cholmod`: scalar terms, a large Schur
        block, CHOLMOD's flop count well under the dense block's); None: the blocked factor."""
        if "_cholmod" not in self.__dict__:
            self._cholmod = None
            Z = self.__dict__.get("Z")
            if Z is not None and use_cholmod([(b.nlevels, b.p) for b in self.blocks]):
                c = CholmodCriterion(Z.T @ Z, [b.nlevels for b in self.blocks], self.ZtX,
                                     self.Zty, self.XtX, self.Xty, self.yty, self.n, self.ldW)
                self._cholmod = c if cholmod_pays(c, self.q2) else None
        return self._cholmod

    def objective(self, theta: np.ndarray, REML: bool) -> float:
        """The criterion lme4 minimises: REML criterion or ML deviance (inf where undefined).
        Small problems take the dense augmented factor (:mod:`mlm_wrap.engines.dense`)."""
        d = self.dense()
        if d is None:
            d = self.cholmod()
        if d is not None:
            with np.errstate(all="ignore"):
                return d.criterion(np.asarray(theta, float), REML)
        try:
            with np.errstate(all="ignore"):
                val = self._criterion(np.asarray(theta, float), REML)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):  # not positive definite
            return np.inf
        return float(val) if np.isfinite(val) else np.inf

    def _criterion(self, theta: np.ndarray, REML: bool) -> float:
        """The criterion alone from the blocked factor: the penalised residual sum of squares
        from the augmented system's last pivot, ``y'y - |cu|^2 - |RX^-1 (X'y - RZX'cu)|^2``,
        without forming beta, u or any n-vector (what :meth:`solve` adds for the results)."""
        Ts = self.factors(theta)
        L = factor(self, Ts, self.xp, reuse=True)
        # cu and RZX from one solve with 1 + p right-hand sides (L22 read once)
        W = L.solve_L(self.lam_t(Ts, np.column_stack([self.Zty, self.ZtX])))
        cu = W[:, 0]
        logdet_L = L.logdet()
        pw = self.yty - float(cu @ cu)
        logdet_RX = 0.0
        if self.p:
            RZX = W[:, 1:]
            RX = chol(self.XtX - RZX.T @ RZX)
            cb = sla.solve_triangular(RX, self.Xty - RZX.T @ cu, lower=True, check_finite=False)
            pw -= float(cb @ cb)
            logdet_RX = 2.0 * float(np.sum(np.log(np.diag(RX))))
        return profiled_criterion(logdet_L, logdet_RX, pw, self.n, self.p, REML, self.ldW)


__all__ = ["LmmProblem", "ReBlock", "Solution", "split_theta", "theta_lower", "theta_start"]
