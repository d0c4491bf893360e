"""Bundled data sets with R's factor levels applied and ``df.attrs["name"]`` set.

``load("faculty")`` is the teaching module's simulated faculty-salary data (made by R
with ``set.seed(999)``); the others are lme4's data sets as R has them.
``simulate_faculty()`` draws new faculty data by the same recipe.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

import numpy as np
import pandas as pd

NAMES = ("faculty", "sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes", "cbpp")


def load(name: str) -> pd.DataFrame:
    """A bundled data set as a DataFrame (factor columns as ordered-level Categoricals)."""
    match = {n.lower(): n for n in NAMES}.get(name.lower())
    if match is None:
        raise KeyError(f"no bundled data set {name!r}; available: {', '.join(NAMES)}")
    base = resources.files(__package__) / "data"
    with (base / f"{match}.csv").open("r") as fh:
        df = pd.read_csv(fh)
    levels = json.loads((base / f"{match}.levels.json").read_text()) or {}
    for col, lv in levels.items():
        lab = df[col].astype("string").str.replace(r"\.0$", "", regex=True)
        df[col] = pd.Categorical(lab, categories=[str(x) for x in lv])
    df.attrs["name"] = match
    return df


# The teaching module's recipe (R): departments in this order, with these base salaries
# and annual raises; rows cycle through the departments (R's ``rep(departments, n)``).
FACULTY_DEPARTMENTS = ("sociology", "biology", "english", "informatics", "statistics")
FACULTY_BASE = (40000.0, 50000.0, 60000.0, 70000.0, 80000.0)
FACULTY_RAISE = (2000.0, 500.0, 500.0, 1700.0, 500.0)


def simulate_faculty(n_per_dept: int = 20, seed: int | None = None) -> pd.DataFrame:
    """Simulate faculty salaries as the teaching module does, for new data of the same shape.

    Each of the 5 departments gets ``n_per_dept`` faculty with ``experience`` 0-9 years
    (``floor(runif(0, 10))``) and ``salary = base * U(.9, 1.1) + experience * raise *
    U(.9, 1.1)``.  Same columns and dtypes as ``load("faculty")``; ``seed`` feeds numpy's
    ``default_rng`` (R's ``set.seed(999)`` stream made the bundled copy).
    """
    if n_per_dept < 1:
        raise ValueError(f"n_per_dept must be at least 1 (got {n_per_dept})")
    rng = np.random.default_rng(seed)
    return _faculty_from_uniforms(n_per_dept, lambda n, a, b: rng.uniform(a, b, n))


def _faculty_from_uniforms(n_per_dept: int,
                           runif: Callable[[int, float, float], np.ndarray]) -> pd.DataFrame:
    """The recipe given a ``runif(n, a, b)``: R's draw order (experience, bases, raises)."""
    k = len(FACULTY_DEPARTMENTS)
    n = k * n_per_dept
    experience = np.floor(np.asarray(runif(n, 0.0, 10.0))).astype(np.int64)
    bases = np.tile(FACULTY_BASE, n_per_dept) * np.asarray(runif(n, 0.9, 1.1))
    raises = np.tile(FACULTY_RAISE, n_per_dept) * np.asarray(runif(n, 0.9, 1.1))
    df = pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        # plain str values: the same dtype read_csv infers for load("faculty")
        "department": pd.Series(list(FACULTY_DEPARTMENTS) * n_per_dept),
        "experience": experience,
        "salary": bases + experience * raises,
    })
    df.attrs["name"] = "faculty"
    return df
