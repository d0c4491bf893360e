"""glmer() against lme4 1.1-31, and the pieces it is built from.

The expected numbers are R's, read from JSON (tests/r/refs/core's three cbpp cases and
the glmm_* cases of tests/r/refs/extra, both written by tests/r/make_refs.R); never
typed in here.  Tolerances are tests/rref.py's GLMM_TOL.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import EXTRA, REFS, load_case, load_data

import mlm_wrap as mw
from mlm_wrap.engines.glmm import _Devfun, conv_messages
from mlm_wrap.engines.lmm import ReBlock
from mlm_wrap.engines.pirls import GlmmProblem, deriv12, ghrule
from mlm_wrap.errors import (
    ConvergenceWarning,
    DataError,
    ModelError,
    SingularFitWarning,
)
from mlm_wrap.models.families import as_family
from mlm_wrap.models.glmer import GlmerMod
from mlm_wrap.models.response import split_offsets

from glmm_cases import CASES, EXTRA_CASES, TOL  # noqa: E402

_FITS: dict[str, tuple] = {}


def fit_case(cid: str):
    """Fit a case once, as parity.py calls glmer (warnings kept for the tests that want them)."""
    if cid not in _FITS:
        case = load_case(cid)
        df = load_data(case["data"], case["_data_dir"])
        kw = {"family": case["family"]}
        if case.get("weights"):
            kw["weights"] = case["weights"]
        if case.get("nAGQ", 1) != 1:
            kw["nAGQ"] = case["nAGQ"]
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m = mw.glmer(case["formula"], data=df, **kw)
        _FITS[cid] = (case, df, m, [str(x.message) for x in w])
    return _FITS[cid]


def relerr(got, ref) -> float:
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    return float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-8)))


def ref_table(t: dict) -> pd.DataFrame:
    return pd.DataFrame(t["data"], index=[str(i) for i in t["index"]], columns=t["columns"])


def re_sd(case) -> dict:
    """R's random-effect SDs by (group, term), the scale ranef errors are measured in."""
    return {(r["grp"].split(".")[0], r["var1"]): r["sdcor"] for r in case["varcorr"] if r["var2"] is None}


# ------------------------------------------------------------------------- R parity
@pytest.mark.parametrize("cid", CASES)
def test_fixef_se_vcov(cid):
    case, _, m, _ = fit_case(cid)
    fe, se = mw.fixef(m), mw.se_fixef(m)
    assert list(fe.index) == list(case["fixef"])
    assert relerr(fe[list(case["fixef"])], list(case["fixef"].values())) <= TOL["fixef"]
    assert relerr(se[list(case["se_fixef"])], list(case["se_fixef"].values())) <= TOL["se_fixef"]
    V, ref = mw.vcov(m).to_numpy(), np.asarray(case["vcov"], float)
    assert np.max(np.abs(V - ref)) / np.max(np.abs(ref)) <= TOL["se_fixef"]


@pytest.mark.parametrize("cid", CASES)
def test_varcorr_has_no_residual_row(cid):
    case, _, m, _ = fit_case(cid)
    got = mw.VarCorr(m).to_frame()
    ref = pd.DataFrame(case["varcorr"])
    assert len(got) == len(ref) and "Residual" not in set(got["grp"])
    assert list(got["grp"]) == list(ref["grp"]) and list(got["var1"]) == list(ref["var1"])
    for (_, g), (_, r) in zip(got.iterrows(), ref.iterrows()):
        if r["var2"] is None:
            assert abs(g["vcov"] - r["vcov"]) <= TOL["vcov_re"] * max(abs(r["vcov"]), 1e-3)
        else:
            assert abs(g["sdcor"] - r["sdcor"]) <= TOL["vcov_re"]
    assert mw.sigma(m) == 1.0
    if "theta" in case:
        assert np.max(np.abs(m.theta - np.asarray(case["theta"]))) <= TOL["vcov_re"]


