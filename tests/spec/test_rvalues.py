"""spec/rvalues.py: a pandas string column is kept encoded (codes into its sorted distinct
strings) and behaves exactly as the same strings held as Python objects."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.spec.rvalues import Chr, as_factor, from_column


def _pair(values):
    return (from_column(pd.Series(values, dtype="str"), "g"),
            from_column(pd.Series(values, dtype=object), "g"))


def test_encoded_string_column_equals_the_object_one():
    enc, obj = _pair(["b", "a", None, "B", "é", "a", "b"])
    assert enc.encoded() is not None and obj.encoded() is None
    np.testing.assert_array_equal(enc.na(), obj.na())
    assert list(enc.values) == list(obj.values)
    fe, fo = as_factor(enc), as_factor(obj)
    assert fe.levels == fo.levels == ["B", "a", "b", "é"]  # R's sort() in the C locale
    np.testing.assert_array_equal(fe.codes, fo.codes)


def test_subset_drops_levels_no_row_uses():
    enc, obj = _pair(["c", "a", "b", None, "a"])
    rows = np.array([0, 3, 4])
    fe, fo = as_factor(enc.take(rows)), as_factor(obj.take(rows))
    assert fe.levels == fo.levels == ["a", "c"]
    np.testing.assert_array_equal(fe.codes, fo.codes)
    assert isinstance(enc.take(rows), Chr) and len(enc.take(rows)) == 3


@pytest.mark.parametrize("dtype", ["str", object])
def test_fit_with_string_groups_and_na_equals_the_categorical_fit(dtype):
    rng = np.random.default_rng(2)
    n = 400
    g = rng.choice([f"s{i}" for i in range(20)], n).astype(object)
    g[[3, 50]] = None
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "g": g})
    d["y"] += pd.Series(g).map({f"s{i}": v for i, v in enumerate(rng.normal(size=20))}).fillna(0)
    a = mw.lmer("y ~ x + (1 | g)", d.astype({"g": dtype}), subset="x > -1.5")
    b = mw.lmer("y ~ x + (1 | g)", d.astype({"g": pd.CategoricalDtype(sorted(set(g) - {None}))}),
                subset="x > -1.5")
    assert mw.nobs(a) == mw.nobs(b)
    np.testing.assert_allclose(mw.fixef(a), mw.fixef(b), rtol=1e-10)
    assert list(mw.ranef(a)["g"].index) == list(mw.ranef(b)["g"].index)
