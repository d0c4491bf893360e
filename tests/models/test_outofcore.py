"""lmer(data=<dask DataFrame | parquet>) against lmer on the same pandas frame in memory:
the criterion at fixed theta (1e-8 relative), theta / beta / sigma / logLik (1e-6), the
summary printout, lazy fitted values and residuals; refusals with OutOfCoreError."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.errors import OutOfCoreError

dd = pytest.importorskip("dask.dataframe")


def quiet(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mw.lmer(*a, **k)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 2400
    g, h = rng.integers(0, 50, n), rng.integers(0, 20, n)
    x = rng.normal(size=n)
    f = np.array(["lo", "mid", "hi"])[rng.integers(0, 3, n)]
    y = (1 + 0.5 * x + rng.normal(size=50)[g] + 0.4 * rng.normal(size=50)[g] * x
         + 0.5 * rng.normal(size=20)[h] + 0.3 * (f == "mid") + rng.normal(size=n))
    df = pd.DataFrame({"y": y, "x": x, "g": [f"s{i:02d}" for i in g], "h": h, "f": f,
                       "w": rng.uniform(0.5, 2.0, n)})
    df["x2"] = 2.0 * df["x"] + 1.0  # rank deficient beside x: lme4 drops it
    df.loc[[5, 77, 1500], "x"] = np.nan  # na.omit drops these rows
    df.loc[[9], "g"] = None
    return df


def check_same(m0, m1, thetas) -> None:
    for th in thetas:
        for reml in (True, False):
            c0, c1 = m0._problem.objective(th, reml), m1._problem.objective(th, reml)
            assert abs(c1 / c0 - 1) < 1e-8
    np.testing.assert_allclose(m1.theta, m0.theta, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m1.fixef().to_numpy(), m0.fixef().to_numpy(), rtol=1e-6, atol=1e-8)
    assert list(m1.fixef().index) == list(m0.fixef().index)
    assert m1.sigma() == pytest.approx(m0.sigma(), rel=1e-6)
    assert float(m1.logLik()) == pytest.approx(float(m0.logLik()), rel=1e-8)
    assert m1.nobs() == m0.nobs()
    assert str(mw.summary(m1)) == str(mw.summary(m0))


CASES = [
    ("y ~ x + (1 | g)", {}),
    ("y ~ x + (1 + x | g)", {}),
    ("y ~ x + (1 | g) + (1 | h)", {}),
    ("y ~ x * f + (1 | g)", {"REML": False}),
    ("y ~ x + (1 | g)", {"weights": "w"}),
    ("y ~ x + (1 | g/f)", {"contrasts": {"f": "contr.sum"}}),
    ("y ~ x + x2 + f + (1 | g)", {}),
    ("y ~ x + offset(log(w)) + (1 | g)", {"subset": "f != 'hi'", "offset": "w / 2"}),
]


@pytest.mark.parametrize("formula,kw", CASES, ids=[f"{f} {k}" for f, k in CASES])
def test_dask_frame_matches_in_memory(frame, formula, kw):
    m0 = quiet(formula, frame, data_name="d", **kw)
    m1 = quiet(formula, dd.from_pandas(frame, npartitions=5), data_name="d", **kw)
    assert isinstance(m1, mw.LmerMod)
    check_same(m0, m1, [m0.theta, np.where(m0._problem.lower == 0, 0.7, 0.1) + 0 * m0.theta])


def test_parquet_directory_and_file_list(frame, tmp_path):
    files = []
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), 3)):
        p = tmp_path / f"part{i}.parquet"
        frame.iloc[chunk].to_parquet(p)
        files.append(p)
    m0 = quiet("y ~ x + f + (1 + x | g)", frame, data_name="d")
    for data in (str(tmp_path), files):
        m1 = quiet("y ~ x + f + (1 + x | g)", data, data_name="d")
        check_same(m0, m1, [m0.theta])


def test_lazy_fitted_residuals_and_na_exclude(frame):
    ddf = dd.from_pandas(frame, npartitions=4)
    m0 = quiet("y ~ x + (1 + x | g)", frame, na_action="na.exclude")
    m1 = quiet("y ~ x + (1 + x | g)", ddf, na_action="na.exclude")
    r = m1.residuals()
    assert isinstance(r, mw.models.outofcore.LazyVector) and len(r) == m0.nobs()
    pd.testing.assert_series_equal(r.compute(), m0.residuals(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(m1.fitted().to_numpy(), m0.fitted().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(m1.predict(re_form="~0").to_numpy(),
                               m0.predict(re_form="~0").to_numpy(), rtol=1e-8)
    nd = frame.dropna().head(7)
    np.testing.assert_allclose(m1.predict(nd), m0.predict(nd), rtol=1e-6)
    pd.testing.assert_frame_equal(mw.ranef(m1)["g"], mw.ranef(m0)["g"], rtol=1e-5, atol=1e-8)
    assert str(mw.summary(m1, ddf="Satterthwaite")) == str(mw.summary(m0, ddf="Satterthwaite"))
    pd.testing.assert_frame_equal(mw.confint(m1, method="Wald"), mw.confint(m0, method="Wald"),
                                  rtol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_anova_matches_in_memory(frame):
    ddf = dd.from_pandas(frame.dropna(), npartitions=3)
    a0 = mw.anova(quiet("y ~ x + (1 | g)", frame.dropna()), quiet("y ~ x + (1 + x | g)", frame.dropna()))
    a1 = mw.anova(quiet("y ~ x + (1 | g)", ddf), quiet("y ~ x + (1 + x | g)", ddf))
    np.testing.assert_allclose(a1.to_numpy(float), a0.to_numpy(float), rtol=1e-6)
    with pytest.raises(mw.ModelError, match="different rows or responses"):
        mw.anova(quiet("y ~ x + (1 | g)", ddf), quiet("w ~ x + (1 | g)", ddf))


@pytest.mark.parametrize("formula", ["y ~ poly(x, 2) + (1 | g)", "y ~ scale(x) + (1 | g)",
                                     "y ~ cut(x, 3) + (1 | g)", "y ~ x + interaction(f, h) + (1 | g)"])
def test_transforms_that_need_all_rows_are_refused(frame, formula):
    with pytest.raises(OutOfCoreError, match="not available out-of-core"):
        mw.lmer(formula, dd.from_pandas(frame, npartitions=2))


def test_cut_with_given_breaks_works(frame):
    f = "y ~ cut(x, c(-10, 0, 10)) + (1 | g)"
    check_same(quiet(f, frame), quiet(f, dd.from_pandas(frame, npartitions=3)), [])


def test_what_needs_the_rows_is_refused(frame):
    m = quiet("y ~ x + (1 | g)", dd.from_pandas(frame, npartitions=2))
    for fn in (lambda: mw.hatvalues(m), lambda: mw.refit(m, np.zeros(m.nobs())),
               lambda: mw.simulate(m, 1, seed=1), lambda: mw.model_matrix(m),
               lambda: mw.summary(m, ddf="Kenward-Roger"), lambda: mw.na_action(m),
               lambda: mw.confint(m, method="profile"), lambda: pickle.dumps(m),
               lambda: mw.bootMer(m, 2, seed=1, progress=False)):
        with pytest.raises(OutOfCoreError, match="out-of-core"):
            fn()
    with pytest.raises(OutOfCoreError, match="column name"):
        mw.lmer("y ~ x + (1 | g)", dd.from_pandas(frame, npartitions=2), weights=frame["w"])
    with pytest.raises(mw.DataError, match="no such file or directory"):
        mw.lmer("y ~ x + (1 | g)", "/nonexistent/data.parquet")
    with pytest.raises(mw.UnknownColumnError):
        mw.lmer("y ~ x + (1 | gg)", dd.from_pandas(frame, npartitions=2))


def test_distributed_local_cluster(frame):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster):
        m1 = quiet("y ~ x + (1 + x | g)", dd.from_pandas(frame, npartitions=4))
    m0 = quiet("y ~ x + (1 + x | g)", frame)
    check_same(m0, m1, [m0.theta])


def test_glmer_is_not_out_of_core(frame):
    with pytest.raises(OutOfCoreError, match="glmer"):
        mw.glmer("f == 'hi' ~ x + (1 | g)", dd.from_pandas(frame, npartitions=2),
                 family="binomial")
