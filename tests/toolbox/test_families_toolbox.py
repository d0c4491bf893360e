"""The calls after the fit on the new glmer families (issue #15, item 5) against R:
arm's ``display`` and ``se.fixef``, ``anova(m0, m)``, ``predict`` (newdata, link /
response, ``re.form = NA``), broom.mixed's ``tidy`` / ``glance`` / ``augment``, emmeans
(the cbpp fits) and performance's ``icc`` / ``r2``, for Gamma(log), inverse.gaussian(log),
gaussian(log), binomial(probit), poisson(sqrt) and ``glmer.nb``.

References: tests/r/refs/families/toolbox/*.json (tests/r/families_toolbox_refs.R), fits
on the v2 corpus' data; tolerances are tests/rref.py's GLMM_TOL and TOOLBOX.md's glmer
tolerances (broom_common.GLMER_TOL)."""
from __future__ import annotations

import functools
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from broom_common import GLMER_TOL, colerr
from conftest import load_data
from printouts import printout_mismatches
from rref import GLMM_TOL, relerr

import mlm_wrap as mw
from mlm_wrap.arm import display_text
from mlm_wrap.toolbox import broom as B
from mlm_wrap.toolbox import performance as P
from mlm_wrap.toolbox.emmeans import emmeans

ROOT = Path(__file__).resolve().parents[1] / "r" / "refs"
REFS = ROOT / "families" / "toolbox"
DATA = ROOT / "v2" / "data"


def _data(name: str) -> pd.DataFrame:
    df = load_data(f"{name}.csv", DATA)
    df.attrs["name"] = name  # R's call says data = <name>
    return df


# case -> (fit of a fixed part, the full model's fixed part); the null model is "1"
_FITS = {
    "gamma_log": (lambda fx: mw.glmer(f"Reaction ~ {fx} + (1 | Subject)", _data("sleepx"),
                                      family=mw.Gamma(link="log")), "Days"),
    "invgauss_log": (lambda fx: mw.glmer(f"Reaction ~ {fx} + (1 | Subject)", _data("sleepx"),
                                         family=mw.inverse_gaussian(link="log")), "Days"),
    "gauss_log": (lambda fx: mw.glmer(f"salary ~ {fx} + (1 | department)", _data("faculty"),
                                      family=mw.gaussian(link="log")), "experience"),
    "binomial_probit": (lambda fx: mw.glmer(f"cbind(incidence, size - incidence) ~ {fx} + (1 | herd)",
                                            _data("cbpp"), family=mw.binomial(link="probit")), "period"),
    "poisson_sqrt": (lambda fx: mw.glmer(f"incidence ~ {fx} + (1 | herd)", _data("cbpp"),
                                         family=mw.poisson(link="sqrt")), "period"),
    "nb": (lambda fx: mw.glmer_nb(f"count ~ {fx} + (1 | plot)", _data("nbsim")), "x"),
}
CASES = list(_FITS)
EMM_CASES = ["binomial_probit", "poisson_sqrt"]


@functools.cache
def ref(case: str) -> dict:
    return json.loads((REFS / f"{case}.json").read_text())


@functools.cache
def fit(case: str, null: bool = False):
    fn, fx = _FITS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn("1" if null else fx)


def _num(v) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], float)


def _ref_frame(tab: dict) -> pd.DataFrame:
    return pd.DataFrame({c: tab["data"][c] for c in tab["columns"]})[tab["columns"]]


def _call_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:next(i for i, x in enumerate(lines) if "coef.est" in x)]


def test_refs_are_the_cases():
    for case in CASES:
        r = ref(case)
        assert r["id"] == case and r["versions"]["lme4"] == "1.1.31"
        np.testing.assert_allclose(fit(case).fixef().to_numpy(), list(r["fixef"].values()),
                                   rtol=GLMM_TOL["fixef"], atol=1e-6)


