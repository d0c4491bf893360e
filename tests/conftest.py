"""Shared fixtures: R's reference corpus, inside the repository.

``tests/r/refs/`` holds what R printed and computed for each model (JSON) and the data
it fitted (CSV with R's factor levels), written by ``Rscript tests/r/make_refs.R``:
``core/`` (lme4, arm, lmerTest on classic data sets), ``extra/`` (more designs and
GLMMs) and ``v2/`` (formula idioms, families, the post-fit toolbox).  A case id is
``name`` (core), ``extra:name`` or ``v2:name``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFS = ROOT / "tests" / "r" / "refs"
CASES = REFS / "core" / "cases"
EXTRA = REFS / "extra"
V2 = REFS / "v2"
IDIOMS = REFS / "idioms"
_PREFIX = {"extra:": EXTRA, "v2:": V2, "idioms:": IDIOMS}


def _case_file(case_id: str) -> Path:
    for prefix, folder in _PREFIX.items():
        if case_id.startswith(prefix):
            return folder / "cases" / f"{case_id[len(prefix):]}.json"
    return CASES / f"{case_id}.json"


def load_case(case_id: str) -> dict:
    case = json.loads(_case_file(case_id).read_text())
    case["_data_dir"] = str(_case_file(case_id).parent.parent / "data")
    return case


def lmer_case_ids(include_slow: bool = False, extra: bool = True) -> list[str]:
    """Every lmer fit of the corpora: core, then extra, v2 (formula idioms, weights, offsets)
    and the published models of idioms (``pub_*``)."""
    out = []
    sources = [(CASES, "")] + ([(EXTRA / "cases", "extra:"), (V2 / "cases", "v2:"),
                                (IDIOMS / "cases", "idioms:")] if extra else [])
    for folder, prefix in sources:
        for f in sorted(folder.glob("*.json")):
            c = json.loads(f.read_text())
            if c.get("kind") in ("anova", "model_matrix") or c.get("family") or \
                    c.get("fun", "lmer") != "lmer" or "formula" not in c or "fixef" not in c:
                continue
            if "insteval" in c["id"] and not include_slow:
                continue
            out.append(prefix + c["id"])
    return out


def fit_kwargs(case: dict) -> dict:
    """R's lmer arguments a case records besides formula, data and REML."""
    return {k: case[k] for k in ("weights", "offset", "subset") if case.get(k)}


def load_data(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """A corpus data set with R's factor levels applied."""
    data_dir = Path(data_dir) if data_dir else REFS / "core" / "data"
    df = pd.read_csv(data_dir / name, keep_default_na=True)
    levels = json.loads((data_dir / name.replace(".csv", ".levels.json")).read_text()) or {}
    ordered_file = data_dir / name.replace(".csv", ".ordered.json")
    ordered = set(json.loads(ordered_file.read_text()) or []) if ordered_file.exists() else set()
    for col, lv in levels.items():
        df[col] = pd.Categorical(df[col].astype("string").str.replace(r"\.0$", "", regex=True),
                                 categories=[str(x) for x in lv], ordered=col in ordered)
    return df
