"""The R reference files of the idioms corpus (tests/r/refs/idioms) are well formed.

Written by ``Rscript tests/r/make_refs.R --only idioms`` (tests/r/corpus_idioms.R): R's
model.frame / model.matrix answers for the formula language (``mm_*``: one formula each, on
data/idioms.csv, with predictions on data/idioms_new.csv), lmer fits of published models
(``pub_*``, the v2 corpus's case format) and a teaching demo's printout.  No R needed here:
these tests only read the files (``MLM_WRAP_R_CHECK=1 pytest tests/test_r_refs.py`` and
``make_refs.R --check --only idioms`` re-run R).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "tests" / "r" / "refs"
IDIOMS = REFS / "idioms"
CASES = sorted((IDIOMS / "cases").glob("*.json"))
MM = [p for p in CASES if p.stem.startswith("mm_")]
PUB = [p for p in CASES if p.stem.startswith("pub_")]
VERSION_KEYS = ("R", "lme4", "arm", "lmerTest", "pbkrtest", "emmeans", "broom.mixed",
                "performance")
# one case per function / operator the formula language needs (a subset of the corpus)
REQUIRED_MM = (
    "x", "log", "log_base", "log2_log10_log1p", "exp_expm1", "sqrt_abs_sign", "trig",
    "floor_ceiling_round", "pmin_pmax", "factor_k", "as_factor_k", "factor_k_levels",
    "as_numeric_f", "ordered_k", "ordered_o", "relevel", "interaction_fh", "cut_3",
    "cut_breaks", "cut_right_false", "I_square", "I_gt", "I_eq", "I_ne", "I_and", "I_or",
    "I_not", "I_mod", "I_intdiv", "I_in", "poly_x", "poly_raw", "poly_z_gt", "scale",
    "scale_center_only", "scale_no_center", "splines_ns", "ns_df", "ns_knots",
    "ns_intercept", "bs_df", "bs_knots_degree", "C_sum", "C_helmert", "C_poly", "C_SAS",
    "C_treatment", "contrasts_arg_sum", "f_star_h", "f_colon_h", "x_colon_f", "f_colon_x",
    "zero_f", "f_minus_1", "minus1_f_h", "zero_f_colon_x", "f_slash_x", "x_in_f", "power2",
    "star_minus_colon", "dotted_names", "non_ascii", "backtick_space", "logical",
    "interaction_order", "offset", "dot", "dot_minus_x",
)
REQUIRED_PUB = ("exam", "hsb82", "early", "bodyweight", "oxboys", "orthodont",
                "chickweight_subset", "cake", "ham", "idioms")


def _load(p: Path) -> dict:
    return json.loads(p.read_text(encoding="utf-8"))


def _nrows(csv_path: Path) -> int:
    with csv_path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def _header(csv_path: Path) -> list[str]:
    with csv_path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def test_corpus_present():
    assert (IDIOMS / "cases").is_dir() and (IDIOMS / "data").is_dir()
    ids = {p.stem for p in CASES}
    missing = [f"mm_{i}" for i in REQUIRED_MM if f"mm_{i}" not in ids]
    missing += [f"pub_{i}" for i in REQUIRED_PUB if f"pub_{i}" not in ids]
    assert not missing, missing
    assert "demo_faculty_2se" in ids


def test_idioms_data():
    d = IDIOMS / "data"
    header = _header(d / "idioms.csv")
    for col in ("y", "x", "z", "x.dot", "x_1", "v2", "k", "f", "h", "o", "b", "größe",
                "my var", "g", "g2"):
        assert col in header, col
    assert _nrows(d / "idioms.csv") == 40
    assert _header(d / "idioms_new.csv") == header
    assert _nrows(d / "idioms_new.csv") == 5
    levels = _load(d / "idioms.levels.json")
    assert levels["o"] == ["low", "mid", "high"]
    assert len(levels["g"]) == 6 and "g2" in levels
    assert "f" not in levels and "h" not in levels        # character columns
    assert _load(d / "idioms.ordered.json") == ["o"]
    assert _load(d / "idioms_new.levels.json") == levels  # the fit's levels


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_file(path: Path):
    case = _load(path)
    assert case["id"] == path.stem
    assert isinstance(case.get("r_call"), str) and case["r_call"]
    data = IDIOMS / "data" / case["data"]
    assert data.is_file(), f"{path.name} names {case['data']}, not in {data.parent}"
    for suffix in (".levels.json", ".ordered.json"):
        side = data.with_name(data.stem + suffix)
        assert side.is_file(), side.name
        _load(side)
    ordered = _load(data.with_name(data.stem + ".ordered.json"))
    levels = _load(data.with_name(data.stem + ".levels.json"))
    assert isinstance(ordered, list) and all(c in levels for c in ordered)
    versions = case.get("versions")
    assert isinstance(versions, dict), "no versions field"
    expected = _load(REFS / "VERSIONS.json")
    for k in VERSION_KEYS:
        assert versions.get(k) == expected[k], k


@pytest.mark.parametrize("path", MM, ids=lambda p: p.stem)
def test_model_matrix_case(path: Path):
    case = _load(path)
    assert case["kind"] == "model_matrix"
    assert case["formula"].lstrip().startswith(("~", "y ~"))
    assert case["r_call"].startswith("model.matrix(" + case["formula"] + ", data = ")
    n = _nrows(IDIOMS / "data" / case["data"])
    assert all(1 <= r <= n for r in case["data_rows"])
    assert set(case["data_columns"]) <= set(_header(IDIOMS / "data" / case["data"]))
    if case["error"] is not None:                     # R's own error: no matrix
        assert isinstance(case["error"], str) and case["error"]
        assert case["X"] is None and case["colnames"] is None and case["rows"] is None
        assert case["newdata_X"] is None
        return
    X, cols, rows = case["X"], case["colnames"], case["rows"]
    assert case["dim"] == [len(X), len(cols)]
    assert all(len(row) == len(cols) for row in X)
    assert len(rows) == len(X)
    assert all(1 <= r <= n for r in rows) and rows == sorted(set(rows))
    assert set(rows) <= set(case["data_rows"])
    assert len(case["assign"]) == len(cols)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in X for v in row)
    if case["offset"] is not None:
        assert len(case["offset"]) == len(X)
    assert isinstance(case["predvars"], str) and case["predvars"].startswith("list(")
    assert isinstance(case["data_dependent"], bool)
    # prediction on idioms_new.csv
    assert case["newdata_status"] in ("ok", "error")
    if case["newdata_status"] == "error":
        assert case["newdata_X"] is None and case["newdata_error"]
    else:
        nn = _nrows(IDIOMS / "data" / case["newdata"])
        assert case["newdata_error"] is None
        assert all(len(row) == len(cols) for row in case["newdata_X"])
        assert len(case["newdata_rows"]) == len(case["newdata_X"])
        assert all(1 <= r <= nn for r in case["newdata_rows"])


def test_model_matrix_terms():
    """The formula-level answers (terms) are recorded with every formula."""
    for p in MM:
        case = _load(p)
        if case.get("terms_error"):
            continue
        fac = case["factors"]
        assert fac["columns"] == case["term_labels"], p.stem
        assert len(case["order"]) == len(case["term_labels"]), p.stem
        assert case["intercept"] in (0, 1) and case["response"] in (0, 1)


def test_pub_cases_have_the_v2_fields():
    """pub_* cases have every field of the v2 corpus's idiom_* cases, in the same order."""
    ref = _load(REFS / "v2" / "cases" / "idiom_factor.json")
    for p in PUB:
        case = _load(p)
        assert list(case)[:len(ref)] == list(ref), p.stem
        assert case["summary_text"].startswith("Linear mixed model fit by"), p.stem
        for k in ("source_package", "source_package_version", "source", "source_verbatim"):
            assert k in case, (p.stem, k)
        assert len(case["fitted"]) == len(case["fitted_rows"]) == len(case["residuals"])
        n = _nrows(IDIOMS / "data" / case["data"])
        assert all(1 <= int(r) <= n for r in case["predict_rows"])


def test_demo_faculty_2se():
    case = _load(IDIOMS / "cases" / "demo_faculty_2se.json")
    assert "arm::se.ranef(m1)" in case["r_call"]
    lines = case["text"].splitlines()
    assert lines[0].split() == ["estimate", "lower", "upper"]
    assert len(lines) == 6
    assert case["table"]["columns"] == ["estimate", "lower", "upper"]
