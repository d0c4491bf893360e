"""Messy data (issue #17): every input fits the model R fits on the same data, or raises a
named mlm_wrap error that says what is wrong; nothing from numpy/pandas/scipy/statsmodels
reaches the user raw.  R's numbers come from tests/r/baddata_refs.R (tests/r/refs/baddata/).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.errors import DataError
from mlm_wrap.spec.design import drop_rank_deficient

from rref import TOL, relerr

REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "baddata"
F = "y ~ x + (1 | g)"


def ref(name: str) -> dict:
    return json.loads((REFS / f"{name}.json").read_text())


def base() -> pd.DataFrame:
    d = pd.read_csv(REFS / "base.csv")
    d["g"] = [f"g{i:02d}" for i in d["gi"]]
    return d


def only_mlm_wrap_warnings(record) -> None:
    raw = [w for w in record if not w.category.__module__.startswith("mlm_wrap")]
    assert not raw, [f"{w.category.__name__}: {w.message}" for w in raw]


def fit(formula, data, **kw):
    """A fit that lets mlm_wrap's own warnings through and fails on any other."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            return mw.lmer(formula, data=data, **kw)
        finally:
            only_mlm_wrap_warnings(rec)


def same_fit(m, r: dict, rel: float = 1.0) -> None:
    assert list(mw.fixef(m).index) == list(r["fixef"])
    assert relerr(mw.fixef(m), list(r["fixef"].values())) < TOL["fixef"] * rel
    assert relerr(m.theta, r["theta"]) < 1e-3 * rel
    assert relerr(mw.sigma(m), r["sigma"]) < TOL["sigma"] * rel
    assert abs(float(mw.logLik(m)) - r["logLik"]) < TOL["loglik_abs"] * rel
    assert mw.nobs(m) == r["nobs"]


# ------------------------------------------------------------------ extreme scales
def test_predictor_scaled_1e300_is_refused_by_name_not_dropped():
    d = base().assign(x=lambda t: t.x * 1e300)
    with pytest.raises(DataError, match=r"fixed-effects column 'x' is too large"):
        fit(F, d)


@pytest.mark.parametrize("scale", [1e-300, 1e-200])
def test_predictor_scaled_tiny_is_refused_by_name(scale):
    d = base().assign(x=lambda t: t.x * scale)
    with pytest.raises(DataError, match=r"'x' is too small"):
        fit(F, d)


def test_predictor_scaled_1e100_fits_as_lme4():
    d = base().assign(x=lambda t: t.x * 1e100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mw.MixedModelMessage)  # lme4's scale warning
        m = fit(F, d)
    same_fit(m, ref("x_1e100"))