# ------------------------------------------------------------------ arm
@pytest.mark.parametrize("case", CASES)
def test_display(case):
    """arm::display(m): R's layout and numbers; the call lines as R prints m@call (glmer.nb:
    lme4::glmer(..., family = MASS::negative.binomial(theta = th)), theta compared apart)."""
    got, want = display_text(fit(case)), ref(case)["display_text"]
    gc, rc = _call_lines(got), _call_lines(want)
    th = re.compile(r"theta = ([\d.eE+-]+)")
    assert [th.sub("theta = TH", x) for x in gc] == [th.sub("theta = TH", x) for x in rc]
    if case == "nb":
        (g,), (r,) = th.findall("".join(gc)), th.findall("".join(rc))
        assert relerr(float(g), float(r)) < GLMM_TOL["vcov_re"]
    bad = printout_mismatches("\n".join(got.split("\n")[len(gc):]),
                              "\n".join(want.split("\n")[len(rc):]))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("case", CASES)
def test_se_fixef(case):
    got = mw.se_fixef(fit(case))
    want = ref(case)["se_fixef"]
    assert list(got.index) == list(want)
    assert relerr(got.to_numpy(), list(want.values())) < GLMM_TOL["se_fixef"]


# ------------------------------------------------------------------ anova
@pytest.mark.parametrize("case", CASES)
def test_anova_nested(case):
    """anova(m0, m): the LRT table and its printout (R names the models m0 and m)."""
    a = mw.anova(m0=fit(case, null=True), m=fit(case))
    r = ref(case)["anova"]
    want = _ref_frame(r["table"])
    assert list(a.index) == r["index"]
    assert list(a.columns) == list(want.columns)
    assert list(a["npar"]) == list(want["npar"])
    assert _num(a["Df"])[1] == want["Df"][1]
    for col, t in (("AIC", "ic_abs"), ("BIC", "ic_abs"), ("logLik", "loglik_abs"),
                   ("deviance", "ic_abs"), ("Chisq", "ic_abs")):
        g, w = _num(a[col]), _num(want[col])
        assert np.array_equal(np.isnan(g), np.isnan(w)), col
        ok = ~np.isnan(w)
        assert np.max(np.abs(g[ok] - w[ok])) < GLMM_TOL[t], col
    p, pr = _num(a["Pr(>Chisq)"])[1], want["Pr(>Chisq)"][1]
    assert abs(np.log(p) - np.log(pr)) < 5e-2  # p = 1e-30 ... 1e-5: relative
    bad = printout_mismatches(str(a), r["text"])
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ predict
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("type", ["link", "response"])
@pytest.mark.parametrize("re_form", [None, "NA"])
def test_predict_newdata(case, type, re_form):
    r = ref(case)
    nd = _ref_frame(r["newdata"])
    got = fit(case).predict(newdata=nd, type=type, re_form=re_form)
    want = r[f"predict_{type}" + ("_nore" if re_form else "")]
    assert relerr(np.asarray(got, float), want) < GLMM_TOL["fixef"]


# ------------------------------------------------------------------ broom.mixed
_KIND = {"estimate": "linear", "std.error": "se", "statistic": "se", "conf.low": "se",
         "conf.high": "se"}


def _compare_tidy(got: pd.DataFrame, tab: dict) -> None:
    want = _ref_frame(tab)
    assert list(got.columns) == list(want.columns)
    keys = [c for c in ("effect", "group", "term") if c in want.columns]
    key = lambda d: ["|".join("" if pd.isna(v) else str(v) for v in row)  # noqa: E731
                     for row in d[keys].itertuples(index=False)]
    assert key(got) == key(want)
    for col in want.columns[len(keys):]:
        g, w = np.asarray(got[col], float), _num(want[col])
        if col == "p.value":  # tiny p-values (z = 5 ... 30): on the log scale
            assert np.array_equal(np.isnan(g), np.isnan(w))
            ok = ~np.isnan(w) & (w > 0)
            assert np.all(g[w == 0] < 1e-300)  # R's 0 (underflow)
            assert np.max(np.abs(np.log(g[ok]) - np.log(w[ok])), initial=0.0) < 5e-2
            continue
        fixed = (want["effect"] == "fixed").to_numpy()
        for part, kind in ((fixed, _KIND[col]), (~fixed, "varcomp")):
            if part.any():
                assert colerr(g[part], w[part]) < GLMER_TOL[kind], col


