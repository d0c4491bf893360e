"""The dense Schur block of the LMM's "triples" mode, built in a compact form.

In :mod:`mlm_wrap.engines.cholesky`'s blocked factor, with a scalar first term, the block
factored densely is ``S = Lam2'(Z2'Z2 - Z2'Z1 diag(c^2) Z1'Z2) Lam2 + I`` (``c`` from the
first term's diagonal factor).  Its lower triangle is non-zero only where two random effects
of terms 2..K share a level of the first term (or a row): a fixed pattern, known once per
problem.  :class:`LowerPattern` keeps that pattern and a sparse matrix ``pmat`` with
``(Z2'Z1 diag(c^2) Z1'Z2)[pos] = pmat @ c^2``, so that each evaluation costs one sparse
matrix-vector product over the pattern's pair products (int32 indices, no gather of ``c``
per product, no ``bincount``), a few vector operations on the pattern's values and a scatter
into a zeroed buffer, which LAPACK then factors in place (no copy of the q2 x q2 block, no
clearing of its upper triangle: nothing downstream reads it).

InstEval (q2 = 1142, 1.8 million pair products on 142 thousand positions): the block's
formation fell from ~6.5 ms to ~2 ms an evaluation (``benchmarks/SPARSE.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack


@dataclass
class LowerPattern:
    """The fixed lower-triangle pattern of the Schur block and how its values are formed."""

    pos: np.ndarray  # (m,) flat positions row * q2 + col (row >= col), increasing
    pmat: sp.csr_matrix  # (m, q1): (Z2'Z1 diag(v) Z1'Z2)[pos] = pmat @ v
    z: np.ndarray  # (m,) Z2'Z2 at pos
    cls: np.ndarray  # (m,) row term * K + column term (terms 2..K numbered 0..K-2)
    diag: np.ndarray  # indices into pos of the diagonal
    nterms: int  # K - 1


def lower_pattern(Zc: sp.csc_matrix, Z2tZ2: np.ndarray, sizes: list[int]) -> LowerPattern:
    """The pattern of ``Z2'Z1 diag(v) Z1'Z2``'s lower triangle from ``Zc = Z2'Z1`` (CSC, q2 x
    q1), united with Z2'Z2's and the diagonal; ``sizes``: the levels of terms 2..K (scalar).

    The pair products are laid out column by column (CSC, no sort), their rows found with a
    marker over the q2 x q2 positions (no ``np.unique`` of millions of keys)."""
    q2, q1 = Zc.shape
    if not Zc.has_sorted_indices:
        Zc = Zc.sorted_indices()
    indptr, indices, data = Zc.indptr, Zc.indices.astype(np.int64), Zc.data
    m = np.diff(indptr).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(m * (m + 1) // 2)])
    key = np.empty(int(start[-1]), np.int64)
    prod = np.empty(int(start[-1]))
    for mm in np.unique(m[m > 0]):  # columns with mm non-zeros, vectorised together
        cj = np.flatnonzero(m == mm)
        idx = indptr[cj][:, None] + np.arange(mm)[None, :]
        R, V = indices[idx], data[idx]
        a, b = np.tril_indices(mm)  # rows sorted within a column: a >= b is row_a >= row_b
        k = (start[cj][:, None] + np.arange(len(a))[None, :]).ravel()
        key[k] = (R[:, a] * q2 + R[:, b]).ravel()
        prod[k] = (V[:, a] * V[:, b]).ravel()
    mark = np.zeros(q2 * q2, bool)
    mark[key] = True
    zr, zc = np.nonzero(Z2tZ2)
    low = zr >= zc
    mark[zr[low] * q2 + zc[low]] = True
    mark[np.arange(q2) * (q2 + 1)] = True
    pos = np.flatnonzero(mark)
    rank = np.cumsum(mark, dtype=np.int32)  # position -> its index among pos (+1)
    rank -= 1
    del mark
    rows = rank[key]
    del key, rank  # the temporaries go before the CSR copy is made (peak memory)
    csc = sp.csc_matrix((prod, rows, start), shape=(len(pos), q1))
    del prod, rows
    pmat = csc.tocsr()
    del csc
    term = np.repeat(np.arange(len(sizes)), sizes)
    r, c = np.divmod(pos, q2)
    return LowerPattern(pos=pos, pmat=pmat, z=Z2tZ2.ravel()[pos],
                        cls=(term[r] * len(sizes) + term[c]).astype(np.intp),
                        diag=np.flatnonzero(r == c), nterms=len(sizes))


def scalar_schur(pat: LowerPattern, c2: np.ndarray, lam: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``S``'s lower triangle in ``out`` (q2 x q2, C order; the upper triangle is zeroed too):
    ``(Z2'Z2 - Z2'Z1 diag(c2) Z1'Z2) * lam_i lam_j + I`` at the pattern, zero elsewhere;
    ``lam``: each scalar term's relative standard deviation (terms 2..K)."""
    vals = pat.z - pat.pmat @ c2
    if pat.nterms == 1:
        vals *= lam[0] * lam[0]
    else:
        vals *= np.multiply.outer(lam, lam).ravel()[pat.cls]
    vals[pat.diag] += 1.0
    out.fill(0.0)
    out.ravel()[pat.pos] = vals
    return out


def chol_lower_inplace(S: np.ndarray, clean: bool = True) -> np.ndarray:
    """LAPACK's Cholesky of the symmetric C-ordered ``S`` from its lower triangle, in place
    (the C-ordered lower triangle is the Fortran-ordered upper one: no copy); ``clean=False``
    leaves the strict upper triangle as it was (triangular solves never read it).  Raises
    LinAlgError when S is not positive definite."""
    c, info = lapack.dpotrf(S.T, lower=0, overwrite_a=1, clean=int(clean))
    if info != 0:
        raise np.linalg.LinAlgError("matrix not positive definite")
    return c.T
