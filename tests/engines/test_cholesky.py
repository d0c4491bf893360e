"""The shared blocked Cholesky factor (mlm_wrap.engines.cholesky) against numpy's dense Cholesky
of the same ``A = Lambda'Z'WZ Lambda + I``: unit weights (the LMM's precomputed Z'Z, in each of
the three L21 modes) and random positive weights (PIRLS's Z'WZ), for a block-diagonal first term
and crossed further terms."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

import mlm_wrap.engines.cholesky as C
from mlm_wrap.engines.pirls import Family, GlmmProblem


def design(p1: int, seed: int = 0, n: int = 300):
    """First term: 40 levels, p1 columns; crossed: (1 | h) with 9 levels, (1 + x | k) with 4."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g, h, k = rng.integers(0, 40, n), rng.integers(0, 9, n), rng.integers(0, 4, n)
    g[:40], h[:9], k[:4] = np.arange(40), np.arange(9), np.arange(4)  # every level present
    X1 = np.column_stack([np.ones(n), x][:p1])
    blocks = [C.ReBlock(g, X1, 40), C.ReBlock(h, np.ones((n, 1)), 9),
              C.ReBlock(k, np.column_stack([np.ones(n), x]), 4)]
    terms = C.ReTerms(blocks)
    theta = np.where(np.isfinite(terms.lower), rng.uniform(0.3, 1.5, terms.ntheta),
                     rng.normal(0, 0.4, terms.ntheta))
    Z = sp.hstack([b.Z() for b in blocks], format="csc")
    return terms, Z, terms.factors(theta), x


def dense_A(terms, Z, Ts, w):
    ZL = Z.toarray() @ terms.lambda_matrix(Ts).toarray()
    return ZL.T @ (w[:, None] * ZL) + np.eye(terms.q)


def dense_L(terms, L: C.Chol) -> np.ndarray:
    """The blocked factor as one lower-triangular matrix."""
    q1 = terms.q1
    out = np.zeros((terms.q, terms.q))
    out[:q1, :q1] = sla.block_diag(*L.L11)
    if L.L21 is not None:
        L21 = L.L21.toarray() if sp.issparse(L.L21) else L.L21 @ np.eye(q1)
        out[q1:, :q1], out[q1:, q1:] = L21, L.L22
    return out


def check(terms, Ts, L: C.Chol, A: np.ndarray):
    ref = np.linalg.cholesky(A)
    assert np.allclose(dense_L(terms, L), ref, rtol=1e-10, atol=1e-12)
    assert L.logdet() == pytest.approx(2 * np.log(np.diag(ref)).sum(), rel=1e-12)
    r = np.random.default_rng(9).normal(size=(terms.q, 3))
    assert np.allclose(L.solve_L(r), sla.solve_triangular(ref, r, lower=True), rtol=1e-9, atol=1e-12)
    assert np.allclose(L.solve_Lt(r[:, 0]), sla.solve_triangular(ref.T, r[:, 0]), rtol=1e-9, atol=1e-12)
    # conditional variances: diagonal blocks of Lambda A^-1 Lambda'
    Lam = terms.lambda_matrix(Ts).toarray()
    full = Lam @ np.linalg.inv(A) @ Lam.T
    for k, blk in enumerate(terms.condvar_blocks(Ts, L)):
        b = terms.blocks[k]
        for lvl in range(b.nlevels):
            o = terms.offsets[k] + lvl * b.p
            assert np.allclose(blk[lvl], full[o:o + b.p, o:o + b.p], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p1", [1, 2])
@pytest.mark.parametrize("mode", ["triples", "dense", "sparse"])
def test_unit_weights_match_dense_cholesky(p1, mode, monkeypatch):
    if mode != "triples":
        monkeypatch.setattr(C, "TRIPLE_LIMIT", 0)
    else:
        monkeypatch.setattr(C, "TRIPLE_COST", 0)
        monkeypatch.setattr(C, "TINY_DENSE", 0)  # the design here is small
    if mode == "sparse":
        monkeypatch.setattr(C, "DENSE_LIMIT", 0)
    terms, Z, Ts, _ = design(p1)
    xp = C.unit_crossprods(terms, Z)
    assert xp.mode == (mode if p1 == 1 or mode != "triples" else "dense")
    check(terms, Ts, C.factor(terms, Ts, xp), dense_A(terms, Z, Ts, np.ones(Z.shape[0])))


@pytest.mark.parametrize("p1", [1, 2])
@pytest.mark.parametrize("sparse", [False, True])
def test_random_weights_match_dense_cholesky(p1, sparse):
    terms, Z, Ts, _ = design(p1, seed=1)
    w = np.random.default_rng(2).uniform(0.05, 3.0, Z.shape[0])
    q1 = terms.q1
    ZW = sp.diags(w) @ Z
    C21, C22 = (Z[:, q1:].T @ ZW[:, :q1]).tocsr(), (Z[:, q1:].T @ ZW[:, q1:]).tocsr()
    xp = C.CrossProducts(C.level_gram(terms.blocks[0], w=w), C21, C22, "sparse") if sparse else \
        C.CrossProducts(C.level_gram(terms.blocks[0], w=w), C21.toarray(), C22.toarray(), "dense")
    check(terms, Ts, C.factor(terms, Ts, xp), dense_A(terms, Z, Ts, w))


@pytest.mark.parametrize("p1", [1, 2])
def test_pirls_weighted_crossproducts(p1):
    """GlmmProblem builds Z'WZ from level codes; its factor is the same dense Cholesky."""
    import statsmodels.api as sm
    terms, Z, Ts, x = design(p1, seed=4)
    n = Z.shape[0]
    pb = GlmmProblem(x[:, None], terms.blocks, (x > 0).astype(float), np.ones(n), np.zeros(n),
                     np.ones(n), Family(sm.families.Binomial()))
    w = np.random.default_rng(5).uniform(0.05, 0.25, n)
    check(terms, Ts, pb.decompose(Ts, w), dense_A(terms, Z, Ts, w))


def test_one_term_and_not_positive_definite():
    terms, Z, Ts, _ = design(2)
    one = C.ReTerms(terms.blocks[:1])
    Z1 = Z[:, :one.q]
    L = C.factor(one, Ts[:1], C.CrossProducts(C.level_gram(one.blocks[0]), None, None))
    assert L.L21 is None
    check(one, Ts[:1], L, dense_A(one, Z1, Ts[:1], np.ones(Z.shape[0])))
    A = np.array([[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(np.linalg.LinAlgError):
        C.batched_chol(A)
