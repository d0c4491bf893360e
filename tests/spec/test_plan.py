"""The translation of lme4 terms into MixedLM arguments, and its explain() text."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlm_wrap.datasets import load
from mlm_wrap.spec.design import build_design
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.spec.plan import make_plan


def plan_for(formula, df, **kw):
    return make_plan(build_design(parse_formula(formula), df), **kw)


def test_single_factor_correlated_terms_go_to_exog_re():
    p = plan_for("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))
    assert p.groups == "Subject" and p.re_terms == (0,) and p.vc_terms == ()
    assert p.re_columns == ("(Intercept)", "Days") and not p.block_diagonal
    code = p.explain()
    assert "groups='Subject'" in code and "re_formula='~Days'" in code and "reml=True" in code


def test_double_bar_is_block_diagonal_on_one_factor():
    p = plan_for("Reaction ~ Days + (Days || Subject)", load("sleepstudy"))
    assert p.groups == "Subject" and p.re_terms == (0, 1) and p.block_diagonal
    assert "free" in p.explain()


def test_nested_factor_becomes_variance_component_within_outer_groups():
    p = plan_for("strength ~ 1 + (1 | batch/cask)", load("Pastes"))
    assert p.groups == "batch" and p.vc_terms == (0,) and p.re_terms == (1,)
    assert dict(p.vc_names)["cask:batch"] == "0 + C(cask):C(batch)"


def test_crossed_factors_use_one_group_of_all_rows():
    p = plan_for("diameter ~ 1 + (1 | plate) + (1 | sample)", load("Penicillin"))
    assert p.groups is None and p.vc_terms == (0, 1)
    code = p.explain()
    assert "one_group" in code and "vc_formula" in code


def test_crossed_vector_term_falls_back_to_sparse_engine():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": np.repeat(list("ABCDEFGH"), 6), "b": np.tile(list("uvwxyz"), 8),
                       "x": rng.normal(size=48), "y": rng.normal(size=48)})
    p = plan_for("y ~ x + (1 + x | a) + (1 | b)", df)
    assert p.engine == "sparse" and "crossed" in p.reason
    assert "cannot express" in p.explain()


def test_ml_plan_and_unknown_engine():
    p = plan_for("Reaction ~ Days + (1 | Subject)", load("sleepstudy"), REML=False)
    assert "reml=False" in p.explain()
    with pytest.raises(ValueError, match="engine"):
        plan_for("Reaction ~ Days + (1 | Subject)", load("sleepstudy"), engine="nope")


@pytest.mark.parametrize("formula,dataset", [
    ("Reaction ~ Days + (1 | Subject)", "sleepstudy"),
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy"),
    ("salary ~ experience + (0 + experience | department)", "faculty"),
    ("salary ~ experience + (experience - 1 | department)", "faculty"),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
])
def test_explain_code_runs_in_statsmodels_and_fits_the_same_model(formula, dataset):
    """The printed statsmodels code is real code for the same model: running it reaches
    the same optimum (a different model, e.g. an extra intercept, would not)."""
    import warnings

    import mlm_wrap as mw
    data = load(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(formula, data=data, engine="statsmodels")
        ns = {"data": data}
        exec(m.plan.explain(), ns)
    assert abs(ns["mdf"].llf - float(mw.logLik(m))) < 1e-4


def test_auto_engine_rule(monkeypatch):
    """auto runs lme4's path (the sparse engine, nloptwrap) whatever the size; MixedLM
    still runs when asked for by name."""
    monkeypatch.delenv("MLM_WRAP_ENGINE", raising=False)
    assert plan_for("Reaction ~ Days + (Days | Subject)", load("sleepstudy"), engine="auto").engine == "sparse"
    assert plan_for("diameter ~ 1 + (1 | plate) + (1 | sample)", load("Penicillin"), engine="auto").engine == "sparse"
    rng = np.random.default_rng(0)
    many = pd.DataFrame({"y": rng.normal(size=3000), "g": rng.integers(0, 1000, 3000)})
    p = plan_for("y ~ 1 + (1 | g)", many, engine="auto")
    assert p.engine == "sparse" and p.requested == "auto"
    assert plan_for("Reaction ~ Days + (Days | Subject)", load("sleepstudy"),
                    engine="statsmodels").engine == "statsmodels"


def test_process_wide_default_engine(monkeypatch):
    from mlm_wrap.spec.plan import default_engine, set_default_engine
    monkeypatch.setenv("MLM_WRAP_ENGINE", "sparse")
    assert default_engine() == "sparse"
    assert plan_for("Reaction ~ Days + (1 | Subject)", load("sleepstudy")).engine == "sparse"
    set_default_engine("statsmodels")
    try:
        assert plan_for("Reaction ~ Days + (1 | Subject)", load("sleepstudy")).engine == "statsmodels"
    finally:
        set_default_engine(None)
    monkeypatch.setenv("MLM_WRAP_ENGINE", "turbo")
    with pytest.raises(ValueError, match="MLM_WRAP_ENGINE"):
        default_engine()
