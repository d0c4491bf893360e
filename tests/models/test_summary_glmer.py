"""glmer printouts against R's: ``summary(m)``, ``print(m)``, ``display(m)``, ``VarCorr(m)``.

Every glmer case of both corpora (tests/r/refs/core's cbpp cases and the glmm_* cases of
tests/r/refs/extra) is fitted once, its data set named as in R's call, and its printouts
are compared with R's text from the JSON (``summary_text``, ``display_text``,
``varcorr_text``) line by line, by the rule of tests/printouts.py: R's width, R's words and blanks,
R's numbers in R's format within one unit of the last digit (or 5e-4 relative).

lme4's glmer layout (lme4 1.1-31, ``print.summary.merMod``): the title wrapped by
``.prt.methTit`` (class without quotes), `` Family: binomial  ( logit )``, the call's
``Formula:`` / ``Data:`` / ``Weights:`` lines, AIC/BIC/logLik/deviance/df.resid, Pearson
``Scaled residuals:``, random effects without a Residual row, z values with ``Pr(>|z|)``,
stars and the ``Signif. codes:`` legend, the correlations, then the convergence lines.

``glmer()`` does not record the text of its ``weights=`` argument yet (``m.weights_arg``);
until it does, R's ``Weights:`` line and display()'s call are compared on a copy of the
fit that carries it, and skipped on the fit itself.
"""
from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import pytest
from conftest import load_case, load_data
from scipy import stats
from glmm_cases import CASES, TOL
from printouts import printout_mismatches, r_data_name

import mlm_wrap as mw
from mlm_wrap.output.equation import equation_html
from mlm_wrap.arm import display_text
from mlm_wrap.models.summary import Summary
from mlm_wrap.output.summary import (
    format_model,
    prt_call,
    prt_family,
    prt_meth_title,
    summary_html,
)
from mlm_wrap.rformat.layout import strwrap


@functools.lru_cache(maxsize=None)
def fit_named(cid: str, nAGQ: int | None = None):
    """The case fitted as parity.py fits it, with its data set named as in R's call."""
    case = load_case(cid)
    df = load_data(case["data"], case["_data_dir"])
    kw = {"family": case["family"], "data_name": r_data_name(case)}
    if case.get("weights"):
        kw["weights"] = case["weights"]
    agq = case.get("nAGQ", 1) if nAGQ is None else nAGQ
    if agq != 1:
        kw["nAGQ"] = agq
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.glmer(case["formula"], data=df, **kw)
    return case, m


def records_weights(m) -> bool:
    return isinstance(getattr(m, "weights_arg", None), str)


def with_weights_arg(case, m):
    """A copy of the fit carrying glmer's ``weights=`` text (R's ``Weights:`` line)."""
    if not case.get("weights") or records_weights(m):
        return m
    m2 = copy.copy(m)
    m2.weights_arg = case["weights"]
    return m2


def skip_weights_line(case, m):
    """R lines this fit cannot print: ``Weights:`` when glmer did not record the text."""
    if case.get("weights") and not records_weights(m):
        return lambda line: line.startswith("Weights:")
    return lambda line: False


def display_lines(text: str) -> tuple[list[str], list[str]]:
    """display()'s printout split into the call and the rest (from the coef header on)."""
    lines = text.rstrip("\n").split("\n")
    k = next(i for i, x in enumerate(lines) if "coef.est" in x)
    return lines[:k], lines[k:]


# ------------------------------------------------------------------------------ summary

@pytest.mark.parametrize("cid", CASES)
def test_summary_printout_is_rs(cid):
    case, m = fit_named(cid)
    bad = printout_mismatches(str(mw.summary(m)), case["summary_text"],
                              skip_ref=skip_weights_line(case, m))
    assert not bad, "\n".join(bad)


def test_weights_line_is_rs():
    """``weights = size``: R prints ``Weights: size`` under ``Data:``; with the argument's
    text recorded the whole printout is R's."""
    case, m = fit_named("cbpp_binomial_weights")
    m2 = with_weights_arg(case, m)
    text = str(mw.summary(m2))
    assert text.split("\n")[4:6] == ["   Data: cbpp", "Weights: size"]
    bad = printout_mismatches(text, case["summary_text"])
    assert not bad, "\n".join(bad)
    assert str(mw.summary(m)).count("Weights:") == int(records_weights(m))


@pytest.mark.parametrize("cid", CASES)
def test_summary_head_and_sections_exactly(cid):
    """The title, family and section lines are R's character for character."""
    case, m = fit_named(cid)
    got = str(mw.summary(m)).split("\n")
    ref = [x for x in case["summary_text"].rstrip("\n").split("\n") if not skip_weights_line(case, m)(x)]
    assert got[:3] == ref[:3]
    assert got[1].endswith(" [glmerMod]") and got[2].startswith(" Family: ")
    for head in ("Scaled residuals: ", "Random effects:", "Fixed effects:",
                 "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 "
                 "\u2018.\u2019 0.1 \u2018 \u2019 1", "---", "Correlation of Fixed Effects:"):
        assert got.index(head) == ref.index(head)
    assert not any(x.startswith(" Residual") for x in got)


