"""lmList against R's lme4::lmList (tests/r/refs/accessors/lmlist_sleep.json, written by
tests/r/accessors_refs.R; the v2 toolbox cases' lmList coef checks)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_case, load_data

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.errors import DataError, FormulaError
from mlm_wrap.toolbox.lmlist import lmList, pooling_table

R = json.loads((Path(__file__).resolve().parents[1] / "r" / "refs" / "accessors" /
                "lmlist_sleep.json").read_text())


@pytest.fixture(scope="module")
def ll():
    return lmList("Reaction ~ Days | Subject", load("sleepstudy"))


def _array(x):
    return np.asarray(x["values"], float).reshape(x["dim"], order="F")  # R's column-major


def test_coef(ll):
    c = ll.coef()
    assert list(c.index) == R["coef"]["index"] and list(c.columns) == R["coef"]["columns"]
    assert np.allclose(c.to_numpy(), R["coef"]["data"], rtol=1e-10)


def test_confint_per_group_t_intervals(ll):
    ci = ll.confint()
    levels, bounds, coefs = R["confint"]["dimnames"]
    assert list(ci.index) == levels
    assert list(ci.columns) == [(c, b) for c in coefs for b in bounds]
    want = _array(R["confint"])  # [level, bound, coefficient]
    got = ci.to_numpy().reshape(len(levels), len(coefs), len(bounds)).transpose(0, 2, 1)
    assert np.allclose(got, want, rtol=1e-10)
    pooled = ll.confint(pool=True)  # lme4's pooled option: pooled sd, wider df
    assert pooled.shape == ci.shape and not np.allclose(pooled.to_numpy(), ci.to_numpy())


def test_summary_pooled(ll):
    s = ll.summary()
    assert abs(s.RSE - R["pooled_sigma"]) < 1e-10 * R["pooled_sigma"]
    assert s.df == 144
    levels, stats_, coefs = R["summary_coefficients"]["dimnames"]
    want = _array(R["summary_coefficients"])
    for j, c in enumerate(coefs):
        tab = s.coefficients[c]
        assert list(tab.columns) == stats_ and list(tab.index) == levels
        assert np.allclose(tab.to_numpy(), want[:, :, j], rtol=1e-8, atol=0)
    assert np.allclose(s.r_squared.to_numpy(), R["r_squared"], rtol=1e-10)
    assert "Residual standard error: 25.59182 on 144 degrees of freedom" in str(s)


def test_pooling_table():
    d = load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Reaction ~ Days + (Days | Subject)", d)
    t = pooling_table(m, "Days", "Subject")
    assert np.array_equal(t.to_numpy(), pooling_table(m, "Days", "Subject", data=d).to_numpy())
    assert list(t.index) == R["coef"]["index"]
    assert np.allclose(t["complete (Intercept)"], R["lm_pooled"]["(Intercept)"], rtol=1e-10)
    assert np.allclose(t["complete Days"], R["lm_pooled"]["Days"], rtol=1e-10)
    assert np.allclose(t[["none (Intercept)", "none Days"]].to_numpy(), R["coef"]["data"])
    assert np.allclose(t[["partial (Intercept)", "partial Days"]].to_numpy(),
                       R["lmer_coef"]["data"], rtol=1e-4)


def test_aliased_and_errors():
    d = load("sleepstudy")
    d["Days2"] = 2 * d["Days"]
    c = lmList("Reaction ~ Days + Days2 | Subject", d).coef()
    assert list(c.columns) == ["(Intercept)", "Days", "Days2"] and c["Days2"].isna().all()
    with pytest.raises(FormulaError):
        lmList("Reaction ~ Days", d)
    with pytest.raises(DataError):
        lmList("Reaction ~ Days | nope", d)


@pytest.mark.parametrize("cid", ["tb_sleep", "tb_faculty"])
def test_v2_lmlist_coef(cid):
    case = load_case(f"v2:{cid}")
    df = load_data(case["data"], case["_data_dir"])
    c = next(c for c in case["checks"] if c["call"] == "lmList")
    got = lmList(*c["args"], data=df).coef()
    want = pd.DataFrame(c["table"]["data"], index=c["table"]["index"], columns=c["table"]["columns"])
    assert list(got.index) == list(want.index)
    assert np.allclose(got[want.columns].to_numpy(), want.to_numpy(), rtol=1e-10)
