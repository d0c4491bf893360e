"""glmer's na_action reports the user's row labels, as lmer's does (R: names of na.action)."""
from __future__ import annotations

import numpy as np

import mlm_wrap as mw
from mlm_wrap.datasets import load


def test_glmer_na_action_names_the_users_rows():
    cb = load("cbpp").copy()
    cb.index = [f"r{i}" for i in range(len(cb))]
    cb.loc["r3", "incidence"] = np.nan
    cb.loc["r50", "size"] = np.nan
    before = cb.copy()
    m = mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb, family="binomial")
    assert list(mw.na_action(m)) == ["r3", "r50"]
    r = mw.residuals(m)
    assert len(r) == len(cb) - 2 and "r3" not in r.index and r.index[3] == "r4"
    assert cb.equals(before)
