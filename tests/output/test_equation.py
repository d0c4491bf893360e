"""equation(m): Gelman & Hill's notation for every model of the R corpus and every family.

For each fit: one symbol per fixed-effect column and per random-effect column (of each
random term), one linear-predictor term per fixed column and per random column that is not
the group's own version of a fixed one, and with ``estimates=True`` the numbers written in
equal to ``fixef``, ``VarCorr``'s SDs and correlations and ``sigma`` (and are shown in the
LaTeX as :func:`tex_number` writes them).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlm_wrap as mw
from conftest import fit_kwargs, lmer_case_ids, load_case, load_data
from glmm_cases import CASES as GLMM_CASES
from glmm_family_refs import CASE_IDS as FAMILY_CASES
from glmm_family_refs import fit as fit_family
from mlm_wrap.datasets import load
from mlm_wrap.output.equation import Equation, tex_number, tex_text

_FITS: dict = {}


def fit(cid: str):
    """A corpus case (lmer or glmer) or a family case (``family:NAME``), fitted once."""
    if cid not in _FITS:
        if cid.startswith("family:"):
            _FITS[cid] = fit_family(cid.split(":", 1)[1])
        else:
            case = load_case(cid)
            d = load_data(case["data"], case["_data_dir"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if case.get("family"):
                    kw = {k: case[k] for k in ("weights", "offset") if case.get(k)}
                    _FITS[cid] = mw.glmer(case["formula"], d, family=case["family"],
                                          nAGQ=case.get("nAGQ", 1), **kw)
                else:
                    _FITS[cid] = mw.lmer(case["formula"], d, REML=case.get("REML", True),
                                         **fit_kwargs(case))
    return _FITS[cid]


ALL = lmer_case_ids() + GLMM_CASES + [f"family:{c}" for c in FAMILY_CASES]


@pytest.mark.parametrize("cid", ALL)
def test_one_symbol_per_column_and_estimates_equal_the_fit(cid):
    m = fit(cid)
    eq = mw.equation(m)
    est = mw.equation(m, estimates=True)
    xnames = list(m.fixef().index)
    vc = m.VarCorr()
    # one symbol per fixed column, one per random column of each term, in R's order
    assert list(eq.fixed) == xnames
    assert [(r.group, r.column) for r in eq.random] == [(t.group, c) for t in vc.terms
                                                       for c in t.names]
    unmerged = [r for r in eq.random if not r.merged]
    assert len(eq.terms) == len(xnames) + len(unmerged) == len(est.terms)
    for r in eq.random:
        if r.merged:  # the group's own coefficient: a fixed column in this term only
            assert r.column in xnames
    for c in xnames:
        if c != "(Intercept)":
            assert eq.latex.count(tex_text(c) + "_{i}") == 1 + sum(
                1 for r in unmerged if r.column == c), c
    # the estimates: fixef, VarCorr's SDs and correlations, sigma
    fe = m.fixef()
    for c in xnames:
        assert est.estimates[("fixef", c)] == float(fe[c])
        assert tex_number(abs(float(fe[c]))) in est.latex, c  # "- 0.15": the sign stands apart
    for t in vc.terms:
        for a, ca in enumerate(t.names):
            assert est.estimates[("sd", t.group, ca)] == pytest.approx(t.stddev[a], rel=1e-12)
            assert f"{tex_number(t.stddev[a])}^{{2}}" in est.latex
            for b in range(a + 1, len(t.names)):
                key = ("cor", t.group) + tuple(sorted((ca, t.names[b])))
                assert est.estimates[key] == pytest.approx(t.correlation[a, b], rel=1e-12)
                assert tex_number(t.correlation[a, b]) in est.latex
    if not hasattr(m, "family_object") or m.family_object.has_scale:
        assert est.estimates[("sigma",)] == float(m.sigma())
        assert f"{tex_number(m.sigma())}^{{2}}" in est.latex
    # the symbolic form has the G&H pieces: j[i] subscripts, one distribution per term
    assert "[i]" in eq.latex
    assert eq.latex.count(r"&\sim N\left(") == len(vc.terms) + (not hasattr(m, "family_object")
                                                               or m.family == "gaussian")
    assert not est.estimates == {} and eq.estimates == {}


@pytest.fixture(scope="module")
def faculty():
    return load("faculty")


def test_faculty_models_in_gelman_hill_notation(faculty):
    m1 = mw.lmer("salary ~ experience + (1 | department)", faculty)
    m2 = mw.lmer("salary ~ experience + (0 + experience | department)", faculty)
    m3 = mw.lmer("salary ~ experience + (1 + experience | department)", faculty)
    e1, e2, e3 = (mw.equation(m).latex for m in (m1, m2, m3))
    assert r"N\left(\alpha_{j[i]} + \beta_{1}\,\text{experience}_{i},\ \sigma^{2}\right)" in e1
    assert r"\alpha_{j} &\sim N\left(\mu_{\alpha},\ \sigma_{\alpha}^{2}\right)" in e1
    assert r"\text{for } \text{department}\ j = 1, \dots, J" in e1
    assert r"N\left(\alpha + \beta_{1j[i]}\,\text{experience}_{i}" in e2
    assert r"\beta_{1j} &\sim N\left(\mu_{\beta_{1}},\ \sigma_{\beta_{1}}^{2}\right)" in e2
    # m3: the bivariate normal with its covariance matrix
    assert r"\begin{pmatrix}\alpha_{j} \\ \beta_{1j}\end{pmatrix} &\sim N\left(" \
           r"\begin{pmatrix}\mu_{\alpha} \\ \mu_{\beta_{1}}\end{pmatrix}" in e3
    assert r"\rho_{\alpha\beta_{1}}\sigma_{\alpha}\sigma_{\beta_{1}}" in e3
    assert e3.count(r"\rho_{\alpha\beta_{1}}") == 2  # symmetric
    est = mw.equation(m3, estimates=True).latex
    assert tex_number(float(m3.fixef()["(Intercept)"])) in est and "1, \\dots, 5" in est


def test_crossed_and_nested_factors_get_their_own_subscripts():
    eq = mw.equation(mw.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", load("Penicillin")))
    assert r"\alpha + \gamma_{1j[i]} + \gamma_{2k[i]}" in eq.latex
    assert r"\gamma_{1j} &\sim N\left(0,\ \sigma_{\gamma_{1}}^{2}\right)" in eq.latex
    assert r"\text{sample}\ k = 1, \dots, K" in eq.latex
    nested = mw.equation(mw.lmer("strength ~ 1 + (1 | batch/cask)", load("Pastes")))
    assert r"\text{cask:batch}\ j" in nested.latex and r"\text{batch}\ k" in nested.latex


def test_glmer_families_show_the_link():
    g = fit("cbpp_binomial")
    eq = mw.equation(g).latex
    assert r"\operatorname{Binomial}\left(n_{i}, \mu_{i}\right)" in eq
    assert r"\operatorname{logit}\left(\mu_{i}\right) &= \alpha_{j[i]} + \beta_{1}\,\text{period2}_{i}" in eq
    assert r"\Phi^{-1}" in mw.equation(fit("extra:glmm_cbpp_probit")).latex
    assert r"\log\left(\mu_{i}\right)" in mw.equation(fit("extra:glmm_grouseticks")).latex
    nb = mw.equation(fit("family:nb"), estimates=True)
    assert nb.estimates[("theta",)] == pytest.approx(mw.getME(fit("family:nb"), "glmer.nb.theta"))
    assert r"\operatorname{Gamma}" in mw.equation(fit("family:gamma_log")).latex


def test_notebook_display_and_opt_out(faculty):
    m = mw.lmer("salary ~ experience + (1 | department)", faculty)
    eq = mw.equation(m)
    assert isinstance(eq, Equation) and str(eq) == eq.latex
    assert m._repr_latex_() == eq._repr_latex_() == f"$$\n{eq.latex}\n$$"
    html = mw.summary(m)._repr_html_()
    assert 'class="mlm-wrap-equation"' in html and html.index("Fixed effects") < html.index("$$")
    assert 'class="mlm-wrap-equation"' in m._repr_html_()
    assert 'class="mlm-wrap-equation"' in mw.summary(fit("cbpp_binomial"))._repr_html_()
    try:
        mw.options.equation_in_summary = False
        assert "$$" not in mw.summary(m)._repr_html_() and "$$" not in m._repr_html_()
        assert m._repr_latex_() == eq._repr_latex_()  # asked for explicitly: still there
    finally:
        mw.options.equation_in_summary = True


def test_names_are_escaped_and_numbers_formatted():
    assert tex_text("I(Days > 4)TRUE") == r"\text{I(Days > 4)TRUE}"
    assert tex_text("a_b {x}%") == r"\mathrm{a\_b\ \{x\}\%}"
    assert [tex_number(v) for v in (40524.57, 369.08, 2.5031, -0.01234, 0.0, 1.5e-6)] == \
        ["40525", "369.1", "2.503", "-0.01234", "0", r"1.500 \times 10^{-6}"]
    assert np.isfinite(float(tex_number(1234.5)))
