"""update() and allFit() against R (tests/r/refs/accessors/update_sleep.json, allfit_sleep.json,
written by tests/r/accessors_refs.R; the v2 toolbox cases' update checks)."""
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
from mlm_wrap.errors import DataError
from mlm_wrap.toolbox.accessors import formula as formula_of
from mlm_wrap.toolbox.update import allFit, update, update_formula

REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "accessors"
F = "Reaction ~ Days + (Days | Subject)"


def _ref(name):
    return json.loads((REFS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def sleepx():
    d = load("sleepstudy")
    d["w"] = np.resize([1.0, 2.0, 3.0], len(d))  # R: rep(c(1, 2, 3), length.out = nrow)
    d["g2"] = pd.Categorical(np.resize(np.arange(1, 7), len(d)).astype(str))
    return d


@pytest.fixture(scope="module")
def m_sleep(sleepx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mw.lmer(F, sleepx)


@pytest.mark.parametrize("case", sorted(_ref("update_sleep")["updates"]))
def test_update_variants_as_R(case, m_sleep, sleepx):
    r = _ref("update_sleep")["updates"][case]
    call = dict(r["call"])
    new = call.pop("formula", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = update(m_sleep, new, data=sleepx, **call)
    fe = fit.fixef()
    assert list(fe.index) == list(r["fixef"])  # R's fixed-effect names and order
    assert max(abs(fe[k] - v) / abs(v) for k, v in r["fixef"].items()) < 1e-4
    assert abs(float(fit.logLik()) - r["logLik"]) < 5e-3
    assert formula_of(fit) == r["formula"]
    assert fit.REML == r["REML"] and fit.nobs() == r["nobs"]


def test_update_formula_text():
    assert update_formula(F, ". ~ . - Days") == "Reaction ~ (Days | Subject)"
    assert update_formula(F, "log(.) ~ .") == "log(Reaction) ~ Days + (Days | Subject)"
    assert update_formula(F, "~ . - 1") == "Reaction ~ Days + (Days | Subject) - 1"
    assert update_formula(F, ". ~ .") == F
    assert update_formula("y ~ a:b + c", ". ~ . + d") == "y ~ c + d + a:b"  # R's term order
    assert update_formula("yield ~ N * Variety + (1 | Block/Variety)", ". ~ . - N:Variety") == \
        "yield ~ N + Variety + (1 | Block/Variety)"


def test_update_uses_model_columns_or_asks_for_data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(F, load("sleepstudy"))
        r = _ref("update_sleep")["updates"]["minus_Days"]
        fit = update(m, ". ~ . - Days")  # the model's own columns suffice
        assert abs(fit.fixef()["(Intercept)"] - r["fixef"]["(Intercept)"]) < 1e-4 * 258
        with pytest.raises(DataError, match="'g2'.*pass data="):
            update(m, ". ~ . + (1 | g2)")
        with pytest.raises(DataError, match="pass data="):
            update(m, weights="w")


def test_update_after_na_omit_needs_data():
    d = load("sleepstudy")
    d.loc[3, "Days"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(F, d)
        with pytest.raises(DataError, match="missing"):
            update(m, REML=False)
        assert update(m, REML=False, data=d).nobs() == 179


@pytest.mark.parametrize("cid", ["tb_sleep", "tb_faculty", "tb_oats", "tb_cbpp_pois"])
def test_v2_update_checks(cid):
    case = load_case(f"v2:{cid}")
    df = load_data(case["data"], case["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = (mw.lmer(case["formula"], df) if case["fun"] == "lmer"
             else mw.glmer(case["formula"], df, family=case["family"]))
        for c in (c for c in case["checks"] if c["call"] == "update"):
            fit = update(m, *c["args"], **c["kwargs"])
            fe = fit.fixef()
            assert max(abs(fe[k] - v) / max(abs(v), 1e-8) for k, v in c["fixef"].items()) < 1e-4
            assert abs(float(fit.logLik()) - c["logLik"]) < 5e-3


def test_allfit_summary_as_R():
    R = _ref("allfit_sleep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(F, load("sleepstudy"))
        s = allFit(m)
    assert list(s) == R["summary_names"]
    ours = list(s["fixef"].index)
    assert ours == ["bobyqa", "Nelder_Mead", "nloptwrap.NLOPT_LN_BOBYQA"]
    assert set(ours) <= set(R["optimizers"])  # R's names for the same optimizers
    assert all(s["which.OK"])
    for tab in ("fixef", "sdcor", "theta"):
        rt = pd.DataFrame(R[tab]["data"], index=R[tab]["index"], columns=R[tab]["columns"])
        assert list(s[tab].columns) == list(rt.columns)
        got, want = s[tab].to_numpy(), rt.loc[ours].to_numpy()
        assert np.max(np.abs(got - want) / np.abs(want)) < 2e-3, tab  # optimizers differ a little
    for k in ours:
        assert abs(s["llik"][k] - R["llik"][k]) < 5e-3
        assert s["msgs"][k] is None and R["msgs"][k] == []


def test_update_keeps_weights_offset_subset():
    d = load("sleepstudy")
    w, off = np.resize([1.0, 2.0, 3.0], len(d)), np.linspace(0, 5, len(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(F, d, weights=w, offset=off, REML=False)
        assert abs(float(update(m, REML=True).logLik()) -
                   float(mw.lmer(F, d, weights=w, offset=off).logLik())) < 1e-6
        with pytest.raises(DataError, match="weights= too"):
            update(m, data=d)
        ms = mw.lmer(F, d, subset="Days > 1")
        assert update(ms, REML=False).nobs() == 144
        assert update(ms, REML=False, data=d).nobs() == 144  # subset re-evaluated, as R
        with pytest.raises(DataError, match="subset"):
            update(ms, subset="Days > 2")


def test_update_control_reuses_the_design_and_equals_a_fresh_fit():
    """update(m, control=) on the same rows reruns only the optimisation (allFit's refits):
    the same problem object, and the numbers of lmer() called afresh with that control."""
    d = mw.datasets.load("sleepstudy")
    m = mw.lmer("Reaction ~ Days + (Days | Subject)", d, subset="Days > 0")
    for opt in ("bobyqa", "Nelder_Mead"):
        a = mw.update(m, control=mw.lmerControl(optimizer=opt))
        b = mw.lmer("Reaction ~ Days + (Days | Subject)", d, subset="Days > 0",
                    control=mw.lmerControl(optimizer=opt))
        assert a._problem is m._problem and b._problem is not m._problem
        np.testing.assert_array_equal(a.theta, b.theta)
        assert float(mw.logLik(a)) == float(mw.logLik(b))
        assert a.call_args["subset"] == "Days > 0" and a.control.optimizer == opt


def test_update_new_data_refuses_arguments_given_as_values():
    """update(m, data=) re-evaluates the call's expressions (R); weights or offsets given as
    values cannot carry over to new rows, for glmer fits as for lmer fits: an error, never a
    silent refit without them."""
    cb = load("cbpp")
    g = mw.glmer("incidence / size ~ period + (1 | herd)", cb, family="binomial",
                 weights=cb["size"].to_numpy(float))
    with pytest.raises(DataError, match="weights"):
        update(g, data=cb)
    np.testing.assert_allclose(update(g, data=cb, weights="size").fixef(), g.fixef(), rtol=1e-8)
    d = load("sleepstudy")
    m = mw.lmer(F, d, offset=np.full(len(d), 2.0))
    with pytest.raises(DataError, match="offset"):
        update(m, data=d)
