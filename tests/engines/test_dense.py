"""The dense criteria (engines/dense.py) equal the blocked factor's (engines/lmm.py) at any
theta, REML and ML, with weights and offsets, and for a new response."""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.engines.dense import (BlockDiagCriterion, DenseCriterion, DiagPairCriterion,
                                    ProfiledXCriterion, TwoScalarCriterion, use_dense,
                                    use_profiled_x)
from mlm_wrap.engines.mixedlm import make_problem


def _frame(n=600, nf=60, ng=25, seed=3):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"f": rng.integers(0, nf, n).astype(str), "g": rng.integers(0, ng, n).astype(str),
                      "h": rng.integers(0, 7, n).astype(str), "x": rng.normal(size=n),
                      "w": rng.uniform(0.5, 2.0, n), "o": rng.normal(size=n)})
    gi = d.g.astype(int).to_numpy()
    d["y"] = 1 + d.x + rng.normal(size=ng)[gi] + d.x * rng.normal(size=ng)[gi] * 0.5 + rng.normal(size=n)
    return d


CASES = [  # formula, extra lmer arguments, the dense criterion expected
    ("y ~ x + (x | g)", {"ng": 8}, DenseCriterion),  # one term: dense only while tiny
    ("y ~ x + (x | g)", {}, BlockDiagCriterion),
    ("y ~ f + x + (x | g)", {"nf": 30}, BlockDiagCriterion),  # before ProfiledX for p <= 40
    ("y ~ x + (x || g)", {"ng": 8}, DenseCriterion),
    ("y ~ x + (x || g)", {}, DiagPairCriterion),  # one two-column term, T diagonal
    ("y ~ x + (1 | g) + (0 + x | g)", {"weights": "w"}, DiagPairCriterion),
    ("y ~ x + (1 | g) + (1 | h)", {"weights": "w", "offset": "o"}, DenseCriterion),
    ("y ~ f + (1 | g)", {}, ProfiledXCriterion),
    ("y ~ f + x + (x | g)", {"weights": "w"}, ProfiledXCriterion),
    ("y ~ f + (1 | g) + (0 + x | h)", {"offset": "o"}, ProfiledXCriterion),
    ("y ~ x + (x | g)", {"weights": "w"}, BlockDiagCriterion),
    ("y ~ x + (1 | g)", {"offset": "o"}, BlockDiagCriterion),
    ("y ~ x + (1 + x + o | g)", {}, BlockDiagCriterion),
    ("y ~ x + (1 | g) + (1 | h)", {"n": 3000, "ng": 300}, TwoScalarCriterion),  # h: 7 levels
    ("y ~ x + (1 | h) + (1 | g)", {"n": 3000, "ng": 300, "weights": "w", "offset": "o"},
     TwoScalarCriterion),
    ("y ~ x + (1 | g) + (1 | f)", {"n": 3000, "ng": 300, "nf": 100}, type(None)),
]


@pytest.mark.parametrize("formula,kw,kind", CASES)
def test_dense_criterion_equals_the_blocked_factor(formula, kw, kind):
    kw = dict(kw)
    sizes = {k: kw.pop(k) for k in ("n", "ng", "nf") if k in kw}
    d = (_frame(n=1500, nf=200) if kind is ProfiledXCriterion else
         _frame(n=3000, ng=300, nf=2) if kind in (BlockDiagCriterion, type(None)) and not sizes
         else _frame(**sizes))
    m = mw.lmer(formula, d, **kw)
    P = m._problem
    assert type(P.dense()) is kind
    rng = np.random.default_rng(0)
    for th in (m.theta, m.theta * 0.6 + 0.05, np.abs(rng.normal(size=len(m.theta)))):
        th = np.where(np.isfinite(P.lower), np.maximum(th, 0), th)
        s = P.solve(th)
        assert P.objective(th, True) == pytest.approx(s.reml_crit, rel=1e-12, abs=1e-8)
        assert P.objective(th, False) == pytest.approx(s.deviance_ml, rel=1e-12, abs=1e-8)
    # a new response through the shared cross-products equals a problem built afresh
    y2 = rng.normal(size=len(m.design.y)) * 2 + 1
    fresh = make_problem(replace(m.design, y=y2))
    for REML in (True, False):
        assert P.with_response(y2).objective(m.theta, REML) == pytest.approx(
            fresh.solve(m.theta).reml_crit if REML else fresh.solve(m.theta).deviance_ml, rel=1e-12)