@pytest.mark.parametrize("cid", CASES)
def test_summary_coefficients_are_the_z_table(cid):
    """``summary(m).coefficients``: lme4's z table (Wald p-values), R's estimates and SEs."""
    case, m = fit_named(cid)
    s = mw.summary(m)
    assert isinstance(s, Summary) and s.objClass == "glmerMod"
    tab = s.coefficients
    assert list(tab.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    assert list(tab.index) == list(case["fixef"])
    est = np.array(list(case["fixef"].values()))
    se = np.array([case["se_fixef"][k] for k in case["fixef"]])
    assert np.allclose(tab["Estimate"], est, rtol=TOL["fixef"], atol=TOL["fixef"] * np.abs(est).max())
    assert np.allclose(tab["Std. Error"], se, rtol=TOL["se_fixef"])
    z = tab["Estimate"] / tab["Std. Error"]
    assert np.allclose(tab["z value"], z)
    assert np.allclose(tab["Pr(>|z|)"], 2 * stats.norm.sf(np.abs(z)))
    # the test statistic against R's own (est / se from R's numbers)
    assert np.allclose(tab["z value"], est / se, rtol=2 * TOL["se_fixef"], atol=1e-3)
    assert s.AICtab["deviance"] == pytest.approx(-2 * case["logLik"], abs=2 * TOL["loglik_abs"])
    assert s.varcor.to_frame().shape[0] == len(case["varcorr"])


def test_summary_ddf_is_for_lmer_only():
    _, m = fit_named("cbpp_binomial")
    assert mw.summary(m, ddf="lme4").coefficients.columns[-1] == "Pr(>|z|)"
    with pytest.raises(ValueError, match="z tests"):
        mw.summary(m, ddf="Satterthwaite")


def test_summary_html():
    _, m = fit_named("cbpp_binomial")
    h = mw.summary(m)._repr_html_()
    # the printout, then the model's equation (mw.options.equation_in_summary)
    assert h == summary_html(mw.summary(m)) + equation_html(mw.equation(m))
    assert ("<b>Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) "
            "[glmerMod]</b>") in h
    assert " Family: binomial  ( logit )" in h and "<th>z value</th>" in h and "<th>Pr(&gt;|z|)</th>" in h
    assert "Residual" not in h


def test_singular_nagq0_names_bobyqa():
    """nAGQ = 0 stops after glmer's first stage: R names bobyqa (checked in R 4.2.2 with
    lme4 1.1-31: the same fit as glmm_singular's otherwise, title aside)."""
    case, m = fit_named("extra:glmm_singular", nAGQ=0)
    got = str(mw.summary(m)).rstrip("\n").split("\n")
    assert got[:2] == ["Generalized linear mixed model fit by maximum likelihood (Adaptive",
                       "  Gauss-Hermite Quadrature, nAGQ = 0) [glmerMod]"]
    ref = case["summary_text"].rstrip("\n").split("\n")
    assert got[-3:] == [x.replace("Nelder_Mead", "bobyqa") for x in ref[-3:]]
    assert got[-2] == "optimizer (bobyqa) convergence code: 0 (OK)"
    assert str(m).split("\n")[-1] == ("optimizer (bobyqa) convergence code: 0 (OK) ; "
                                      "0 optimizer warnings; 1 lme4 warnings ")


# ------------------------------------------------------------------------------ print(m)

@pytest.mark.parametrize("cid", CASES)
def test_print_model_is_print_mermod(cid):
    """print(m): lme4's print.merMod for a glmerMod (checked against R for cbpp and the
    singular case): summary's head lines, the AIC table to 4 decimals, the SDs, the
    ``Number of obs`` line, the fixed effects with print.gap = 2."""
    case, m = fit_named(cid)
    m = with_weights_arg(case, m)
    got = str(m).split("\n")
    assert str(m) == repr(m) == format_model(m)
    ref = case["summary_text"].rstrip("\n").split("\n")
    n = ref.index("")  # title, family, Formula, Data, Weights
    assert got[:n] == ref[:n]
    assert got[n].split() == ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    vals = [float(v) for v in got[n + 1].split()]
    want = [case["AIC"], case["BIC"], case["logLik"], -2 * case["logLik"], case["nobs"] - case["df"]]
    assert np.allclose(vals, want, atol=TOL["ic_abs"])
    # round(, 4), then format(): the decimals that show every value to 7 significant digits
    dec = max(min(4, 7 - len(str(int(abs(v))))) for v in vals[:4])
    assert all(len(v.split(".")[1]) == dec for v in got[n + 1].split()[:4])
    k = got.index("Random effects:")
    assert k == n + 2
    # the SD column: summary's (same digits), the Variance column left out
    r0 = ref.index("Random effects:")
    vc_ref = ref[r0 + 1:ref.index(next(x for x in ref if x.startswith("Number of obs")))]
    vc_got = got[k + 1:got.index(next(x for x in got if x.startswith("Number of obs")))]
    assert [x.split()[:1] for x in vc_got] == [x.split()[:1] for x in vc_ref]
    assert "Std.Dev." in vc_got[0] and "Variance" not in vc_got[0]
    assert [x for x in got if x.startswith("Number of obs")] == [x for x in ref if x.startswith("Number of obs")]
    f = got.index("Fixed Effects:")
    assert got[f + 1].split() == list(case["fixef"]) and got[f + 1].endswith("  ")
    assert np.allclose([float(v) for v in got[f + 2].split()], list(case["fixef"].values()),
                       atol=2e-4 + TOL["fixef"] * max(abs(v) for v in case["fixef"].values()))
    tail = got[f + 3:]
    if case["isSingular"]:
        assert tail == ["optimizer (Nelder_Mead) convergence code: 0 (OK) ; 0 optimizer warnings; "
                        "1 lme4 warnings "]
    else:
        assert tail == []


# ------------------------------------------------------------------- display, VarCorr

@pytest.mark.parametrize("cid", CASES)
def test_display_printout_is_rs(cid):
    """arm's display(): glmer's call (family, nAGQ, weights), the coefficients, the error
    terms with R's Residual 1.00 row, AIC, DIC and deviance."""
    case, m = fit_named(cid)
    got_call, got_rest = display_lines(display_text(m))
    ref_call, ref_rest = display_lines(case["display_text"])
    if not (case.get("weights") and not records_weights(m)):
        assert got_call == ref_call
    bad = printout_mismatches("\n".join(got_rest), "\n".join(ref_rest))
    assert not bad, "\n".join(bad)
    got_call, _ = display_lines(display_text(with_weights_arg(case, m)))
    assert got_call == ref_call


def test_display_detail_has_z_tests(capsys):
    """display(m, detail = TRUE) of a glmer fit adds z value and Pr(>|z|) (arm 1.13-1)."""
    case, m = fit_named("cbpp_binomial")
    mw.display(m, detail=True)
    lines = capsys.readouterr().out.split("\n")
    assert lines[2] == "            coef.est coef.se z value Pr(>|z|)"
    assert lines[3].split() == ["(Intercept)", "-1.40", "0.23", "-6.05", "0.00"]
    assert len(lines[3]) == len(lines[2])


@pytest.mark.parametrize("cid", CASES)
def test_varcorr_printout_is_rs(cid):
    case, m = fit_named(cid)
    bad = printout_mismatches(str(mw.VarCorr(m)), case["varcorr_text"])
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ the new primitives

def test_strwrap_is_rs():
    # R: for (w in c(9, 10, 14, 15)) print(strwrap("aaaa bbbb cccc", width = w, exdent = 2))
    assert strwrap("aaaa bbbb cccc", 9, 2) == ["aaaa", "  bbbb", "  cccc"]
    assert strwrap("aaaa bbbb cccc", 10, 2) == ["aaaa bbbb", "  cccc"]
    assert strwrap("aaaa bbbb cccc", 14, 2) == ["aaaa bbbb", "  cccc"]
    assert strwrap("aaaa bbbb cccc", 15, 2) == ["aaaa bbbb cccc"]
    # R: strwrap("... (Adaptive Gauss-Hermite Quadrature, nAGQ = 10)", width = 78, exdent = 2)
    assert strwrap("Generalized linear mixed model fit by maximum likelihood (Adaptive "
                   "Gauss-Hermite Quadrature, nAGQ = 10)", 78, 2) == [
        "Generalized linear mixed model fit by maximum likelihood (Adaptive",
        "  Gauss-Hermite Quadrature, nAGQ = 10)"]


def test_meth_title_family_and_call_lines():
    # lme4:::.prt.methTit: quotes and one line when it fits, wrapped and unquoted otherwise
    assert prt_meth_title("Linear mixed model fit by REML", "lmerMod") == \
        "Linear mixed model fit by REML ['lmerMod']\n"
    assert prt_meth_title("Generalized linear mixed model fit by maximum likelihood (Laplace "
                          "Approximation)", "glmerMod") == (
        "Generalized linear mixed model fit by maximum likelihood (Laplace\n"
        "  Approximation) [glmerMod]\n")
    # lme4:::.prt.family(list(family = "poisson", link = "log"))
    assert prt_family("poisson", "log") == " Family: poisson  ( log )\n"
    assert prt_family(None, None) == ""
    # lme4:::.prt.call(quote(glmer(y ~ x + (1 | g), d, weights = w, offset = log(t))))
    assert prt_call("y ~ x + (1 | g)", "d", "w", "log(t)") == (
        "Formula: y ~ x + (1 | g)\n   Data: d\nWeights: w\n Offset: log(t)\n")

