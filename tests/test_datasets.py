"""Bundled data sets (R's factor levels, names) and simulate_faculty (the teaching recipe)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlm_wrap.datasets import NAMES, _faculty_from_uniforms, load, simulate_faculty

# R's nrow() and the columns R has (the bundled cbpp also carries prop = incidence / size)
R_SHAPE = {
    "faculty": (100, ["id", "department", "experience", "salary"]),
    "sleepstudy": (180, ["Reaction", "Days", "Subject"]),
    "Dyestuff": (30, ["Batch", "Yield"]),
    "Dyestuff2": (30, ["Batch", "Yield"]),
    "Penicillin": (144, ["diameter", "plate", "sample"]),
    "Pastes": (60, ["strength", "batch", "cask", "sample"]),
    "cbpp": (56, ["herd", "incidence", "size", "period"]),
}

# levels(x) in R for every factor column (faculty's department is a character column)
R_LEVELS = {
    "faculty": {},
    "sleepstudy": {"Subject": ["308", "309", "310", "330", "331", "332", "333", "334", "335",
                               "337", "349", "350", "351", "352", "369", "370", "371", "372"]},
    "Dyestuff": {"Batch": list("ABCDEF")},
    "Dyestuff2": {"Batch": list("ABCDEF")},
    "Penicillin": {"plate": list("abcdefghijklmnopqrstuvwx"), "sample": list("ABCDEF")},
    "Pastes": {"batch": list("ABCDEFGHIJ"), "cask": list("abc"),
               "sample": [f"{b}:{c}" for b in "ABCDEFGHIJ" for c in "abc"]},
    # numeric-looking levels keep R's order (1, 2, ..., 15), not string order (1, 10, 11, ...)
    "cbpp": {"herd": [str(i) for i in range(1, 16)], "period": ["1", "2", "3", "4"]},
}

DEPTS = {"biology", "english", "informatics", "sociology", "statistics"}
# teaching module: base salary and annual raise per department
BASE = {"sociology": 40000, "biology": 50000, "english": 60000, "informatics": 70000,
        "statistics": 80000}
RAISE = {"sociology": 2000, "biology": 500, "english": 500, "informatics": 1700,
         "statistics": 500}


def test_names_cover_r_tables():
    assert set(NAMES) == set(R_SHAPE) == set(R_LEVELS)


@pytest.mark.parametrize("name", NAMES)
def test_load_shape_columns_and_name(name):
    df = load(name)
    nrow, cols = R_SHAPE[name]
    assert isinstance(df, pd.DataFrame)
    assert len(df) == nrow
    assert [c for c in df.columns if c in cols] == cols
    assert df.attrs["name"] == name


@pytest.mark.parametrize("name", NAMES)
def test_load_factor_levels_as_r(name):
    df = load(name)
    factors = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    assert sorted(factors) == sorted(R_LEVELS[name])
    for col, levels in R_LEVELS[name].items():
        assert list(df[col].cat.categories) == levels, col
        assert df[col].notna().all(), f"{col}: values that match no level"
        assert set(df[col]) == set(levels), f"{col}: unused levels"


def test_load_case_insensitive_and_unknown():
    assert load("DYESTUFF").attrs["name"] == "Dyestuff"
    with pytest.raises(KeyError, match="nosuch"):
        load("nosuch")


# -- simulate_faculty -------------------------------------------------------------------
def test_simulate_faculty_shape_columns_dtypes():
    sim, ref = simulate_faculty(seed=1), load("faculty")
    assert sim.shape == (100, 4)
    assert list(sim.columns) == list(ref.columns)
    assert sim.dtypes.equals(ref.dtypes)
    assert sim.attrs["name"] == "faculty"
    assert sim["id"].tolist() == list(range(1, 101))


def test_simulate_faculty_departments_and_experience():
    sim = simulate_faculty(n_per_dept=7, seed=2)
    assert len(sim) == 35
    assert set(sim["department"]) == DEPTS
    assert (sim["department"].value_counts() == 7).all()
    assert sim["experience"].between(0, 9).all()
    big = simulate_faculty(n_per_dept=200, seed=3)
    assert set(big["experience"]) == set(range(10))  # every year 0-9 occurs, no 10


def test_simulate_faculty_reproducible():
    pd.testing.assert_frame_equal(simulate_faculty(seed=42), simulate_faculty(seed=42))
    assert not simulate_faculty(seed=42)["salary"].equals(simulate_faculty(seed=43)["salary"])


@pytest.mark.parametrize("df", [simulate_faculty(n_per_dept=100, seed=4), load("faculty")],
                         ids=["simulated", "bundled"])
def test_salaries_within_recipe_bounds(df):
    """base and raise each vary by +/-10 %, so salary is within 10 % of base + years * raise."""
    centre = df["department"].map(BASE) + df["experience"] * df["department"].map(RAISE)
    ratio = df["salary"] / centre
    assert ratio.between(0.9, 1.1).all()
    assert ratio.min() < 0.95 and ratio.max() > 1.05  # the noise is really there


def test_simulate_faculty_rejects_empty():
    with pytest.raises(ValueError, match="n_per_dept"):
        simulate_faculty(n_per_dept=0)


class _RMersenneTwister:
    """R's default RNG (``set.seed`` scrambling + MT19937 + ``unif_rand``), for the check below."""

    N, M = 624, 397

    def __init__(self, seed: int) -> None:
        s = seed & 0xFFFFFFFF
        for _ in range(50):
            s = (69069 * s + 1) & 0xFFFFFFFF
        state = []
        for _ in range(self.N + 1):
            s = (69069 * s + 1) & 0xFFFFFFFF
            state.append(s)
        self.mt, self.mti = state[1:], self.N  # state[0] is mti, reset to N by FixupSeeds

    def _next(self) -> float:
        mt, n, m = self.mt, self.N, self.M
        if self.mti >= n:
            for k in range(n):
                y = (mt[k] & 0x80000000) | (mt[(k + 1) % n] & 0x7FFFFFFF)
                mt[k] = mt[(k + m) % n] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            self.mti = 0
        y = mt[self.mti]
        self.mti += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y * 2.3283064365386963e-10

    def runif(self, n: int, a: float, b: float) -> np.ndarray:
        return np.array([a + (b - a) * self._next() for _ in range(n)])


def test_recipe_with_r_stream_reproduces_bundled_faculty():
    """With R's set.seed(999) draws, the recipe gives the bundled faculty data exactly."""
    rng = _RMersenneTwister(999)
    sim = _faculty_from_uniforms(20, rng.runif)
    ref = load("faculty")
    pd.testing.assert_frame_equal(sim, ref, check_exact=False, rtol=1e-12)
