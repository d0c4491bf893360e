"""R's data-dependent formula functions (mlm_wrap.spec.transforms) against R's own values.

The expected numbers, knots, breaks and level labels are R 4.2's, read from
tests/r/refs/transforms/transforms.json, which tests/r/transforms_refs.R writes (never typed
in here): each expression on a fixed data set, the parameters R keeps for new data
(poly's coefs, scale's centre and scale, ns/bs's knots, cut's breaks), and the value of
R's predvars on new data with values outside the fit's range, at its boundaries and NA.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlm_wrap.spec.transforms  # noqa: F401  (registers the functions)
from mlm_wrap.errors import DataError, FormulaError
from mlm_wrap.spec.evaluate import Evaluator, check_allowed
from mlm_wrap.spec.r_parser import _parse
from mlm_wrap.spec.rfunctions import FUNCTIONS
from mlm_wrap.spec.rvalues import Fct, Num

REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "transforms" / "transforms.json"
R = json.loads(REFS.read_text(encoding="utf-8"))
RTOL = 1e-10
ATOL = 0.0  # R's zeros are exact zeros here too

CASES = {c["expr"]: c for c in R["cases"]}
# cut() keeps nothing for new data (R has no makepredictcall for it): see test_cut_recomputes
PREDICTED = [c["expr"] for c in R["cases"] if "predict" in c and not c["expr"].startswith("cut(")]
STATEFUL = ("poly", "scale", "ns", "bs")


def _frame(j: dict) -> pd.DataFrame:
    cols = {}
    for name, vals in j["columns"].items():
        if name in j["factors"]:
            cols[name] = pd.Categorical(vals, categories=j["factors"][name])
        else:
            cols[name] = np.array([np.nan if v is None else v for v in vals], float)
    return pd.DataFrame(cols)


DATA = _frame(R["data"])
NEWDATA = _frame(R["newdata"])


def _eval(expr: str, data: pd.DataFrame, state: dict | None = None,
          predicting: bool = False):
    """Evaluate ``expr`` as the model frame does; returns (value, state, R-style warnings)."""
    node = _parse(expr)
    check_allowed(node, expr)
    state = {} if state is None else state
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = Evaluator(data, state, predicting, expr).eval(node)
    msgs = [re.sub(r"^In .* : ", "", str(w.message)) for w in caught]
    return value, state, msgs


def _fit(expr: str):
    return _eval(expr, DATA)


def _num(vals) -> np.ndarray:
    if vals and isinstance(vals[0], list):
        return np.array([[np.nan if v is None else v for v in row] for row in vals], float)
    return np.array([np.nan if v is None else v for v in vals], float)


def _check_value(got, ref: dict, names_from_expressions: bool = False) -> None:
    if ref["kind"] == "factor":
        assert isinstance(got, Fct)
        assert got.levels == ref["levels"]
        assert got.labels().tolist() == ref["labels"]
        assert got.ordered == ref["ordered"]
        return
    assert isinstance(got, Num)
    want = _num(ref["values"])
    if ref["kind"] == "matrix":
        assert got.is_matrix and got.values.shape == want.shape
        if ref.get("colnames") is not None and not names_from_expressions:
            assert got.colnames == ref["colnames"]
    else:
        assert not got.is_matrix
    np.testing.assert_allclose(got.values, want, rtol=RTOL, atol=ATOL, equal_nan=True)


def _saved(state: dict, expr: str) -> dict:
    assert len(state) == 1, state
    return next(iter(state.values()))


# ------------------------------------------------------------------------ against R
@pytest.mark.parametrize("expr", list(CASES))
def test_value_on_the_fit_data_is_rs(expr):
    got, _, msgs = _fit(expr)
    # cbind(s, s2): R names the columns after the argument expressions, which the evaluator
    # does not pass to the function (RCall has only their values): no names here
    _check_value(got, CASES[expr]["fit"], names_from_expressions=expr.startswith("cbind"))
    assert sorted(set(msgs)) == sorted(CASES[expr]["warnings"])


@pytest.mark.parametrize("expr", PREDICTED)
def test_saved_parameters_are_rs(expr):
    case = CASES[expr]
    _, state, _ = _fit(expr)
    saved = _saved(state, expr)
    want = case["state"]
    if "coefs" in want:
        for k in ("alpha", "norm2"):
            np.testing.assert_allclose(saved["coefs"][k], want["coefs"][k], rtol=RTOL)
    if expr.startswith("scale"):
        for k in ("center", "scale"):
            if k in want:
                np.testing.assert_allclose(saved[k], want[k], rtol=RTOL)
            else:
                assert saved[k] is None
    if "Boundary.knots" in want:
        np.testing.assert_allclose(saved["knots"], want["knots"], rtol=RTOL)
        np.testing.assert_allclose(saved["Boundary.knots"], want["Boundary.knots"], rtol=RTOL)
        assert saved["intercept"] == want["intercept"]
        if expr.startswith("bs"):
            assert saved["degree"] == want["degree"]
    if "breaks" in want:
        np.testing.assert_allclose(saved["breaks"], want["breaks"], rtol=RTOL)


@pytest.mark.parametrize("expr", PREDICTED)
def test_value_on_new_data_is_rs_predvars(expr):
    """New data (outside the fit's range, at its boundaries, NA) with the fit's saved
    parameters: R's predvars (makepredictcall), evaluated on the new data."""
    case = CASES[expr]
    _, state, _ = _fit(expr)
    got, _, msgs = _eval(expr, NEWDATA, state, predicting=True)
    _check_value(got, case["predict"])
    assert sorted(set(msgs)) == sorted(case["predict_warnings"])


# messages R gives that are not about the user's input
R_MESSAGE_NOT_KEPT = {"ns(f1, 2)": "needs numbers",      # R: non-numeric argument to ...
                      "ns(x, knots = 5)": "cannot build"}  # R: NA/NaN/Inf in foreign ...


@pytest.mark.parametrize("case", R["errors"], ids=[e["expr"] for e in R["errors"]])
def test_what_r_refuses_is_a_data_error(case):
    expr = case["expr"]
    with pytest.raises(DataError) as info:
        _fit(expr)
    msg = str(info.value)
    assert expr in msg
    if expr not in R_MESSAGE_NOT_KEPT:
        assert case["message"] in msg
    else:
        assert R_MESSAGE_NOT_KEPT[expr] in msg


# ------------------------------------------------------------------------ saved state
@pytest.mark.parametrize("expr", PREDICTED)
def test_new_data_uses_the_fits_parameters(expr):
    """Rows of the fit's data given again as new data get the fit's values, whatever the
    other rows are (a poly()/ns()/cut() recomputed from 5 rows would differ)."""
    fit, state, _ = _fit(expr)
    rows = np.array([0, 5, 9, 13, 20])
    got, _, _ = _eval(expr, DATA.iloc[rows].reset_index(drop=True), state, predicting=True)
    if isinstance(fit, Fct):
        assert got.levels == fit.levels
        assert got.labels().tolist() == fit.labels()[rows].tolist()
    else:
        np.testing.assert_allclose(got.values, fit.values[rows], rtol=1e-12, atol=1e-14,
                                   equal_nan=True)


@pytest.mark.parametrize("expr", ["poly(x, 3)", "scale(x)", "ns(x, df = 4)", "bs(x, df = 5)"])
def test_recomputing_on_the_new_rows_would_differ(expr):
    """The check above is not vacuous: evaluated afresh on the 5 rows, the values differ."""
    fit, _, _ = _fit(expr)
    rows = np.array([0, 5, 9, 13, 20])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh, _, _ = _eval(expr, DATA.iloc[rows].reset_index(drop=True))
    if isinstance(fit, Fct):
        assert fresh.levels != fit.levels
    else:
        assert not np.allclose(fresh.values, fit.values[rows])


def test_saved_parameters_are_plain_json():
    for expr in PREDICTED:
        _, state, _ = _fit(expr)
        json.dumps(state)


@pytest.mark.parametrize("expr", ["poly(x, 2)", "scale(x)", "ns(x, 3)", "bs(x, 4)"])
def test_new_data_without_saved_parameters_is_refused(expr):
    with pytest.raises(DataError, match="none were saved"):
        _eval(expr, NEWDATA, {}, predicting=True)


def test_raw_poly_and_given_breaks_need_no_state():
    got, _, _ = _eval("poly(x, 2, raw = TRUE)", NEWDATA, {}, predicting=True)
    np.testing.assert_allclose(got.values[:, 1], NEWDATA["x"].to_numpy() ** 2, equal_nan=True)
    got, _, _ = _eval("cut(z, c(0, 50, 100))", NEWDATA, {}, predicting=True)
    assert got.levels == ["(0,50]", "(50,100]"]


def test_cut_recomputes_on_new_data_as_r_does():
    """R's predict() evaluates cut(z, 3) again on the new data (no makepredictcall for
    cut), so its intervals are the new data's; the model matrix then refuses them as new
    levels (tests/test_model_matrix.py: mm_cut_3)."""
    fit, state, _ = _fit("cut(z, 3)")
    got, _, _ = _eval("cut(z, 3)", pd.DataFrame({"z": [30.0, 31.0, 40.0]}), state, predicting=True)
    fresh, _, _ = _eval("cut(z, 3)", pd.DataFrame({"z": [30.0, 31.0, 40.0]}))
    assert got.levels == fresh.levels != fit.levels


def test_stateful_functions_are_registered_as_such():
    for name in STATEFUL:
        assert FUNCTIONS[name].stateful, name
    for name in ("interaction", "offset", "cbind"):
        assert not FUNCTIONS[name].stateful, name


# ------------------------------------------------------------------------ shapes and names
def test_column_names():
    assert _fit("poly(x, 3)")[0].colnames == ["1", "2", "3"]
    assert _fit("ns(x, df = 4)")[0].colnames == ["1", "2", "3", "4"]
    assert _fit("bs(x)")[0].colnames == ["1", "2", "3"]
    sc = _fit("scale(x)")[0]
    assert sc.is_matrix and sc.values.shape == (len(DATA), 1) and sc.colnames is None
    assert _fit("cbind(s, s2)")[0].colnames is None
    named = _fit("cbind(succ = s, fail = s2)")[0]
    assert named.colnames == ["succ", "fail"]
    np.testing.assert_array_equal(named.values[:, 0], DATA["s"])


def test_namespaced_calls_are_the_same_functions():
    a = _fit("splines::ns(x, df = 3)")[0].values
    b = _fit("ns(x, df = 3)")[0].values
    np.testing.assert_array_equal(a, b)


def test_scale_of_a_matrix_is_columnwise():
    got = _fit("scale(poly(x, 2, raw = TRUE))")[0]
    assert got.colnames == ["1", "2"]
    np.testing.assert_allclose(np.nanmean(got.values, axis=0), 0, atol=1e-14)
    np.testing.assert_allclose(np.std(got.values, axis=0, ddof=1), 1, rtol=1e-12)


def test_offset_is_the_numbers():
    """offset() is registered by mlm_wrap.spec.rfunctions; its value is checked here."""
    got = _fit("offset(log(z))")[0]
    np.testing.assert_allclose(got.values, np.log(DATA["z"]))


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("expr, error, match", [
    ("poly(x, z)", FormulaError, "polym"),
    ("poly(x, 2, coefs = 1)", FormulaError, "coefs"),
    ("poly(f1, 2)", DataError, "factor"),    # R would use the factor's codes
    ("poly(x, 2.5)", DataError, "whole number"),
    ("poly(x, \"a\")", FormulaError, "polym"),
    ("ns(x, df = 2.5)", DataError, "whole number"),
    ("ns(x, foo = 3)", FormulaError, "unused argument"),
    ("ns(x, knots = f1)", DataError, "'knots' must be numbers"),
    ("ns(x, knots = c(0, 5))", DataError, "cannot build"),
    ("ns(x, Boundary.knots = 1)", DataError, "two finite numbers"),
    ("bs(f2)", DataError, "factor"),
    ("scale(x, center = c(1, 2))", DataError, "length of 'center'"),
    ("scale(x, scale = \"a\")", DataError, "scale"),
    ("cut(x > 0, 2)", DataError, "must be numeric"),
    ("cut(x, \"a\")", DataError, "'breaks' must be numbers"),
    ("cut(x, 3, right = NA)", DataError, "'right'"),
    ("cut(x, 3, labels = c(\"a\", NA, \"c\"))", DataError, "NA"),
    ("interaction()", DataError, "No factors"),
    ("interaction(f1, bad = f2)", FormulaError, "unknown argument"),
    ("interaction(f1, f2, sep = 1)", DataError, "'sep'"),
    ("offset(f1)", DataError, "factor"),
    ("cbind(a = s, s2)", FormulaError, "all arguments named"),
    ("cbind(s, f1 == \"a\", \"b\")", DataError, "character"),
])
def test_bad_input_is_a_named_error(expr, error, match):
    with pytest.raises(error, match=match):
        _fit(expr)


def test_all_missing_x():
    data = pd.DataFrame({"x": [np.nan, np.nan, np.nan]})
    for expr in ("ns(x, 3)", "bs(x)", "cut(x, 2)"):
        with pytest.raises(DataError, match="no non-missing values"):
            _eval(expr, data)
    got, _, _ = _eval("scale(x)", data)
    assert np.isnan(got.values).all()


def test_new_data_all_missing_gives_missing_rows():
    for expr in ("poly(x, 2)", "ns(x, 3)", "bs(x, 4)", "scale(x)"):
        _, state, _ = _fit(expr)
        got, _, _ = _eval(expr, pd.DataFrame({"x": [np.nan, np.nan]}), state, predicting=True)
        assert len(got) == 2 and got.na().all(), expr
