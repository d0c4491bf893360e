"""``mlm-wrap demo``: the faculty-salary walk-through (the teaching module's three models)."""
from __future__ import annotations

import warnings

import pandas as pd

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.rformat.objects import RFrame


def two_se_table(est: pd.Series, se: pd.Series) -> RFrame:
    """R's ``data.frame(estimate = est, lower = est - 2 * se, upper = est + 2 * se)``,
    printed as R prints a data frame (7 significant digits per column)."""
    return RFrame({"estimate": est, "lower": est - 2 * se, "upper": est + 2 * se})


def demo() -> None:
    """Fit the teaching module's three models and print what R users look at."""
    df = load("faculty")
    models = {
        "m1": "salary ~ experience + (1 | department)",
        "m2": "salary ~ experience + (0 + experience | department)",
        "m3": "salary ~ experience + (1 + experience | department)",
    }
    for name, f in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mw.lmer(f, data=df)
        print(f"== {name} <- lmer({f}, data = faculty)\n")
        try:
            print(mw.summary(m))
        except (ImportError, NotImplementedError):
            print(mw.fixef(m).to_string(), "\n")
            print(mw.VarCorr(m).to_frame().to_string(), "\n")
        print(f"coef({name})$department")
        print(mw.coef(m)["department"], "\n")
        print(f"se.ranef({name})$department")
        print(mw.se_ranef(m)["department"], "\n")
    m1 = mw.lmer(models["m1"], data=df)
    est = mw.coef(m1)["department"]["(Intercept)"]
    se = mw.se_ranef(m1)["department"]["(Intercept)"]
    print("m1: department intercepts +/- 2 SE")
    print(two_se_table(est, se))
