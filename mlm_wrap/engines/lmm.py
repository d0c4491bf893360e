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

The Cholesky factor of ``A = Lambda'Z'Z Lambda + I`` is blocked as MixedModels.jl
blocks it: the first random-effects term (lme4 puts the one with most levels first)
is block-diagonal, one small ``p x p`` block per level; the remaining terms form one
dense block.  That keeps a single-factor model with 10,000 groups cheap, and crossed
designs exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

LOG2PI = np.log(2.0 * np.pi)
DENSE_LIMIT = 20_000_000  # entries of the off-diagonal block kept dense (160 MB)


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
        p = self.p
        T = np.zeros((p, p))
        idx = 0
        for j in range(p):
            for i in range(j, p):
                T[i, j] = theta[idx]
                idx += 1
        return T


def theta_lower(blocks: list[ReBlock]) -> np.ndarray:
    """lme4's lower bounds: 0 for the diagonal of each factor, -inf elsewhere."""
    lo = []
    for b in blocks:
        for j in range(b.p):
            for i in range(j, b.p):
                lo.append(0.0 if i == j else -np.inf)
    return np.asarray(lo)


def theta_start(blocks: list[ReBlock]) -> np.ndarray:
    """lme4's default start: identity factors."""
    return np.where(np.isfinite(theta_lower(blocks)), 1.0, 0.0)


def split_theta(blocks: list[ReBlock], theta: np.ndarray) -> list[np.ndarray]:
    out, k = [], 0
    for b in blocks:
        out.append(np.asarray(theta[k:k + b.ntheta], float))
        k += b.ntheta
    return out


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


