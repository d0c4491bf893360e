"""lme4's profiled criterion through CHOLMOD (scikit-sparse): the optional path for large,
sparse crossed designs.

The blocked factor of :mod:`mlm_wrap.engines.cholesky` factors everything after the first
term as one dense ``q2 x q2`` block: ``q2^3 / 3`` flops an evaluation, whatever the block's
sparsity.  For crossed designs with thousands of levels in the second term that block is
mostly zeros, and a sparse Cholesky with a fill-reducing ordering (what lme4 itself does,
with the Matrix package's CHOLMOD) can cost a fraction of it.

Here, as in lme4: the sparsity pattern of ``A = Lambda'Z'Z Lambda + I`` and its symbolic
factorisation (CHOLMOD's fill-reducing ordering, AMD or METIS) are computed once per
problem; each theta changes only the numbers: ``Lambda'Z'Z Lambda``'s values on the fixed
pattern (scalar terms: ``Z'Z`` scaled by ``lambda_i lambda_j``), then a numeric
refactorisation of ``A + I`` into the same symbolic factor.  The criterion needs
``log|L|^2`` and three inner products, ``r'A^-1 r``, ``R'A^-1 R`` and ``R'A^-1 r`` with
``r = Lambda'Z'y`` and ``R = Lambda'Z'X``, from one solve with ``1 + p`` right-hand sides.

The path is chosen by sizes and structural counts (:func:`use_cholmod`, :func:`cholmod_pays`:
CHOLMOD's flop count for its ordering against the blocked factor's; the cost ratio measured
once in ``benchmarks/bench_sparse.py``, ``benchmarks/SPARSE.md``), never by timing, and only when
scikit-sparse is installed (``pip install mlm_wrap[cholmod]``, which needs SuiteSparse's
headers: ``apt-get install libsuitesparse-dev``); without it the blocked factor is used.
Only models whose random-effects terms are all scalar (``(1 | g)``) take it.  On random
crossed designs the fill is nearly complete whatever the ordering and the blocked factor
stays faster; designs crossed within clusters (the Schur block sparse after reordering) are
where CHOLMOD pays.
"""
from __future__ import annotations

import copy

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from mlm_wrap.engines.dense import profiled_criterion

try:  # the optional extra: mlm_wrap[cholmod]
    from sksparse.cholmod import CholmodError as _CholmodError
    from sksparse.cholmod import analyze as _analyze
except ImportError:  # pragma: no cover - depends on the environment
    _analyze, _CholmodError = None, None

#: the smallest dense Schur block (q2, the random effects after the first term) for which
#: CHOLMOD is considered: below it the blocked factor costs under ~80 ms an evaluation and the
#: symbolic analysis plus one counting factorisation would not pay back
CHOLMOD_MIN_Q2 = 2000
#: CHOLMOD is chosen where its flops (sum of L's squared column counts, its fill-reducing
#: ordering) times this ratio are under the blocked factor's dense q2^3 / 3: what a CHOLMOD
#: flop costs against one of LAPACK's dense Cholesky here (CHOLMOD on Debian's reference
#: BLAS: 1-5 GFlop/s, the dense block on scipy's OpenBLAS ~50; measured ratio 11-13,
#: benchmarks/SPARSE.md).  The count needs one numeric factorisation at theta = 1 (no
#: symbolic counts in scikit-sparse): about 4-5 blocked evaluations where it is then refused
CHOLMOD_FLOP_RATIO = 15.0

#: CHOLMOD's algorithm ("auto": supernodal where its flops per non-zero are high)
CHOLMOD_MODE = "auto"


def available() -> bool:
    """Whether scikit-sparse's CHOLMOD can be imported."""
    return _analyze is not None


def use_cholmod(sizes: list[tuple[int, int]]) -> bool:
    """The size rule's first half: scikit-sparse installed, every term scalar (``sizes`` =
    [(nlevels, p), ...] in the factor's order) and a Schur block of at least
    ``CHOLMOD_MIN_Q2``; the second half is :func:`cholmod_pays` on the analysed pattern."""
    if not available() or len(sizes) < 2 or any(p != 1 for _, p in sizes):
        return False
    return sum(nl for nl, _ in sizes[1:]) >= CHOLMOD_MIN_Q2


def cholmod_pays(crit: CholmodCriterion, q2: int) -> bool:
    """The cost rule: CHOLMOD's structural flop count (its ordering's fill) against the
    blocked factor's dense ``q2^3 / 3``, with the measured cost ratio.  Counts, not timings."""
    return crit.flops() * CHOLMOD_FLOP_RATIO < q2 ** 3 / 3.0


