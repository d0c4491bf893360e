"""The R reference files under tests/r/refs are well formed and reproducible.

Every case JSON parses, names a data file that exists (with its levels.json) and records the
versions of R and of the R packages that made it.  The files themselves are written by
``Rscript tests/r/make_refs.R``; ``test_make_refs_check`` re-runs that script in check mode
(regenerate into a temporary directory, compare with the committed files), which needs R and
takes a while, so it only runs with ``MLM_WRAP_R_CHECK=1``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "tests" / "r" / "refs"
CORPORA = ("core", "v2", "extra")
VERSION_KEYS = ("R", "lme4", "arm", "lmerTest", "pbkrtest", "emmeans", "broom.mixed",
                "performance")
CASES = sorted(p for c in CORPORA for p in (REFS / c / "cases").glob("*.json"))


def _id(p: Path) -> str:
    return f"{p.parent.parent.name}/{p.stem}"


def test_corpora_present():
    for c in CORPORA:
        assert (REFS / c / "cases").is_dir() and (REFS / c / "data").is_dir(), c
    assert len(CASES) >= 60


def test_versions_file():
    v = json.loads((REFS / "VERSIONS.json").read_text(encoding="utf-8"))
    for k in VERSION_KEYS:
        assert isinstance(v.get(k), str) and v[k], k


@pytest.mark.parametrize("path", CASES, ids=_id)
def test_case_file(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    assert case["id"] == path.stem
    assert isinstance(case.get("r_call"), str) and case["r_call"]
    data = path.parent.parent / "data" / case["data"]
    assert data.is_file(), f"{path.name} names {case['data']}, not in {data.parent}"
    assert data.with_name(data.stem + ".levels.json").is_file()
    versions = case.get("versions")
    assert isinstance(versions, dict), "no versions field"
    expected = json.loads((REFS / "VERSIONS.json").read_text(encoding="utf-8"))
    for k in VERSION_KEYS:
        assert versions.get(k) == expected[k], k


def _r_with_lme4() -> bool:
    """Rscript with the packages tests/r/corpus_extra.R needs."""
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "for (p in c('lme4', 'arm', 'lmerTest', 'pbkrtest', "
                            "'jsonlite', 'nlme')) library(p, character.only = TRUE)"],
                           capture_output=True, text=True, timeout=120)
    return probe.returncode == 0


@pytest.mark.skipif(not _r_with_lme4(),
                    reason="Rscript with lme4, arm, lmerTest, pbkrtest, jsonlite, nlme not installed")
def test_make_refs_check():
    """R itself regenerates the extra corpus and finds the committed files unchanged
    (the whole check: Rscript tests/r/make_refs.R --check, about 40 s)."""
    proc = subprocess.run(
        ["Rscript", str(ROOT / "tests" / "r" / "make_refs.R"), "--check", "--only", "extra"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("compare_refs")]
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert summary and summary[-1].endswith("OK"), proc.stdout[-2000:]
