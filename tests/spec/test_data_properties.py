"""Property-based tests over generated data frames (issue #17, hypothesis).

Random NA patterns, dtypes (nullable Int64/Float64/boolean, Arrow-backed, categorical with
unused levels, object columns mixing Python types), level names with ':', spaces and
unicode, duplicated / MultiIndex / string row labels.  Each attempt either equals the fit
on the frame cleaned with plain pandas (``dropna`` on the model's columns, plain float and
string columns, labels in R's character form) or raises a named mlm_wrap error (only where
the cleaned frame is refused too); no raw warning escapes; the input frame is never
modified.  Derandomized, so the examples are the same on every run.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

hyp = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mlm_wrap as mw  # noqa: E402
from mlm_wrap import errors  # noqa: E402

F = "y ~ x + (1 | g)"
MLM_ERRORS = (errors.DataError, errors.ModelError, errors.FormulaError)
SETTINGS = settings(derandomize=True, max_examples=35, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

LABEL = st.text(alphabet=list("ab :,.éü字_-1"), min_size=1, max_size=5)
G_KINDS = ["object", "category_unused", "string", "arrow", "int64_nullable", "object_mix",
           "boolean_nullable"]
XY_KINDS = ["float", "Float64", "arrow", "Int64"]
INDEX_KINDS = ["range", "duplicated", "multi", "strings"]


def r_char(v) -> str:
    """R's as.character of the values the generator puts in an object column."""
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    return str(v)