@pytest.mark.parametrize("case", CASES)
def test_tidy(case):
    """tidy(m): fixed rows and ran_pars (sd__Observation = sigma(m) for the families with a
    scale: Gamma, inverse.gaussian, gaussian)."""
    _compare_tidy(B.tidy(fit(case)), ref(case)["tidy"])
    _compare_tidy(B.tidy(fit(case), effects="ran_pars"), ref(case)["tidy_ran_pars"])
    _compare_tidy(B.tidy(fit(case), effects="fixed", conf_int=True), ref(case)["tidy_fixed"])


@pytest.mark.parametrize("case", CASES)
def test_glance(case):
    g = B.glance(fit(case))
    want = _ref_frame(ref(case)["glance"])
    assert list(g.columns) == list(want.columns)
    for k in want.columns:
        got, w = float(g[k].iloc[0]), float(want[k][0])
        if k in ("nobs", "df.residual"):
            assert got == w, k
        elif k == "sigma":
            assert abs(got - w) / w < GLMER_TOL["varcomp"]
        elif k == "deviance":  # glmer.nb: 408.99 vs R's 408.94 (theta 2.7609 vs 2.7606)
            assert abs(got - w) < GLMM_TOL["ic_abs"] or abs(got - w) / w < 1e-3
        else:
            assert abs(got - w) < GLMM_TOL["ic_abs"], k


@pytest.mark.parametrize("case", CASES)
def test_augment(case):
    """augment(m): broom.mixed's columns, and R's values of the first 10 rows."""
    a = B.augment(fit(case))
    r = ref(case)
    cols, rc = list(a.columns), r["augment_columns"]
    assert cols[cols.index(".fitted"):] == rc[rc.index(".fitted"):]
    if case == "binomial_probit":  # R's cbind() matrix column, flattened (test_broom.py)
        assert cols[:cols.index(".fitted")] == [
            "cbind(incidence, size - incidence).incidence",
            "cbind(incidence, size - incidence).V2", "period", "herd"]
    else:
        assert cols == rc
    want = _ref_frame(r["augment_head"])
    for col in want.columns:
        assert colerr(np.asarray(a[col].iloc[:10], float), _num(want[col])) < GLMER_TOL["varcomp"], col


# ------------------------------------------------------------------ emmeans
@pytest.mark.parametrize("case", EMM_CASES)
@pytest.mark.parametrize("k", [0, 1])
def test_emmeans_period(case, k):
    """emmeans(m, "period") and type = "response" (probit: prob; sqrt: rate)."""
    ch = ref(case)["emmeans"][k]
    res = emmeans(fit(case), "period", **({} if ch["type"] == "link" else {"type": ch["type"]}))
    got = res.to_frame()
    want = _ref_frame(ch["table"])
    assert list(got.columns) == list(want.columns)
    assert [str(x) for x in got["period"]] == want["period"].tolist()
    for col in want.columns[1:]:
        g, w = np.asarray(got[col], float), _num(want[col])
        if col == "df":
            assert np.isinf(g).all() and np.isnan(w).all()  # R's Inf is stored as null
        else:
            assert colerr(g, w) < 2e-3, col
    bad = printout_mismatches(str(res), ch["text"])
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ performance
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("call", ["icc", "r2"])
def test_icc_r2(case, call):
    """performance's icc() / r2() with insight's distribution-specific variance: sigma^2
    (Gamma, gaussian), sigma (inverse.gaussian), 1 (probit), 0.25 (sqrt), log1p(v/mu^2)
    with v = mu (1 + mu/theta) (negative binomial, warning as R when mu < 6)."""
    r = ref(case)[call]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = getattr(P, call)(fit(case))
    msgs = [str(x.message) for x in w]
    assert bool(msgs) == bool(r["warnings"])
    for m, rm in zip(msgs, r["warnings"]):
        assert m.split(",")[0] == rm.split(",")[0]  # "mu of 4.8 is too close to zero"
    for k in got.index:
        assert abs(got[k] - r["value"][k]) / abs(r["value"][k]) < GLMER_TOL["varcomp"], (k, got[k])
