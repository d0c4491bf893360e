"""glmer with every family and link lme4 accepts, against R (lme4 1.1-31).

The v2 corpus' ``fam_*`` cases (Gamma log link on sleepstudy, inverse Gaussian log,
Gaussian log on faculty, binomial probit and Poisson sqrt on cbpp) are compared field by
field (fixef, SEs, vcov, VarCorr with the Residual row, sigma, logLik/AIC/BIC, deviance,
ranef, fitted, predict, the summary printout); tests/r/families_refs.R's references
(tests/r/refs/families/) cover the other links.  lme4's quirks reproduced: for a family
with a scale parameter ``sigma = sqrt(pwrss / n)`` (Pearson residuals' sum of squares
plus ||u||^2), VarCorr multiplies ``Lambda Lambda'`` by sigma^2, the fixed-effects table
says ``t value`` but tests with ``Pr(>|z|)``, and the Laplace deviance carries the family's
``aic`` at the dispersion ``deviance / n``.
"""
from __future__ import annotations

import functools
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import load_case, load_data
from printouts import printout_mismatches, r_data_name
from rref import GLMM_TOL

import mlm_wrap as mw
from mlm_wrap.models.families import Gamma, as_family, binomial, gaussian, inverse_gaussian, poisson

TOL = GLMM_TOL
FAM_CASES = ["v2:fam_sleep_gamma_log", "v2:fam_sleep_invgauss_log", "v2:fam_faculty_gauss_log",
             "v2:fam_cbpp_probit", "v2:fam_cbpp_pois_sqrt"]
REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "families"
EXTRA_REFS = sorted(p.stem for p in REFS.glob("*.json"))


@functools.lru_cache(maxsize=None)
def fit_case(cid: str):
    case = load_case(cid)
    df = load_data(case["data"], case["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.glmer(case["formula"], data=df, family=case["family"], data_name=r_data_name(case))
    return case, m


def _rel(got, ref) -> float:
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    return float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)))


@pytest.mark.parametrize("cid", FAM_CASES)
def test_estimates_and_scale(cid):
    case, m = fit_case(cid)
    names = list(case["fixef"])
    fe = m.fixef()[names].to_numpy()
    ref = np.array(list(case["fixef"].values()))
    assert np.allclose(fe, ref, rtol=TOL["fixef"], atol=TOL["fixef"] * np.abs(ref).max())
    assert _rel(m.se_fixef()[names], [case["se_fixef"][k] for k in names]) < TOL["se_fixef"]
    assert _rel(np.diag(m.vcov().loc[names, names]), np.diag(np.array(case["vcov"]))) < 2 * TOL["se_fixef"]
    assert m.sigma() == pytest.approx(case["sigma"], rel=TOL["vcov_re"])
    vc = m.VarCorr().to_frame()
    assert len(vc) == len(case["varcorr"])
    for row, r in zip(vc.itertuples(index=False), case["varcorr"]):
        assert row.grp == r["grp"]
        assert row.vcov == pytest.approx(r["vcov"], rel=TOL["vcov_re"])
        assert row.sdcor == pytest.approx(r["sdcor"], rel=TOL["vcov_re"])


@pytest.mark.parametrize("cid", FAM_CASES)
def test_likelihood(cid):
    case, m = fit_case(cid)
    assert float(m.logLik()) == pytest.approx(case["logLik"], abs=TOL["loglik_abs"])
    assert m.logLik().df == case["df"]
    assert m.AIC() == pytest.approx(case["AIC"], abs=TOL["ic_abs"])
    assert m.BIC() == pytest.approx(case["BIC"], abs=TOL["ic_abs"])
    assert m.deviance() == pytest.approx(case["deviance"], rel=1e-3)
    assert m.nobs() == case["nobs"]


@pytest.mark.parametrize("cid", FAM_CASES)
def test_ranef_fitted_predict(cid):
    case, m = fit_case(cid)
    g, re = next(iter(case["ranef"].items()))
    got = m.ranef(condVar=False)[g].to_numpy()
    ref = np.array(re["data"])
    assert np.max(np.abs(got - ref)) < TOL["ranef_sd"] * max(ref.std(), 1e-8) * 5
    fitted = json.loads(case["fitted"]) if isinstance(case["fitted"], str) else case["fitted"]
    fr = np.asarray(fitted, float)
    f = m.fitted().to_numpy()
    assert np.max(np.abs(f - fr)) < TOL["fitted_sd"] * fr.std() + 1e-8
    n = len(case["predict_conditional"])
    assert np.allclose(m.predict().to_numpy()[:n], case["predict_conditional"],
                       rtol=TOL["fixef"], atol=1e-4)
    assert np.allclose(m.predict(type="response").to_numpy()[:n], case["predict_response"],
                       rtol=TOL["fixef"])


def _grad(text: str) -> str:
    """The convergence note's max|grad| depends on the optimizer's path near a flat optimum
    (R 0.00217, here ~0.003 for the Gamma fit): both say the same, compared without it."""
    return re.sub(r"max\|grad\| = \S+", "max|grad| = G", text)


@pytest.mark.parametrize("cid", FAM_CASES)
def test_summary_printout_is_rs(cid):
    case, m = fit_case(cid)
    bad = printout_mismatches(_grad(str(mw.summary(m))), _grad(case["summary_text"]))
    assert not bad, "\n".join(bad)
    s = mw.summary(m)
    stat = "t value" if m.family_object.has_scale else "z value"
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", stat, "Pr(>|z|)"]
    if case.get("varcorr_text"):
        bad = printout_mismatches(str(m.VarCorr()), case["varcorr_text"])
        assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------ other links
