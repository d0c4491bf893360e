"""summary(m): its printout against R's ``print(summary(m))``, line by line, and its data.

R's text is read from the corpora's JSON (``summary_text``), never typed in here.  A line
matches when it has R's width, R's words and blanks, and R's numbers in R's format
(same decimals), each within one unit of its last digit or 5e-4 relative: tests/rref.py's
rule for printed numbers, applied line by line so the layout is checked too.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_case, load_data

import mlm_wrap as mw
from mlm_wrap.models.summary import Summary

from printouts import (line_mismatch, printout_mismatches, r_data_name, fit_named, r_only_line, CASES, R_SHORT, R_UNCONVERGED, with_known)  # noqa: F401


# ------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("cid", with_known(CASES, R_SHORT))
def test_summary_printout_is_rs(cid):
    case, m = fit_named(cid)
    bad = printout_mismatches(str(mw.summary(m)), case["summary_text"], skip_ref=r_only_line)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cid", with_known(CASES, R_UNCONVERGED))
def test_summary_layout_lines_exactly(cid):
    """The lines without estimates are R's, character for character."""
    case, m = fit_named(cid)
    got = str(mw.summary(m)).rstrip("\n").split("\n")
    ref = [x for x in case["summary_text"].rstrip("\n").split("\n") if not r_only_line(x)]
    fixed = ("Linear mixed model", "Formula:", "   Data:", "Scaled residuals:", "Random effects:",
             "Number of obs:", "Fixed effects:", "Correlation of Fixed Effects:", "optimizer (",
             "boundary (singular)")
    keep = lambda lines: [x for x in lines if x == "" or x.startswith(fixed)]
    assert keep(got) == keep(ref)


@pytest.mark.parametrize("cid", with_known(CASES, R_UNCONVERGED))
def test_coefficients_table(cid):
    case, m = fit_named(cid)
    tab = mw.summary(m).coefficients
    assert isinstance(tab, pd.DataFrame)
    assert list(tab.columns) == ["Estimate", "Std. Error", "t value"]
    assert list(tab.index) == list(case["fixef"])
    np.testing.assert_allclose(tab["Estimate"], list(case["fixef"].values()), rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(tab["Std. Error"], list(case["se_fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(tab["t value"], tab["Estimate"] / tab["Std. Error"])


def test_ddf_none_and_other_ddf():
    _, m = fit_named("sleepstudy_slope")
    assert str(mw.summary(m, ddf=None)) == str(mw.summary(m, ddf="none")) == str(mw.summary(m))
    with pytest.raises(ValueError, match="ddf"):
        mw.summary(m, ddf="Welch")


@pytest.mark.parametrize("ddf,key", [("Satterthwaite", "satterthwaite"), ("Kenward-Roger", "kenward_roger")])
def test_lmertest_summary(ddf, key):
    """lmerTest's summary: its title and class, df and Pr(>|t|) columns (R's numbers from
    the corpus), significance stars and legend."""
    case, m = fit_named("sleepstudy_slope")
    s = mw.summary(m, ddf=ddf)
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    ref = case[key]
    got = s.coefficients.loc[ref["terms"]]
    assert np.allclose(got["df"], ref["df"], rtol=2e-2) and np.allclose(got["Pr(>|t|)"], ref["p"], rtol=5e-2)
    text = str(s).splitlines()
    assert text[0] == f"Linear mixed model fit by REML. t-tests use {ddf}'s method ["
    assert text[1] == "lmerModLmerTest]"
    assert any(line.startswith("Signif. codes:") for line in text)


def test_summary_is_data():
    case, m = fit_named("sleepstudy_slope_ml")
    s = mw.summary(m)
    assert isinstance(s, Summary)
    assert s.methTitle == "Linear mixed model fit by maximum likelihood "  # R's paste(), sic
    assert list(s.AICtab) == ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    assert abs(s.AICtab["AIC"] - case["AIC"]) < 5e-3 and abs(s.AICtab["deviance"] - case["deviance"]) < 5e-3
    assert s.nobs == case["nobs"] and s.ngrps == case["ngrps"]
    assert np.allclose(np.diag(s.correlation), 1.0)
    assert len(s.residuals) == case["nobs"]
    _, mr = fit_named("sleepstudy_slope")
    assert list(mw.summary(mr).AICtab) == ["REML"]


def test_summary_html():
    _, m = fit_named("sleepstudy_slope")
    h = mw.summary(m)._repr_html_()
    assert h.count("<table") == 2 and "Fixed effects" in h and "Random effects" in h
    assert "(Intercept)" in h and "Correlation of Fixed Effects" in h


def test_correlation_omitted_above_12_fixed_effects():
    """lme4.summary.cor.max = 12: no correlation table unless asked for."""
    case = load_case("sleepstudy_int")
    df = load_data(case["data"], case["_data_dir"])
    df["f"] = pd.Categorical([chr(97 + i % 13) for i in range(len(df))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Reaction ~ f + (1 | Subject)", data=df)
    s = mw.summary(m)
    assert len(s.coefficients) == 13
    assert "Correlation of Fixed Effects" not in str(s)
    assert "Correlation of Fixed Effects:" in s.format(correlation=True)
    assert "Correlation of Fixed Effects" in mw.summary(fit_named("sleepstudy_int")[1]).format()
    assert "Correlation" not in mw.summary(fit_named("sleepstudy_int")[1]).format(correlation=False)


def test_fit_warnings_for_rank_deficient_X():
    """lme4 prints X's rank message under ``fit warnings:`` at the end of the summary."""
    case = load_case("sleepstudy_int")
    df = load_data(case["data"], case["_data_dir"])
    df["Days2"] = 2 * df["Days"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Reaction ~ Days + Days2 + (1 | Subject)", data=df)
    tail = str(mw.summary(m)).split("\n")[-2:]
    assert tail == ["fit warnings:", "fixed-effect model matrix is rank deficient so dropping "
                    "1 column / coefficient"]
    assert str(m).split("\n")[-2] == "fit warnings:"


def test_singular_fit_lines():
    case, m = fit_named("dyestuff2_singular")
    lines = str(mw.summary(m)).split("\n")
    assert lines[-3:] == ["optimizer (nloptwrap) convergence code: 0 (OK)",
                          "boundary (singular) fit: see help('isSingular')", ""]  # R's cat("\n")
    assert str(m).endswith("convergence code: 0 (OK) ; 0 optimizer warnings; 1 lme4 warnings ")


def test_unknown_data_name_omits_data_line():
    """R prints no ``Data:`` line for a call without data; a nameless frame is shown so."""
    from mlm_wrap.datasets import load
    df = load("Dyestuff")
    df.attrs.pop("name", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Yield ~ 1 + (1 | Batch)", data=df)
    lines = str(mw.summary(m)).split("\n")
    assert lines[1] == "Formula: Yield ~ 1 + (1 | Batch)" and lines[2] == ""
    m.data_name = "Dyestuff"
    assert str(mw.summary(m)).split("\n")[2] == "   Data: Dyestuff"