@st.composite
def frames(draw):
    k = draw(st.integers(3, 6))
    per = draw(st.integers(4, 7))
    labels = draw(st.lists(LABEL, min_size=k, max_size=k, unique=True))
    seed = draw(st.integers(0, 2 ** 16))
    gkind, xkind, ykind = draw(st.sampled_from(G_KINDS)), draw(st.sampled_from(XY_KINDS)), \
        draw(st.sampled_from(["float", "Float64", "arrow"]))
    ikind = draw(st.sampled_from(INDEX_KINDS))
    na_p = draw(st.sampled_from([0.0, 0.05, 0.15]))
    rng = np.random.default_rng(seed)
    n = k * per
    gi = np.repeat(np.arange(k), per)
    x = rng.normal(size=n).round(3)
    y = 1 + 0.5 * x + rng.normal(size=k)[gi] + rng.normal(scale=0.7, size=n)
    na = {c: rng.random(n) < na_p for c in ("y", "x", "g")}
    # the group values and R's character form of each
    if gkind == "object_mix":
        pool = [labels[0], 1, True, labels[1], 2, False] + labels[2:]
        gvals = [pool[i] for i in gi]
    elif gkind == "boolean_nullable":
        gvals = [bool(i % 2) for i in gi]
    elif gkind == "int64_nullable":
        gvals = [int(i) * 7 - 3 for i in gi]
    else:
        gvals = [labels[i] for i in gi]
    rg = [None if na["g"][i] else r_char(v) for i, v in enumerate(gvals)]
    clean = pd.DataFrame({"y": np.where(na["y"], np.nan, y), "x": np.where(na["x"], np.nan, x),
                          "g": pd.Series(rg, dtype=object)})
    # the messy frame
    g = pd.Series([None if na["g"][i] else v for i, v in enumerate(gvals)], dtype=object)
    if gkind == "category_unused":
        g = pd.Series(pd.Categorical(g, categories=labels + ["never used", "x:y z"]))
    elif gkind == "string":
        g = g.astype("string")
    elif gkind == "arrow":
        g = g.astype("string[pyarrow]") if _arrow() else g
    elif gkind == "int64_nullable":
        g = g.astype("Int64")
    elif gkind == "boolean_nullable":
        g = g.astype("boolean")
    df = pd.DataFrame({"y": _numeric(clean["y"], ykind), "x": _numeric(clean["x"], xkind),
                       "g": g,
                       # columns the model does not use: their NAs never drop a row
                       "other": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
                       "when": pd.to_datetime(np.where(rng.random(n) < 0.3, None,
                                                       "2024-01-02"))})
    if xkind == "Int64":  # whole numbers: the clean frame holds the same values
        clean["x"] = df["x"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    df.index = _index(ikind, n)
    return df, clean, (gkind, xkind, ykind, ikind)


def _arrow() -> bool:
    try:
        import pyarrow  # noqa: F401
        return True
    except ImportError:
        return False


def _numeric(s: pd.Series, kind: str) -> pd.Series:
    if kind == "Float64":
        return s.astype("Float64")
    if kind == "arrow" and _arrow():
        return s.astype("double[pyarrow]")
    if kind == "Int64":
        return (s * 10).round().astype("Int64")
    return s


def _index(kind: str, n: int) -> pd.Index:
    if kind == "duplicated":
        return pd.Index([i % 5 for i in range(n)])
    if kind == "multi":
        return pd.MultiIndex.from_arrays([np.arange(n) // 4, np.arange(n) % 4], names=["u", "v"])
    if kind == "strings":
        return pd.Index([f"row {i}" for i in range(n)])
    return pd.RangeIndex(n)


def _fit(data):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out = mw.lmer(F, data=data)
        except MLM_ERRORS as e:
            out = e
    raw = [f"{w.category.__name__}: {w.message}" for w in rec
           if not w.category.__module__.startswith("mlm_wrap")]
    assert not raw, raw
    return out


def _summary(m) -> dict:
    return {"fixef": np.asarray(mw.fixef(m)), "theta": np.asarray(m.theta),
            "sigma": mw.sigma(m), "loglik": float(mw.logLik(m)), "nobs": mw.nobs(m),
            "fitted": np.asarray(mw.fitted(m)), "ngrps": list(mw.ngrps(m).values())}


@SETTINGS
@given(frames())
def test_messy_frame_fits_as_its_cleaned_copy_or_is_refused_by_name(case):
    df, clean, kinds = case
    before = df.copy(deep=True)
    attrs = dict(df.attrs)
    got = _fit(df)
    pd.testing.assert_frame_equal(df, before)  # the input is never modified
    assert df.index.equals(before.index) and df.attrs == attrs
    want = _fit(clean.dropna(subset=["y", "x", "g"]).reset_index(drop=True))
    if isinstance(want, Exception):
        assert isinstance(got, MLM_ERRORS), (kinds, want, got)
        return
    assert not isinstance(got, Exception), (kinds, got)
    a, b = _summary(got), _summary(want)
    assert a["nobs"] == b["nobs"] and a["ngrps"] == b["ngrps"], kinds
    for k in ("fixef", "theta", "fitted"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6 * max(1, np.abs(b[k]).max()),
                                   err_msg=f"{k} {kinds}")
    assert a["sigma"] == pytest.approx(b["sigma"], rel=1e-5)
    assert a["loglik"] == pytest.approx(b["loglik"], abs=1e-5)
    # the dropped rows are reported: one label per dropped row
    assert len(mw.na_action(got)) == len(df) - a["nobs"]


@SETTINGS
@given(frames())
def test_na_exclude_pads_in_the_input_row_order(case):
    df, clean, kinds = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mw.SingularFitWarning)
        warnings.simplefilter("ignore", mw.ConvergenceWarning)
        try:
            m = mw.lmer(F, data=df, na_action="na.exclude")
        except MLM_ERRORS:
            return
    fv = mw.fitted(m)
    assert fv.index.equals(df.index)
    dropped = clean[["y", "x", "g"]].isna().any(axis=1).to_numpy()
    assert np.array_equal(np.isnan(fv.to_numpy(dtype=float)), dropped), kinds
    r = mw.residuals(m).to_numpy(dtype=float)
    y = clean["y"].to_numpy(dtype=float)
    np.testing.assert_allclose(r[~dropped], (y - fv.to_numpy(dtype=float))[~dropped], atol=1e-8)


@SETTINGS
@given(frames(), st.sampled_from(["x", "g"]))
def test_datetime_columns_in_the_model_are_refused_by_name(case, col):
    """A datetime predictor or grouping factor: a named error (R would use its numbers)."""
    df, _, _ = case
    before = df.copy(deep=True)
    with pytest.raises(errors.DataError, match=f"column '{col}'"):
        mw.lmer(F, data=df.assign(**{col: df["when"]}))
    pd.testing.assert_frame_equal(df, before)


@st.composite
def pair_frames(draw):
    """Two grouping columns whose values contain ':' so that joined labels can collide."""
    parts = st.sampled_from(["x", "y", "x:y", "y:z", "z", "x:y:z", "é :"])
    k = draw(st.integers(3, 6))
    pairs = draw(st.lists(st.tuples(parts, parts), min_size=k, max_size=k, unique=True))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    per = 6
    gi = np.repeat(np.arange(k), per)
    x = rng.normal(size=k * per)
    y = 0.5 * x + rng.normal(scale=2, size=k)[gi] + rng.normal(scale=0.5, size=k * per)
    return pd.DataFrame({"y": y, "x": x, "a": [pairs[i][0] for i in gi],
                         "b": [pairs[i][1] for i in gi]}), pairs


@SETTINGS
@given(pair_frames())
def test_interaction_groups_are_pairs(case):
    """(1 | a:b) has one level per distinct (a, b) pair even when the joined labels collide
    ("x:y" + "z" and "x" + "y:z"); predict(newdata=data) equals fitted(m)."""
    df, pairs = case
    m = _fit_formula("y ~ x + (1 | a:b)", df)
    if isinstance(m, Exception):
        return
    assert mw.ngrps(m) == {"a:b": len(pairs)}
    np.testing.assert_allclose(mw.predict(m, newdata=df), mw.fitted(m), rtol=1e-10, atol=1e-10)
    ref = _fit_formula("y ~ x + (1 | ab)", df.assign(ab=[f"{a}\r{b}" for a, b in zip(df.a, df.b)]))
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mw.fixef(m), mw.fixef(ref), rtol=1e-6, atol=1e-8)


def _fit_formula(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mw.SingularFitWarning)
        try:
            return mw.lmer(formula, data=data)
        except MLM_ERRORS as e:
            return e