@pytest.mark.parametrize("cid", CASES)
def test_likelihood(cid):
    case, _, m, _ = fit_case(cid)
    ll = mw.logLik(m)
    assert abs(float(ll) - case["logLik"]) <= TOL["loglik_abs"]
    assert ll.df == case["df"] and ll.nobs == case["nobs"]
    assert abs(mw.AIC(m) - case["AIC"]) <= TOL["ic_abs"]
    assert abs(mw.BIC(m) - case["BIC"]) <= TOL["ic_abs"]
    assert abs(mw.deviance(m) - case["deviance"]) <= 2 * TOL["loglik_abs"]  # sum of dev. residuals^2
    tab = m.AICtab()
    assert tab["deviance"] == pytest.approx(-2 * float(ll)) and tab["df.resid"] == case["nobs"] - case["df"]
    with pytest.raises(ModelError, match="non-LMM"):
        mw.REMLcrit(m)


@pytest.mark.parametrize("cid", CASES)
def test_groups_and_singularity(cid):
    case, _, m, msgs = fit_case(cid)
    assert mw.nobs(m) == case["nobs"]
    assert {k: int(v) for k, v in mw.ngrps(m).items()} == case["ngrps"]
    assert mw.isSingular(m) == case["isSingular"]
    singular = "boundary (singular) fit: see help('isSingular')"
    assert (singular in msgs) == case["isSingular"]
    for msg in case.get("r_messages") or []:  # R's own warnings/messages, word for word
        assert msg in msgs


@pytest.mark.parametrize("cid", CASES)
def test_ranef_coef_condsd(cid):
    case, _, m, _ = fit_case(cid)
    sd = re_sd(case)
    se = np.asarray(list(case["se_fixef"].values()))
    re, cf, sr = mw.ranef(m), mw.coef(m), mw.se_ranef(m)
    for grp, t in case["ranef"].items():
        r, g = ref_table(t), re[grp]
        g.index = [str(i) for i in g.index]
        for col in r.columns:
            scale = max(sd[(grp, col)], 1e-8)
            assert np.max(np.abs(g.loc[r.index, col] - r[col])) / scale <= TOL["ranef_sd"] or \
                np.max(np.abs(g.loc[r.index, col] - r[col])) <= 1e-8
    for grp, t in case["coef"].items():
        r, g = ref_table(t), cf[grp]
        g.index = [str(i) for i in g.index]
        assert list(g.columns) == list(r.columns)
        for j, col in enumerate(r.columns):
            # a fixed effect's own SE is the honest scale where the random effect is 0
            scale = sd.get((grp, col)) or se[list(case["fixef"]).index(col)]
            assert np.max(np.abs(g.loc[r.index, col] - r[col])) / scale <= TOL["ranef_sd"]
    rc = case["ranef_condsd"]
    for gv, term, lvl, want in zip(rc["grpvar"], rc["term"], rc["grp"], rc["condsd"]):
        got = sr[gv]
        got.index = [str(i) for i in got.index]
        assert abs(got.loc[str(lvl), term] - want) <= TOL["condsd"] * max(want, 1e-8)


@pytest.mark.parametrize("cid", CASES)
def test_fitted_and_predict(cid):
    case, df, m, _ = fit_case(cid)
    fit = mw.fitted(m)
    assert len(fit) == case["nobs"] and list(fit.index) == list(df.index)
    rows = np.asarray(case["fitted_rows"]) - 1
    assert np.max(np.abs(fit.to_numpy()[rows] - case["fitted"])) <= TOL["fitted_sd"]
    nd = df.iloc[[int(i) - 1 for i in case["predict_rows"]]]
    assert np.max(np.abs(mw.predict(m, newdata=nd) - case["predict_conditional"])) <= TOL["fitted_sd"]
    assert np.max(np.abs(mw.predict(m, newdata=nd, re_form="~0") - case["predict_population"])) <= TOL["fitted_sd"]
    assert np.max(np.abs(mw.predict(m, newdata=nd, re_form=np.nan) - case["predict_population"])) <= TOL["fitted_sd"]
    if "predict_response" in case:
        got = mw.predict(m, newdata=nd, type="response")
        assert np.max(np.abs(got - case["predict_response"])) <= TOL["fitted_sd"]
    # no newdata: the link scale by default, mu with type="response"
    assert np.allclose(mw.predict(m, type="response"), fit)
    assert np.allclose(m.family_object.linkinv(mw.predict(m).to_numpy()), fit)


