"""Lambda and the blocked Cholesky factor of ``A = Lambda'Z'WZ Lambda + I``, written once for
the linear mixed model (:mod:`mlm_wrap.engines.lmm`: ``W = I``, cross-products computed once)
and for PIRLS (:mod:`mlm_wrap.engines.pirls`: working weights, cross-products rebuilt at
every iteration).

Random effects are stacked term by term, level-major within a term, as lme4 stacks them;
``Lambda(theta)`` is block diagonal, ``I (x) T_k`` for term ``k``, ``T_k`` lower triangular
from the term's slice of ``theta`` (column-major, as lme4 reads it).

The factor is blocked as MixedModels.jl blocks it.  The first term (lme4 puts the one with
most levels first) gives a block-diagonal ``A11``, one ``p1 x p1`` block per level, factored
vectorised over the levels; the remaining terms form one dense block::

    L11 L11' = A11,    L21 = A21 L11^-T,    L22 L22' = A22 - L21 L21'

That keeps a single-factor model with 10,000 groups cheap, and crossed designs exact.
``L21 L21'``, the cost of each evaluation, is formed in one of three modes
(:class:`CrossProducts`.mode):

* ``"dense"``: BLAS on a dense ``L21`` (PIRLS always; the LMM while ``q2 x q1`` is small);
* ``"sparse"``: sparse products, ``L21`` keeping ``Z2'Z1``'s sparsity (large LMMs);
* ``"triples"``: scalar first term: ``L21 L21' = Lam2' Z2'Z1 diag(c^2) Z1'Z2 Lam2`` is
  linear in ``c^2``, a sum over precomputed products of each column's pairs of non-zeros
  (the LMM: one sparse product on the Schur block's fixed pattern, :mod:`.schur`; PIRLS: a
  ``bincount``); chosen where that is cheaper than BLAS (``TRIPLE_COST``, ``PATTERN_GAIN``).

The LMM picks its mode once from the sizes (:func:`unit_crossprods`); PIRLS, whose ``Z'WZ``
changes with the weights, passes dense cross-products (``GlmmProblem.crossprods``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack
import scipy.sparse as sp

from mlm_wrap.engines.schur import LowerPattern, chol_lower_inplace, lower_pattern, scalar_schur

DENSE_LIMIT = 20_000_000  # entries of the off-diagonal block kept dense (160 MB)
TRIPLE_LIMIT = 30_000_000  # precomputed pair products kept for the "triples" mode
TRIPLE_COST = 50  # a gathered-and-scattered product costs about this many BLAS flops
# (measured, one thread: 9M products 46 ms vs a 500x1000 dense syrk, 250M flops, 22 ms)
PATTERN_GAIN = 2  # the LMM's products through schur.LowerPattern cost 1/PATTERN_GAIN of that


# ------------------------------------------------------------------------------ theta
@dataclass
class ReBlock:
    """One random-effects term: ``nlevels`` levels, ``p`` columns per level."""

    codes: np.ndarray  # (n,) level index of each row
    Xt: np.ndarray  # (n, p) the term's model-matrix columns
    nlevels: int

    @property
    def p(self) -> int:
        return self.Xt.shape[1]

    @property
    def q(self) -> int:
        return self.p * self.nlevels

    @property
    def ntheta(self) -> int:
        return self.p * (self.p + 1) // 2

    def Z(self) -> sp.csc_matrix:
        """Sparse ``n x q`` model matrix, columns ordered level-major as lme4 orders them."""
        n, p = self.Xt.shape
        rows = np.repeat(np.arange(n), p)
        cols = (self.codes[:, None] * p + np.arange(p)[None, :]).ravel()
        return sp.csc_matrix((self.Xt.ravel(), (rows, cols)), shape=(n, self.q))

    def T(self, theta: np.ndarray) -> np.ndarray:
        """Lower-triangular relative covariance factor from this term's theta (column-major)."""
        T = np.zeros((self.p, self.p))
        T[_lower_ij(self.p)] = theta
        return T


