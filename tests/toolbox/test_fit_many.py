"""fit_many (mlm_wrap.toolbox.fit_many): one tidy row per fit, by subgroup or formula, the
same numbers as the fits one by one, failed fits kept as rows, the same table in workers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load


@pytest.fixture(scope="module")
def ss():
    d = load("sleepstudy").copy()
    d["half"] = np.where(d["Days"] < 5, "early", "late")
    return d


def test_by_subgroup_matches_single_fits(ss):
    t = mw.fit_many("Reaction ~ Days + (1 | Subject)", ss, by="half", progress=False)
    assert list(t["half"]) == ["early", "late"] and len(t) == 2
    assert list(t.columns[:4]) == ["half", "formula", "nobs", "REML"]
    for _, row in t.iterrows():
        m = mw.lmer("Reaction ~ Days + (1 | Subject)", data=ss[ss["half"] == row["half"]])
        assert row["logLik"] == pytest.approx(float(m.logLik()), rel=1e-12)
        assert row["Days"] == pytest.approx(m.fixef()["Days"], rel=1e-12)
        assert row["sigma"] == pytest.approx(m.sigma(), rel=1e-12)
        assert row["converged"] and not row["singular"] and row["nobs"] == 90
    assert t["error"].isna().all()


def test_formulas_glmer_and_failures(ss):
    fs = ["Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)",
          "Reaction ~ Dayz + (1 | Subject)"]
    t = mw.fit_many(fs, ss, REML=False, progress=False)
    assert list(t["formula"]) == fs and not t["REML"].iloc[:2].any()
    assert t.loc[1, "cor_Days.(Intercept)|Subject"] == pytest.approx(
        mw.lmer(fs[1], data=ss, REML=False).VarCorr().terms[0].cov[1, 0] /
        np.prod(np.sqrt(np.diag(mw.lmer(fs[1], data=ss, REML=False).VarCorr().terms[0].cov))),
        rel=1e-8)
    assert np.isnan(t.loc[0, "sd_Days|Subject"])  # a parameter the first model lacks
    assert "Dayz" in t.loc[2, "error"] and not t.loc[2, "converged"]  # kept, not dropped
    g = mw.fit_many("cbind(incidence, size - incidence) ~ period + (1 | herd)", load("cbpp"),
                    family="binomial", progress=False)
    assert "sigma" not in g.columns and g.loc[0, "sd_(Intercept)|herd"] > 0


def test_parallel_table_is_the_serial_table(ss):
    a = mw.fit_many(["Reaction ~ Days + (1 | Subject)"], ss, by=["half"], progress=False)
    b = mw.fit_many(["Reaction ~ Days + (1 | Subject)"], ss, by=["half"], progress=False,
                    parallel="multicore", ncpus=2)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
