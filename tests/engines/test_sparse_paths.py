"""Issue #16's sparse paths: the Schur block built from its fixed pattern (engines/schur.py)
against the dense L21 path, and the optional CHOLMOD criterion (engines/cholmod.py, only where
scikit-sparse is installed) against the blocked factor; without scikit-sparse the blocked
factor is used and nothing else changes."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
import mlm_wrap.engines.cholmod as CM
from mlm_wrap.engines.mixedlm import make_problem
from mlm_wrap.spec.design import build_design
from mlm_wrap.spec.formula import parse_formula


def crossed(n=3000, A=600, B=250, C=40, clusters=0, weights=False, seed=5) -> pd.DataFrame:
    """Three crossed scalar factors (a first: the most levels); ``clusters``: a and b meet
    within clusters only (the Schur block sparse after reordering)."""
    rng = np.random.default_rng(seed)
    a, b, c, x = rng.integers(0, A, n), rng.integers(0, B, n), rng.integers(0, C, n), rng.normal(size=n)
    if clusters:
        cl = rng.integers(0, clusters, n)
        a = cl * (A // clusters) + rng.integers(0, A // clusters, n)
        b = cl * (B // clusters) + rng.integers(0, B // clusters, n)
    y = 1 + 0.5 * x + rng.normal(size=A)[a] + rng.normal(0, .7, B)[b] + rng.normal(0, .3, C)[c] \
        + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str), "c": c.astype(str)})
    if weights:
        d["w"] = rng.uniform(0.5, 2.0, n)
    return d


F3 = "y ~ x + (1 | a) + (1 | b) + (1 | c)"
THETAS = [np.array([0.8, 0.6, 0.3]), np.array([1.3, 0.0, 0.5]), np.array([0.05, 2.0, 0.0])]


def problem(formula=F3, **kw):
    return make_problem(build_design(parse_formula(formula), crossed(**kw)))


def test_schur_pattern_equals_the_dense_l21_path():
    """Three scalar terms (two term classes in the Schur block), thetas on the boundary."""
    pb = problem()
    assert pb.mode == "triples" and pb.xp.lower is not None and pb.dense() is None
    dense = copy.copy(pb)
    dense.xp = copy.copy(pb.xp)
    dense.xp.mode, dense.xp.Z2tZ1 = "dense", pb.xp.Z2tZ1.toarray()
    for th in THETAS:
        for REML in (True, False):
            assert pb._criterion(th, REML) == pytest.approx(dense._criterion(th, REML), rel=1e-12)
    # the buffer reused by the criterion does not leak into solve()'s factor
    s1 = pb.solve(THETAS[0])
    pb._criterion(THETAS[1], True)
    s2 = pb.solve(THETAS[0])
    assert s1.reml_crit == s2.reml_crit and np.array_equal(s1.u, s2.u)


def test_without_scikit_sparse_the_blocked_factor_is_used(monkeypatch):
    monkeypatch.setattr(CM, "_analyze", None)
    monkeypatch.setattr(CM, "CHOLMOD_MIN_Q2", 1)
    assert not CM.available()
    pb = problem(clusters=10)
    assert pb.cholmod() is None
    with pytest.raises(ImportError):
        CM.CholmodCriterion(pb.Z.T @ pb.Z, [b.nlevels for b in pb.blocks], pb.ZtX, pb.Zty,
                            pb.XtX, pb.Xty, pb.yty, pb.n)


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("mode", ["simplicial", "supernodal"])
def test_cholmod_criterion_agrees_with_the_blocked_factor(weights, mode):
    pytest.importorskip("sksparse.cholmod")
    d = crossed(weights=weights)
    design = build_design(parse_formula(F3), d, weights=d["w"].to_numpy() if weights else None)
    pb = make_problem(design)
    c = CM.CholmodCriterion(pb.Z.T @ pb.Z, [b.nlevels for b in pb.blocks], pb.ZtX, pb.Zty,
                            pb.XtX, pb.Xty, pb.yty, pb.n, pb.ldW, mode=mode)
    for th in THETAS:
        for REML in (True, False):
            assert c.criterion(th, REML) == pytest.approx(pb._criterion(th, REML), rel=1e-12)
    assert c.flops() > 0


def test_cholmod_chosen_by_its_rule_fits_as_the_blocked_factor(monkeypatch):
    pytest.importorskip("sksparse.cholmod")
    d = crossed(n=4000, A=800, B=400, C=20, clusters=20)
    ref = mw.lmer(F3, d)
    assert ref._problem.cholmod() is None  # below CHOLMOD_MIN_Q2
    monkeypatch.setattr(CM, "CHOLMOD_MIN_Q2", 100)
    m = mw.lmer(F3, d)
    pb = m._problem
    assert pb.cholmod() is not None  # clustered: CHOLMOD's flops far under q2^3 / 3
    assert CM.cholmod_pays(pb.cholmod(), pb.q2)
    assert float(mw.REMLcrit(m)) == pytest.approx(float(mw.REMLcrit(ref)), abs=1e-7)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-4, atol=1e-5)
    # refits share the symbolic factor with a factor of their own; pickling leaves it out
    new = pb.with_response(pb.y[::-1].copy())
    assert new.cholmod() is not None and new.cholmod().factor is not pb.cholmod().factor
    blocked = pb.with_response(pb.y[::-1].copy())
    blocked._cholmod = None
    th = m.theta
    assert new.objective(th, True) == pytest.approx(blocked.objective(th, True), rel=1e-12)
    # solve() (the results) through CHOLMOD too, the conditional variances blocked
    a, b = pb.solve(th), blocked.with_response(pb.y).solve(th)
    for name in ("beta", "u", "b", "fitted"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-8, atol=1e-10)
    for name in ("pwrss", "logdet_L", "logdet_RX", "reml_crit", "deviance_ml"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-11)
    np.testing.assert_allclose(a.RXtRX, b.RXtRX, rtol=1e-10)
    assert "condvar_rel" in pb.solve(th, full=True).extras
    back = pickle.loads(pickle.dumps(pb))
    assert "_cholmod" not in back.__dict__ and back.objective(th, True) == pytest.approx(
        pb.objective(th, True), rel=1e-12)
    # random crossing: nearly complete fill whatever the ordering, the blocked factor stays
    assert make_problem(build_design(parse_formula(F3), crossed(n=4000, A=800, B=400, C=20))
                        ).cholmod() is None