#: Fits whose Hessian-based SEs differ from lme4's by more than GLMM_TOL: Gamma with the
#: identity link on sleepstudy (theta ~ 191, the deviance nearly flat in it) has lme4's
#: finite-difference Hessian (deriv12, delta 1e-4, on a deviance whose PIRLS stops at a
#: relative change of 1e-7) off by ~0.005 in its theta row, and R's SE of the intercept is
#: 11.5 where ours is 9.7; the RX-based SEs (vcov(use_hessian=False)) agree with R's.
HESSIAN_NOISE = {"gamma_identity": 0.2}
#: Fits neither lme4 nor we bring to lme4's gradient tolerance (Gamma inverse link: R's
#: max|grad| 0.064, ours 0.007; logLik within 4e-4): numbers within GLMM_TOL, but the
#: printout's 4-5 digits only up to the AIC line.
NOT_CONVERGED = {"gamma_inverse"}
@functools.lru_cache(maxsize=None)
def fit_ref(name: str):
    ref = json.loads((REFS / f"{name}.json").read_text())
    df = load_data(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.glmer(ref["formula"], data=df, family=ref["family"],
                     data_name=ref["data"].replace(".csv", ""))
    return ref, m


@pytest.mark.parametrize("name", EXTRA_REFS)
def test_other_links_against_r(name):
    ref, m = fit_ref(name)
    assert ref["versions"]["lme4"] == "1.1.31"
    assert m.link == ref["link"] and m.family == ref["family_name"]
    names = list(ref["fixef"])
    fe = m.fixef()[names].to_numpy()
    r = np.array(list(ref["fixef"].values()))
    assert np.allclose(fe, r, rtol=TOL["fixef"], atol=TOL["fixef"] * np.abs(r).max())
    rx = np.sqrt(np.diag(m.vcov(use_hessian=False).loc[names, names]))
    assert _rel(rx, [ref["se_fixef_rx"][k] for k in names]) < TOL["se_fixef"]
    hess_se_tol = HESSIAN_NOISE.get(name, TOL["se_fixef"])
    assert _rel(m.se_fixef()[names], [ref["se_fixef"][k] for k in names]) < hess_se_tol
    assert m.sigma() == pytest.approx(ref["sigma"], rel=TOL["vcov_re"])
    assert float(m.logLik()) == pytest.approx(ref["logLik"], abs=TOL["loglik_abs"])
    assert m.logLik().df == ref["df"]
    assert m.AIC() == pytest.approx(ref["AIC"], abs=TOL["ic_abs"])
    assert m.deviance() == pytest.approx(ref["deviance"], rel=1e-3)
    vc = m.VarCorr().to_frame()
    assert np.allclose(vc["vcov"].to_numpy(), ref["varcorr_vcov"], rtol=TOL["vcov_re"], atol=1e-8)
    got, want = _grad(str(mw.summary(m))), _grad(ref["summary_text"])
    if name in HESSIAN_NOISE:  # the SEs differ (see HESSIAN_NOISE): the printout up to them
        got, want = got.split("Fixed effects:")[0], want.split("Fixed effects:")[0]
    if name in NOT_CONVERGED:
        got, want = got.split("Scaled residuals:")[0], want.split("Scaled residuals:")[0]
    bad = printout_mismatches(got, want)
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------ family objects
def test_family_objects_and_strings():
    assert (Gamma().link, inverse_gaussian().link, gaussian().link) == ("inverse", "1/mu^2", "identity")
    assert (binomial().link, poisson().link) == ("logit", "log")
    assert mw.Gamma is Gamma and mw.inverse_gaussian is inverse_gaussian
    for text, fam, link in [("Gamma", "Gamma", "inverse"),
                            ('inverse.gaussian(link = "log")', "inverse.gaussian", "log"),
                            ("inverse.gaussian", "inverse.gaussian", "1/mu^2"),
                            ('binomial(link = "cauchit")', "binomial", "cauchit"),
                            ("poisson(link=identity)", "poisson", "identity"),
                            ('gaussian("inverse")', "gaussian", "inverse")]:
        f = as_family(text)
        assert (f.family, f.link) == (fam, link)
    f = as_family(Gamma)
    assert (f.family, f.link) == ("Gamma", "inverse")
    assert Gamma().has_scale and gaussian("log").has_scale and not binomial().has_scale


@pytest.mark.parametrize("bad, word", [('Gamma(link = "logit")', "logit"),
                                       ('poisson(link = "probit")', "probit"),
                                       ('binomial(link = "sqrt")', "sqrt"),
                                       ("quasipoisson", "quasipoisson"),
                                       ("negative.binomial", "negative.binomial")])
def test_unknown_family_or_link_is_named(bad, word):
    with pytest.raises(ValueError, match=word.replace(".", r"\.")):
        as_family(bad)
    with pytest.raises(ValueError, match="link 'loglog'"):
        binomial(link="loglog")


def test_gaussian_identity_is_lmer():
    df = load_data("sleepstudy.csv")
    with pytest.warns(FutureWarning, match="lmer"):
        m = mw.glmer("Reaction ~ Days + (1 | Subject)", df, family=gaussian())
    assert not hasattr(m, "family_object") or m.family_object is None


def test_response_checks():
    df = load_data("sleepstudy.csv").assign(y0=lambda d: d.Reaction - 300)
    with pytest.raises(mw.ModelError, match="non-positive values not allowed for the 'Gamma'"):
        mw.glmer("y0 ~ Days + (1 | Subject)", df, family="Gamma")
    with pytest.raises(mw.ModelError, match="positive values only"):
        mw.glmer("y0 ~ Days + (1 | Subject)", df, family=inverse_gaussian(link="log"))
    with pytest.raises(mw.ModelError, match="valid starting values"):
        mw.glmer("y0 ~ Days + (1 | Subject)", df, family=gaussian(link="log"))
