"""Memory stays bounded: a fixed-effects matrix that cannot fit is refused up front, by name
and size; a many-level fixed factor fits (wide X: X'X by sparse products, X eliminated once)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.spec import checks


def _wide(n: int, nf: int, ng: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.integers(0, nf, n)
    g = rng.integers(0, ng, n)
    y = 0.01 * f + rng.normal(size=ng)[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "f": [f"L{i:04d}" for i in f], "g": g.astype(str)})


def test_too_wide_a_design_is_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 50_000_000)  # 50 MB
    d = _wide(20_000, 400)
    with pytest.raises(mw.DataError, match=r"20000 rows x 400 columns .*61\.0 MB.*term 'f'"):
        mw.lmer("y ~ f + (1 | g)", d)


def test_unknown_memory_does_not_block_a_fit(monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: None)
    m = mw.lmer("y ~ f + (1 | g)", _wide(2_000, 30))
    assert len(mw.fixef(m)) == 30


def test_many_level_fixed_factor_fits_quickly_and_as_the_blocked_solve():
    """400 levels on 2e4 rows: X eliminated once (engines/dense.ProfiledXCriterion); the
    criterion at the optimum equals the blocked factor's, the fit takes seconds."""
    d = _wide(20_000, 400)
    t0 = time.perf_counter()
    m = mw.lmer("y ~ f + (1 | g)", d)
    assert time.perf_counter() - t0 < 60  # a bound against runaway, not a benchmark
    P = m._problem
    assert type(P.dense()).__name__ == "ProfiledXCriterion"
    assert float(mw.REMLcrit(m)) == pytest.approx(P.solve(m.theta).reml_crit, rel=1e-10)
    assert len(mw.fixef(m)) == 400


@pytest.mark.slow
def test_2000_level_fixed_factor_fits():
    """Issue 17's case: y ~ f + (1 | g), f with 2000 levels on 2e4 rows (a 320 MB X)."""
    m = mw.lmer("y ~ f + (1 | g)", _wide(20_000, 2000))
    assert len(mw.fixef(m)) == 2000 and m.optinfo.converged
