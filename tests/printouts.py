"""Fitting the corpora's lmer cases as R did, and comparing printouts with R's line by line.

Shared by the printout tests (models/test_summary.py, output/test_printing.py, test_arm.py).
A line matches when it has R's width, R's words and blanks, and R's numbers in R's format
(same decimals), each within one unit of its last digit or 5e-4 relative (tests/rref.py).
"""
from __future__ import annotations

import functools
import re
import warnings

import pytest
from conftest import fit_kwargs, lmer_case_ids, load_case, load_data
from rref import NUM, R_STOPS_SHORT, number_close

import mlm_wrap as mw



def line_mismatch(got: str, ref: str) -> str | None:
    """Why a printed line is not R's line (None when it is)."""
    if len(got) != len(ref):
        return f"width {len(got)} != R's {len(ref)}"
    if NUM.split(got) != NUM.split(ref):
        return "text differs"
    bad = [f"{a} vs R {b}" for a, b in zip(NUM.findall(got), NUM.findall(ref)) if not number_close(a, b)]
    return ", ".join(bad) or None


def printout_mismatches(got: str, ref: str, skip_ref=lambda line: False) -> list[str]:
    """Every line of ``got`` against R's (``skip_ref`` drops R lines we do not print)."""
    r = [x for x in ref.rstrip("\n").split("\n") if not skip_ref(x)]
    g = got.rstrip("\n").split("\n")
    if len(g) != len(r):
        return [f"{len(g)} lines, R prints {len(r)}:\n" + got + "\n-- R --\n" + ref]
    return [f"line {i + 1}: {why}\n  py: {a!r}\n   R: {b!r}"
            for i, (a, b) in enumerate(zip(g, r)) if (why := line_mismatch(a, b))]


def r_data_name(case: dict) -> str:
    """The data set's name in R's call (``data = sleepstudy``)."""
    return re.search(r"data = ([\w.]+)", case["r_call"]).group(1)


@functools.lru_cache(maxsize=None)
def fit_named(cid: str):
    """The case fitted with its data set named as in R (``df.attrs["name"]``)."""
    case = load_case(cid)
    df = load_data(case["data"], case["_data_dir"])
    df.attrs["name"] = r_data_name(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(case["formula"], data=df, REML=case["REML"], **fit_kwargs(case))
    return case, m


def r_only_line(line: str) -> bool:
    """R's ``Control:`` line: lmer()'s control argument, which mlm_wrap does not take."""
    return line.startswith("Control:")


CASES = lmer_case_ids()
# Where R's optimizer stops short of the optimum (tests/rref.py: checked in R, bobyqa reaches
# mlm_wrap's point) and the difference reaches the printed digits; strict, so a change on
# either side shows.
R_SHORT = dict(R_STOPS_SHORT)
# R's own fit did not converge: its printout carries lme4's warning lines, and the
# estimates it prints are R's stopping point
R_UNCONVERGED = {"idioms:pub_bodyweight": R_STOPS_SHORT["idioms:pub_bodyweight"]}


def with_known(cases: list[str], known: dict[str, str]) -> list:
    return [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=known[c])) if c in known else c
            for c in cases]
