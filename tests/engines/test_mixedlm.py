"""The optimum: MixedLM's point is judged and, where it stops short, polished to lme4's."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import lmer_case_ids, load_case, load_data, fit_kwargs

import mlm_wrap as mw
from mlm_wrap.engines.mixedlm import _gradient
from mlm_wrap.engines.optimize import check_conv


def fit(cid, **kw):
    case = load_case(cid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case, mw.lmer(case["formula"], data=load_data(case["data"], case["_data_dir"]), REML=case["REML"], **fit_kwargs(case), **kw)


def r_crit(case):
    return case["REMLcrit"] if case["REMLcrit"] is not None else case["deviance"]


def test_mixedlm_short_of_optimum_is_polished():
    """faculty m2: MixedLM reports convergence far from lme4's optimum; the wrapper is at R's."""
    case, m = fit("faculty_m2", engine="statsmodels")
    info = m.optinfo
    assert info.statsmodels_converged and info.statsmodels_criterion - r_crit(case) > 1.0
    assert info.polished
    assert abs(info.criterion - r_crit(case)) < 1e-3


@pytest.mark.parametrize("cid", lmer_case_ids())
def test_gradient_at_solution_is_small(cid):
    """lme4's own test (checkConv): min(|scaled gradient|, |gradient|) <= 2e-3, the scale
    from lme4's finite-difference Hessian; a singular fit is not checked, as in lme4."""
    _, m = fit(cid)
    f = lambda th: m._problem.objective(th, m.REML)
    ok, worst = check_conv(f, m.theta, f(m.theta), m._problem.lower)
    assert ok and worst <= 2e-3 and m.optinfo.converged


def test_check_conv_flags_a_point_short_of_the_optimum():
    """The check can fail: away from the optimum lme4 would warn, and so does the test."""
    _, m = fit("sleepstudy_slope")
    f = lambda th: m._problem.objective(th, m.REML)
    off = m.theta * np.array([1.05, 1.0, 0.95])
    ok, worst = check_conv(f, off, f(off), m._problem.lower)
    assert not ok and worst > 2e-3


@pytest.mark.parametrize("cid", lmer_case_ids())
def test_sparse_engine_reaches_the_same_optimum(cid):
    case, m = fit(cid, engine="sparse")
    assert m.optinfo.statsmodels_criterion is None
    assert -2e-3 <= float(mw.logLik(m)) - case["logLik"] <= 0.05


def test_singular_fit_warns_in_lme4_words():
    case = load_case("dyestuff2_singular")
    with pytest.warns(mw.SingularFitWarning, match=r"boundary \(singular\) fit: see help\('isSingular'\)"):
        m = mw.lmer(case["formula"], data=load_data(case["data"], case["_data_dir"]))
    assert mw.isSingular(m) and m.theta[0] == 0.0


def test_problem_criterion_is_scale_free_in_theta():
    """theta is relative to sigma: scaling y leaves the optimum's theta unchanged."""
    case = load_case("sleepstudy_slope")
    df = load_data(case["data"], case["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = mw.lmer(case["formula"], data=df)
        m2 = mw.lmer(case["formula"], data=df.assign(Reaction=df["Reaction"] * 1000))
    assert np.allclose(m1.theta, m2.theta, atol=1e-4)
    assert np.allclose(mw.fixef(m2), 1000 * mw.fixef(m1), rtol=1e-5)
