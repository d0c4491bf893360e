"""confint(m, method = "profile" | "Wald") of glmer fits of every family against R
(tests/r/families_refs.R: confint(profile(m, signames = FALSE)), confint(m, method = "Wald")).

lme4 1.1-31 refuses to profile families with a scale parameter (Gamma, inverse Gaussian,
Gaussian with a link); so does mlm_wrap, with lme4's message."""
from __future__ import annotations

import numpy as np
import pytest

import mlm_wrap as mw
from glmm_family_refs import CASE_IDS, SCALE_CASES, fit, r_table, ref
from mlm_wrap.errors import ModelError
from rref import GLMM_TOL

PROFILE_CASES = [c for c in CASE_IDS if c not in SCALE_CASES]


@pytest.mark.parametrize("case", PROFILE_CASES)
def test_profile_confint_matches_r(case):
    """Each limit within GLMM_TOL['confint'] of the interval's width (R interpolates a
    spline through its profile points; the fits agree to GLMM_TOL)."""
    r = ref(case)["profile"]
    ci = mw.confint(fit(case), method="profile")
    assert list(ci.index) == r["index"] and list(ci.columns) == r["columns"]
    R = r_table(r)
    width = R[:, 1] - R[:, 0]
    assert np.all(np.abs(ci.to_numpy() - R) <= GLMM_TOL["confint"] * width[:, None])


@pytest.mark.parametrize("case", SCALE_CASES)
def test_profile_refused_for_scale_families(case):
    msg = ref(case)["profile"]["error"]
    with pytest.raises(ModelError, match=r"can't \(yet\) profile GLMMs with non-fixed scale"):
        mw.confint(fit(case), method="profile")
    assert "non-fixed scale parameters" in msg


@pytest.mark.parametrize("case", CASE_IDS)
def test_wald_confint_matches_r(case):
    """Wald intervals: R's rows (NA for the variance parameters) and fixed-effect limits
    within GLMM_TOL['se_fixef'] of the standard error."""
    r = ref(case)["wald"]
    ci = mw.confint(fit(case), method="Wald")
    assert list(ci.index) == r["index"]
    R, ours = r_table(r), ci.to_numpy(float)
    assert np.array_equal(np.isnan(R), np.isnan(ours))
    ok = ~np.isnan(R)
    se = ((R[:, 1] - R[:, 0]) / (2 * 1.959964))[:, None] * np.ones((1, 2))
    assert np.all(np.abs(ours[ok] - R[ok]) <= GLMM_TOL["se_fixef"] * se[ok] + GLMM_TOL["fixef"] * np.abs(R[ok]))
