"""Model frames and matrices: R's names, levels, missing-value and rank rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlm_wrap.spec.design import (
    build_design,
    drop_rank_deficient,
)
from mlm_wrap.spec.formula import parse_formula


def design(formula, df):
    return build_design(parse_formula(formula), df)


@pytest.fixture
def df():
    rng = np.random.default_rng(1)
    n = 40
    return pd.DataFrame({
        "y": rng.normal(10, 1, n),
        "x": rng.uniform(1, 5, n),
        "period": pd.Categorical(rng.choice(["B", "A", "C"], n), categories=["B", "A", "C"]),
        "s": rng.choice(["u", "v"], n),
        "flag": rng.choice([True, False], n),
        "g": rng.choice(["g1", "g2", "g3", "g4"], n),
        "h": rng.choice([10, 2, 33], n),
    })


def test_factor_names_and_level_order(df):
    d = design("y ~ x * period + s + flag + (1 | g)", df)
    # Categorical keeps its order (B is the reference), strings sort, booleans are FALSE/TRUE
    assert d.xnames == ["(Intercept)", "x", "periodA", "periodC", "sv", "flagTRUE",
                        "x:periodA", "x:periodC"]


def test_functions_of_variables(df):
    d = design("log(y) ~ I(x^2) + log(x) + (1 | g)", df)
    assert d.xnames == ["(Intercept)", "I(x^2)", "log(x)"]
    assert np.allclose(d.y, np.log(df["y"]))
    assert np.allclose(d.X[:, 1], df["x"] ** 2)


def test_missing_rows_dropped_and_counted(df):
    df2 = df.copy()
    df2.loc[[0, 5], "y"] = np.nan
    df2.loc[7, "g"] = None
    before = df2.copy()
    d = design("y ~ x + (1 | g)", df2)
    assert d.n == len(df) - 3 and d.n_na_dropped == 3
    assert list(d.index) == [i for i in df.index if i not in (0, 5, 7)]
    pd.testing.assert_frame_equal(df2, before)  # the caller's frame is untouched


def test_grouping_factor_levels_interaction_and_integers(df):
    d = design("y ~ 1 + (1 | g:s) + (1 | h)", df)
    names = [t.name for t in d.terms]
    assert names == ["g:s", "h"]  # most levels first
    gs = d.terms[0].factor
    assert gs.levels == sorted(gs.levels, key=lambda l: (l.split(":")[0], l.split(":")[1]))
    assert d.terms[1].factor.levels == ["2", "10", "33"]  # integers sort numerically


def test_lme4_term_order_reverses_ties_when_reordering():
    # nl = (2, 3, 2): lme4 orders by rev(order(nl)) -> (3, 2-second, 2-first)
    df = pd.DataFrame({"y": np.arange(12.0), "a": list("ab") * 6, "b": list("abc") * 4,
                       "c": list("xy") * 6})
    d = design("y ~ 1 + (1 | a) + (1 | b) + (1 | c)", df)
    assert [t.name for t in d.terms] == ["b", "c", "a"]


def test_rank_deficient_columns_dropped_with_lme4_message(df):
    df2 = df.assign(x2=2 * df["x"])
    d = design("y ~ x + x2 + (1 | g)", df2)
    assert d.xnames == ["(Intercept)", "x"] and d.dropped_columns == ["x2"]
    assert d.messages == ["fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"]
    X = np.column_stack([np.ones(5), np.arange(5.0), np.arange(5.0) * 3 + 1])
    assert drop_rank_deficient(X, ["a", "b", "c"]) == [0, 1]


def test_variables_inside_stateful_transforms(df):
    """x inside scale()/poly() is a variable of the model frame (its NA rows are dropped)."""
    d = design("y ~ scale(x) + (1 | g)", df)
    assert d.xnames == ["(Intercept)", "scale(x)"] and "x" in d.frame.columns
    d = design("y ~ poly(x, 2) + (1 | g)", df)
    assert d.xnames == ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"]
