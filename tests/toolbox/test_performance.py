"""performance's icc() and r2() (Nakagawa) against R's tb_* cases."""
from __future__ import annotations

import pytest

from mlm_wrap.toolbox import performance as P
from broom_common import TB_CASES, checks, fit_case, tol


@pytest.mark.parametrize("cid", TB_CASES)
@pytest.mark.parametrize("call", ["icc", "r2"])
def test_icc_r2(cid, call):
    c, m, _ = fit_case(cid)
    (ch,) = checks(c, call)
    got = getattr(P, call)(m)
    assert list(got.index) == list(ch["values"])
    for k, v in ch["values"].items():
        assert abs(got[k] - v) / abs(v) < tol(c)["varcomp"], (k, got[k], v)