@pytest.mark.parametrize("cid", CASES)
def test_wald_intervals_and_z_table(cid):
    case, _, m, _ = fit_case(cid)
    ci = mw.confint(m, method="Wald")
    r = ref_table(case["confint_wald"])
    assert list(ci.columns) == list(r.columns)
    assert relerr(ci.loc[r.index].to_numpy(), r.to_numpy()) <= TOL["confint"] * 10
    assert ci.index[0] == ".sig01" and ".sigma" not in ci.index
    tab = m.coefficients
    assert list(tab.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    if "coefficients" in case:
        ref = ref_table(case["coefficients"])
        assert relerr(tab["z value"], ref["z value"]) <= TOL["se_fixef"]
        assert relerr(tab["Pr(>|z|)"], ref["Pr(>|z|)"]) <= 10 * TOL["se_fixef"]


@pytest.mark.parametrize("cid", EXTRA_CASES)
def test_deviance_function_is_lme4s(cid):
    """lme4's devfun, evaluated by R at the optimum and away from it, reproduced (its
    PIRLS, started from the same linear predictor, stopped by the same rule)."""
    case, _, m, _ = fit_case(cid)
    nagq = case.get("nAGQ", 1)
    dev = _Devfun(m._problem, nagq, m.optinfo.lp_start if nagq == 0 else m.optinfo.lp_stage1)
    for pt in case["devfun_checks"]:
        assert dev(np.asarray(pt["par"], float)) == pytest.approx(pt["value"], abs=1e-6)


@pytest.mark.parametrize("cid", EXTRA_CASES)
def test_hessian_and_residuals(cid):
    case, _, m, _ = fit_case(cid)
    if case.get("optinfo_derivs"):
        H, ref = m.optinfo.hessian, np.asarray(case["optinfo_derivs"]["Hessian"], float)
        assert np.max(np.abs(H - ref)) / np.max(np.abs(ref)) <= 1e-3
    else:  # nAGQ = 0: no Hessian, vcov from RX (as lme4)
        assert m.optinfo.hessian is None
    assert np.max(np.abs(mw.residuals(m) - case["residuals"])) <= TOL["fitted_sd"]
    assert np.max(np.abs(m.residuals(type="pearson") - case["pearson_residuals"])) <= TOL["fitted_sd"]


# ------------------------------------------------------------------------- PIRLS
def _problem(X, codes, y, wt, off, n, family) -> GlmmProblem:
    block = ReBlock(codes, np.ones((len(y), 1)), int(codes.max()) + 1)
    return GlmmProblem(X, [block], y, wt, off, n, as_family(family))


def test_pirls_at_theta_zero_is_statsmodels_glm():
    """theta = 0: no random effects, so PIRLS is IRLS and the Laplace deviance is the GLM's
    -2 log-likelihood (binomial coefficients included)."""
    import statsmodels.api as sm
    df = load_data("cbpp.csv", REFS / "core" / "data")
    X = np.column_stack([np.ones(len(df))] + [(df["period"] == k).to_numpy(float) for k in ["2", "3", "4"]])
    n = df["size"].to_numpy(float)
    y = df["incidence"].to_numpy(float) / n
    pb = _problem(X, df["herd"].cat.codes.to_numpy(), y, n, np.zeros(len(df)), n, "binomial")
    s = pb.pirls(np.zeros(1), None, eta0=pb.family.linkfun(pb.mustart()), polish=True)
    glm = sm.GLM(np.column_stack([df["incidence"], df["size"] - df["incidence"]]), X,
                 family=sm.families.Binomial()).fit()
    assert np.allclose(s.beta, glm.params, atol=1e-9)
    assert np.allclose(s.u, 0) and s.ldL2 == 0
    assert pb.laplace(s) == pytest.approx(-2 * glm.llf, abs=1e-8)
    assert np.sum(pb.dev_resid(s.mu)) == pytest.approx(glm.deviance, abs=1e-8)


def test_pirls_poisson_offset_theta_zero_and_modes():
    import statsmodels.api as sm
    df = load_data("glmm_counts.csv", EXTRA / "data")
    X = np.column_stack([np.ones(len(df))] + [(df["trt"] == k).to_numpy(float) for k in ["B", "C"]])
    off = np.log(df["exposure"].to_numpy())
    y = df["count"].to_numpy(float)
    codes = df["site"].cat.codes.to_numpy()
    pb = _problem(X, codes, y, np.ones(len(y)), off, np.ones(len(y)), "poisson")
    s = pb.pirls(np.zeros(1), None, eta0=off + np.log(y + 0.1), polish=True)
    glm = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit()
    assert np.allclose(s.beta, glm.params, atol=1e-9)
    assert pb.laplace(s) == pytest.approx(-2 * glm.llf, abs=1e-8)
    # theta > 0: the modes solve the penalised score equations  theta Z'(y - mu) = u
    s = pb.pirls(np.array([0.4]), s.beta, eta0=s.eta, polish=True)
    score = 0.4 * np.bincount(codes, weights=y - s.mu) - s.u
    assert np.max(np.abs(score)) < 1e-8
    # lme4's stopping rule stops short of that; polishing only moves the deviance a little
    r = pb.pirls(np.array([0.4]), s.beta, eta0=off + np.log(y + 0.1))
    assert abs(pb.laplace(r) - pb.laplace(s)) < 1e-2


def test_ghrule_is_lme4s():
    rule = ghrule(9)
    assert rule.shape == (9, 3) and rule[:, 1].sum() == pytest.approx(1.0)
    assert np.allclose(rule[:, 2], -0.5 * rule[:, 0] ** 2 - 0.5 * np.log(2 * np.pi))
    z = rule[:, 0]
    assert np.sum(rule[:, 1] * z ** 4) == pytest.approx(3.0)  # exact for normal moments


def test_deriv12_on_a_quadratic():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    g, H = deriv12(lambda x: 0.5 * x @ A @ x + x[0], np.array([0.3, -0.2]))
    assert np.allclose(H, A, atol=1e-6) and np.allclose(g, A @ [0.3, -0.2] + [1, 0], atol=1e-8)


# ------------------------------------------------------------------------- the response
@pytest.fixture(scope="module")
def binary():
    return load_data("glmm_singular.csv", EXTRA / "data")


@pytest.fixture(scope="module")
def counts():
    return load_data("glmm_counts.csv", EXTRA / "data")


def _quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mw.glmer(*args, **kw)


def test_factor_and_bool_responses_are_0_1(binary):
    m = _quiet("y ~ x + (1 | g)", binary, family="binomial")
    d = binary.assign(yf=pd.Categorical(np.where(binary.y == 1, "yes", "no")), yb=binary.y == 1,
                      ys=np.where(binary.y == 1, "b", "a"))
    for col in ["yf", "yb", "ys"]:
        m2 = _quiet(f"{col} ~ x + (1 | g)", d, family="binomial")
        assert np.allclose(mw.fixef(m2), mw.fixef(m), atol=1e-10)
        assert float(mw.logLik(m2)) == pytest.approx(float(mw.logLik(m)), abs=1e-10)


def test_weights_as_array_and_cbind_agree():
    case, df, m, _ = fit_case(CASES[0])
    d = df.assign(prop=df.incidence / df["size"])
    m2 = _quiet("prop ~ period + (1 | herd)", d, family="binomial", weights=d["size"].to_numpy())
    assert np.allclose(mw.fixef(m2), mw.fixef(m), atol=1e-9)
    assert float(mw.logLik(m2)) == pytest.approx(float(mw.logLik(m)), abs=1e-8)
    with pytest.warns(UserWarning, match="non-integer #successes in a binomial glm!"):
        warnings.simplefilter("ignore", SingularFitWarning)  # one trial per row: no herd variance
        m3 = mw.glmer("prop ~ period + (1 | herd)", d, family="binomial")
    assert isinstance(m3, GlmerMod)


def test_offset_argument_equals_offset_term(counts):
    m1 = _quiet("count ~ trt + offset(log(exposure)) + (1 | site)", counts, family="poisson")
    m2 = _quiet("count ~ trt + (1 | site)", counts, family="poisson", offset=np.log(counts.exposure))
    assert np.allclose(mw.fixef(m1), mw.fixef(m2), atol=1e-10)
    assert np.allclose(mw.fitted(m1), mw.fitted(m2), atol=1e-10)
    # new data: the formula's offset is evaluated on it (R: the offset= argument is not)
    nd = counts.iloc[:4].assign(exposure=counts.exposure.iloc[:4] * 2)
    assert np.allclose(mw.predict(m1, newdata=nd) - mw.predict(m1, newdata=counts.iloc[:4]), np.log(2))
    assert split_offsets("trt + offset(log(exposure)) - 1") == ("trt - 1", ["log(exposure)"])
    assert split_offsets("offset(e)") == ("1", ["e"])
    with pytest.raises(ModelError):
        split_offsets("x - offset(e)")


def test_missing_rows_dropped_labels_kept_input_untouched(counts):
    d = counts.copy()
    d.index = [f"r{i}" for i in range(len(d))]
    d.loc["r3", "exposure"] = np.nan
    d.loc["r7", "count"] = np.nan
    before = d.copy()
    m = _quiet("count ~ trt + offset(log(exposure)) + (1 | site)", d, family="poisson")
    pd.testing.assert_frame_equal(d, before)
    assert mw.nobs(m) == len(d) - 2
    assert "r3" not in mw.fitted(m).index and list(mw.fitted(m).index[:3]) == ["r0", "r1", "r2"]


def test_family_as_statsmodels_instance():
    import statsmodels.api as sm
    case, df, m, _ = fit_case("extra:glmm_cbpp_probit")
    m2 = _quiet(case["formula"], df, family=sm.families.Binomial(link=sm.families.links.Probit()))
    assert m2.family == "binomial" and m2.link == "probit"
    assert np.allclose(mw.fixef(m2), mw.fixef(m), atol=1e-10)
    assert as_family("poisson").link == "log" and as_family('binomial(link = "cloglog")').link == "cloglog"
    g = as_family(sm.families.Gamma(link=sm.families.links.Log()))
    assert (g.family, g.link, g.has_scale) == ("Gamma", "log", True)
    with pytest.raises(NotImplementedError, match="Tweedie"):
        as_family(sm.families.Tweedie())


def test_gaussian_is_lmer_with_lme4s_warning(binary):
    with pytest.warns(FutureWarning, match="shortcut to lmer"):
        warnings.simplefilter("ignore", SingularFitWarning)
        m = mw.glmer("x ~ 1 + (1 | g)", binary, family="gaussian")
    assert type(m).__name__ == "LmerMod"


def test_summary_data(binary):
    m = _quiet("y ~ x + (1 | g)", binary, family="binomial")
    assert m.methTitle == "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)"
    assert (m.family, m.link, m.nAGQ) == ("binomial", "logit", 1)
    tab = m.coefficients
    assert np.allclose(tab["z value"], tab["Estimate"] / tab["Std. Error"])


# ------------------------------------------------------------------------- failure modes
def test_complete_separation_fails_in_lme4s_words():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(10)], 20), "x": rng.normal(size=200)})
    d["y"] = (d.x > 0).astype(int)
    with pytest.raises(ModelError, match=r"pwrssUpdate did not converge in \(maxit\) iterations.*separation"):
        mw.glmer("y ~ x + (1 | g)", d, family="binomial")