class LmmProblem:
    """Data of one model, with the cross-products kept so each theta costs little."""

    def __init__(self, X: np.ndarray, y: np.ndarray, blocks: list[ReBlock]):
        self.X = np.asarray(X, float)
        self.y = np.asarray(y, float)
        self.blocks = list(blocks)
        self.n, self.p = self.X.shape
        self.ntheta = sum(b.ntheta for b in self.blocks)
        self.lower = theta_lower(self.blocks)
        Zs = [b.Z() for b in self.blocks]
        self.Z = sp.hstack(Zs, format="csc") if Zs else sp.csc_matrix((self.n, 0))
        self.offsets = np.cumsum([0] + [b.q for b in self.blocks])
        self.q = int(self.offsets[-1])
        self.XtX = self.X.T @ self.X
        self.Xty = self.X.T @ self.y
        self.yty = float(self.y @ self.y)
        self.ZtX = np.asarray(self.Z.T @ self.X)
        self.Zty = np.asarray(self.Z.T @ self.y).ravel()
        # first block: per-level p1 x p1 cross-products (block diagonal)
        if self.blocks:
            b1 = self.blocks[0]
            p1 = b1.p
            G = np.zeros((b1.nlevels, p1, p1))
            np.add.at(G, b1.codes, b1.Xt[:, :, None] * b1.Xt[:, None, :])
            self.Z1tZ1 = G
            q1 = b1.q
            rest = self.Z[:, q1:]
            self.Z2tZ1 = (rest.T @ self.Z[:, :q1]).tocsr()
            self.Z2tZ2s = (rest.T @ rest).tocsr()
            q2 = rest.shape[1]
            # How L21 L21' is formed (the cost of each criterion evaluation):
            # "triples": scalar first term: L21 L21' = Lam2' Z2'Z1 diag(d) Z1'Z2 Lam2, linear in
            #   d, from precomputed products of each column's pairs of non-zeros (a bincount);
            # "dense": BLAS on a dense L21 while it is small; "sparse": sparse products beyond.
            self.mode = "sparse"
            if q2 and q2 * q2 <= DENSE_LIMIT:
                self.Z2tZ2d = self.Z2tZ2s.toarray()
                # the scatter costs ~4 flops of BLAS per product: triples only where cheaper
                budget = TRIPLE_LIMIT if not TRIPLE_COST else min(TRIPLE_LIMIT, q2 * q2 * q1 // TRIPLE_COST)
                trip = _column_pair_triples(self.Z2tZ1.tocsc(), q2, budget) if p1 == 1 else None
                if trip is not None:
                    self.mode, self._trip = "triples", trip
                elif q2 * q1 <= DENSE_LIMIT:
                    self.mode, self.Z2tZ1d = "dense", self.Z2tZ1.toarray()
            self.dense21 = self.mode == "dense"
        self.q1 = self.blocks[0].q if self.blocks else 0

    # -- Lambda --------------------------------------------------------------------------
    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        return [b.T(t) for b, t in zip(self.blocks, split_theta(self.blocks, theta))]

    def lambda_matrix(self, Ts: list[np.ndarray], first: int = 0) -> sp.csr_matrix:
        """Sparse block-diagonal Lambda of terms ``first..K`` (``I kron T_k`` per term)."""
        mats = [_block_diag(np.broadcast_to(T, (b.nlevels,) + T.shape))
                for b, T in zip(self.blocks[first:], Ts[first:])]
        return sp.block_diag(mats, format="csr") if mats else sp.csr_matrix((0, 0))

    def _apply(self, Ts: list[np.ndarray], v: np.ndarray, transpose: bool) -> np.ndarray:
        """Lambda v (or Lambda' v) for v of shape (q,) or (q, k), block by block."""
        v = np.asarray(v, float)
        out = np.empty_like(v)
        for k, (b, T) in enumerate(zip(self.blocks, Ts)):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            vk = v[lo:hi].reshape(b.nlevels, b.p, -1)
            M = T.T if transpose else T
            out[lo:hi] = (M[0, 0] * vk if b.p == 1 else np.matmul(M, vk)).reshape(v[lo:hi].shape)
        return out

    def _lambda_t_apply(self, Ts, v):
        return self._apply(Ts, v, True)

    def _lambda_apply(self, Ts, v):
        return self._apply(Ts, v, False)

    # -- the blocked Cholesky of A = Lambda'Z'Z Lambda + I --------------------------------
    def _cholesky(self, Ts):
        """(L11 blocks, their inverses, L21 sparse, L22 dense) with L L' = A.

        The first term's block is block-diagonal (one p1 x p1 block per level); L21 keeps
        A21's sparsity, so memory grows with the non-zeros of Z'Z, not rows x levels."""
        b1, T1 = self.blocks[0], Ts[0]
        A11 = np.matmul(np.matmul(T1.T, self.Z1tZ1), T1)
        A11[:, range(b1.p), range(b1.p)] += 1.0
        L11 = _batched_chol(A11)
        L11inv = _batched_tri_inv(L11)
        q2 = self.q - self.q1
        if q2 == 0:
            return L11, L11inv, None, None
        if self.mode == "triples":
            t1 = T1[0, 0]
            c = t1 * L11inv[:, 0, 0]  # L21 = Lam2' Z2'Z1 diag(c)
            pair, prod, col = self._trip
            P = np.bincount(pair, weights=prod * (c * c)[col], minlength=q2 * q2).reshape(q2, q2)
            S = self._rest_t(Ts, self._rest_t(Ts, self.Z2tZ2d - P).T)
            S[np.diag_indices(q2)] += 1.0
            return L11, L11inv, _L21Op(self, Ts, c), _chol(S)
        if self.dense21:
            l1, p1 = b1.nlevels, b1.p
            A21 = np.matmul(self.Z2tZ1d.reshape(q2, l1, p1), T1).reshape(q2, self.q1)
            A21 = self._rest_t(Ts, A21)
            L21 = np.matmul(A21.reshape(q2, l1, p1).transpose(1, 0, 2),
                            L11inv.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(q2, self.q1)
            A22 = self._rest_t(Ts, self._rest_t(Ts, self.Z2tZ2d).T)
            A22[np.diag_indices(q2)] += 1.0
            L22 = _chol(A22 - L21 @ L21.T)
            return L11, L11inv, L21, L22
        Lam1 = self.lambda_matrix(Ts[:1])
        Lam2 = self.lambda_matrix(Ts, first=1)
        A21 = Lam2.T @ self.Z2tZ1 @ Lam1
        L21 = (A21 @ _block_diag(np.swapaxes(L11inv, 1, 2))).tocsr()  # A21 L11^-T
        A22 = (Lam2.T @ self.Z2tZ2s @ Lam2).toarray()
        A22[np.diag_indices(q2)] += 1.0
        S = A22 - (L21 @ L21.T).toarray()
        L22 = _chol(S)
        return L11, L11inv, L21, L22

    def _rest_t(self, Ts, M: np.ndarray) -> np.ndarray:
        """Lambda_rest' M for a dense M whose rows are the random effects of terms 2..K."""
        return rest_lambda_t(self.blocks, self.offsets, Ts, M)

    @staticmethod
    def _solve_L(chol, r):
        """Solve L x = r (forward)."""
        L11, L11inv, L21, L22 = chol
        l1, p1, _ = L11.shape
        q1 = l1 * p1
        r = np.asarray(r, float)
        x1 = np.matmul(L11inv, r[:q1].reshape(l1, p1, -1)).reshape(r[:q1].shape)
        if L21 is None:
            return x1
        x2 = sla.solve_triangular(L22, r[q1:] - L21 @ x1, lower=True)
        return np.concatenate([x1, x2])

    @staticmethod
    def _solve_Lt(chol, r):
        """Solve L' x = r (backward)."""
        L11, L11inv, L21, L22 = chol
        l1, p1, _ = L11.shape
        q1 = l1 * p1
        r = np.asarray(r, float)
        r1 = r[:q1]
        if L21 is not None:
            x2 = sla.solve_triangular(L22, r[q1:], lower=True, trans="T")
            r1 = r1 - L21.T @ x2
        x1 = np.matmul(np.swapaxes(L11inv, 1, 2), r1.reshape(l1, p1, -1)).reshape(r1.shape)
        return x1 if L21 is None else np.concatenate([x1, x2])

    @staticmethod
    def _logdet(chol) -> float:
        L11, _, _, L22 = chol
        ld = 2.0 * np.sum(np.log(L11[:, range(L11.shape[1]), range(L11.shape[1])]))
        if L22 is not None:
            ld += 2.0 * np.sum(np.log(np.diag(L22)))
        return float(ld)

    # -- the solve ---------------------------------------------------------------------
    def solve(self, theta: np.ndarray, full: bool = False) -> Solution:
        theta = np.asarray(theta, float)
        n, p = self.n, self.p
        if not self.blocks:
            raise ValueError("a mixed model needs at least one random-effects term")
        Ts = self.factors(theta)
        chol = self._cholesky(Ts)
        cu = self._solve_L(chol, self._lambda_t_apply(Ts, self.Zty))
        RZX = self._solve_L(chol, self._lambda_t_apply(Ts, self.ZtX)) if p else np.zeros((self.q, 0))
        RXtRX = self.XtX - RZX.T @ RZX
        if p:
            RX = _chol(RXtRX)
            beta = sla.cho_solve((RX, True), self.Xty - RZX.T @ cu)
            logdet_RX = 2.0 * float(np.sum(np.log(np.diag(RX))))
        else:
            beta, logdet_RX = np.zeros(0), 0.0
        u = self._solve_Lt(chol, cu - RZX @ beta)
        b = self._lambda_apply(Ts, u)
        fitted = self.X @ beta + self.Z @ b
        resid = self.y - fitted
        pwrss = float(resid @ resid + u @ u)
        logdet_L = self._logdet(chol)
        dev_ml = logdet_L + n * (1.0 + LOG2PI + np.log(pwrss / n))
        nmp = n - p
        reml = logdet_L + logdet_RX + nmp * (1.0 + LOG2PI + np.log(pwrss / nmp))
        sol = Solution(theta=theta, beta=beta, u=u, b=b, pwrss=pwrss, logdet_L=logdet_L,
                       logdet_RX=logdet_RX, RXtRX=RXtRX, sigma2_ml=pwrss / n,
                       sigma2_reml=pwrss / nmp, deviance_ml=float(dev_ml),
                       reml_crit=float(reml), fitted=fitted)
        if full:
            sol.extras["condvar_rel"] = self._condvar_rel(Ts, chol)
        return sol

    def objective(self, theta: np.ndarray, REML: bool) -> float:
        """The criterion lme4 minimises: REML criterion or ML deviance (inf where undefined)."""
        try:
            s = self.solve(theta)
        except (np.linalg.LinAlgError, FloatingPointError):  # not positive definite
            return np.inf
        val = s.reml_crit if REML else s.deviance_ml
        return float(val) if np.isfinite(val) else np.inf

    def _condvar_rel(self, Ts, chol) -> list[np.ndarray]:
        """Per term, (nlevels, p, p) blocks of Lambda A^-1 Lambda' (times sigma^2: condVar)."""
        L11, L11inv, L21, L22 = chol
        l1, p1, _ = L11.shape
        A11inv = np.matmul(np.swapaxes(L11inv, 1, 2), L11inv)  # diag blocks of L11^-T L11^-1
        if L21 is not None:
            q2 = L22.shape[0]
            M = L21.scaled(L11inv[:, 0, 0]) if isinstance(L21, _L21Op) else \
                L21 @ _block_diag(L11inv)  # L21 L11^-1 (sparse)
            L22inv = sla.solve_triangular(L22, np.eye(q2), lower=True)
            # diag blocks of (L22^-1 M)'(L22^-1 M), in column chunks to bound memory
            Mc = sp.csc_matrix(M) if isinstance(M, np.ndarray) else M.tocsc()
            step = max(p1, (2_000_000 // max(q2, 1)) // p1 * p1)
            extra = np.zeros_like(A11inv)
            for c0 in range(0, l1 * p1, step):
                W = L22inv @ Mc[:, c0:c0 + step].toarray()
                Wr = W.reshape(q2, -1, p1)
                extra[c0 // p1:c0 // p1 + Wr.shape[1]] = np.einsum("rli,rlk->lik", Wr, Wr)
            A11inv = A11inv + extra
            A22inv = L22inv.T @ L22inv
        T1 = Ts[0]
        out_blocks = [np.matmul(np.matmul(T1, A11inv), T1.T)]
        for k in range(1, len(self.blocks)):
            b, T = self.blocks[k], Ts[k]
            lo, hi = self.offsets[k] - self.q1, self.offsets[k + 1] - self.q1
            sub = A22inv[lo:hi, lo:hi]
            blk = np.stack([sub[i * b.p:(i + 1) * b.p, i * b.p:(i + 1) * b.p] for i in range(b.nlevels)])
            out_blocks.append(np.matmul(np.matmul(T, blk), T.T))
        return out_blocks


TRIPLE_LIMIT = 30_000_000  # precomputed pair products kept for the "triples" mode
TRIPLE_COST = 50  # a gathered-and-scattered product costs about this many BLAS flops
# (measured, one thread: 9M products 46 ms vs a 500x1000 dense syrk, 250M flops, 22 ms)


def _column_pair_triples(Zc: sp.csc_matrix, q2: int, budget: int = TRIPLE_LIMIT):
    """For each column j of Z2'Z1 and each pair (a, b) of its non-zeros: the flat index
    a*q2+b, the product z_aj z_bj and j.  None when there would be more than ``budget``."""
    indptr, indices, data = Zc.indptr, Zc.indices, Zc.data
    m = np.diff(indptr)
    if int(np.sum(m.astype(np.int64) ** 2)) > budget:
        return None
    pairs, prods, cols = [], [], []
    for mm in np.unique(m[m > 0]):
        cj = np.flatnonzero(m == mm)
        idx = indptr[cj][:, None] + np.arange(mm)[None, :]
        R, V = indices[idx].astype(np.int64), data[idx]
        pairs.append((R[:, :, None] * q2 + R[:, None, :]).ravel())
        prods.append((V[:, :, None] * V[:, None, :]).ravel())
        cols.append(np.repeat(cj, mm * mm))
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(pairs), np.concatenate(prods), np.concatenate(cols)


class _L21Op:
    """L21 = Lam2' Z2'Z1 diag(c) as an operator (no sparse-sparse products per evaluation)."""

    def __init__(self, problem: "LmmProblem", Ts, c: np.ndarray, transposed: bool = False):
        self.pb, self.Ts, self.c, self.transposed = problem, Ts, c, transposed

    @property
    def T(self) -> "_L21Op":
        return _L21Op(self.pb, self.Ts, self.c, not self.transposed)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        cx = (lambda v: self.c.reshape((-1,) + (1,) * (v.ndim - 1)) * v)
        if not self.transposed:
            return self.pb._rest_t(self.Ts, np.asarray(self.pb.Z2tZ1 @ cx(x)).reshape(
                (self.pb.Z2tZ1.shape[0],) + x.shape[1:]))
        lam_x = self._rest(x)
        return cx(np.asarray(self.pb.Z2tZ1.T @ lam_x).reshape((self.pb.Z2tZ1.shape[1],) + x.shape[1:]))

    def _rest(self, x: np.ndarray) -> np.ndarray:
        """Lambda_rest x (not transposed)."""
        pb, out = self.pb, np.empty_like(x)
        for k in range(1, len(pb.blocks)):
            b, T = pb.blocks[k], self.Ts[k]
            lo, hi = pb.offsets[k] - pb.q1, pb.offsets[k + 1] - pb.q1
            xk = x[lo:hi].reshape((b.nlevels, b.p, -1))
            out[lo:hi] = (T[0, 0] * xk if b.p == 1 else np.matmul(T, xk)).reshape(x[lo:hi].shape)
        return out

    def scaled(self, extra: np.ndarray) -> sp.csr_matrix:
        """Explicit sparse L21 diag(extra)."""
        lam2 = self.pb.lambda_matrix(self.Ts, first=1)
        return (lam2.T @ self.pb.Z2tZ1 @ sp.diags(self.c * extra)).tocsr()


def _chol(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor via scipy's LAPACK (numpy's is ~10x slower on this kind of
    machine); raises LinAlgError when S is not positive definite."""
    return sla.cholesky(S, lower=True, check_finite=False)


def rest_lambda_t(blocks: list[ReBlock], offsets: np.ndarray, Ts: list[np.ndarray],
                  M: np.ndarray) -> np.ndarray:
    """Lambda_rest' M: M's rows are the random effects of terms 2..K (the dense block of the
    blocked Cholesky, shared by the LMM and GLMM engines)."""
    q1 = offsets[1]
    out = np.empty_like(M)
    for k in range(1, len(blocks)):
        b, T = blocks[k], Ts[k]
        lo, hi = offsets[k] - q1, offsets[k + 1] - q1
        Mk = M[lo:hi].reshape(b.nlevels, b.p, -1)
        out[lo:hi] = (T[0, 0] * Mk if b.p == 1 else np.matmul(T.T, Mk)).reshape(M[lo:hi].shape)
    return out


def _block_diag(blocks: np.ndarray) -> sp.bsr_matrix:
    """Sparse block-diagonal matrix from an (l, p, p) stack."""
    l, p, _ = blocks.shape
    return sp.bsr_matrix((np.ascontiguousarray(blocks), np.arange(l), np.arange(l + 1)),
                         shape=(l * p, l * p))


def _batched_chol(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of small SPD matrices, vectorised over the stack
    (numpy's batched cholesky costs ~40 us per 1x1 block)."""
    l, p, _ = A.shape
    if p == 1:
        if np.any(~(A[:, 0, 0] > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        return np.sqrt(A)
    L = np.zeros_like(A)
    for j in range(p):
        d = A[:, j, j] - np.sum(L[:, j, :j] ** 2, axis=1)
        if np.any(~(d > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        L[:, j, j] = np.sqrt(d)
        for i in range(j + 1, p):
            L[:, i, j] = (A[:, i, j] - np.sum(L[:, i, :j] * L[:, j, :j], axis=1)) / L[:, j, j]
    return L


def _batched_tri_inv(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of small lower-triangular matrices (forward substitution)."""
    l, p, _ = L.shape
    if p == 1:
        return 1.0 / L
    X = np.zeros_like(L)
    for j in range(p):
        X[:, j, j] = 1.0 / L[:, j, j]
        for i in range(j + 1, p):
            X[:, i, j] = -np.sum(L[:, i, j:i] * X[:, j:i, j], axis=1) / L[:, i, i]
    return X
