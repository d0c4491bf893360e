"""Shared by the toolbox tests of broom / diagnostics / performance: the tb_* models of the
shared R reference (v2 cases), broom_refs.R's JSON, and TOOLBOX.md's tolerances."""
from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

import mlm_wrap
from conftest import load_case, load_data

BROOM_REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "broom"
TB_CASES = ["tb_sleep", "tb_faculty", "tb_oats", "tb_oats_by", "tb_cbpp", "tb_cbpp_pois"]

# TOOLBOX.md: relative to the column's largest value; glmer as loose as parity.py's
LMER_TOL = {"linear": 1e-4, "se": 1e-3, "varcomp": 2e-3, "abs": 5e-3}
GLMER_TOL = {"linear": 2e-3, "se": 1e-2, "varcomp": 1e-2, "abs": 2e-2}


def colerr(got, ref) -> float:
    """Largest error relative to the largest |R value| of the column (NaN where R has NA
    must be NaN here too)."""
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    na = np.isnan(ref)
    assert np.array_equal(np.isnan(got), na), (got, ref)
    if na.all():
        return 0.0
    return float(np.max(np.abs(got[~na] - ref[~na])) / max(np.max(np.abs(ref[~na])), 1e-300))


@lru_cache(maxsize=None)
def fit_case(cid: str):
    c = load_case("v2:" + cid)
    df = load_data(c["data"], c["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if c["fun"] == "glmer":
            m = mlm_wrap.glmer(c["formula"], df, family=c["family"])
        else:
            m = mlm_wrap.lmer(c["formula"], df, REML=c["REML"])
    return c, m, df


def tol(c) -> dict:
    return GLMER_TOL if c["fun"] == "glmer" else LMER_TOL


def checks(c, call: str) -> list[dict]:
    return [ch for ch in c["checks"] if ch["call"] == call]


def broom_ref(name: str) -> dict:
    return json.loads((BROOM_REFS / f"{name}.json").read_text())


def ref_frame(tab: dict):
    import pandas as pd
    return pd.DataFrame({k: [np.nan if v is None else v for v in tab["data"][k]]
                         if k not in ("effect", "group", "level", "term") else tab["data"][k]
                         for k in tab["columns"]})[tab["columns"]]
