"""simulate(), bootMer() and confint(method = "boot") of glmer fits of every family,
against R by Monte Carlo (tests/r/families_refs.R: R's simulate() moments per
observation, bootMer() means and sds of confint's bootFun statistics).

R's random numbers cannot be reproduced, so each comparison allows 5 Monte-Carlo standard
errors, computed from both sides' numbers of draws; with our seed fixed the tests are
deterministic.  lme4 1.1-31's Gamma / inverse Gaussian shape (w / sigma instead of
w / sigma^2, lme4 issue #782) is fixed in mlm_wrap and in the R references alike."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlm_wrap as mw
from glmm_family_refs import CASE_IDS, fit, ref
from mlm_wrap.inference.boot import _boot_names
from rref import GLMM_TOL

NSIM = 4000   # simulate() draws here (R: sim_nsim)
NBOOT = 40    # bootMer() refits here (R: 400)
Z = 5.0


def _sim(case):
    m = fit(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m, mw.simulate(m, NSIM, seed=11).to_numpy()


@pytest.mark.parametrize("case", CASE_IDS)
def test_simulate_moments_match_r(case):
    """simulate(m, nsim) (re.form = NA): each observation's mean and variance over the
    draws agree with R's within 5 Monte-Carlo standard errors."""
    r = ref(case)
    m, Y = _sim(case)
    nr = r["sim_nsim"]
    mr, vr, m4r = (np.asarray(r[k], float) for k in ("sim_mean", "sim_var", "sim_m4"))
    mo = Y.mean(axis=1)
    c = Y - mo[:, None]
    vo, m4o = (c ** 2).mean(axis=1), (c ** 4).mean(axis=1)
    assert Y.shape == (len(mr), NSIM)
    se_mean = np.sqrt(vr / nr + vo / NSIM) + 1e-12
    assert np.max(np.abs(mo - mr) / se_mean) < Z
    se_var = np.sqrt(np.clip(m4r - vr ** 2, 0, None) / nr + np.clip(m4o - vo ** 2, 0, None) / NSIM) + 1e-12
    assert np.max(np.abs(vo - vr) / se_var) < Z


def test_simulate_binomial_keeps_trials():
    """A cbind() / proportion-with-weights response: counts out of the trials, divided by
    them (glm's proportion), as R's binomial simulate."""
    m, Y = _sim("binomial_cbind")
    w = m._problem.wt
    k = Y * w[:, None]
    assert np.allclose(k, np.round(k)) and np.all((Y >= 0) & (Y <= 1))
    _, Y2 = _sim("binomial_prop")
    assert np.allclose(Y, Y2)  # the same model, the same draws


def test_simulate_reproducible_and_validated():
    m = fit("gamma_log")
    a = mw.simulate(m, 3, seed=5)
    assert a.equals(mw.simulate(m, 3, seed=5))
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"]
    assert np.all(a.to_numpy() > 0)
    with pytest.raises(ValueError):
        mw.simulate(m, 0)


# inverse Gaussian (log): lme4 draws the new random effects from Lambda, not scaled by
# sigma (theta = 12 on the log scale here), and R's own bootMer fails 247 of 400 refits of
# the resulting data; simulate()'s moments are compared above.
BOOT_CASES = [c for c in CASE_IDS if c != "invgauss_log"]


@pytest.mark.parametrize("case", BOOT_CASES)
def test_bootmer_matches_r(case):
    """bootMer(m, nsim) with confint's statistics: the names are R's (a sigma only for
    families with a scale parameter), and each statistic's bootstrap mean and sd agree
    with R's bootMer(m, bootFun, 400) within 5 Monte-Carlo standard errors."""
    r = ref(case)["boot"]
    m = fit(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mw.bootMer(m, NBOOT, seed=7, progress=False)
    assert len(b.t0) == len(r["t0"])
    assert ("sigma" in b.t0.index) == m.family_object.has_scale
    assert np.allclose(b.t0.to_numpy(), r["t0"], rtol=2e-2, atol=2e-3)
    t = b.t.dropna().to_numpy()
    assert len(t) >= NBOOT - 2
    mo, so = t.mean(axis=0), t.std(axis=0, ddof=1)
    mr, sr, nr = np.asarray(r["mean"]), np.asarray(r["sd"]), r["nsim"]
    se_mean = np.sqrt(sr ** 2 / nr + so ** 2 / len(t)) + 1e-12
    assert np.all(np.abs(mo - mr) / se_mean < Z)
    # log sd: standard error about 1 / sqrt(2 (N - 1)) on each side
    se_lsd = np.sqrt(1 / (2 * (len(t) - 1)) + 1 / (2 * (nr - 1)))
    ok = (sr < 1e-6) & (so < 1e-6)
    assert np.all(ok | (np.abs(np.log((so + 1e-300) / (sr + 1e-300))) < Z * se_lsd))


def test_bootmer_fun_gets_glmer_refits():
    m = fit("nb")
    seen = []

    def fun(g):
        seen.append(g)
        return mw.fixef(g)

    b = mw.bootMer(m, 3, seed=1, FUN=fun, progress=False)
    assert list(b.t.columns) == ["(Intercept)", "x"]
    # lme4's refit of a glmer.nb fit keeps theta at the estimate
    assert all(g.family_object.theta == m.family_object.theta for g in seen[1:])
    assert b.t.notna().all().all()


@pytest.mark.parametrize("case", ["gamma_log", "nb"])
def test_confint_boot_rows_as_r(case):
    """confint(m, method = "boot"): R's rows (.sig01 / .sigma / fixed effects, in
    oldNames = FALSE's names)."""
    rows = ref(case)["boot_ci_rows"]
    m = fit(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = mw.confint(m, method="boot", nsim=8, seed=3, progress=False)
    assert len(ci) == len(rows) and list(ci.index) == _boot_names(m)
    assert list(ci.index)[-len(mw.fixef(m)):] == rows[-len(mw.fixef(m)):]
    assert np.all(ci.iloc[:, 0] <= ci.iloc[:, 1])


def test_refit_glmer_new_response():
    """refit(m, newresp) of a glmer fit: its own response gives back the fit."""
    m = fit("poisson_log")
    g = mw.refit(m, m._problem.y)
    assert np.allclose(mw.fixef(g), mw.fixef(m), rtol=GLMM_TOL["fixef"], atol=GLMM_TOL["fixef"])
    y = mw.simulate(m, 1, seed=2).iloc[:, 0].to_numpy()
    g2 = mw.refit(m, y)
    assert np.allclose(g2._problem.y, y) and not np.allclose(mw.fixef(g2), mw.fixef(m))


def test_bootmer_failed_refits_are_na_rows():
    """Refits that cannot start (the deviance is infinite at the fit's estimates) are NA
    rows, quickly, as bootMer's failed refits; R fails most refits of this fit too."""
    m = fit("invgauss_log")
    assert ref("invgauss_log")["boot"]["nsim"] < 400
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mw.bootMer(m, 4, seed=7, progress=False)
    assert b.nfail > 0 and b.t.isna().any(axis=1).sum() == b.nfail
    assert b.seconds < 20
