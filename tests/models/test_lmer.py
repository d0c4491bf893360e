"""Every lmer case of R's reference corpus, quantity by quantity, against R's numbers.

The expected values are read from the JSON that R wrote (never typed in here); the
tolerances are the project's bar (tests/rref.py).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import lmer_case_ids, load_case, load_data, fit_kwargs
from rref import R_STOPS_SHORT, TOL

import mlm_wrap as mw

_FITS: dict[str, tuple] = {}


def fitted_case(key: str):
    """``key`` is ``case_id@engine``: each case is fitted by each engine under test."""
    if key not in _FITS:
        case_id, engine = key.rsplit("@", 1)
        case = load_case(case_id)
        df = load_data(case["data"], case["_data_dir"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mw.lmer(case["formula"], data=df, REML=case["REML"], engine=engine,
                        **fit_kwargs(case))
        # MixedLM cannot express every design (correlated slopes on crossed factors) and
        # takes no prior weights or offsets
        assert m.plan.engine == engine or (engine == "statsmodels" and (
            "crossed" in m.plan.reason or "MixedLM takes neither" in m.plan.reason))
        _FITS[key] = (case, df, m)
    return _FITS[key]


def relerr(got, ref) -> float:
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    return float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-8)))


# Both engines on every case, or the one MLM_WRAP_ENGINE names (CI runs the suite per engine).
ENGINES = [os.environ["MLM_WRAP_ENGINE"]] if os.environ.get("MLM_WRAP_ENGINE", "auto") != "auto" \
    else ["statsmodels", "sparse"]
CASES = [f"{c}@{e}" for c in lmer_case_ids() for e in ENGINES]

# Where R itself is off: lme4's default optimizer (nloptwrap) stops 6e-6 short of the REML
# optimum on Orthodont's flat likelihood (checked in R: bobyqa, Nelder_Mead and optim all
# reach mlm_wrap's optimum; extra:orthodont_sex_bobyqa is that fit, and passes every check).
# The estimates that move with that last 6e-6 differ from the nloptwrap numbers by just
# over the tolerance; strict xfail, so a change in either shows up.
KNOWN = {("extra:orthodont_sex", chk): R_STOPS_SHORT["extra:orthodont_sex"]
         for chk in ("varcorr", "ranef", "fitted", "confint")}
KNOWN.update({("idioms:pub_orthodont", chk): R_STOPS_SHORT["idioms:pub_orthodont"]
              for chk in ("varcorr", "ranef", "fitted", "confint")})
KNOWN.update({("idioms:pub_bodyweight", chk): R_STOPS_SHORT["idioms:pub_bodyweight"]
              for chk in ("fixef", "vcov", "varcorr", "confint")})


def cases(check: str) -> list:
    base = lambda c: c.rsplit("@", 1)[0]
    return [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN[(base(c), check)]))
            if (base(c), check) in KNOWN else c for c in CASES]


@pytest.mark.parametrize("cid", cases("fixef"))
def test_fixef_and_se(cid):
    case, _, m = fitted_case(cid)
    fe, se = mw.fixef(m), mw.se_fixef(m)
    assert list(fe.index) == list(case["fixef"])  # R's names, R's order
    assert relerr(fe[list(case["fixef"])], list(case["fixef"].values())) <= TOL["fixef"]
    assert relerr(se[list(case["se_fixef"])], list(case["se_fixef"].values())) <= TOL["se_fixef"]


@pytest.mark.parametrize("cid", cases("vcov"))
def test_vcov_is_lme4s(cid):
    case, _, m = fitted_case(cid)
    V = mw.vcov(m).to_numpy()
    ref = np.asarray(case["vcov"], float)
    assert np.max(np.abs(V - ref)) / np.max(np.abs(ref)) <= TOL["se_fixef"]


@pytest.mark.parametrize("cid", cases("varcorr"))
def test_varcorr_frame(cid):
    case, _, m = fitted_case(cid)
    got = mw.VarCorr(m).to_frame()
    ref = pd.DataFrame(case["varcorr"])
    # R's row order and names
    assert got["grp"].tolist() == ref["grp"].tolist()
    assert got["var1"].fillna("").tolist() == ref["var1"].fillna("").tolist()
    assert got["var2"].fillna("").tolist() == ref["var2"].fillna("").tolist()
    scale = ref["vcov"][ref["var2"].isna()].abs().max()
    for (_, g), (_, r) in zip(got.iterrows(), ref.iterrows()):
        if isinstance(r["var2"], str):
            assert abs(g["sdcor"] - r["sdcor"]) <= TOL["vcov_re"]
        else:
            assert abs(g["vcov"] - r["vcov"]) / max(abs(r["vcov"]), 1e-3 * scale) <= TOL["vcov_re"]


@pytest.mark.parametrize("cid", CASES)
def test_likelihood_and_criteria(cid):
    case, _, m = fitted_case(cid)
    assert relerr(mw.sigma(m), case["sigma"]) <= TOL["sigma"]
    d = float(mw.logLik(m)) - case["logLik"]
    assert -TOL["loglik_abs"] <= d <= 0.05  # never worse than R's optimum
    assert mw.logLik(m).df == case["df"]
    assert abs(mw.AIC(m) - case["AIC"]) <= TOL["ic_abs"]
    assert abs(mw.BIC(m) - case["BIC"]) <= TOL["ic_abs"]
    if case["REMLcrit"] is not None:
        assert abs(mw.REMLcrit(m) - case["REMLcrit"]) <= 2 * TOL["loglik_abs"]
    else:
        assert abs(mw.deviance(m) - case["deviance"]) <= 2 * TOL["loglik_abs"]


@pytest.mark.parametrize("cid", CASES)
def test_counts_and_singularity(cid):
    case, _, m = fitted_case(cid)
    assert mw.nobs(m) == case["nobs"]
    assert mw.ngrps(m) == case["ngrps"]  # names and R's order
    assert list(mw.ngrps(m)) == list(case["ngrps"])
    assert mw.isSingular(m) == case["isSingular"]


def _table_err(got: dict, ref: dict, scale) -> float:
    worst = 0.0
    assert list(got) == list(ref)  # grouping factors in lme4's order
    for grp, t in ref.items():
        g = got[grp]
        assert [str(i) for i in g.index] == [str(i) for i in t["index"]]  # R's level order
        assert list(g.columns) == t["columns"]
        r = np.asarray(t["data"], float)
        for j, c in enumerate(t["columns"]):
            worst = max(worst, float(np.max(np.abs(g[c].to_numpy(float) - r[:, j]))) / scale(grp, c, r[:, j]))
    return worst


def _sd_of(case):
    sd = {}
    for row in case["varcorr"]:
        if row["var2"] is None and row["grp"] != "Residual":
            sd[(row["grp"].split(".")[0], row["var1"])] = max(row["sdcor"], 1e-8)
    return sd


@pytest.mark.parametrize("cid", cases("ranef"))
def test_ranef_and_coef(cid):
    case, _, m = fitted_case(cid)
    sd = _sd_of(case)
    ref_sd = lambda g, c, col: sd.get((g, c), max(sd.values(), default=1.0)) or 1.0
    assert _table_err(mw.ranef(m), case["ranef"], ref_sd) <= TOL["ranef_sd"]
    coef_scale = lambda g, c, col: ref_sd(g, c, col) if (g, c) in sd else max(ref_sd(g, c, col), 1.0)
    assert _table_err(mw.coef(m), case["coef"], coef_scale) <= TOL["ranef_sd"]


@pytest.mark.parametrize("cid", CASES)
def test_se_ranef(cid):
    case, _, m = fitted_case(cid)
    got = mw.se_ranef(m)
    if case["se_ranef"]:
        rel_scale = lambda g, c, col: 1.0
        for grp, t in case["se_ranef"].items():
            r = np.asarray(t["data"], float)
            g = got[grp].loc[[str(i) for i in t["index"]], t["columns"]].to_numpy(float)
            assert np.max(np.abs(g - r) / np.maximum(np.abs(r), 1e-8)) <= TOL["condsd"]
    rc = case["ranef_condsd"]
    for gv, term, lvl, sdv in zip(rc["grpvar"], rc["term"], rc["grp"], rc["condsd"]):
        assert abs(got[gv].loc[str(lvl), term] - sdv) / max(sdv, 1e-8) <= TOL["condsd"]
    # ranef(m, condVar = TRUE): the same SDs from the postVar attribute, as R computes them
    re = mw.ranef(m, condVar=True)
    for gv, term, lvl, sdv in zip(rc["grpvar"], rc["term"], rc["grp"], rc["condsd"]):
        pv = re[gv].attrs["postVar"]
        tab = re[gv]
        if isinstance(pv, list):  # several terms on one factor: one array per term
            continue
        k, j = tab.index.get_loc(str(lvl)), list(tab.columns).index(term)
        assert abs(np.sqrt(pv[j, j, k]) - sdv) / max(sdv, 1e-8) <= TOL["condsd"]


@pytest.mark.parametrize("cid", cases("fitted"))
def test_fitted_residuals_predict(cid):
    case, df, m = fitted_case(cid)
    rows = np.asarray(case["fitted_rows"]) - 1
    s = case["sigma"]
    assert len(mw.fitted(m)) == case["nobs"]
    assert np.max(np.abs(np.asarray(mw.fitted(m))[rows] - case["fitted"])) / s <= TOL["fitted_sd"]
    assert np.max(np.abs(np.asarray(mw.residuals(m))[rows] - case["residuals"])) / s <= TOL["fitted_sd"]
    nd = df.iloc[[int(i) - 1 for i in case["predict_rows"]]]
    pc = np.asarray(mw.predict(m, newdata=nd), float)
    pp = np.asarray(mw.predict(m, newdata=nd, re_form="~0"), float)
    assert np.max(np.abs(pc - case["predict_conditional"])) / s <= TOL["fitted_sd"]
    assert np.max(np.abs(pp - case["predict_population"])) / s <= TOL["fitted_sd"]
    # the no-newdata forms agree with the newdata forms on the same rows (except that lme4's
    # predict(m, newdata) leaves out an offset = argument, a quirk of predict.merMod)
    if case.get("offset"):
        off = df.loc[nd.index, case["offset"]].to_numpy(float)
        pc, pp = pc + off, pp + off
    assert np.allclose(mw.predict(m, re_form=None).loc[nd.index], pc)
    assert np.allclose(mw.predict(m, re_form="~0").loc[nd.index], pp)


@pytest.mark.parametrize("cid", cases("confint"))
def test_confint_wald(cid):
    case, _, m = fitted_case(cid)
    t = case["confint_wald"]
    r = pd.DataFrame(t["data"], index=t["index"], columns=t["columns"]).dropna()
    ci = mw.confint(m, method="Wald")
    assert list(ci.columns) == t["columns"]
    assert relerr(ci.loc[r.index, r.columns].to_numpy(float), r.to_numpy(float)) <= TOL["confint"]
