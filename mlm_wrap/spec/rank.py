"""Wide fixed-effect designs cheaply: ``X'X`` through sparse products, and a rank check
that avoids the dense QR when the Cholesky factor of ``X'X`` already proves full rank.

lme4's ``chkRank.drop.cols`` runs R's pivoting QR on X; on a 2e4 x 2000 design (a
2000-level factor) that QR alone takes tens of seconds.  The Cholesky factor of ``X'X``
has the same diagonal as QR's R (up to sign) in exact arithmetic; in floating point its
squared pivots carry an absolute error near ``1e-16`` on unit-norm columns, so pivots above
``1e-10`` (ratios above 1e-5, far from R's 1e-7 tolerance) prove every column independent.
Anything closer goes to the exact QR path (:func:`mlm_wrap.spec.design.drop_rank_deficient`).
"""
from __future__ import annotations

import numpy as np

#: squared-pivot level above which the Cholesky factor proves independence
SURE_PIVOT = 1e-10


def gram(X: np.ndarray) -> np.ndarray:
    """``X'X``, through a sparse product when X is mostly zeros (indicator columns of a
    many-level factor: 2e4 x 2000 in 0.1 s instead of 4e10 flops)."""
    n, p = X.shape
    if p >= 50 and n * p > 1_000_000:
        nz = np.count_nonzero(X)
        if nz < 0.1 * n * p:
            import scipy.sparse as sp
            Xs = sp.csc_matrix(X)
            return np.asarray((Xs.T @ Xs).toarray())
    return X.T @ X


def surely_full_rank(X: np.ndarray) -> bool:
    """True when the Cholesky factor of the column-normalised ``X'X`` proves every column
    independent by a wide margin; False means "not proven" (use the QR)."""
    n, p = X.shape
    if p == 0 or n < p:
        return False
    G = gram(X)
    d = np.diag(G)
    if not np.all(np.isfinite(G)) or np.any(d <= 0):
        return False
    s = 1.0 / np.sqrt(d)
    try:
        L = np.linalg.cholesky(G * s[:, None] * s[None, :])
    except np.linalg.LinAlgError:
        return False
    return bool(np.min(np.diag(L)) ** 2 > SURE_PIVOT)
