"""emmeans / pairs / contrast against R (emmeans 1.8.4): the shared tb_* cases and
tests/r/refs/emmeans/*.json (tests/r/emmeans_refs.R): at=, trt.vs.ctrl, poly, the
adjustments, lmer.df, two-factor by, type="response".  Tolerances are TOOLBOX.md's:
1e-4 for estimates (glmer 2e-3), 1e-3 for SEs and statistics (glmer 2e-3), 2e-2 for df,
p-values and t-based limits; labels exactly; printouts line by line as R's."""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_case, load_data
from printouts import printout_mismatches

import mlm_wrap as mw
from mlm_wrap.toolbox.emmeans import contrast, emmeans, pairs

REFS = Path(__file__).resolve().parent.parent / "r" / "refs"
EMM_REFS = REFS / "emmeans"
V2_DATA = REFS / "v2" / "data"
SHARED = ["v2:tb_oats", "v2:tb_oats_by", "v2:tb_cbpp", "v2:tb_cbpp_pois"]

_EST = {"emmean", "estimate", "prob", "rate"}
_DFDEP = {"df", "p.value", "lower.CL", "upper.CL"}


def _tol(col: str, glmm: bool) -> float:
    if col in _DFDEP:
        return 2e-2
    if glmm:
        return 2e-3
    return 1e-4 if col in _EST else 1e-3


@functools.cache
def _fit(data: str, data_dir: str, fun: str, formula: str, family: str | None):
    df = load_data(data, data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fun == "lmer":
            return mw.lmer(formula, data=df)
        return mw.glmer(formula, data=df, family=family)


def _compare(res, table: dict, key, text: str | None, glmm: bool) -> None:
    g = res.to_frame()
    key = [key] if isinstance(key, str) else list(key)
    g.index = ["|".join(str(v) for v in r) for r in g[key].itertuples(index=False)]
    want = pd.DataFrame(table["data"], index=[str(i) for i in table["index"]],
                        columns=table["columns"], dtype=float)
    assert list(g.index) == list(want.index), "row labels differ from R's"
    assert [c for c in g.columns if c not in key] == list(want.columns)
    for c in want.columns:
        r = want[c].to_numpy(float)
        a = g[c].to_numpy(float)
        fin = np.isfinite(r)          # R's Inf df is stored as null
        assert (np.isfinite(a) == fin).all(), c
        assert np.all(np.isinf(a[~fin]))
        if fin.any():
            err = np.max(np.abs(a[fin] - r[fin])) / max(np.max(np.abs(r[fin])), 1e-12)
            assert err <= _tol(c, glmm), f"{c}: relative error {err:.2e}"
    if text:
        assert not printout_mismatches(str(res), text)


def _shared_checks():
    out = []
    for cid in SHARED:
        case = load_case(cid)
        for ch in case["checks"]:
            if ch["call"] in ("emmeans", "pairs"):
                out.append(pytest.param(cid, ch["name"], id=f"{cid}-{ch['name']}"))
    return out


@pytest.mark.parametrize("cid,name", _shared_checks())
def test_shared_cases(cid, name):
    case = load_case(cid)
    ch = next(c for c in case["checks"] if c["name"] == name)
    m = _fit(case["data"], case["_data_dir"], case["fun"], case["formula"], case.get("family"))
    if ch.get("of"):
        res = pairs(emmeans(m, *ch["of"]["args"], **ch["of"]["kwargs"]))
    else:
        res = emmeans(m, *ch["args"], **ch["kwargs"])
    _compare(res, ch["table"], ch["key"], ch.get("text"), case["fun"] != "lmer")


def _extra_checks():
    out = []
    for f in sorted(EMM_REFS.glob("*.json")):
        case = json.loads(f.read_text())
        for ch in case["calls"]:
            out.append(pytest.param(f.stem, ch["name"], id=f"{f.stem}-{ch['name']}"))
    return out


@pytest.mark.parametrize("cid,name", _extra_checks())
def test_extra_refs(cid, name):
    case = json.loads((EMM_REFS / f"{cid}.json").read_text())
    ch = next(c for c in case["calls"] if c["name"] == name)
    m = _fit(case["data"], str(V2_DATA), case["fun"], case["formula"], case.get("family"))
    kw = dict(ch["emmeans"])
    if "lmer.df" in kw:
        kw["lmer_df"] = kw.pop("lmer.df")
    res = emmeans(m, **kw)
    if ch["contrast"]:
        res = contrast(res, **ch["contrast"])
    _compare(res, ch["table"], ch["key"], ch["text"], case["fun"] != "lmer")


def test_refs_record_versions():
    for f in EMM_REFS.glob("*.json"):
        v = json.loads(f.read_text())["versions"]
        assert v["emmeans"].startswith("1.8") and v["lme4"]


@pytest.fixture(scope="module")
def oats():
    case = load_case("v2:tb_oats")
    return _fit(case["data"], case["_data_dir"], "lmer", case["formula"], None)


@pytest.mark.parametrize("kwargs,word", [
    (dict(specs="nosuch"), "specs"),
    (dict(specs="N", by="nosuch"), "by"),
    (dict(specs="N", at={"nosuch": 1}), "at"),
    (dict(specs="N", lmer_df="wald"), "lmer_df"),
    (dict(specs="N", type="odds"), "type"),
    (dict(specs="N", at={"Variety": ["Nope"]}), "at"),
])
def test_bad_emmeans_calls(oats, kwargs, word):
    with pytest.raises(ValueError, match=word):
        emmeans(oats, **kwargs)


def test_bad_contrast_calls(oats):
    e = emmeans(oats, "N")
    with pytest.raises(ValueError, match="method"):
        contrast(e, method="consec2")
    with pytest.raises(ValueError, match="adjust"):
        contrast(e, method="pairwise", adjust="scheffe2")
    with pytest.raises(ValueError, match="adjust"):
        contrast(e, method="poly", adjust="tukey")
    with pytest.raises(NotImplementedError, match="adjust"):
        contrast(e, method="trt.vs.ctrl")      # emmeans' default there is dunnettx
    with pytest.raises(TypeError, match="emmeans"):
        pairs(pd.DataFrame({"a": [1]}))
