"""lme4's criterion at theta: the three ways of forming the Cholesky factor agree, and the
blocked factor equals a dense Cholesky of Lambda'Z'Z Lambda + I."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlm_wrap.engines.cholesky as P
from mlm_wrap.engines.mixedlm import make_problem
from mlm_wrap.spec.design import build_design
from mlm_wrap.spec.formula import parse_formula


def crossed(seed=3, n=400, slope=False):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 25, n), rng.integers(0, 12, n)
    x = rng.normal(size=n)
    y = 1 + 0.3 * x + rng.normal(0, 1, 25)[a] + rng.normal(0, .5, 12)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i:02d}" for i in a], "b": [f"b{i:02d}" for i in b]})


FORMULAS = ["y ~ x + (1 | a) + (1 | b)", "y ~ x + (1 | a) + (x | b)", "y ~ x + (x | a) + (1 | b)",
            "y ~ x + (x || a) + (1 | b)"]


def dense_reference(pb, theta, REML):
    """The criterion from a plain dense Cholesky of the full system (lme4 paper, eq. 18)."""
    Lam = pb.lambda_matrix(pb.factors(theta)).toarray()
    Z = pb.Z.toarray()
    ZL = Z @ Lam
    A = ZL.T @ ZL + np.eye(pb.q)
    L = np.linalg.cholesky(A)
    n, p = pb.X.shape
    M = np.block([[A, ZL.T @ pb.X], [pb.X.T @ ZL, pb.X.T @ pb.X]])
    sol = np.linalg.solve(M, np.concatenate([ZL.T @ pb.y, pb.X.T @ pb.y]))
    u, beta = sol[:pb.q], sol[pb.q:]
    r = pb.y - pb.X @ beta - ZL @ u
    pwrss = r @ r + u @ u
    RZX = np.linalg.solve(L, ZL.T @ pb.X)
    RX = np.linalg.cholesky(pb.X.T @ pb.X - RZX.T @ RZX)
    ldL, ldX = 2 * np.log(np.diag(L)).sum(), 2 * np.log(np.diag(RX)).sum()
    if REML:
        return ldL + ldX + (n - p) * (1 + np.log(2 * np.pi * pwrss / (n - p)))
    return ldL + n * (1 + np.log(2 * np.pi * pwrss / n))


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("mode", ["triples", "dense", "sparse"])
def test_modes_agree_with_dense_reference(formula, mode, monkeypatch):
    d = build_design(parse_formula(formula), crossed())
    if mode != "triples":
        monkeypatch.setattr(P, "TRIPLE_LIMIT", 0)
    else:
        monkeypatch.setattr(P, "TRIPLE_COST", 0)
        monkeypatch.setattr(P, "TINY_DENSE", 0)  # the design here is small
    if mode == "sparse":
        monkeypatch.setattr(P, "DENSE_LIMIT", 0)
    pb = make_problem(d)
    expected_mode = mode if (mode != "triples" or pb.blocks[0].p == 1) else pb.mode
    assert pb.mode == expected_mode
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = np.where(np.isfinite(pb.lower), rng.uniform(0.2, 1.5, pb.ntheta), rng.normal(0, .3, pb.ntheta))
        for REML in (True, False):
            assert pb.objective(theta, REML) == pytest.approx(dense_reference(pb, theta, REML), rel=1e-10)
    # conditional variances: diagonal blocks of sigma^2 Lambda A^-1 Lambda'
    s = pb.solve(theta, full=True)
    Lam = pb.lambda_matrix(pb.factors(theta)).toarray()
    ZL = pb.Z.toarray() @ Lam
    full = Lam @ np.linalg.inv(ZL.T @ ZL + np.eye(pb.q)) @ Lam.T
    for k, blocks in enumerate(s.extras["condvar_rel"]):
        b = pb.blocks[k]
        for lvl in (0, b.nlevels - 1):
            o = pb.offsets[k] + lvl * b.p
            assert np.allclose(blocks[lvl], full[o:o + b.p, o:o + b.p], rtol=1e-8, atol=1e-12)


def test_batched_helpers_match_lapack():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(50, 3, 3))
    A = np.matmul(M, M.transpose(0, 2, 1)) + np.eye(3)
    L, Linv = P.batched_chol(A)
    assert np.allclose(L, np.linalg.cholesky(A))
    assert np.allclose(Linv, np.linalg.inv(L))
    with pytest.raises(np.linalg.LinAlgError):
        P.batched_chol(-A)
