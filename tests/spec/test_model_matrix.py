"""R's model.matrix, column for column: every ``mm_*`` case of tests/r/refs/idioms.

Each case is a one-sided formula on R-made data; R's column names, kept rows, values, offset
and the columns it builds for new data (R's predvars and xlevels) were written by
``tests/r/corpus_idioms.R``.  Where R refuses the formula or the new data, mlm_wrap must
raise a named error too.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from conftest import IDIOMS, load_data
from mlm_wrap.errors import DataError, FormulaError
from mlm_wrap.spec.design import formula_matrix

CASES = sorted(p.stem for p in (IDIOMS / "cases").glob("mm_*.json"))


def _case(cid: str) -> dict:
    return json.loads((IDIOMS / "cases" / f"{cid}.json").read_text())


def _data(case: dict):
    d = load_data(case["data"], IDIOMS / "data")
    rows = case.get("data_rows")
    if rows is not None:
        d = d.iloc[np.asarray(rows, int) - 1]
    return d[case["data_columns"]]


def _contrasts(case: dict) -> dict | None:
    arg = case.get("contrasts_arg")
    if not arg:
        return None
    return dict(re.findall(r'(\w+) = "([\w.]+)"', arg))


def _fit(case: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lhs, _, rhs = case["formula"].partition("~")
        return formula_matrix(rhs.strip() or "1", _data(case), contrasts=_contrasts(case),
                              response=lhs.strip() or None)


@pytest.mark.parametrize("cid", CASES)
def test_model_matrix_is_rs(cid):
    case = _case(cid)
    if case["error"]:
        with pytest.raises((DataError, FormulaError)):
            _fit(case)
        return
    fm = _fit(case)
    assert fm.names == case["colnames"]
    data = _data(case)  # R's rows are the data's row names (1-based)
    assert [int(data.index[r]) + 1 for r in fm.rows] == list(np.asarray(case["rows"], int))
    X = np.asarray(case["X"], float).reshape(case["dim"])
    np.testing.assert_allclose(fm.X, X, rtol=1e-10, atol=1e-12)
    if case["offset"] is not None:
        np.testing.assert_allclose(fm.offset, case["offset"], rtol=1e-12)


@pytest.mark.parametrize("cid", [c for c in CASES if _case(c)["newdata_status"] in ("ok", "error")])
def test_new_data_columns_are_rs(cid):
    case = _case(cid)
    fm = _fit(case)
    nd = load_data(case["newdata"], IDIOMS / "data")
    if case["newdata_status"] == "error":
        with pytest.raises((DataError, FormulaError)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fm.new(nd)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xn, rows, off = fm.new(nd)
    assert list(rows + 1) == list(case["newdata_rows"] or [])
    if len(rows):
        np.testing.assert_allclose(Xn, np.asarray(case["newdata_X"], float).reshape(len(rows), -1),
                                   rtol=1e-9, atol=1e-12)
    if case["newdata_offset"] is not None:
        np.testing.assert_allclose(off, case["newdata_offset"], rtol=1e-12)
