"""Bundled data sets with R's factor levels applied and ``df.attrs["name"]`` set.

``load("faculty")`` is the teaching module's simulated faculty-salary data (made by R
with ``set.seed(999)``); the others are lme4's data sets as R has them.
"""
from __future__ import annotations

import json
from importlib import resources

import pandas as pd

NAMES = ("faculty", "sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes", "cbpp")


def load(name: str) -> pd.DataFrame:
    """A bundled data set as a DataFrame (factor columns as ordered-level Categoricals)."""
    match = {n.lower(): n for n in NAMES}.get(name.lower())
    if match is None:
        raise KeyError(f"no bundled data set {name!r}; available: {', '.join(NAMES)}")
    base = resources.files(__package__) / "data"
    with (base / f"{match}.csv").open("r") as fh:
        df = pd.read_csv(fh)
    levels = json.loads((base / f"{match}.levels.json").read_text()) or {}
    for col, lv in levels.items():
        lab = df[col].astype("string").str.replace(r"\.0$", "", regex=True)
        df[col] = pd.Categorical(lab, categories=[str(x) for x in lv])
    df.attrs["name"] = match
    return df