@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ x + (1 | g)"])
def test_block_diag_outer_form_equals_the_per_level_cholesky(formula):
    """One- and two-column terms take K_l = T adj(A_l) T' / |A_l| times precomputed outer
    products; it equals the per-level Cholesky form, on the boundary (T singular) too."""
    m = mw.lmer(formula, _frame(n=3000, ng=300, nf=2), weights="w")
    d = m._problem.dense()
    assert isinstance(d, BlockDiagCriterion) and d._outer
    general = copy.copy(d)
    general._outer = False
    k = len(m.theta)
    thetas = [m.theta, np.zeros(k), np.full(k, 1e-9), np.full(k, 30.0)]
    if k == 3:
        thetas += [np.array([0.0, 0.7, 0.4]), np.array([0.8, -0.5, 0.0]), np.array([1e-7, -2.0, 1e-7])]
    y2 = np.random.default_rng(1).normal(size=d.n)
    for crit, ref in ((d, general), (d.with_response(y2, general.Xy[:, :-1].T @ y2, float(y2 @ y2)),
                                     general.with_response(y2, general.Xy[:, :-1].T @ y2, float(y2 @ y2)))):
        for th in thetas:
            for REML in (True, False):
                assert crit.criterion(th, REML) == pytest.approx(ref.criterion(th, REML), rel=1e-12, abs=1e-9)


def test_cost_model_uses_sizes_only():
    assert use_dense(36, 2, 1) and not use_dense(150, 2, 1) and use_dense(150, 2, 2)
    assert not use_dense(200, 2, 2) and not use_dense(0, 3)
    assert use_profiled_x(200, 2000) and use_profiled_x(100, 50)
    assert not use_profiled_x(1000, 5) and not use_profiled_x(36, 2)


def test_wide_factor_fits_as_the_statsmodels_engine():
    """A 200-level fixed factor (the profiled-X path) reaches MixedLM's polished optimum."""
    d = _frame(n=1500, nf=200)
    a = mw.lmer("y ~ f + (1 | g)", d)
    b = mw.lmer("y ~ f + (1 | g)", d, engine="statsmodels")
    assert type(a._problem.dense()) is ProfiledXCriterion
    assert float(mw.REMLcrit(a)) == pytest.approx(float(mw.REMLcrit(b)), abs=1e-6)
    np.testing.assert_allclose(mw.fixef(a), mw.fixef(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g) + (1 + x | h)", "y ~ x + (1 | g) + (1 | h)"])
def test_triples_lower_triangle_equals_the_dense_block(formula):
    """The "triples" form keeps only the lower triangle of L21 L21' (all the Cholesky reads);
    with a vector second term it is made whole first.  Both equal the dense L21 path."""
    import copy
    rng = np.random.default_rng(0)
    n, ng, nh = 6000, 1000, 150
    g, h, x = rng.integers(0, ng, n), rng.integers(0, nh, n), rng.normal(size=n)
    d = pd.DataFrame({"y": 1 + x + rng.normal(size=ng)[g] + rng.normal(size=nh)[h] * (1 + x)
                      + rng.normal(size=n), "x": x, "g": g.astype(str), "h": h.astype(str)})
    m = mw.lmer(formula, d)
    P = m._problem
    assert P.mode == "triples" and P.dense() is None
    dense = copy.copy(P)
    dense.xp = copy.copy(P.xp)
    dense.xp.mode, dense.xp.Z2tZ1 = "dense", P.xp.Z2tZ1.toarray()
    for th in (m.theta, m.theta * 0.7 + 0.05):
        for REML in (True, False):
            assert P._criterion(th, REML) == pytest.approx(dense._criterion(th, REML), rel=1e-12)
