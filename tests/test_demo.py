"""mlm-wrap demo: the walk-through's +/- 2 SE table prints as R prints the data frame.

R's printout is tests/r/refs/idioms/cases/demo_faculty_2se.json (tests/r/corpus_idioms.R).
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings

from conftest import IDIOMS

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.demo import demo, two_se_table


def r_case() -> dict:
    return json.loads((IDIOMS / "cases" / "demo_faculty_2se.json").read_text())


def test_two_se_table_is_rs_printout():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = mw.lmer("salary ~ experience + (1 | department)", data=load("faculty"))
    est = mw.coef(m1)["department"]["(Intercept)"]
    se = mw.se_ranef(m1)["department"]["(Intercept)"]
    assert str(two_se_table(est, se)) == r_case()["text"]


def test_demo_prints_the_table_as_r():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        demo()
    text = out.getvalue()
    assert "m1: department intercepts +/- 2 SE\n" + r_case()["text"] in text
