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
``DENSE_MAX`` (measured in ``benchmarks/bench_dense.py``).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

#: largest augmented system ``q + p + 1`` solved densely (benchmarks/bench_dense.py)
DENSE_MAX = 160
LOG2PI = np.log(2.0 * np.pi)


def use_dense(q: int, p: int) -> bool:
    """Whether the dense augmented factor is the cheaper way to evaluate the criterion."""
    return 0 < q and q + p + 1 <= DENSE_MAX


class DenseCriterion:
    """lme4's REML criterion and ML deviance from the augmented cross-products.

    ``Z`` (sparse or dense, n x q), ``X`` and ``y`` are the working (weight-scaled,
    offset-removed) quantities of :class:`mlm_wrap.engines.lmm.LmmProblem`; ``terms``
    gives each term's ``(first row, nlevels, p)``; ``ldW`` is ``sum(log w)``."""

    def __init__(self, Z, X: np.ndarray, y: np.ndarray, terms: list[tuple[int, int, int]],
                 ldW: float = 0.0):
        Zd = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z, float)
        W = np.column_stack([Zd, X, y])
        self.M = W.T @ W  # the cross-products, formed once
        self.q, self.p = Zd.shape[1], X.shape[1]
        self.n = len(y)
        self.ldW = ldW
        self.terms = terms
        self.size = self.q + self.p + 1
        self.buf = np.empty((self.size, self.size))  # C order: its transpose is Fortran order
        self._diag_q = np.arange(self.q)
        # theta -> the terms' factors: each term's slice and the (row, col) it fills
        self._slices, k = [], 0
        for _, _, p in terms:
            j, i = np.triu_indices(p)
            self._slices.append((k, k + p * (p + 1) // 2, (i, j), p))
            k += p * (p + 1) // 2
        # all terms scalar: Lambda is diagonal, theta_k repeated over the term's levels
        self.scalar = all(p == 1 for _, _, p in terms)
        self._lam_index = np.concatenate([np.full(nl, t) for t, (_, nl, _) in enumerate(terms)]) \
            if self.scalar else None

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

    def factor_diag(self, theta: np.ndarray) -> np.ndarray | None:
        """Diagonal of the Cholesky factor of the augmented system at ``theta`` (None: not
        positive definite)."""
        q = self.q
        B = self.buf
        if self.scalar:
            lam = theta[self._lam_index]
            np.multiply(self.M[:q], lam[:, None], out=B[:q])
            B[:q, :q] *= lam
        else:
            Ts = self.factors(theta)
            top = self._lambda_t_rows(Ts, self.M[:q])  # Lambda' [Z'Z  Z'X  Z'y]
            self._lambda_cols(Ts, top)  # ... and Lambda on the right of Z'Z
            B[:q] = top
        B[self._diag_q, self._diag_q] += 1.0
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
        if d is None or not np.all(d[:-1] > 0):
            return np.inf
        q, p, n = self.q, self.p, self.n
        logd = np.log(d[:-1])
        logdet_L = 2.0 * float(np.sum(logd[:q]))
        pwrss = float(d[-1] * d[-1])
        if REML:
            nmp = n - p
            val = logdet_L + 2.0 * float(np.sum(logd[q:])) + nmp * (1.0 + LOG2PI + np.log(pwrss / nmp))
        else:
            val = logdet_L + n * (1.0 + LOG2PI + np.log(pwrss / n))
        val -= self.ldW
        return float(val) if np.isfinite(val) else np.inf
