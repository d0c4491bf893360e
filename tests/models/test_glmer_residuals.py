"""residuals(m, type = ...) of glmer fits of every family against R
(tests/r/families_refs.R: residuals(m, type) for deviance, pearson, working, response)."""
from __future__ import annotations

import numpy as np
import pytest

import mlm_wrap as mw
from glmm_family_refs import CASE_IDS, fit, ref
from rref import GLMM_TOL

TYPES = ["deviance", "pearson", "working", "response"]


@pytest.mark.parametrize("rtype", TYPES)
@pytest.mark.parametrize("case", CASE_IDS)
def test_residuals_match_r(case, rtype):
    """Every residual within GLMM_TOL['fitted_sd'] of the sd of R's residuals (the fits
    agree to GLMM_TOL, not to the last digit)."""
    r = np.asarray(ref(case)[f"resid_{rtype}"], float)
    ours = mw.residuals(fit(case), type=rtype).to_numpy()
    assert ours.shape == r.shape
    assert np.max(np.abs(ours - r)) <= GLMM_TOL["fitted_sd"] * np.std(r)


def test_residuals_default_is_deviance():
    m = fit("gamma_log")
    assert np.array_equal(mw.residuals(m).to_numpy(), mw.residuals(m, type="deviance").to_numpy())
    with pytest.raises(ValueError):
        mw.residuals(m, type="partial")