def test_bad_responses_and_nagq(binary, counts):
    with pytest.raises(ModelError, match=r"y values must be 0 <= y <= 1"):
        mw.glmer("y ~ x + (1 | g)", binary.assign(y=binary.y * 2), family="binomial")
    with pytest.raises(ModelError, match="negative values not allowed for the 'Poisson' family"):
        mw.glmer("y ~ x + (1 | g)", binary.assign(y=binary.y - 1), family="poisson")
    with pytest.raises(ModelError, match="Response is constant"):
        mw.glmer("y ~ x + (1 | g)", binary.assign(y=0), family="binomial")
    with pytest.raises(ModelError, match="nAGQ > 1 is only available for models with a single, scalar"):
        mw.glmer("count ~ trt + (1 + trt | site)", counts, family="poisson", nAGQ=3)
    with pytest.raises(ValueError, match="nAGQ"):
        mw.glmer("y ~ x + (1 | g)", binary, family="binomial", nAGQ=26)
    with pytest.raises(DataError, match="two columns"):
        mw.glmer("cbind(y) ~ x + (1 | g)", binary, family="binomial")
    with pytest.raises(DataError, match="weights has"):
        mw.glmer("y ~ x + (1 | g)", binary, family="binomial", weights=[1, 2, 3])


def test_singular_fit_warns():
    case, df, m, _ = fit_case("extra:glmm_singular")
    with pytest.warns(SingularFitWarning, match=r"boundary \(singular\) fit: see help\('isSingular'\)"):
        mw.glmer(case["formula"], df, family=case["family"])
    assert mw.isSingular(m) and m.theta[0] == 0.0


