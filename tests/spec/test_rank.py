"""The fast full-rank proof (spec/rank.py) agrees with the QR rank check it short-cuts."""
from __future__ import annotations

import numpy as np
import pytest

from mlm_wrap.spec import design as design_mod
from mlm_wrap.spec.rank import gram, surely_full_rank


def _qr_keep(X):
    X = np.asarray(X, float)
    norms = np.linalg.norm(X, axis=0)
    d = np.abs(np.diag(np.linalg.qr(X, mode="r")))
    return [j for j in range(X.shape[1]) if norms[j] > 0 and d[j] > 1e-7 * norms[j]]


def _indicators(n=3000, k=80, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.integers(0, k, n)
    X = np.zeros((n, k))
    X[:, 0] = 1.0
    X[np.arange(n), f] += (f > 0)
    return np.column_stack([X, rng.normal(size=n)])


def test_gram_sparse_and_dense_agree():
    X = _indicators()
    np.testing.assert_allclose(gram(X), X.T @ X, rtol=1e-12, atol=1e-9)


def test_full_rank_is_proven_and_kept():
    X = _indicators()
    assert surely_full_rank(X)
    assert design_mod.drop_rank_deficient(X, [f"c{j}" for j in range(X.shape[1])]) == _qr_keep(X)


@pytest.mark.parametrize("kind", ["copy", "sum", "near", "zero"])
def test_dependent_columns_are_not_proven_and_the_qr_decides(kind):
    X = _indicators()
    extra = {"copy": X[:, 5], "sum": X[:, 3] + 2 * X[:, 7], "near": X[:, 4] + 1e-9 * X[:, 80],
             "zero": np.zeros(len(X))}[kind]
    X2 = np.column_stack([X, extra])
    assert not surely_full_rank(X2)
    keep = design_mod.drop_rank_deficient(X2, [f"c{j}" for j in range(X2.shape[1])])
    assert keep == _qr_keep(X2) and X2.shape[1] - 1 not in keep
