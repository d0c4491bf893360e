"""Shared fixtures: R's reference corpus (../shared/r-reference), read as parity.py reads it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RREF = Path(os.environ.get("MLM_WRAP_RREF", ROOT.parent / "shared" / "r-reference"))
CASES = RREF / "cases"


def corpus_available() -> bool:
    return CASES.is_dir()


def load_case(case_id: str) -> dict:
    return json.loads((CASES / f"{case_id}.json").read_text())


def lmer_case_ids(include_slow: bool = False) -> list[str]:
    if not corpus_available():
        return []
    out = []
    for f in sorted(CASES.glob("*.json")):
        c = json.loads(f.read_text())
        if c.get("kind") == "anova" or c.get("family"):
            continue
        if "insteval" in c["id"] and not include_slow:
            continue
        out.append(c["id"])
    return out


def load_data(name: str) -> pd.DataFrame:
    """A corpus data set with R's factor levels applied (as parity.py does)."""
    data_dir = RREF / "data"
    df = pd.read_csv(data_dir / name, keep_default_na=True)
    levels = json.loads((data_dir / name.replace(".csv", ".levels.json")).read_text()) or {}
    for col, lv in levels.items():
        df[col] = pd.Categorical(df[col].astype("string").str.replace(r"\.0$", "", regex=True),
                                 categories=[str(x) for x in lv])
    return df


requires_corpus = pytest.mark.skipif(not corpus_available(),
                                     reason=f"R reference corpus not found at {RREF}")
