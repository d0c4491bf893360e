"""The glmer fits of tests/r/families_refs.R's inference part (simulate, bootMer,
residuals, confint for every family) and their R references (tests/r/refs/families/inference/).

Each case is the R call R recorded and the same fit here, on the v2 corpus' data."""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np

import mlm_wrap as mw
from conftest import load_data

REFS = Path(__file__).resolve().parent / "r" / "refs" / "families" / "inference"
DATA = Path(__file__).resolve().parent / "r" / "refs" / "v2" / "data"

_FITS = {
    "gamma_log": lambda d: mw.glmer("Reaction ~ Days + (1 | Subject)", d("sleepx"),
                                    family=mw.Gamma(link="log")),
    "invgauss_log": lambda d: mw.glmer("Reaction ~ Days + (1 | Subject)", d("sleepx"),
                                       family=mw.inverse_gaussian(link="log")),
    "gauss_log": lambda d: mw.glmer("salary ~ experience + (1 | department)", d("faculty"),
                                    family=mw.gaussian(link="log")),
    "nb": lambda d: mw.glmer_nb("count ~ x + (1 | plot)", d("nbsim")),
    "binomial_cbind": lambda d: mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                         d("cbpp"), family="binomial"),
    "binomial_prop": lambda d: mw.glmer("incidence / size ~ period + (1 | herd)", d("cbpp"),
                                        family="binomial", weights="size"),
    "poisson_log": lambda d: mw.glmer("incidence ~ period + (1 | herd)", d("cbpp"), family="poisson"),
}
CASE_IDS = list(_FITS)
SCALE_CASES = ["gamma_log", "invgauss_log", "gauss_log"]


def ref(case: str) -> dict:
    return json.loads((REFS / f"{case}.json").read_text())


@functools.lru_cache(maxsize=None)
def fit(case: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _FITS[case](lambda name: load_data(f"{name}.csv", DATA))


def r_table(t: dict) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in t["data"]], float)
