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
EXTRA = ROOT / "tests" / "data" / "r-extra"  # more R-made cases (tests/r/make_extra_refs.R)


def corpus_available() -> bool:
    return CASES.is_dir()


def _case_file(case_id: str) -> Path:
    """``id`` names a case of the shared corpus, ``extra:id`` one of tests/data/r-extra."""
    if case_id.startswith("extra:"):
        return EXTRA / "cases" / f"{case_id[6:]}.json"
    return CASES / f"{case_id}.json"


def load_case(case_id: str) -> dict:
    case = json.loads(_case_file(case_id).read_text())
    case["_data_dir"] = str(_case_file(case_id).parent.parent / "data")
    return case


def lmer_case_ids(include_slow: bool = False, extra: bool = True) -> list[str]:
    out = []
    sources = ([(CASES, "")] if corpus_available() else []) + ([(EXTRA / "cases", "extra:")] if extra else [])
    for folder, prefix in sources:
        for f in sorted(folder.glob("*.json")):
            c = json.loads(f.read_text())
            if c.get("kind") == "anova" or c.get("family"):
                continue
            if "insteval" in c["id"] and not include_slow:
                continue
            out.append(prefix + c["id"])
    return out


def load_data(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """A corpus data set with R's factor levels applied (as parity.py does)."""
    data_dir = Path(data_dir) if data_dir else RREF / "data"
    df = pd.read_csv(data_dir / name, keep_default_na=True)
    levels = json.loads((data_dir / name.replace(".csv", ".levels.json")).read_text()) or {}
    for col, lv in levels.items():
        df[col] = pd.Categorical(df[col].astype("string").str.replace(r"\.0$", "", regex=True),
                                 categories=[str(x) for x in lv])
    return df


requires_corpus = pytest.mark.skipif(not corpus_available(),
                                     reason=f"R reference corpus not found at {RREF}")