@functools.cache
def _lower_ij(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each theta of a p x p factor: the lower triangle, column-major."""
    j, i = np.triu_indices(p)
    return i, j


def theta_lower(blocks: list[ReBlock]) -> np.ndarray:
    """lme4's lower bounds: 0 for the diagonal of each factor, -inf elsewhere."""
    lo = [np.where(i == j, 0.0, -np.inf) for i, j in (_lower_ij(b.p) for b in blocks)]
    return np.concatenate(lo) if lo else np.zeros(0)


def theta_start(blocks: list[ReBlock]) -> np.ndarray:
    """lme4's default start: identity factors."""
    return np.where(np.isfinite(theta_lower(blocks)), 1.0, 0.0)


def split_theta(blocks: list[ReBlock], theta: np.ndarray) -> list[np.ndarray]:
    """theta cut into the terms' slices."""
    out, k = [], 0
    for b in blocks:
        out.append(np.asarray(theta[k:k + b.ntheta], float))
        k += b.ntheta
    return out


# ------------------------------------------------------------------------------ Lambda
class ReTerms:
    """The random-effects terms of one model and their Lambda: what the LMM and the GLMM
    problems share (they derive from it)."""

    def __init__(self, blocks: list[ReBlock]):
        self.blocks = list(blocks)
        self.ntheta = sum(b.ntheta for b in self.blocks)
        self.lower = theta_lower(self.blocks)
        self.offsets = np.cumsum([0] + [b.q for b in self.blocks])
        self.q = int(self.offsets[-1])
        self.q1 = self.blocks[0].q if self.blocks else 0
        self.q2 = self.q - self.q1

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's ``T_k``."""
        return [b.T(t) for b, t in zip(self.blocks, split_theta(self.blocks, theta))]

    def lambda_matrix(self, Ts: list[np.ndarray], first: int = 0) -> sp.csr_matrix:
        """Sparse block-diagonal Lambda of terms ``first..K`` (``I kron T_k`` per term)."""
        mats = [_block_diag(np.broadcast_to(T, (b.nlevels,) + T.shape))
                for b, T in zip(self.blocks[first:], Ts[first:])]
        return sp.block_diag(mats, format="csr") if mats else sp.csr_matrix((0, 0))

    def lam(self, Ts, v: np.ndarray) -> np.ndarray:
        """``Lambda v`` for v of shape (q,) or (q, k)."""
        return _apply_lambda(self.blocks, self.offsets, Ts, v, False, 0)

    def lam_t(self, Ts, v: np.ndarray) -> np.ndarray:
        """``Lambda' v``."""
        return _apply_lambda(self.blocks, self.offsets, Ts, v, True, 0)

    _lambda_apply = lam  # the names the models call
    _lambda_t_apply = lam_t

    def rest(self, Ts, M: np.ndarray) -> np.ndarray:
        """``Lambda_rest M``: M's rows are the random effects of terms 2..K."""
        return _apply_lambda(self.blocks, self.offsets, Ts, M, False, 1)

    def rest_t(self, Ts, M: np.ndarray) -> np.ndarray:
        """``Lambda_rest' M``."""
        return _apply_lambda(self.blocks, self.offsets, Ts, M, True, 1)

    def condvar_blocks(self, Ts, chol: Chol) -> list[np.ndarray]:
        """Per term, (nlevels, p, p) blocks of ``Lambda A^-1 Lambda'`` (times sigma^2: condVar)."""
        inv = chol.inv_diag_blocks([(b.nlevels, b.p) for b in self.blocks])
        return [np.matmul(np.matmul(T, A), T.T) for T, A in zip(Ts, inv)]


def _apply_lambda(blocks, offsets, Ts, v, transpose: bool, first: int) -> np.ndarray:
    """Lambda v (Lambda' v) over terms ``first..K``, block by block; v's rows start at term
    ``first``."""
    v = np.asarray(v, float)
    out = np.empty_like(v)
    base = offsets[first]
    for k in range(first, len(blocks)):
        b, T = blocks[k], Ts[k]
        lo, hi = offsets[k] - base, offsets[k + 1] - base
        vk = v[lo:hi].reshape(b.nlevels, b.p, -1)
        M = T.T if transpose else T
        out[lo:hi] = (M[0, 0] * vk if b.p == 1 else np.matmul(M, vk)).reshape(v[lo:hi].shape)
    return out


def rest_lambda_t(blocks: list[ReBlock], offsets: np.ndarray, Ts: list[np.ndarray],
                  M: np.ndarray) -> np.ndarray:
    """``Lambda_rest' M``: M's rows are the random effects of terms 2..K."""
    return _apply_lambda(blocks, offsets, Ts, M, True, 1)


# ------------------------------------------------------------------------------ Z'WZ
@dataclass
class CrossProducts:
    """``Z'WZ`` in the factor's blocks, and how ``L21 L21'`` is formed from them."""

    G11: np.ndarray  # (l1, p1, p1) per-level blocks of Z1'WZ1
    Z2tZ1: np.ndarray | sp.csr_matrix | None  # (q2, q1): dense in "dense" mode, else sparse
    Z2tZ2: np.ndarray | sp.csr_matrix | None  # (q2, q2): sparse in "sparse" mode, else dense
    mode: str = "dense"
    triples: tuple | None = None  # "triples" (PIRLS): (flat a*q2+b, z_aj z_bj, j) per pair
    lower: LowerPattern | None = None  # "triples" (LMM): the Schur block's fixed pattern

    def workspace(self) -> np.ndarray:
        """A q2 x q2 buffer reused by every evaluation of this problem (not thread-shared)."""
        buf = self.__dict__.get("_work")
        if buf is None:
            buf = self._work = np.empty_like(self.Z2tZ2)
        return buf


def level_gram(b: ReBlock, xx: np.ndarray | None = None, w: np.ndarray | None = None) -> np.ndarray:
    """Per-level ``p x p`` blocks of ``Z1'WZ1``: sums of ``w x x'`` over each level's rows
    (``xx``: the precomputed ``x x'``, (n, p, p))."""
    p, l = b.p, b.nlevels
    if xx is None:
        xx = b.Xt[:, :, None] * b.Xt[:, None, :]
    if w is not None:
        xx = xx * w[:, None, None]
    G = np.empty((l, p, p))
    for a in range(p):
        for c in range(a, p):
            G[:, a, c] = G[:, c, a] = np.bincount(b.codes, weights=xx[:, a, c], minlength=l)
    return G


def unit_crossprods(terms: ReTerms, Z: sp.csc_matrix) -> CrossProducts:
    """``Z'Z`` (unit weights) once, with the L21 mode of least measured cost."""
    q1, q2 = terms.q1, terms.q2
    if not q2:  # one term: no products of 1e6-row sparse matrices that are all empty
        return crossprods_from_blocks(terms, level_gram(terms.blocks[0]),
                                      sp.csr_matrix((0, q1)), sp.csr_matrix((0, 0)))
    rest = Z[:, q1:]
    return crossprods_from_blocks(terms, level_gram(terms.blocks[0]),
                                  (rest.T @ Z[:, :q1]).tocsr(), (rest.T @ rest).tocsr())


#: below this many Z2'Z1 entries the dense L21 is set up in a few microseconds, where the
#: Schur pattern's analysis costs 0.25 ms (small models' fixed cost: their criterion is one
#: of engines/dense.py's, the blocked factor serves only the final solve)
TINY_DENSE = 4096


def crossprods_from_blocks(terms: ReTerms, G11: np.ndarray, Z2tZ1: sp.csr_matrix,
                           Z2tZ2: sp.csr_matrix) -> CrossProducts:
    """:func:`unit_crossprods` from ``Z'Z``'s blocks already formed (the out-of-core fit,
    :mod:`mlm_wrap.engines.crossprod`, accumulates them chunk by chunk)."""
    b1, q1, q2 = terms.blocks[0], terms.q1, terms.q2
    xp = CrossProducts(G11, Z2tZ1, Z2tZ2, "sparse")
    if q2 and q2 * q2 <= DENSE_LIMIT:
        xp.Z2tZ2 = Z2tZ2.toarray()
        # the scatter costs ~TRIPLE_COST flops of BLAS per product: triples only where cheaper
        budget = TRIPLE_LIMIT if not TRIPLE_COST else \
            min(TRIPLE_LIMIT, q2 * q2 * q1 * PATTERN_GAIN // TRIPLE_COST)
        Zc = Z2tZ1.tocsc()
        nz = np.diff(Zc.indptr).astype(np.int64)
        if b1.p == 1 and int(np.sum(nz * nz)) <= budget and q1 * q2 > TINY_DENSE:
            # the Schur block's fixed lower pattern, once: each evaluation is one sparse
            # matrix-vector product over its pair products and a scatter into one
            # preallocated q2 x q2 buffer (engines/schur.py)
            xp.mode = "triples"
            xp.lower = lower_pattern(Zc, xp.Z2tZ2, [b.q for b in terms.blocks[1:]])
        elif q2 * q1 <= DENSE_LIMIT:
            xp.mode, xp.Z2tZ1 = "dense", Z2tZ1.toarray()
        else:
            xp.Z2tZ2 = Z2tZ2
    return xp


# ------------------------------------------------------------------------------ the factor
def factor(terms: ReTerms, Ts: list[np.ndarray], xp: CrossProducts, reuse: bool = False) -> Chol:
    """Blocked Cholesky factor of ``A = Lambda'Z'WZ Lambda + I``; raises LinAlgError when A
    is not positive definite.  ``reuse``: the factor may live in ``xp``'s buffer (valid until
    the next evaluation of the problem: the criterion's hot path, which keeps nothing)."""
    b1, T1 = terms.blocks[0], Ts[0]
    l1, p1, q1, q2 = b1.nlevels, b1.p, terms.q1, terms.q2
    A11 = np.matmul(np.matmul(T1.T, xp.G11), T1)
    A11[:, range(p1), range(p1)] += 1.0
    L11, L11inv = batched_chol(A11)
    if q2 == 0:
        return Chol(L11, L11inv, None, None)
    if xp.mode == "triples":  # L21 = Lam2' Z2'Z1 diag(c)
        c = T1[0, 0] * L11inv[:, 0, 0]
        lam2 = _rest_diagonal(terms, Ts)
        pat = xp.lower
        L21 = _L21Op(terms, Ts, xp.Z2tZ1, c)
        if pat is not None and lam2 is not None:
            # scalar terms: S's lower triangle at its fixed pattern, factored in place
            # (reuse: in the problem's buffer, which the next evaluation overwrites)
            S = scalar_schur(pat, c * c, np.array([T[0, 0] for T in Ts[1:]]),
                             xp.workspace() if reuse else np.empty((q2, q2)))
            return Chol(L11, L11inv, L21, chol_lower_inplace(S, clean=False))
        if pat is not None:
            P = np.zeros((q2, q2))
            P.ravel()[pat.pos] = pat.pmat @ (c * c)
        else:  # PIRLS: triples of this working weight's Z2'WZ1
            pair, prod, col = xp.triples
            P = np.bincount(pair, weights=prod * (c * c)[col], minlength=q2 * q2).reshape(q2, q2)
            if lam2 is not None:  # diagonal Lam2 keeps the lower triangle: factor just that
                S = np.subtract(xp.Z2tZ2, P, out=P)
                S *= lam2[:, None]
                S *= lam2[None, :]
                S.ravel()[::q2 + 1] += 1.0
                return Chol(L11, L11inv, L21, chol_lower_inplace(S))
        P += np.tril(P, -1).T  # the lower triangle made whole: Lam2 mixes across it
        if lam2 is not None:
            S = np.subtract(xp.Z2tZ2, P, out=P)
            S *= lam2[:, None]
            S *= lam2[None, :]
        else:
            S = terms.rest_t(Ts, terms.rest_t(Ts, xp.Z2tZ2 - P).T)
        S[np.diag_indices(q2)] += 1.0
        return Chol(L11, L11inv, L21, chol(S))
    if xp.mode == "dense":
        A21 = terms.rest_t(Ts, np.matmul(xp.Z2tZ1.reshape(q2, l1, p1), T1).reshape(q2, q1))
        # L21 = A21 L11^-T, level by level, stored column-major (L21' C-contiguous)
        if p1 == 1:
            L21 = (np.ascontiguousarray(A21.T) * L11inv[:, 0, :]).T
        else:
            L21 = np.matmul(A21.reshape(q2, l1, p1).transpose(1, 0, 2),
                            L11inv.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(q2, q1)
        lam2 = _rest_diagonal(terms, Ts)
        A22 = xp.Z2tZ2 * np.outer(lam2, lam2) if lam2 is not None else \
            terms.rest_t(Ts, terms.rest_t(Ts, xp.Z2tZ2).T)
        A22[np.diag_indices(q2)] += 1.0
        return Chol(L11, L11inv, L21, chol(A22 - L21 @ L21.T))
    Lam1 = terms.lambda_matrix(Ts[:1])
    Lam2 = terms.lambda_matrix(Ts, first=1)
    L21 = (Lam2.T @ xp.Z2tZ1 @ Lam1 @ _block_diag(np.swapaxes(L11inv, 1, 2))).tocsr()
    A22 = (Lam2.T @ xp.Z2tZ2 @ Lam2).toarray()
    A22[np.diag_indices(q2)] += 1.0
    return Chol(L11, L11inv, L21, chol(A22 - (L21 @ L21.T).toarray()))


@dataclass
class Chol:
    """``L`` with ``L L' = A``: ``L11`` one ``p1 x p1`` block per level of the first term (and
    their inverses), ``L21`` dense, sparse or an operator, ``L22`` dense."""

    L11: np.ndarray  # (l1, p1, p1)
    L11inv: np.ndarray  # (l1, p1, p1)
    L21: object  # (q2, q1): ndarray, scipy sparse or _L21Op; None for one term
    L22: np.ndarray | None  # (q2, q2)

    def _first(self, M: np.ndarray, r: np.ndarray) -> np.ndarray:
        """M r for the (l1, p1, p1) stack M and r's rows of the first term."""
        l1, p1, _ = M.shape
        if p1 == 1:
            return M[:, 0, 0].reshape((-1,) + (1,) * (r.ndim - 1)) * r
        return np.matmul(M, r.reshape(l1, p1, -1)).reshape(r.shape)

    def solve_L(self, r: np.ndarray) -> np.ndarray:
        """``L^-1 r`` for r of shape (q,) or (q, k) (forward)."""
        r = np.asarray(r, float)
        q1 = self.L11.shape[0] * self.L11.shape[1]
        x1 = self._first(self.L11inv, r[:q1])
        if self.L21 is None:
            return x1
        x2 = _tri_solve(self.L22, r[q1:] - self.L21 @ x1, False)
        return np.concatenate([x1, x2])

    def solve_Lt(self, r: np.ndarray) -> np.ndarray:
        """``L'^-1 r`` (backward)."""
        r = np.asarray(r, float)
        q1 = self.L11.shape[0] * self.L11.shape[1]
        r1 = r[:q1]
        if self.L21 is not None:
            x2 = _tri_solve(self.L22, r[q1:], True)
            r1 = r1 - self.L21.T @ x2
        x1 = self._first(np.swapaxes(self.L11inv, 1, 2), r1)
        return x1 if self.L21 is None else np.concatenate([x1, x2])

    def logdet(self) -> float:
        """``log |L|^2`` (lme4's ldL2)."""
        p1 = self.L11.shape[1]
        ld = 2.0 * float(np.sum(np.log(self.L11[:, range(p1), range(p1)])))
        if self.L22 is not None:
            ld += 2.0 * float(np.sum(np.log(np.diag(self.L22))))
        return ld

    def inv_diag_blocks(self, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Per term (levels, p) of ``sizes``: the (levels, p, p) diagonal blocks of
        ``A^-1 = L'^-1 L^-1``."""
        L11inv = self.L11inv
        l1, p1, _ = L11inv.shape
        A11 = np.matmul(np.swapaxes(L11inv, 1, 2), L11inv)  # diag blocks of L11^-T L11^-1
        if self.L21 is None:
            return [A11]
        q2 = self.L22.shape[0]
        L21 = self.L21
        if isinstance(L21, _L21Op):  # M = L21 L11^-1
            M = L21.scaled(L11inv[:, 0, 0]).tocsc()
        elif sp.issparse(L21):
            M = (L21 @ _block_diag(L11inv)).tocsc()
        elif p1 == 1:
            M = L21 * L11inv[:, 0, 0][None, :]
        else:
            M = np.einsum("rlj,ljk->rlk", L21.reshape(q2, l1, p1), L11inv).reshape(q2, l1 * p1)
        L22inv = sla.solve_triangular(self.L22, np.eye(q2), lower=True, check_finite=False)
        # diag blocks of (L22^-1 M)'(L22^-1 M), in column chunks to bound memory
        step = max(p1, (2_000_000 // max(q2, 1)) // p1 * p1)
        extra = np.zeros_like(A11)
        for c0 in range(0, l1 * p1, step):
            Mc = M[:, c0:c0 + step]
            W = (L22inv @ (Mc.toarray() if sp.issparse(Mc) else Mc)).reshape(q2, -1, p1)
            extra[c0 // p1:c0 // p1 + W.shape[1]] = np.einsum("rli,rlk->lik", W, W)
        out = [A11 + extra]
        A22 = L22inv.T @ L22inv
        lo = 0
        for nl, p in sizes[1:]:
            idx = lo + np.arange(nl)[:, None] * p + np.arange(p)[None, :]  # (nl, p)
            out.append(A22[idx[:, :, None], idx[:, None, :]])
            lo += nl * p
        return out


class _L21Op:
    """L21 = Lam2' Z2'Z1 diag(c) as an operator (no sparse-sparse products per evaluation)."""

    def __init__(self, terms: ReTerms, Ts, Z2tZ1: sp.csr_matrix, c: np.ndarray,
                 transposed: bool = False):
        self.terms, self.Ts, self.Z2tZ1, self.c, self.transposed = terms, Ts, Z2tZ1, c, transposed

    @property
    def T(self) -> _L21Op:
        return _L21Op(self.terms, self.Ts, self.Z2tZ1, self.c, not self.transposed)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        cx = (lambda v: self.c.reshape((-1,) + (1,) * (v.ndim - 1)) * v)
        Z = self.Z2tZ1
        if not self.transposed:
            return self.terms.rest_t(self.Ts, np.asarray(Z @ cx(x)).reshape((Z.shape[0],) + x.shape[1:]))
        lam_x = self.terms.rest(self.Ts, x)
        if lam_x.ndim == 1 and sp.isspmatrix_csc(Z):  # Z'v by its columns: no transposed copy
            col = np.repeat(np.arange(Z.shape[1]), np.diff(Z.indptr))
            return cx(np.bincount(col, weights=Z.data * lam_x[Z.indices], minlength=Z.shape[1]))
        return cx(np.asarray(Z.T @ lam_x).reshape((Z.shape[1],) + x.shape[1:]))

    def scaled(self, extra: np.ndarray) -> sp.csr_matrix:
        """Explicit sparse L21 diag(extra)."""
        lam2 = self.terms.lambda_matrix(self.Ts, first=1)
        return (lam2.T @ self.Z2tZ1 @ sp.diags(self.c * extra)).tocsr()


# ------------------------------------------------------------------------------ helpers
def _rest_diagonal(terms: ReTerms, Ts: list[np.ndarray]) -> np.ndarray | None:
    """Lambda's diagonal over terms 2..K when they are all scalar (else None)."""
    if any(b.p != 1 for b in terms.blocks[1:]):
        return None
    return np.concatenate([np.full(b.nlevels, T[0, 0]) for b, T in zip(terms.blocks[1:], Ts[1:])])


def _tri_solve(L: np.ndarray, b: np.ndarray, trans: bool) -> np.ndarray:
    """``L^-1 b`` (``L'^-1 b`` with ``trans``) for the lower-triangular C-ordered L: small
    systems through LAPACK's ``dtrtrs`` on L's Fortran view (the upper triangle of L'), no
    wrapper overhead (PIRLS solves a 63 x 63 system in 1 us, scipy's wrapper takes 6);
    large ones through scipy (faster there)."""
    if L.shape[0] <= 256 and L.flags.c_contiguous:
        x, info = lapack.dtrtrs(L.T, b, lower=0, trans=0 if trans else 1)
        if info == 0:
            return x
    return sla.solve_triangular(L, b, lower=True, trans="T" if trans else "N", check_finite=False)


def chol(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor via scipy's LAPACK (numpy's is ~10x slower on this kind of
    machine); raises LinAlgError when S is not positive definite."""
    return sla.cholesky(S, lower=True, check_finite=False)


def _block_diag(blocks: np.ndarray) -> sp.bsr_matrix:
    """Sparse block-diagonal matrix from an (l, p, p) stack."""
    l, p, _ = blocks.shape
    return sp.bsr_matrix((np.ascontiguousarray(blocks), np.arange(l), np.arange(l + 1)),
                         shape=(l * p, l * p))


def batched_chol(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of a stack of small SPD matrices, and their inverses,
    vectorised over the stack (numpy's batched cholesky costs ~40 us per 1x1 block)."""
    _, p, _ = A.shape
    if p == 1:
        if np.any(~(A[:, 0, 0] > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        L = np.sqrt(A)
        return L, 1.0 / L
    if p == 2:  # the loops below, unrolled (the common case)
        l11 = np.sqrt(A[:, 0, 0])
        l21 = A[:, 1, 0] / l11
        d = A[:, 1, 1] - l21 ** 2
        if np.any(~(A[:, 0, 0] > 0)) or np.any(~(d > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        L, X = np.zeros_like(A), np.zeros_like(A)
        L[:, 0, 0], L[:, 1, 0], L[:, 1, 1] = l11, l21, np.sqrt(d)
        X[:, 0, 0], X[:, 1, 1] = 1.0 / l11, 1.0 / L[:, 1, 1]
        X[:, 1, 0] = -(l21 * X[:, 0, 0]) / L[:, 1, 1]
        return L, X
    L = np.zeros_like(A)
    for j in range(p):
        d = A[:, j, j] - np.sum(L[:, j, :j] ** 2, axis=1) if j else A[:, 0, 0]
        if np.any(~(d > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        L[:, j, j] = np.sqrt(d)
        for i in range(j + 1, p):
            s = A[:, i, j] - np.sum(L[:, i, :j] * L[:, j, :j], axis=1) if j else A[:, i, 0]
            L[:, i, j] = s / L[:, j, j]
    X = np.zeros_like(L)  # L^-1, by forward substitution
    for j in range(p):
        X[:, j, j] = 1.0 / L[:, j, j]
        for i in range(j + 1, p):
            X[:, i, j] = -np.sum(L[:, i, j:i] * X[:, j:i, j], axis=1) / L[:, i, i]
    return L, X
