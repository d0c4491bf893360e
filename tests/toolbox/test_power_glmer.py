"""simr-style power analysis of glmer fits (mlm_wrap.toolbox.power, power_glmm): power_sim
against an independent Monte Carlo loop run with lme4's glmer in R (tests/r/power_refs.R:
simulate + a new glmer fit + the z-test of summary() or the likelihood ratio), within
Monte Carlo error; cbind() and proportion-with-weights responses, a Poisson offset;
extend and power_curve of glmer fits; the same p-values serial and in worker processes.

The refits of a glmer fit cost ~0.2 s each here, so the quick tests use few simulations
and a wide (but binomial, not hand-set) bound; the ``slow`` test (``-m slow``) repeats
every R case with 400 simulations."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load

REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "power"
CBPP = json.loads((REFS / "cbpp_glmer.json").read_text())
POIS = json.loads((REFS / "poisson_glmer.json").read_text())


@pytest.fixture(scope="module")
def cbpp():
    return load("cbpp")


@pytest.fixture(scope="module")
def pois_data():
    return pd.read_csv(REFS / POIS["data"])


@pytest.fixture(scope="module")
def gb(cbpp):
    return mw.glmer(CBPP["formula"], data=cbpp, family=CBPP["family"])


@pytest.fixture(scope="module")
def gp(pois_data):
    return mw.glmer(POIS["formula"], data=pois_data, family=POIS["family"])


def _case(ref, method, test, effect):
    return next(c for c in ref["cases"]
                if c["method"] == method and c["test"] == test and c["effect"] == effect)


def _agrees(ps, ref_case, k=3.5):
    """Two estimates of one probability agree within k standard errors of their
    difference (binomial, pooled; at least the error of a 1% / 99% power)."""
    n, nr = ps.n, ref_case["nsim"]
    p = (ps.successes + ref_case["successes"]) / (n + nr)
    se = math.sqrt(max(p * (1 - p), 0.01 * 0.99) * (1 / n + 1 / nr))
    return abs(ps.power - ref_case["power"]) < k * se, (ps.power, ref_case["power"], se)


def _run(request, which, method, test, effect, nsim, seed=11):
    m = request.getfixturevalue("gb" if which == "cbpp" else "gp")
    ref = CBPP if which == "cbpp" else POIS
    case = _case(ref, method, test, effect)
    ps = mw.power_sim(m, test, nsim=nsim, alpha=case["alpha"], method=method, effect=effect,
                      seed=seed, progress=False, parallel="multicore", ncpus=2)
    return ps, case


@pytest.mark.parametrize("which,method,test,effect,nsim", [
    ("cbpp", "z", "period2", -0.5, 60), ("cbpp", "z", "period2", 0, 40),
    ("cbpp", "lr", "period", None, 12), ("poisson", "lr", "x", 0.12, 40)])
def test_glmer_power_matches_r_monte_carlo(request, which, method, test, effect, nsim):
    ps, case = _run(request, which, method, test, effect, nsim)
    assert ps.n == nsim and not ps.errors
    ok, info = _agrees(ps, case)
    assert ok, info


@pytest.mark.slow
@pytest.mark.parametrize("which,method,test,effect", [
    ("cbpp", "z", "period2", -0.5), ("cbpp", "z", "period2", 0), ("cbpp", "lr", "period", None),
    ("poisson", "z", "x", 0.12), ("poisson", "lr", "x", 0.12), ("poisson", "lr", "x", 0)])
def test_glmer_power_matches_r_monte_carlo_400(request, which, method, test, effect):
    ps, case = _run(request, which, method, test, effect, 400, seed=2026)
    assert len(ps.errors) <= 0.01 * ps.n
    ok, info = _agrees(ps, case, k=3.0)
    assert ok, info


def test_default_test_and_printout(gb, gp):
    """simr's default for a GLMM: the z-test of a numeric effect, the likelihood ratio for a
    factor; simr's printout."""
    ps = mw.power_sim(gp, nsim=3, effect=0.12, seed=1, progress=False)
    assert ps.xname == "x" and ps.method == "z"
    s = str(ps)
    assert "\nTest: z-test\n      Effect size for x is 0.12\n" in s
    assert "\nalpha = 0.05, nrow = 240\n" in s and "observed power" not in s
    pf = mw.power_sim(gb, "period", nsim=2, seed=1, progress=False)
    assert pf.method == "lrt" and "Test: Likelihood ratio\n" in str(pf)
    assert str(pf).endswith("nb: result might be an observed power calculation\n")