def test_rank_check_survives_extreme_column_scales():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    X = np.column_stack([np.ones(50), x * 1e300, rng.normal(size=50) * 1e-300, x * 2e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in the norms or the QR
        assert drop_rank_deficient(X, ["a", "b", "c", "d"]) == [0, 1, 2]


@pytest.mark.parametrize("scale", [1e200, 1e300, 1e-300])
def test_response_at_extreme_scales_is_refused_by_name(scale):
    """lme4 returns sigma = Inf (or 0) here; mlm_wrap says what is wrong instead of
    numpy's LinAlgError."""
    d = base().assign(y=lambda t: t.y * scale)
    with pytest.raises(DataError, match=r"the response 'y' is too (large|small)"):
        fit(F, d)


# ------------------------------------------------------------------ mixed-type groups
MIXED = [1, "a", 2.5, True, None, 0, False, "b", 1.0, np.nan, 3, "1"]


def test_mixed_type_grouping_column_is_rs_factor_of_as_character():
    """1, 1.0 and "1" are R's one level "1"; True is "TRUE" (never merged with 1); only
    None/NaN are missing: 100 rows, 8 levels, the fit R makes."""
    d = base()
    d["g"] = pd.Series([MIXED[i] for i in d["gi"]], dtype=object)
    m = fit(F, d)
    r = ref("mixed_groups")
    same_fit(m, r)
    assert mw.ngrps(m) == r["ngrps"]
    re = mw.ranef(m)["g"].iloc[:, 0]
    assert sorted(re.index) == sorted(r["levels"])
    want = dict(zip(r["levels"], r["ranef"]))
    assert relerr(re.values, [want[k] for k in re.index]) < 2e-3


# ------------------------------------------------------------------ complex values
@pytest.mark.parametrize("col", ["y", "x"])
def test_complex_values_are_refused_by_name(col):
    d = base()
    d[col] = d[col] + 1j
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy ComplexWarning
        with pytest.raises(DataError, match=f"column '{col}' is complex-valued"):
            mw.lmer(F, data=d)


# ------------------------------------------------------------------ duplicated labels + NA
def test_duplicated_row_labels_with_na_rows():
    d = base()
    d.index = [i % 30 for i in range(len(d))]  # every label four times
    d.iloc[[5, 35, 50, 77], d.columns.get_loc("y")] = np.nan
    d.iloc[11, d.columns.get_loc("x")] = np.nan
    r = ref("na_exclude")
    m = fit(F, d, na_action="na.exclude")
    same_fit(m, r)
    omitted = mw.na_action(m)
    assert list(omitted) == [5, 11, 5, 20, 17]  # one label per dropped row (positions 5, 11, 35, 50, 77)
    for values, want in ((mw.fitted(m), r["fitted_excl"]), (mw.residuals(m), r["resid_excl"])):
        assert len(values) == len(d) and list(values.index) == list(d.index)
        got = np.asarray(values, float)
        assert list(np.flatnonzero(np.isnan(got)) + 1) == r["na_positions"]
        keep = ~np.isnan(got)
        assert relerr(got[keep], np.asarray(want, float)[keep]) < 1e-4
    m2 = fit(F, d)  # na.omit: the kept rows, labels as given
    assert len(mw.fitted(m2)) == 115 and list(mw.na_action(m2)) == [5, 11, 5, 20, 17]


def test_multiindex_rows_with_na():
    d = base()
    d.index = pd.MultiIndex.from_arrays([d["gi"], np.arange(len(d)) % 10], names=["a", "b"])
    d.iloc[3, 0] = np.nan
    m = fit(F, d, na_action="na.exclude")
    assert list(mw.na_action(m)) == [(0, 3)]
    assert np.isnan(mw.fitted(m).iloc[3]) and mw.fitted(m).index.equals(d.index)


# ------------------------------------------------------------------ a:b from pairs
def _pairs_data() -> tuple[pd.DataFrame, list, list]:
    d = base()
    k = d["gi"] % 6
    a = np.array(["x:y", "x", "x:y", "x", "p", "p:q"])[k]
    b = np.array(["z", "y:z", "w", "y:w", "q:r", "r"])[k]
    d["a"], d["b"] = a, b
    d["y"] = d["y"] + np.array([5, -5, 2, -2, 4, -4])[k]
    return d, a, b


def test_interaction_levels_are_pairs_never_merged():
    """("x:y", "z") and ("x", "y:z") both print as x:y:z (R's labels) but are two levels;
    lme4 merges them (its labels are joined strings), the reference is R's fit with one
    level per distinct pair."""
    d, a, b = _pairs_data()
    m = fit("y ~ x + (1 | a:b)", d)
    r = ref("pairs")
    same_fit(m, r)
    assert mw.ngrps(m) == {"a:b": 6}
    f = m.design.terms[0].factor
    assert f.levels.count("x:y:z") == 2 and f.levels.count("p:q:r") == 2
    want = dict(zip(zip(r["pair_a"], r["pair_b"]), r["ranef"]))
    got = mw.ranef(m)["a:b"].iloc[:, 0].values
    assert relerr(got, [want[k] for k in f.keys]) < 2e-3
    np.testing.assert_allclose(mw.predict(m, newdata=d), mw.fitted(m), rtol=1e-12)


# ------------------------------------------------------------------ printing, attrs
@pytest.mark.parametrize("name", [12345, None, ("a", 1), 3.5])
def test_non_string_attrs_name_does_not_break_printing(name):
    d = base()
    d.attrs["name"] = name
    m = fit(F, d)
    text = str(mw.summary(m))
    assert "Formula: y ~ x + (1 | g)" in text and "Data:" not in text
    assert str(m)


def test_string_attrs_name_is_the_data_line():
    d = base()
    d.attrs["name"] = "mydata"
    assert "   Data: mydata" in str(mw.summary(fit(F, d)))


# ------------------------------------------------------------------ predict, NA groups
def test_predict_with_missing_grouping_value_as_lme4():
    d = base()
    m = fit(F, d)
    nd = d.iloc[:4].copy()
    nd.iloc[1, nd.columns.get_loc("g")] = None
    with pytest.raises(DataError, match="NAs are not allowed in prediction data"):
        mw.predict(m, newdata=nd)
    p = mw.predict(m, newdata=nd, allow_new_levels=True)
    pop = mw.predict(m, newdata=nd, re_form="~0")
    assert p.iloc[1] == pytest.approx(pop.iloc[1])


# ------------------------------------------------------------------ no raw warnings
def _variants():
    d = base()
    out = {}
    v = d.copy()
    v["g"] = pd.Categorical(v["g"], categories=sorted(set(v["g"])) + ["unused", "also unused"])
    out["categorical, unused levels"] = v
    v = d.copy()
    v["g"] = v["g"].astype("string")
    out["string dtype"] = v
    v = d.copy()
    v["gi"] = v["gi"].astype("Int64")
    v.loc[3, "gi"] = pd.NA
    out["nullable Int64 group"] = v.assign(g=v["gi"])
    v = d.copy()
    v["x"] = v["x"].astype("Float64")
    v.loc[4, "x"] = pd.NA
    out["nullable Float64"] = v
    v = d.copy()
    v["g"] = pd.Series(v["gi"] % 2 == 0, dtype="boolean")
    v.loc[5, "g"] = pd.NA
    out["nullable boolean group"] = v
    v = d.copy()
    v["g"] = pd.Categorical(v["g"])
    v.iloc[2, v.columns.get_loc("g")] = np.nan
    out["categorical with NaN"] = v
    v = d.copy()
    v["g"] = ["é :" + str(i) + " ü" for i in v["gi"]]
    out["unicode, ':' and spaces"] = v
    try:
        import pyarrow  # noqa: F401
        v = d.copy()
        v["g"] = v["g"].astype("string[pyarrow]")
        v["x"] = v["x"].astype("double[pyarrow]")
        out["arrow"] = v
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("name", list(_variants()))
def test_no_raw_warning_reaches_the_user(name):
    d = _variants()[name]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = mw.lmer(F, data=d, na_action="na.exclude")
        str(mw.summary(m)), mw.ranef(m), mw.fitted(m), mw.na_action(m), mw.VarCorr(m)
        mw.predict(m, newdata=d.dropna(subset=["y", "x", "g"]))
        mw.simulate(m, 2, seed=1)
    only_mlm_wrap_warnings(rec)


def test_toolbox_with_duplicated_row_labels_and_na_exclude():
    """augment, hatvalues, cooks_distance and influence place rows by position: the same
    numbers as for the same frame with unique row labels."""
    d = base()
    d.iloc[[5, 35], d.columns.get_loc("y")] = np.nan
    dup = d.set_axis([i % 30 for i in range(len(d))])
    for na in ("na.omit", "na.exclude"):
        m, u = fit(F, dup, na_action=na), fit(F, d, na_action=na)
        a, b = mw.augment(m), mw.augment(u)
        for col in (".fitted", ".resid", ".hat", ".cooksd", ".fixed"):
            np.testing.assert_allclose(np.asarray(a[col], float), np.asarray(b[col], float))
        np.testing.assert_allclose(np.asarray(mw.cooks_distance(m), float),
                                   np.asarray(mw.cooks_distance(u), float))
    inf_m = mw.influence(fit(F, dup), groups="g")
    inf_u = mw.influence(fit(F, d), groups="g")
    np.testing.assert_allclose(np.asarray(inf_m["fixed.effects[-g]"], float),
                               np.asarray(inf_u["fixed.effects[-g]"], float))


def test_lmlist_and_emmeans_with_mixed_types_and_unused_levels():
    """lmList groups by R's factor(as.character(x)) (mixed types sorted as R's strings, not
    a TypeError); an unused category is not a level of the model frame (emmeans' grid)."""
    d = base()
    d["gm"] = pd.Series([MIXED[i] for i in d["gi"]], dtype=object)
    d["f2"] = pd.Categorical(np.array(["a b", "c:d", "é"])[d["gi"] % 3],
                             categories=["é", "a b", "c:d", "unused"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mw.SingularFitWarning)
        ll = mw.lmList("y ~ x | gm", data=d)
    assert sorted(mw.coef(ll).index) == sorted(ref("mixed_groups")["levels"])
    m = fit("y ~ x + f2 + (1 | g)", d)
    assert list(m.design.frame["f2"].cat.categories) == ["é", "a b", "c:d"]
    em = mw.emmeans(m, "f2")
    assert list(em["f2"]) == ["é", "a b", "c:d"]