class CholmodCriterion:
    """lme4's REML criterion / ML deviance through one symbolic CHOLMOD factor per problem.

    ``ZtZ`` (q x q, sparse), ``ZtX``, ``Zty``, ``XtX``, ``Xty``, ``yty``: the working
    cross-products of :class:`mlm_wrap.engines.lmm.LmmProblem`; ``nlevels``: each scalar
    term's levels, in Z's column order; ``ldW``: ``sum(log w)``."""

    def __init__(self, ZtZ: sp.spmatrix, nlevels: list[int], ZtX: np.ndarray, Zty: np.ndarray,
                 XtX: np.ndarray, Xty: np.ndarray, yty: float, n: int, ldW: float = 0.0,
                 mode: str = CHOLMOD_MODE):
        if not available():
            raise ImportError("the CHOLMOD path needs scikit-sparse: pip install mlm_wrap[cholmod]")
        low = sp.tril(sp.csc_matrix(ZtZ), format="csc")
        low.sum_duplicates()
        low.sort_indices()
        self.indices = low.indices.astype(np.int32)
        self.indptr = low.indptr.astype(np.int32)
        self.ztz = low.data.astype(float)
        self.q = low.shape[0]
        term = np.repeat(np.arange(len(nlevels)), nlevels)
        col = np.repeat(np.arange(self.q), np.diff(self.indptr))
        self.k = len(nlevels)
        self.cls = (term[self.indices] * self.k + term[col]).astype(np.intp)
        self.term = term
        self.ZtX, self.Zty, self.XtX, self.Xty = ZtX, Zty, XtX, Xty
        self.yty, self.n, self.p, self.ldW = float(yty), int(n), XtX.shape[0], ldW
        self.rhs = np.column_stack([Zty, ZtX]) if self.p else Zty[:, None]
        # the fill-reducing ordering and the symbolic factor, once (pattern only)
        self.factor = _analyze(self._matrix(self.ztz), mode=mode)
        self._flops: float | None = None

    def with_response(self, Zty: np.ndarray, Xty: np.ndarray, yty: float) -> CholmodCriterion:
        """The same model for a new response: the pattern and ordering shared, a factor of
        its own (refits may run in threads)."""
        new = copy.copy(self)
        new.Zty, new.Xty, new.yty = Zty, Xty, float(yty)
        new.rhs = np.column_stack([Zty, self.ZtX]) if self.p else Zty[:, None]
        new.factor = self.factor.copy()
        return new

    def _matrix(self, data: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.q, self.q))

    def numeric(self, theta: np.ndarray):
        """Refactor ``Lambda'Z'Z Lambda + I`` at ``theta`` (one relative SD per scalar term)
        into the problem's symbolic factor; returns it and Lambda's diagonal.  Raises
        LinAlgError when A is not positive definite."""
        lam = np.asarray(theta, float)
        data = self.ztz * np.multiply.outer(lam, lam).ravel()[self.cls]
        try:
            self.factor.cholesky_inplace(self._matrix(data), beta=1.0)
        except _CholmodError as e:
            raise np.linalg.LinAlgError(str(e)) from None
        return self.factor, lam[self.term]

    def solve(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        """What :meth:`LmmProblem.solve` needs of the factor at ``theta``: the spherical
        random effects ``u = A^-1 (r - R beta)``, ``beta``, ``RX'RX = X'X - R'A^-1 R``,
        ``log|L|^2`` and ``log|RX|^2`` (LinAlgError where A or RX'RX is not positive
        definite)."""
        F, d = self.numeric(theta)
        rhs = d[:, None] * self.rhs
        sol = F(rhs)
        g = rhs.T @ sol
        if self.p:
            RXtRX = self.XtX - g[1:, 1:]
            RX = sla.cholesky(RXtRX, lower=True, check_finite=False)
            beta = sla.cho_solve((RX, True), self.Xty - g[1:, 0], check_finite=False)
            logdet_RX = 2.0 * float(np.sum(np.log(np.diag(RX))))
        else:
            RXtRX, beta, logdet_RX = np.zeros((0, 0)), np.zeros(0), 0.0
        u = sol[:, 0] - sol[:, 1:] @ beta
        return u, beta, RXtRX, float(F.logdet()), logdet_RX

    def flops(self) -> float:
        """The numeric factorisation's flop count, ``sum_j c_j^2`` over the column counts
        of L (structural: from one factorisation at theta = 1, counted once)."""
        if self._flops is None:
            F, _ = self.numeric(np.ones(self.k))
            cc = np.diff(F.L().tocsc().indptr).astype(float)
            self._flops = float(np.sum(cc * cc))
        return self._flops

    def criterion(self, theta: np.ndarray, REML: bool) -> float:
        """lme4's profiled criterion at ``theta`` (inf where A or RX'RX is not positive
        definite)."""
        try:
            F, d = self.numeric(theta)
        except np.linalg.LinAlgError:
            return np.inf
        rhs = d[:, None] * self.rhs  # [Lambda'Z'y, Lambda'Z'X]
        sol = F(rhs)
        g = rhs.T @ sol  # [r R]' A^-1 [r R]
        pw = self.yty - float(g[0, 0])
        logdet_RX = 0.0
        if self.p:
            try:
                RX = sla.cholesky(self.XtX - g[1:, 1:], lower=True, check_finite=False)
            except np.linalg.LinAlgError:
                return np.inf
            cb = sla.solve_triangular(RX, self.Xty - g[1:, 0], lower=True, check_finite=False)
            pw -= float(cb @ cb)
            logdet_RX = 2.0 * float(np.sum(np.log(np.diag(RX))))
        return profiled_criterion(float(F.logdet()), logdet_RX, pw, self.n, self.p, REML, self.ldW)