def test_cbind_and_proportion_with_weights_are_the_same_simulation(cbpp, gb):
    """A proportion with weights= is glm's coding of the cbind() response: the same draws,
    refits and p-values, number for number."""
    g2 = mw.glmer("incidence/size ~ period + (1 | herd)", data=cbpp, family="binomial",
                  weights="size")
    for method in ("z", "lr"):
        test = "period2" if method == "z" else "period"
        a = mw.power_sim(gb, test, nsim=4, method=method, seed=3, progress=False)
        b = mw.power_sim(g2, test, nsim=4, method=method, seed=3, progress=False)
        assert np.isfinite(a.pval).all() and np.allclose(a.pval, b.pval, rtol=1e-8, atol=0)


def test_serial_and_workers_give_the_same_pvalues(gp):
    a = mw.power_sim(gp, "x", nsim=6, method="lr", effect=0.1, seed=5, progress=False)
    b = mw.power_sim(gp, "x", nsim=6, method="lr", effect=0.1, seed=5, progress=False,
                     parallel="multicore", ncpus=2)
    assert np.isfinite(a.pval).all() and np.array_equal(a.pval, b.pval)


def test_extend_cbind_keeps_the_size_column(cbpp, gb):
    before = cbpp.copy()
    e = mw.extend(gb, along="herd", n=20)
    assert e.ngrps() == {"herd": 20} and e.nobs() == 56 + 5 * 4  # herd 15 has 4 rows
    assert np.array_equal(e.sim_params["beta"], gb._sol.beta)
    new = e.ext_data
    last = cbpp[cbpp["herd"] == cbpp["herd"].cat.categories[-1]]
    assert list(new["size"].iloc[-4:]) == list(last["size"])  # new herds copy the last one
    assert (new["incidence"] <= new["size"]).all() and (new["incidence"] >= 0).all()
    # the extended model is fitted to the simulated counts it keeps
    refit = mw.glmer(CBPP["formula"], data=new, family="binomial")
    assert np.allclose(refit.fixef(), e.fixef(), rtol=1e-3, atol=1e-3)
    assert mw.extend(gb, within="period + herd", n=2).nobs() == 2 * 56
    pd.testing.assert_frame_equal(cbpp, before)  # the user's data are not modified
    pc = mw.power_curve(e, "period2", along="herd", breaks=[6, 20], nsim=3, effect=-0.5,
                        seed=2, progress=False)
    first6 = list(pd.unique(new["herd"]))[:6]
    assert [s.nrow for s in pc.sims] == [int(new["herd"].isin(first6).sum()), 76]
    assert list(pc.summary()["nlevels"]) == [6, 20]


def test_extend_proportion_and_offset_need_their_columns(cbpp, gp, pois_data):
    g2 = mw.glmer("incidence/size ~ period + (1 | herd)", data=cbpp, family="binomial",
                  weights="size")
    with pytest.raises(mw.DataError, match="pass data="):
        mw.extend(g2, along="herd", n=20)
    e2 = mw.extend(g2, along="herd", n=20, data=cbpp)
    assert e2.nobs() == 76 and (e2.ext_data["incidence"] <= e2.ext_data["size"]).all()
    with pytest.raises(mw.DataError, match="'t'"):  # offset(log(t)): t is not kept
        mw.extend(gp, along="g", n=40)
    ep = mw.extend(gp, along="g", n=40, data=pois_data)
    assert ep.ngrps() == {"g": 40} and ep.nobs() == 320
    new = ep.ext_data
    assert list(new["t"].iloc[-8:]) == list(pois_data["t"].iloc[-8:])  # the offset's column
    fit = mw.glmer(POIS["formula"], data=new, family="poisson")
    assert np.allclose(fit.fixef(), ep.fixef(), rtol=1e-3, atol=1e-3)
    ps = mw.power_sim(ep, "x", nsim=2, effect=0.12, seed=1, progress=False)
    assert ps.nrow == 320 and not ps.errors


def test_glmer_errors(cbpp, gb, gp):
    for method in ("kr", "satterthwaite"):
        with pytest.raises(mw.ModelError, match="is a test of lmer fits"):
            mw.power_sim(gp, "x", nsim=2, method=method)
    with pytest.raises(mw.ModelError, match="z-test tests one coefficient"):
        mw.power_sim(gb, "period", nsim=2, method="z")
    with pytest.raises(mw.ModelError, match="method must be"):
        mw.power_sim(gb, "period2", nsim=2, method="wald")
    gw = mw.glmer("incidence/size ~ period + (1 | herd)", data=cbpp, family="binomial",
                  weights=cbpp["size"].to_numpy())
    with pytest.raises(mw.DataError, match="weights= were given as values"):
        mw.extend(gw, along="herd", n=20, data=cbpp)
    g0 = mw.glmer(CBPP["formula"], data=cbpp, family="binomial", nAGQ=0)
    with pytest.raises(mw.ModelError, match="nAGQ = 0"):
        mw.power_sim(g0, "period2", nsim=2)
