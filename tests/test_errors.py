"""Bad input: every mistake gets a named error that quotes the culprit (issue: bad input).

Each row: formula, a change to the sleepstudy data (or a replacement), keyword
arguments, the exception type expected, and a fragment the message must contain.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.errors import DataError, FormulaError, ModelError, UnknownColumnError

SS = load("sleepstudy")
F = "Reaction ~ Days + (Days | Subject)"


def same(df):
    return df


BAD = [
    # -- formula syntax ---------------------------------------------------------------
    ("Reaction ~ Days + (Days | Subject", same, {}, FormulaError, "(Days | Subject"),
    ("Reaction ~ Days + (1 | Subject))", same, {}, FormulaError, "unmatched ')'"),
    ("Reaction ~ Days + ((1 | Subject)", same, {}, FormulaError, "never closed"),
    ("Reaction Days + (1 | Subject)", same, {}, FormulaError, "no '~'"),
    ("Reaction ~ Days | Subject", same, {}, FormulaError, "Days | Subject"),
    ("Reaction ~ Days + ( | Subject)", same, {}, FormulaError, "( | Subject)"),
    ("Reaction ~ Days + (1 | )", same, {}, FormulaError, "(1 | )"),
    ("Reaction ~ Days + (1 ||| Subject)", same, {}, FormulaError, "|||"),
    ("Reaction ~ Days + ", same, {}, FormulaError, "'+'"),
    ("Reaction ~ Days * + (1 | Subject)", same, {}, FormulaError, "'*'"),
    ("Reaction ~ Days + (1 + | Subject)", same, {}, FormulaError, "(1 + | Subject)"),
    ("Reaction ~ Days + (1 | Subject | Days)", same, {}, FormulaError, "(1 | Subject | Days)"),
    ("Reaction ~ (1 | Subject) ~ Days", same, {}, FormulaError, "only one '~'"),
    ("~ Days + (1 | Subject)", same, {}, FormulaError, "empty response"),
    ("(1|Subject) ~ Days", same, {}, FormulaError, "response"),
    ("", same, {}, FormulaError, "empty formula"),
    ("Reaction ~ Days + (1 | Subject) +", same, {}, FormulaError, "'+'"),
    ("Reaction ~ Days + (Days || )", same, {}, FormulaError, "(Days || )"),
    # -- columns ----------------------------------------------------------------------
    ("Reaction ~ Dayz + (1 | Subject)", same, {}, UnknownColumnError, "'Dayz'"),
    ("Reaction ~ Days + (1 | Subjct)", same, {}, UnknownColumnError, "'Subjct'"),
    ("Reactoin ~ Days + (1 | Subject)", same, {}, UnknownColumnError, "did you mean 'Reaction'"),
    ("Reaction ~ Days + (Dayz | Subject)", same, {}, UnknownColumnError, "'Dayz'"),
    ("Reaction ~ Days + (1 | Subject:Dayz)", same, {}, UnknownColumnError, "'Dayz'"),
    ("Reaction ~ log(Dayz + 1) + (1 | Subject)", same, {}, UnknownColumnError, "'Dayz'"),
    ("Reaction ~ foo(Days) + (1 | Subject)", same, {}, FormulaError, "unknown function 'foo'"),
    ("Reaction ~ Days + (foo(Days) | Subject)", same, {}, FormulaError, "'foo'"),
    ("Subject ~ Days + (1 | Days)", same, {}, DataError, "response 'Subject' must be numeric"),
    ("Reaction ~ Days + (1 | g)", lambda d: d.assign(g=np.nan), {}, DataError, "grouping factor 'g'"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: d.assign(Reaction="fast"), {}, DataError, "'Reaction'"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: d.assign(Days=np.inf), {}, DataError, "'Days'"),
    ("log(Reaction) ~ Days + (1 | Subject)", lambda d: d.assign(Reaction=d.Reaction.where(d.Days != 3, 0)),
     {}, DataError, "'log(Reaction)'"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: d.iloc[:0], {}, DataError, "no rows"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: [1, 2, 3], {}, DataError, "list"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: "sleepstudy", {}, DataError, "str"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: pd.concat([d, d[["Days"]]], axis=1), {},
     DataError, "'Days'"),
    # -- model (R's checks) -----------------------------------------------------------
    ("Reaction ~ Days", same, {}, ModelError, "no random effects terms"),
    ("Reaction ~ Days + (1 | g)", lambda d: d.assign(g="one"), {}, ModelError, "(problems: g)"),
    ("Reaction ~ Days + (Days | g)", lambda d: d.assign(g="one"), {}, ModelError, "> 1 sampled level"),
    ("Reaction ~ Days + (1 | g)", lambda d: d.assign(g=np.arange(180)), {}, ModelError,
     "number of levels of each grouping factor must be < number of observations (problems: g)"),
    ("Reaction ~ Days + (Days | g)", lambda d: d.assign(g=np.arange(180) // 2), {}, ModelError,
     "for term (Days | g)"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: d.assign(Reaction=5.0), {}, ModelError,
     "'Reaction' is constant"),
    ("Reaction ~ Days + (1 | Subject)", lambda d: d.assign(Reaction=np.nan), {}, ModelError,
     "no rows left"),
    # -- arguments --------------------------------------------------------------------
    (F, same, {"REML": "yes"}, TypeError, "REML"),
    (F, same, {"engine": "fast"}, ValueError, "'fast'"),
    (42, same, {}, TypeError, "string"),
]


@pytest.mark.parametrize("formula,change,kw,exc,fragment", BAD,
                         ids=[f"{i:02d}" for i in range(len(BAD))])
def test_bad_input_names_the_culprit(formula, change, kw, exc, fragment):
    data = change(SS.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as info:
            mw.lmer(formula, data=data, **kw)
    assert fragment in str(info.value)


def test_at_least_forty_distinct_bad_inputs():
    assert len({(str(f), i) for i, (f, *_rest) in enumerate(BAD)}) >= 40


def test_errors_subclass_builtins():
    assert issubclass(FormulaError, ValueError) and issubclass(DataError, ValueError)
    assert issubclass(ModelError, ValueError) and issubclass(UnknownColumnError, KeyError)


def test_new_level_in_predict_is_named():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(F, data=SS)
    nd = pd.DataFrame({"Days": [1.0], "Subject": ["999"]})
    with pytest.raises(DataError, match="'999'.*allow_new_levels"):
        mw.predict(m, newdata=nd)
    pop = mw.predict(m, newdata=nd, re_form="~0")
    assert np.allclose(mw.predict(m, newdata=nd, allow_new_levels=True), pop)


def test_re_form_naming_an_absent_term():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(F, data=SS)
    with pytest.raises(ModelError, match="not in the model"):
        mw.predict(m, re_form="~(1 | Days)")
