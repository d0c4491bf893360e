"""arm's display(), se.coef(), se.fixef(), se.ranef() and extractDIC() against R's.

R's ``display(m)`` text is read from the corpora's JSON (``display_text``) and compared
line by line (the rule of tests/printouts.py: R's layout, R's number formats, R's values within
a unit of the last digit); the call lines, R's ``print(m@call)``, must be R's exactly.
"""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest
from conftest import load_case
from printouts import CASES as _ALL, fit_named, printout_mismatches

# the cases whose R script recorded arm's display() (v2 and the published models did not)
CASES = [c for c in _ALL if load_case(c).get("display_text")]

import mlm_wrap as mw
from mlm_wrap.arm import display_text, extract_dic, refit_ml_deviance
from mlm_wrap.rformat.objects import RList


def printed(fn) -> tuple[str, object]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ret = fn()
    return buf.getvalue(), ret


def call_lines(text: str) -> list[str]:
    lines = text.split("\n")
    k = next(i for i, x in enumerate(lines) if "coef.est" in x)
    return lines[:k]


def uses_control(case: dict) -> bool:
    """R's call has lmerControl(...), an argument mlm_wrap's lmer() does not take."""
    return "control =" in case["r_call"]


@pytest.mark.parametrize("cid", CASES)
def test_display_printout_is_rs(cid):
    case, m = fit_named(cid)
    text, ret = printed(lambda: mw.display(m))
    assert ret is None
    ref = case["display_text"]
    if uses_control(case):  # compare from the table on; the call is checked below
        ref = "\n".join(ref.split("\n")[len(call_lines(ref)):])
        text = "\n".join(text.split("\n")[len(call_lines(text)):])
    bad = printout_mismatches(text, ref)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cid", [c for c in CASES if not uses_control(load_case(c))])
def test_display_call_lines_exactly(cid):
    """``print(m@call)``: deparsed, wrapped at R's 60-character cutoff, as R prints it."""
    case, m = fit_named(cid)
    text, _ = printed(lambda: mw.display(m))
    assert call_lines(text) == call_lines(case["display_text"])


@pytest.mark.parametrize("cid", CASES)
def test_dic_and_deviance_as_r(cid):
    """arm's DIC = 2 deviance(refitML(m)) + 2 logLik(m); R prints both to 1 decimal."""
    case, m = fit_named(cid)
    ref = case["display_text"]
    dic = float(re.search(r"DIC = (\S+)", ref).group(1))
    dev = float(re.search(r"deviance = (\S+)", ref).group(1))
    assert abs(extract_dic(m) - dic) <= 0.05 + 2e-3
    assert abs(refit_ml_deviance(m) - dev) <= 0.05 + 2e-3
    if not case["REML"]:
        assert refit_ml_deviance(m) == pytest.approx(case["deviance"], abs=2e-3)
        assert extract_dic(m) == pytest.approx(case["deviance"], abs=2e-3)


def test_refit_ml_matches_the_ml_fit():
    """deviance(refitML(m)) of a REML fit is the deviance of the same model fitted by ML."""
    _, reml = fit_named("sleepstudy_slope")
    ml_case, _ = fit_named("sleepstudy_slope_ml")
    assert refit_ml_deviance(reml) == pytest.approx(ml_case["deviance"], abs=2e-3)
    assert reml.REML  # the model itself is untouched
    assert str(mw.summary(reml)).startswith("Linear mixed model fit by REML")


def test_display_options():
    """display(m, detail = TRUE) adds t values; digits sets the rounding (arm's pfround)."""
    case, m = fit_named("sleepstudy_slope")
    detail = display_text(m, detail=True).split("\n")
    k = next(i for i, x in enumerate(detail) if "coef.est" in x)
    assert detail[k] == "            coef.est coef.se t value"
    assert len(detail[k + 1].split()) == 4
    three = display_text(m, digits=3).split("\n")
    assert three[k + 1].split()[1] == f"{case['fixef']['(Intercept)']:.3f}"
    _, m0 = fit_named("dyestuff")  # one coefficient: R prints a named vector
    lines = display_text(m0).split("\n")
    assert lines[1] == "coef.est  coef.se " and len(lines[2].split()) == 2


def test_se_helpers():
    case, m = fit_named("sleepstudy_slope")
    assert mw.se_fixef(m).equals(m.se_fixef())
    np.testing.assert_allclose(mw.se_fixef(m)[list(case["se_fixef"])], list(case["se_fixef"].values()),
                               rtol=1e-3)
    sc = mw.se_coef(m)
    assert isinstance(sc, RList) and list(sc) == ["fixef", "Subject"]
    assert sc["fixef"].equals(mw.se_fixef(m))
    ref = case["se_ranef"]["Subject"]
    got = pd.DataFrame(sc["Subject"])
    assert list(got.columns) == ref["columns"] and [str(i) for i in got.index] == ref["index"]
    np.testing.assert_allclose(got.to_numpy(), np.asarray(ref["data"], float), rtol=5e-3)
    assert str(sc).startswith("$fixef\n(Intercept)        Days \n")
