"""lmerTest's anova(m, type=, ddf=), drop1 and ranova, and lme4's anova(m) / drop1(test="Chisq"),
against R: the shared toolbox cases (tests/r/refs/v2/cases/tb_*.json) and the extra references
of tests/r/anova_refs.R (tests/r/refs/anova/*.json).  Tolerances as the toolbox checker's
(TOOLBOX.md): relative to the column's largest value, 1e-4 for sums of squares and F with
lme4's table, 1e-3 for statistics, 2e-2 for denominator df and p-values; logLik, AIC and
LRT absolute 5e-3."""
from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REFS, load_case, load_data
from printouts import printout_mismatches

import mlm_wrap as mw
from mlm_wrap.inference.anova import anova
from mlm_wrap.inference.ranova import ranova
from mlm_wrap.inference.terms_anova import drop1, hypotheses

ANOVA_REFS = REFS / "anova"
TB_CASES = ["tb_sleep", "tb_faculty", "tb_oats", "tb_oats_by", "tb_cbpp", "tb_cbpp_pois"]
EXTRA_CASES = sorted(p.stem for p in ANOVA_REFS.glob("*.json"))

ABS = {"logLik", "AIC", "LRT"}
TOL = {"DenDF": 2e-2, "Pr(>F)": 2e-2, "Pr(Chi)": 2e-2, "Pr(>Chisq)": 2e-2,
       "F value": 1e-3, "Sum Sq": 1e-3, "Mean Sq": 1e-3}


def _call(m, name, kwargs):
    fun = {"anova": anova, "drop1": drop1, "ranova": ranova}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(m, **kwargs)


def _errors(got: pd.DataFrame, ref: dict, lme4_table: bool = False) -> dict[str, float]:
    """Each column's error: absolute for logLik/AIC/LRT, else relative to its largest value."""
    assert list(got.index) == ref["index"]
    assert list(got.columns) == ref["columns"]
    R = np.array([[math.nan if v is None else v for v in row] for row in ref["data"]], float)
    out = {}
    for j, col in enumerate(ref["columns"]):
        a, b = got[col].to_numpy(float), R[:, j]
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        ok = ~np.isnan(b)
        if not ok.any():
            continue
        err = np.max(np.abs(a[ok] - b[ok]))
        if col not in ABS:
            err /= max(np.max(np.abs(b[ok])), 1e-300)
        out[col] = float(err)
    return out


def _check(got, ref, text=None, lme4_table=False):
    for col, err in _errors(got, ref).items():
        tol = 5e-3 if col in ABS else (1e-4 if lme4_table and col in ("Sum Sq", "Mean Sq", "F value")
                                       else TOL.get(col, 1e-6))
        assert err <= tol, f"{col}: error {err:.2e} > {tol:.0e}"
    if text:
        bad = printout_mismatches(str(got), text)
        assert not bad, "\n".join(bad)


@functools.lru_cache(maxsize=None)
def _tb_model(cid):
    c = load_case(f"v2:{cid}")
    d = load_data(c["data"], c["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if c["fun"] == "glmer":
            return mw.glmer(c["formula"], d, family=c["family"])
        return mw.lmer(c["formula"], d, REML=c["REML"])


def _tb_checks():
    out = []
    for cid in TB_CASES:
        for chk in load_case(f"v2:{cid}")["checks"]:
            if chk["call"] in ("anova", "drop1", "ranova"):
                out.append(pytest.param(cid, chk, id=f"{cid}-{chk['name']}"))
    return out


@pytest.mark.parametrize("cid,chk", _tb_checks())
def test_toolbox_case(cid, chk):
    m = _tb_model(cid)
    got = _call(m, chk["call"], chk["kwargs"])
    _check(got, chk["table"], chk.get("text"), lme4_table="npar" in chk["table"]["columns"]
           and chk["call"] == "anova")


@functools.lru_cache(maxsize=None)
def _extra(cid):
    ref = json.loads((ANOVA_REFS / f"{cid}.json").read_text())
    d = load_data(ref["data"], Path(ref["data_dir"]) if Path(ref["data_dir"]).is_absolute()
                  else Path(__file__).resolve().parents[2] / ref["data_dir"])
    for col in d.columns:  # the R script reads plain (unordered) factors
        if isinstance(d[col].dtype, pd.CategoricalDtype) and d[col].cat.ordered:
            d[col] = d[col].cat.as_unordered()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(ref["formula"], d)
    return ref, m


def _extra_checks():
    out = []
    for cid in EXTRA_CASES:
        ref = json.loads((ANOVA_REFS / f"{cid}.json").read_text())
        for i, chk in enumerate(ref["calls"]):
            out.append(pytest.param(cid, i, id=f"{cid}-{chk['name']}"))
    return out


@pytest.mark.parametrize("cid,i", _extra_checks())
def test_extra_refs(cid, i):
    ref, m = _extra(cid)
    chk = ref["calls"][i]
    kwargs = dict(chk["kwargs"] or {})
    got = _call(m, chk["call"], kwargs)
    _check(got, chk["table"], chk["text"], lme4_table=chk["name"] == "anova lme4")


def test_default_is_type3_satterthwaite():
    m = _tb_model("tb_oats")
    a, b = anova(m), anova(m, type=3, ddf="Satterthwaite")
    assert str(a) == str(b)
    assert str(a).startswith("Type III Analysis of Variance Table with Satterthwaite's method")
    assert anova(m, type="II").equals(anova(m, type=2))


def test_two_models_unchanged():
    m = _tb_model("tb_sleep")
    c = load_case("v2:tb_sleep")
    d = load_data(c["data"], c["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mw.lmer("Reaction ~ 1 + (Days | Subject)", d)
        tab = anova(m0, m)
    assert list(tab.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df",
                                 "Pr(>Chisq)"]
    with pytest.raises(ValueError, match="type"):
        anova(m0, m, type=3)


def test_bad_arguments():
    m = _tb_model("tb_sleep")
    with pytest.raises(ValueError, match="type"):
        anova(m, type=4)
    with pytest.raises(ValueError, match="ddf"):
        anova(m, ddf="foo")
    with pytest.raises(ValueError, match="test"):
        drop1(m, test="F-ish")
    with pytest.raises(TypeError, match="lmer"):
        ranova(_tb_model("tb_cbpp"))


def test_hypotheses_type3_oats():
    """lmerTest's type III L of N in yield ~ N * Variety: the N columns with the interaction's
    columns averaged over Variety (contr.treatment)."""
    L = hypotheses(_tb_model("tb_oats"), 3)["N"]
    assert L.shape == (3, 12)
    np.testing.assert_allclose(L[0, 1], 1.0)
    np.testing.assert_allclose(L[0, [6, 9]], [1 / 3, 1 / 3])
