"""lme4's profiled criterion for small problems: one dense Cholesky of the augmented system.

For few random effects the blocked factor of :mod:`mlm_wrap.engines.cholesky` spends its
time in Python and numpy call overhead, not arithmetic.  Here, as in lme4's derivation
(Bates et al. 2015, sec. 3.5) and MixedModels.jl's ``updateL!``, the whole penalised
least-squares system is one symmetric matrix::

        [ Lambda'Z'Z Lambda + I   Lambda'Z'X   Lambda'Z'y ]
    O = [ X'Z Lambda              X'X          X'y        ]   = R'R,
        [ y'Z Lambda              y'X          y'y        ]

whose upper Cholesky factor ``R`` holds everything the criterion needs on its diagonal:
``log|L|^2`` (first q), ``log|RX|^2`` (next p) and ``pwrss = R[-1, -1]^2``.  The cross-product
matrix is formed once; each evaluation applies Lambda term by term (``I kron T_k``, a batched
small product), and calls LAPACK's ``dpotrf`` once on a preallocated buffer: about 20
microseconds for sleepstudy, against 200 for the blocked path.

:func:`use_dense` is the cost model (sizes only, never timings): the dense factor costs
``(q + p + 1)^3 / 3`` flops, which stays below the blocked path's fixed overhead up to
``DENSE_MAX`` (``DENSE_MAX_ONE_TERM`` for one term), measured once in
``benchmarks/bench_dense.py``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack


@dataclass
class Crossprods:
    """The cross-products of the working Z (dense q x q here), X and y."""

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n: int


#: largest augmented system ``q + p + 1`` solved densely: one random-effects term (beyond it
#: the batched block-diagonal form is cheaper) and several terms (benchmarks/bench_dense.py)
DENSE_MAX_ONE_TERM = 64
DENSE_MAX = 200
#: one term of one or two columns: the block-diagonal form above this q + p + 1 (twice it
#: for two columns), for X up to this many columns (benchmarks/bench_dense.py)
BLOCK_DIAG_MIN = 24
BLOCK_DIAG_MAX_P = 40
#: largest stack of per-level outer products BlockDiagCriterion keeps (doubles, ~32 MB)
OUTER_MAX = 4_000_000
LOG2PI = np.log(2.0 * np.pi)


def profiled_criterion(logdet_L: float, logdet_RX: float, pwrss: float, n: int, p: int,
                       REML: bool, ldW: float = 0.0) -> float:
    """lme4's profiled REML criterion or ML deviance (Bates et al. 2015, eqs. 34 and 41) from
    ``log|L|^2``, ``log|RX|^2`` (REML only), the penalised residual sum of squares and
    ``sum(log w)``; inf where undefined.  Every criterion of the engines ends here."""
    if not pwrss > 0:
        return np.inf
    if REML:
        val = logdet_L + logdet_RX + (n - p) * (1.0 + LOG2PI + math.log(pwrss / (n - p)))
    else:
        val = logdet_L + n * (1.0 + LOG2PI + math.log(pwrss / n))
    val -= ldW
    return float(val) if math.isfinite(val) else np.inf


def use_block_diag(p1: int, q: int, p: int) -> bool:
    """Whether one term of ``p1`` columns takes :class:`BlockDiagCriterion` before the dense
    forms: with one or two columns its per-level outer products make it the cheapest from
    about 24 random effects for one column and 48 for two (8-17 us an evaluation against
    15-27 for the dense system, and ProfiledX's 32 with 20 fixed effects), while X is narrow
    enough for its (p + 1)^2 columns per level (``benchmarks/bench_dense.py``)."""
    outer = (q // max(p1, 1)) * (1 if p1 == 1 else 3) * (p + 1) ** 2 <= OUTER_MAX
    return (p1 <= 2 and q + p + 1 > BLOCK_DIAG_MIN * p1 and p <= BLOCK_DIAG_MAX_P
            and outer)


def use_dense(q: int, p: int, nterms: int = 2) -> bool:
    """Whether the dense augmented factor is the cheaper way to evaluate the criterion."""
    return 0 < q and q + p + 1 <= (DENSE_MAX_ONE_TERM if nterms == 1 else DENSE_MAX)


class DenseCriterion:
    """lme4's REML criterion and ML deviance from the augmented cross-products.

    ``Z`` (sparse or dense, n x q), ``X`` and ``y`` are the working (weight-scaled,
    offset-removed) quantities of :class:`mlm_wrap.engines.lmm.LmmProblem`; ``terms``
    gives each term's ``(first row, nlevels, p)``; ``ldW`` is ``sum(log w)``."""

    def __init__(self, xp: "Crossprods", terms: list[tuple[int, int, int]], ldW: float = 0.0):
        q, p = xp.ZtX.shape
        M = np.empty((q + p + 1, q + p + 1))  # the cross-products, formed once
        M[:q, :q] = xp.ZtZ
        M[:q, q:q + p] = xp.ZtX
        M[q:q + p, :q] = xp.ZtX.T
        M[q:q + p, q:q + p] = xp.XtX
        M[:q, -1] = M[-1, :q] = xp.Zty
        M[q:q + p, -1] = M[-1, q:q + p] = xp.Xty
        M[-1, -1] = xp.yty
        self.M = M
        self.q, self.p, self.n = q, p, xp.n
        self.ldW = ldW
        self.terms = terms
        self.size = self.q + self.p + 1
        self.buf = np.empty((self.size, self.size))  # C order: its transpose is Fortran order
        self._set_slices(terms)

    def _set_slices(self, terms: list[tuple[int, int, int]]) -> None:
        """theta -> the terms' factors: each term's slice and the (row, col) it fills."""
        self._slices, k = [], 0
        for _, _, p in terms:
            j, i = np.triu_indices(p)
            self._slices.append((k, k + p * (p + 1) // 2, (i, j), p))
            k += p * (p + 1) // 2
        # all terms scalar: Lambda is diagonal, theta_k repeated over the term's levels
        self.scalar = all(p == 1 for _, _, p in terms)
        self._lam_index = np.concatenate([np.full(nl, t) for t, (_, nl, _) in enumerate(terms)]) \
            if self.scalar and terms else None

    def with_response(self, wy: np.ndarray) -> "DenseCriterion":
        """The same system for a new response: ``wy = [Z'y, X'y, y'y]``, the last column."""
        new = copy.copy(self)
        new.M = self.M.copy()
        new.M[:, -1] = wy
        new.M[-1, :] = wy
        new.buf = np.empty_like(self.buf)
        return new

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's lower-triangular ``T_k`` from theta (column-major, as lme4 reads it)."""
        Ts = []
        for a, b, ij, p in self._slices:
            T = np.zeros((p, p))
            T[ij] = theta[a:b]
            Ts.append(T)
        return Ts

    def _lambda_t_rows(self, Ts: list[np.ndarray], A: np.ndarray) -> np.ndarray:
        """``Lambda' A`` for A with q rows (term blocks level-major)."""
        out = np.empty_like(A)
        for (r0, nl, p), T in zip(self.terms, Ts):
            r1 = r0 + nl * p
            if p == 1:
                np.multiply(A[r0:r1], T[0, 0], out=out[r0:r1])
            else:
                blk = A[r0:r1].reshape(nl, p, -1)
                out[r0:r1] = np.matmul(T.T, blk).reshape(r1 - r0, -1)
        return out

    def _lambda_cols(self, Ts: list[np.ndarray], A: np.ndarray) -> None:
        """``A[:, :q] <- A[:, :q] Lambda`` in place (term blocks level-major)."""
        m = A.shape[0]
        for (r0, nl, p), T in zip(self.terms, Ts):
            r1 = r0 + nl * p
            if p == 1:
                A[:, r0:r1] *= T[0, 0]
            else:
                blk = A[:, r0:r1].reshape(m, nl, p)
                A[:, r0:r1] = np.matmul(blk, T).reshape(m, r1 - r0)

    def _lambda_top(self, theta: np.ndarray, Mq: np.ndarray) -> np.ndarray:
        """``Lambda' Mq`` with ``Lambda`` also applied on the right of its first q columns."""
        q = self.q
        if self.scalar:
            lam = theta[self._lam_index]
            out = Mq * lam[:, None]
            out[:, :q] *= lam
            return out
        Ts = self.factors(theta)
        top = self._lambda_t_rows(Ts, Mq)
        self._lambda_cols(Ts, top)
        return top

    def factor_diag(self, theta: np.ndarray) -> np.ndarray | None:
        """Diagonal of the Cholesky factor of the augmented system at ``theta`` (None: not
        positive definite)."""
        q = self.q
        B = self.buf
        B[:q] = self._lambda_top(theta, self.M[:q])
        B.ravel()[:q * (self.size + 1):self.size + 1] += 1.0  # B's diagonal as a strided view
        B[q:, q:] = self.M[q:, q:]
        # B's upper triangle is O's; B.T is Fortran-ordered with that triangle as its lower one
        R, info = lapack.dpotrf(B.T, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return None
        return B.ravel()[::self.size + 1]

    def criterion(self, theta: np.ndarray, REML: bool) -> float:
        """lme4's REML criterion (``REML``) or ML deviance at ``theta`` (inf where the
        system is not positive definite)."""
        d = self.factor_diag(theta)
        if d is None:
            return np.inf
        q, p, n = self.q, self.p, self.n
        dd = d[:-1]
        if not dd.min() > 0:
            return np.inf
        logd = np.log(dd)
        logdet_RX = 2.0 * float(logd[q:].sum()) if REML else 0.0
        return profiled_criterion(2.0 * float(logd[:q].sum()), logdet_RX, float(d[-1] * d[-1]),
                                  n, p, REML, self.ldW)


def use_profiled_x(q: int, p: int) -> bool:
    """Many fixed-effect columns: eliminating X once leaves a dense system of size q + 1;
    it pays from about 20 columns where that system is small, and wherever ``q^3 / 3`` flops
    per evaluation beat the blocked factor's ``p^3 / 3 + p^2 q`` (benchmarks/bench_dense.py)."""
    if p < 20 or q == 0:
        return False
    return q + 1 <= DENSE_MAX or q ** 3 < p ** 3 + 3 * p * p * q


class ProfiledXCriterion(DenseCriterion):
    """lme4's criterion with the fixed effects eliminated first, for wide X.

    With ``P = I - X (X'X)^-1 X'`` (X of full rank, as lme4's rank check leaves it)::

        log|L|^2 + log|RX|^2 = log det X'X + log det(Lambda' Z'PZ Lambda + I)
        pwrss = the last pivot^2 of [[Lambda'Z'PZ Lambda + I, Lambda'Z'Py], [., y'Py]]
        log|L|^2 = log det(Lambda'Z'Z Lambda + I)          (ML only)

    ``Z'PZ``, ``Z'Py`` and ``y'Py`` are formed once; each evaluation factors one (REML) or two
    (ML) systems of size q + 1, whatever the number of fixed-effect columns."""

    def __init__(self, xp: "Crossprods", terms: list[tuple[int, int, int]], ldW: float = 0.0):
        Rx = np.linalg.cholesky(xp.XtX)  # lower, X'X = Rx Rx'
        self.logdet_XtX = 2.0 * float(np.sum(np.log(np.diag(Rx))))
        self._Rx, self._ZtX = Rx, xp.ZtX
        self.q, self.p = xp.ZtX.shape
        self.n, self.ldW, self.terms = xp.n, ldW, terms
        self.size = self.q + 1
        self.buf = np.empty((self.size, self.size))
        self._diag_q = np.arange(self.q)
        self._set_slices(terms)
        self.M_ml = xp.ZtZ  # Z'Z for the ML log-determinant
        self.buf_ml = np.empty((self.q, self.q))
        self.M = self._projected(xp.ZtZ, xp.Zty, xp.Xty, xp.yty)

    def _projected(self, ZtZ, Zty, Xty, yty) -> np.ndarray:
        """[[Z'PZ, Z'Py], [y'PZ, y'Py]]."""
        import scipy.linalg as sla
        W = sla.solve_triangular(self._Rx, np.column_stack([self._ZtX.T, Xty]), lower=True)
        G = np.empty((self.q + 1, self.q + 1))
        G[:self.q, :self.q] = ZtZ
        G[:self.q, -1] = G[-1, :self.q] = Zty
        G[-1, -1] = yty
        G -= W.T @ W
        return G

    def with_response(self, wy: np.ndarray) -> "ProfiledXCriterion":
        """The same system for a new response: ``wy = [Z'y, X'y, y'y]``."""
        q = self.q
        new = copy.copy(self)
        new.M = self._projected(self.M_ml, wy[:q], wy[q:-1], float(wy[-1]))
        new.buf = np.empty_like(self.buf)
        new.buf_ml = np.empty_like(self.buf_ml)
        return new

    def criterion(self, theta: np.ndarray, REML: bool) -> float:
        d = self.factor_diag(theta)
        if d is None or not np.all(d[:-1] > 0) or d[-1] <= 0:
            return np.inf
        q, p, n = self.q, self.p, self.n
        pwrss = float(d[-1] * d[-1])
        if REML:  # log|L|^2 + log|RX|^2 = log det(Lambda'Z'PZ Lambda + I) + log det X'X
            return profiled_criterion(2.0 * float(np.sum(np.log(d[:q]))), self.logdet_XtX,
                                      pwrss, n, p, True, self.ldW)
        ld = self._logdet_ml(theta)
        if ld is None:
            return np.inf
        return profiled_criterion(ld, 0.0, pwrss, n, p, False, self.ldW)

    def _logdet_ml(self, theta: np.ndarray) -> float | None:
        """log det(Lambda'Z'Z Lambda + I)."""
        q, B = self.q, self.buf_ml
        lam_top = self._lambda_top(theta, self.M_ml)
        B[:] = lam_top
        B[self._diag_q, self._diag_q] += 1.0
        R, info = lapack.dpotrf(B.T, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return None
        return 2.0 * float(np.sum(np.log(B.ravel()[::q + 1])))


class BlockDiagCriterion:
    """lme4's criterion for one random-effects term, however many levels: ``A`` is block
    diagonal (one ``p1 x p1`` block per level), so each evaluation is a handful of batched
    products and one batched Cholesky, then one ``(p + 1)``-square Cholesky for the fixed
    effects and the residual::

        L_l L_l' = T' G_l T + I,   C_l = L_l^-1 T' [Z_l'X  Z_l'y],
        [[X'X, X'y], [y'X, y'y]] - sum_l C_l'C_l = R'R  ->  log|RX|^2, pwrss = R[-1,-1]^2

    ``G_l``, ``Z_l'X`` and ``Z_l'y`` are the level's cross-products (``rows``: the working
    row of each observation's level, ``Xt``: the term's columns), formed once."""

    def __init__(self, codes: np.ndarray, Xt: np.ndarray, nlevels: int, X: np.ndarray,
                 y: np.ndarray, XtX: np.ndarray, Xty: np.ndarray, yty: float, ldW: float = 0.0):
        n, p1 = Xt.shape
        self.p1, self.p, self.n, self.ldW, self.nlevels = p1, X.shape[1], n, ldW, nlevels
        G = np.empty((nlevels, p1, p1))
        for a in range(p1):
            for b in range(a, p1):
                G[:, a, b] = G[:, b, a] = np.bincount(codes, weights=Xt[:, a] * Xt[:, b],
                                                      minlength=nlevels)
        self.G = G
        y, Xty, yty = _residual_response(X, XtX, Xty, y)
        self.Xy = np.column_stack([X, y])
        # [Z_l'X  Z_l'y] per level, (levels, p1, p + 1)
        self.W = W = np.stack([_level_sums(codes, Xt[:, a], self.Xy, nlevels) for a in range(p1)],
                              axis=1)
        self.S = _xy_gram(XtX, Xty, yty)
        self._codes, self._Xt = codes, Xt
        j, i = np.triu_indices(p1)
        self._ij = (i, j)
        self._eye = np.eye(p1)
        k = {1: 1, 2: 3}.get(p1, 0)
        self._outer = k and nlevels * k * (self.p + 1) ** 2 <= OUTER_MAX
        if self._outer:
            self._P = self._level_outers(W)
            self._g = [np.ascontiguousarray(G[:, a, b]) for a, b in ((0, 0), (0, 1), (1, 1))
                       if b < p1]
            self._coef = np.empty((k, nlevels))

    def with_response(self, y: np.ndarray, Xty: np.ndarray, yty: float) -> "BlockDiagCriterion":
        """The same system for a new (working) response."""
        y, Xty, yty = _residual_response(self.Xy[:, :self.p], self.S[:self.p, :self.p], Xty, y)
        new = copy.copy(self)
        new.W = self.W.copy()
        for a in range(self.p1):
            new.W[:, a, -1] = np.bincount(self._codes, weights=self._Xt[:, a] * y,
                                          minlength=self.nlevels)
        new.S = _xy_gram(self.S[:self.p, :self.p], Xty, yty)
        if self._outer:  # its own products and evaluation buffer
            new._P, new._coef = new._level_outers(new.W), np.empty_like(self._coef)
        return new

    def _level_outers(self, W: np.ndarray) -> np.ndarray:
        """Each level's ``w_a w_b' (+ w_b w_a')`` (``w_a``: row a of ``[Z_l'X  Z_l'y]``),
        flattened and stacked (terms x levels, (p + 1)^2) for :meth:`_outer_form`."""
        w1 = W[:, 0, :]
        o11 = (w1[:, :, None] * w1[:, None, :]).reshape(len(W), -1)
        if self.p1 == 1:
            return o11
        w2 = W[:, 1, :]
        o12 = w1[:, :, None] * w2[:, None, :]
        o12 = (o12 + o12.transpose(0, 2, 1)).reshape(len(W), -1)
        return np.concatenate([o11, o12, (w2[:, :, None] * w2[:, None, :]).reshape(len(W), -1)])

    def _outer_form(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """``sum_l C_l'C_l`` (flattened) and ``log|A|`` without a Cholesky per level,
        for terms of one or two columns: ``C_l'C_l = W_l' K_l W_l`` with
        ``K_l = T A_l^-1 T' = T adj(A_l) T' / |A_l|``, so the sum is K's entries (a few
        vector operations over the levels) times the precomputed outer products, one
        matrix-vector product.  ``A_l = T'G_l T + I`` is formed directly (no inverse of T:
        valid on the boundary too)."""
        c = self._coef
        if self.p1 == 1:
            t2 = float(theta[0]) ** 2
            a = self._g[0] * t2
            a += 1.0
            np.divide(t2, a, out=c[0])
            return c[0] @ self._P, float(np.log(a).sum())
        t0, t1, t2 = float(theta[0]), float(theta[1]), float(theta[2])  # T = [[t0, 0], [t1, t2]]
        g11, g12, g22 = self._g
        a22 = g22 * (t2 * t2)
        a22 += 1.0
        a12 = g12 * (t2 * t0)
        a12 += g22 * (t2 * t1)
        a11 = g11 * (t0 * t0)
        a11 += g12 * (2.0 * t0 * t1)
        a11 += g22 * (t1 * t1)
        a11 += 1.0
        det = a11 * a22
        det -= a12 * a12
        cc = a22 * t1
        cc -= a12 * t2
        np.multiply(a22, t0 * t0, out=c[0])
        np.multiply(cc, t0, out=c[1])
        np.multiply(cc, t1, out=c[2])
        c[2] += a11 * (t2 * t2)
        c[2] -= a12 * (t1 * t2)
        c /= det
        return c.ravel() @ self._P, float(np.log(det).sum())

    def criterion(self, theta: np.ndarray, REML: bool) -> float:
        if self._outer:
            v, logdet_L = self._outer_form(theta)
            return self._finish(self.S - v.reshape(self.S.shape), logdet_L, REML)
        T = np.zeros((self.p1, self.p1))
        T[self._ij] = theta
        A = np.matmul(np.matmul(T.T, self.G), T)
        A += self._eye
        B = np.matmul(T.T, self.W)  # (levels, p1, p + 1)
        if self.p1 <= 3:  # Cholesky and forward substitution written out over the p1 rows
            C2, logdet_L = _small_chol_solve(A, B)
            if C2 is None:
                return np.inf
        else:
            try:
                Lc = np.linalg.cholesky(A)
            except np.linalg.LinAlgError:
                return np.inf
            logdet_L = 2.0 * float(np.sum(np.log(np.diagonal(Lc, axis1=1, axis2=2))))
            C2 = np.linalg.solve(Lc, B).reshape(-1, self.p + 1)
        return self._finish(self.S - C2.T @ C2, logdet_L, REML)

    def _finish(self, R2: np.ndarray, logdet_L: float, REML: bool) -> float:
        return _criterion_from_rx(R2, logdet_L, REML, self.n, self.p, self.ldW)


def _criterion_from_rx(R2: np.ndarray, logdet_L: float, REML: bool, n: int, p: int,
                       ldW: float) -> float:
    """The criterion from ``[[X'X, X'y], [y'X, y'y]] - C'C`` (upper triangle read): its
    Cholesky gives ``log|RX|^2`` and the pwrss."""
    R, info = lapack.dpotrf(R2, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        return np.inf
    d = np.diagonal(R)
    if not d[:-1].min(initial=np.inf) > 0:
        return np.inf
    logdet_RX = 2.0 * float(np.log(d[:-1]).sum()) if REML else 0.0
    return profiled_criterion(logdet_L, logdet_RX, float(d[-1] * d[-1]), n, p, REML, ldW)


#: two scalar terms: the smaller one's levels at most this many (its Schur block is dense),
#: and q + p + 1 above TWO_SCALAR_MIN (below it the dense system is cheaper: 10 us against 17
#: at q + p + 1 = 32, 82 against 25 at 172; benchmarks/bench_dense.py)
TWO_SCALAR_MAX_Q2 = 64
TWO_SCALAR_MIN = 64


def use_two_scalar(n1: int, n2: int, p: int) -> bool:
    """Whether two scalar terms of ``n1`` and ``n2`` levels take :class:`TwoScalarCriterion`:
    the smaller side small (its Schur block is factored densely) and the per-level outer
    products within ``OUTER_MAX`` doubles."""
    big, small = max(n1, n2), min(n1, n2)
    m = p + 1
    return (small <= TWO_SCALAR_MAX_Q2 and big + small + p + 1 > TWO_SCALAR_MIN
            and p <= BLOCK_DIAG_MAX_P
            and big * (small * small + small * m + m * m) <= OUTER_MAX)


class TwoScalarCriterion:
    """lme4's criterion for two scalar terms (crossed or nested factors, ``(1 | g) + (1 | h)``)
    with few levels on one side: eliminating the larger term (diagonal, ``a_l = t1^2 g_l + 1``)
    leaves ``S = t2^2 (diag(g2) - sum_l c_l v_l v_l') + I`` with ``c_l = t1^2 / a_l`` and
    ``v_l`` the level's column of ``Z2'Z1``; the fixed-effect block needs
    ``sum_l c_l w_l w_l'`` and ``t2 (Z2'[X y] - sum_l c_l v_l w_l')`` (``w_l``: the level's
    ``Z1'[X y]``).  All three sums are one matrix-vector product over outer products formed
    once; per theta only the small Schur block is factored (Penicillin, ScotsSec, crossed
    100 x 50 take a few microseconds instead of a dense q-square Cholesky)."""

    def __init__(self, codes1: np.ndarray, x1: np.ndarray, n1: int, codes2: np.ndarray,
                 x2: np.ndarray, n2: int, X: np.ndarray, y: np.ndarray, XtX: np.ndarray,
                 Xty: np.ndarray, yty: float, ldW: float = 0.0, swap: bool = False):
        self.n, self.p, self.ldW, self.swap = len(y), X.shape[1], ldW, swap
        self._codes, self._x, self._nl = (codes1, codes2), (x1, x2), (n1, n2)
        self.g1 = np.bincount(codes1, weights=x1 * x1, minlength=n1)
        self.g2 = np.bincount(codes2, weights=x2 * x2, minlength=n2)
        V = np.bincount(codes1 * n2 + codes2, weights=x1 * x2, minlength=n1 * n2).reshape(n1, n2)
        self._V = V
        self.PV = (V[:, :, None] * V[:, None, :]).reshape(n1, n2 * n2)
        self._set_response(X, XtX, Xty, y)

    def _set_response(self, X, XtX, Xty, y) -> None:
        y, Xty, yty = _residual_response(X, XtX, Xty, y)
        self.Xy = Xy = np.column_stack([X, y])
        m = self.p + 1
        (c1, c2), (x1, x2), (n1, n2) = self._codes, self._x, self._nl
        W1 = _level_sums(c1, x1, Xy, n1)
        self.W2 = _level_sums(c2, x2, Xy, n2)
        self.PW = (W1[:, :, None] * W1[:, None, :]).reshape(n1, m * m)
        self.PVW = (self._V[:, :, None] * W1[:, None, :]).reshape(n1, n2 * m)
        self.S = _xy_gram(XtX, Xty, yty)

    def with_response(self, y: np.ndarray, Xty: np.ndarray, yty: float) -> "TwoScalarCriterion":
        new = copy.copy(self)
        new._set_response(self.Xy[:, :self.p], self.S[:self.p, :self.p], Xty, y)
        return new

    def criterion(self, theta: np.ndarray, REML: bool) -> float:
        t1, t2 = (float(theta[1]), float(theta[0])) if self.swap else (float(theta[0]), float(theta[1]))
        n2, m = self._nl[1], self.p + 1
        a = self.g1 * (t1 * t1)
        a += 1.0
        c = (t1 * t1) / a
        S2 = (c @ self.PV).reshape(n2, n2)
        S2 *= -(t2 * t2)
        S2.ravel()[::n2 + 1] += self.g2 * (t2 * t2) + 1.0
        L, info = lapack.dpotrf(S2, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            return np.inf
        M2 = self.W2 - (c @ self.PVW).reshape(n2, m)
        M2 *= t2
        Y, info = lapack.dtrtrs(L, M2, lower=1)
        if info != 0:
            return np.inf
        logdet_L = float(np.log(a).sum()) + 2.0 * float(np.log(np.diagonal(L)).sum())
        R2 = self.S - (c @ self.PW).reshape(m, m) - Y.T @ Y
        return _criterion_from_rx(R2, logdet_L, REML, self.n, self.p, self.ldW)


class DiagPairCriterion:
    """Two scalar terms on one grouping factor (``(x || g)``, ``(1 | g) + (0 + x | g)``): the
    criterion of one two-column term whose T is diagonal (the order of the random effects
    changes neither ``|A|`` nor the pwrss), so :class:`BlockDiagCriterion`'s outer form
    serves it with theta ``(a, b)`` read as ``(a, 0, b)``."""

    def __init__(self, inner: BlockDiagCriterion):
        self.inner = inner

    def criterion(self, theta: np.ndarray, REML: bool) -> float:
        t = np.asarray(theta, float)
        return self.inner.criterion(np.array([t[0], 0.0, t[1]]), REML)

    def with_response(self, y: np.ndarray, Xty: np.ndarray, yty: float) -> "DiagPairCriterion":
        return DiagPairCriterion(self.inner.with_response(y, Xty, yty))


def _level_sums(codes: np.ndarray, x: np.ndarray, M: np.ndarray, nlevels: int) -> np.ndarray:
    """``Z_k'M`` for one scalar column ``x`` of a term: (levels, columns of M), by bincount."""
    return np.column_stack([np.bincount(codes, weights=x * M[:, j], minlength=nlevels)
                            for j in range(M.shape[1])])


def _xy_gram(XtX: np.ndarray, Xty: np.ndarray, yty: float) -> np.ndarray:
    """``[[X'X, X'y], [y'X, y'y]]``, the fixed-effect and response block the criteria reduce."""
    p = len(Xty)
    S = np.empty((p + 1, p + 1))
    S[:p, :p], S[:p, -1], S[-1, :p], S[-1, -1] = XtX, Xty, Xty, yty
    return S


def _residual_response(X: np.ndarray, XtX: np.ndarray, Xty: np.ndarray, y: np.ndarray):
    """``y`` less its least-squares fit on X, with ``X'y`` and ``y'y`` of that: the profiled
    criterion does not change (beta absorbs any ``X gamma``), but ``y'y`` no longer dwarfs
    the pwrss that the last pivot leaves, so the cancellation is gone (lme4 takes the pwrss
    from residuals for the same reason); finite-difference gradients of the criterion then
    stay clean (refits' gradient checks).  Element-wise products and numpy's pairwise sum
    only (no BLAS reduction over the rows): the same bits in every process, so parallel
    refits agree with serial ones number for number."""
    if X.shape[1] == 0:
        return y, np.zeros(0), float(np.add.reduce(y * y))
    try:
        gamma = np.linalg.solve(XtX, Xty)
    except np.linalg.LinAlgError:
        return y, Xty, float(np.add.reduce(y * y))
    yc = y.copy()
    for j in range(X.shape[1]):
        yc -= X[:, j] * gamma[j]
    return yc, Xty - XtX @ gamma, float(np.add.reduce(yc * yc))


def _small_chol_solve(A: np.ndarray, B: np.ndarray):
    """For stacks of small SPD ``A`` (levels, k, k) and ``B`` (levels, k, m): the rows of
    ``L^-1 B`` (L L' = A) stacked as (levels * k, m) in any row order, and ``log|A|``;
    (None, 0) where some A is not positive definite.  Vectorised over the levels, looped
    over k (<= 3), which beats LAPACK's per-matrix calls for 2 x 2 blocks."""
    k = A.shape[1]
    L = [[None] * k for _ in range(k)]
    logdet = 0.0
    rows = []
    for j in range(k):
        d = A[:, j, j] - sum(L[j][i] * L[j][i] for i in range(j))
        if not d.min() > 0:
            return None, 0.0
        L[j][j] = np.sqrt(d)
        logdet += float(np.log(d).sum())
        for r in range(j + 1, k):
            L[r][j] = (A[:, r, j] - sum(L[r][i] * L[j][i] for i in range(j))) / L[j][j]
        row = B[:, j, :] - sum(L[j][i][:, None] * rows[i] for i in range(j))
        rows.append(row / L[j][j][:, None])
    return (rows[0] if k == 1 else np.concatenate(rows)), logdet