def test_convergence_checks_in_lme4s_words():
    H = np.array([[10.0, 1.0], [1.0, 5.0]])
    ok, mg, msgs = conv_messages(np.array([1e-5, 1e-5]), H, np.array([0.5]), np.array([0.0, -np.inf]), 1)
    assert ok and not msgs
    ok, mg, msgs = conv_messages(np.array([0.5, 0.3]), H, np.array([0.5]), np.array([0.0, -np.inf]), 1)
    assert not ok and msgs[0].startswith("Model failed to converge with max|grad| = ")
    assert msgs[0].endswith("(tol = 0.002, component 1)")
    ok, _, msgs = conv_messages(np.array([0.0, 0.0]), np.array([[1.0, 0.0], [0.0, -1.0]]),
                                np.array([0.5]), np.array([0.0, -np.inf]), 1)
    assert not ok and any("negative eigenvalues" in s for s in msgs)
    _, _, msgs = conv_messages(np.zeros(2), H, np.array([0.0]), np.array([0.0, -np.inf]), 1)
    assert msgs == ["boundary (singular) fit: see help('isSingular')"]


def test_convergence_warning_reaches_the_user(binary, monkeypatch):
    import mlm_wrap.engines.glmm as G
    real = G.conv_messages
    monkeypatch.setattr(G, "conv_messages", lambda g, *a, **k: real(g + 1.0, *a, **k))
    with pytest.warns(ConvergenceWarning, match="Model failed to converge with max"):
        m = mw.glmer("y ~ x + (1 | g)", binary.assign(y=np.r_[binary.y[:-40], np.ones(40)]),
                     family="binomial")
    assert not m.optinfo.converged


