"""The caller's DataFrame is never modified, whatever its dtypes, by any public call."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load

SS = load("sleepstudy")
REF = None


def variants():
    ss = SS.copy()
    sub = ss["Subject"].astype(str)
    yield "categorical", ss
    yield "object strings", ss.assign(Subject=sub.astype(object))
    yield "string dtype", ss.assign(Subject=sub.astype("string"))
    yield "integers", ss.assign(Subject=sub.astype(int))
    yield "nullable Int64/Float64", ss.assign(Days=ss["Days"].astype("Int64"),
                                              Reaction=ss["Reaction"].astype("Float64"))
    yield "mixed object", ss.assign(Subject=[x if i % 2 else int(x) for i, x in enumerate(sub)])
    yield "odd index", ss.set_index(pd.Index(np.arange(180) * 3 + 7)).iloc[::-1]
    yield "string index", ss.set_index(pd.Index([f"r{i}" for i in range(180)]))
    yield "extra columns first", ss.assign(note="x", flag=True)[["note", "flag", "Reaction", "Days", "Subject"]]
    yield "unused categories", ss.assign(Subject=pd.Categorical(sub, categories=sorted(set(sub)) + ["999"]))
    yield "missing values", ss.assign(Reaction=ss["Reaction"].where(ss.index % 17 != 3))
    try:
        import pyarrow  # noqa: F401
        yield "arrow-backed", ss.assign(Days=ss["Days"].astype("int64[pyarrow]"),
                                        Reaction=ss["Reaction"].astype("double[pyarrow]"),
                                        Subject=sub.astype("string[pyarrow]"))
    except ImportError:
        pass


def every_public_call(m, df):
    """Call each accessor that could touch the data."""
    for f in (mw.fixef, mw.vcov, mw.se_fixef, mw.ranef, mw.coef, mw.se_ranef, mw.VarCorr, mw.sigma,
              mw.logLik, mw.AIC, mw.BIC, mw.REMLcrit, mw.nobs, mw.ngrps, mw.isSingular,
              mw.fitted, mw.residuals, mw.confint):
        f(m)
    nd = df.dropna().head(10)
    mw.predict(m, newdata=nd)
    mw.predict(m, newdata=nd, re_form="~0")
    mw.predict(m)
    m.plan.explain()


@pytest.mark.parametrize("label,df", list(variants()), ids=[v[0] for v in variants()])
def test_frame_unchanged_and_same_fit(label, df):
    before = df.copy(deep=True)
    dtypes, cols, idx = df.dtypes.copy(), list(df.columns), df.index.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=df)
        every_public_call(m, df)
    pd.testing.assert_frame_equal(df, before, check_exact=True)
    assert list(df.columns) == cols and df.index.equals(idx) and df.dtypes.equals(dtypes)
    if isinstance(df["Subject"].dtype, pd.CategoricalDtype):
        assert list(df["Subject"].cat.categories) == list(before["Subject"].cat.categories)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = mw.lmer("Reaction ~ Days + (Days | Subject)", data=SS if label != "missing values"
                       else SS.assign(Reaction=SS["Reaction"].where(SS.index % 17 != 3)))
    assert np.allclose(mw.fixef(m), mw.fixef(base), rtol=1e-6)
    assert mw.ngrps(m) == {"Subject": 18}


def test_polars_frame():
    pl = pytest.importorskip("polars")
    df = pl.from_pandas(SS.assign(Subject=SS["Subject"].astype(str)))
    before = df.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=df)
    assert df.equals(before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.allclose(mw.fixef(m), mw.fixef(mw.lmer("Reaction ~ Days + (Days | Subject)", SS)))