# ------------------------------------------------------------------------- the optimiser
def test_newton_leaves_theta_zero_when_the_optimum_is_inside():
    """The deviance is even in theta, so theta = 0 is a stationary point even when the
    optimum is elsewhere: the optimiser must leave it (lme4's start, theta = 1, never
    lands there, but stage 1 may end on the boundary)."""
    import mlm_wrap.engines.glmm as G
    case, _, m, _ = fit_case("extra:glmm_poisson_offset")
    dev = _Devfun(m._problem, 1, m.optinfo.lp_stage1)
    lower = np.r_[0.0, np.full(len(mw.fixef(m)), -np.inf)]
    res = G._newton(dev, np.r_[0.0, mw.fixef(m).to_numpy() + 0.1], lower)
    assert abs(abs(res.x[0]) - m.theta[0]) < 1e-5
    assert res.fx == pytest.approx(m.optinfo.deviance, abs=1e-6)


def test_predict_new_levels(counts):
    m = _quiet("count ~ trt + offset(log(exposure)) + (1 | site)", counts, family="poisson")
    nd = counts.iloc[:3].assign(site=["elsewhere"] * 3)
    with pytest.raises(DataError, match="new level"):
        mw.predict(m, newdata=nd)
    got = mw.predict(m, newdata=nd, allow_new_levels=True)
    assert np.allclose(got, mw.predict(m, newdata=nd, re_form="~0"))
