"""Saving and loading fitted models (issue #17; mlm_wrap/models/persist.py).

A fitted model pickles (and ``joblib.dump``s) and loads in a new Python process with the
same printout, predictions and ``simulate`` output for the same seed (compared bit for
bit); the pickle holds the model frame, not the user's other columns; caches are left
out and rebuilt on first use; a pickle from another version is refused by name.
"""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.errors import VersionError
from mlm_wrap.models import persist

# what the test and the new process both compute from a model (floats as hex: exact)
REPORT = r'''
import json, pickle, sys, warnings
import numpy as np
import mlm_wrap as mw

def report(m, newdata):
    out = {"summary": str(mw.summary(m)), "print": str(m),
           "fitted": [float(v).hex() for v in np.asarray(mw.fitted(m), float)],
           "predict": [float(v).hex() for v in np.asarray(mw.predict(m, newdata=newdata), float)],
           "ranef": str(mw.ranef(m)), "vcov": [float(v).hex() for v in np.ravel(mw.vcov(m))]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = mw.simulate(m, 3, seed=11)
        out["simulate"] = [float(v).hex() for v in np.ravel(np.asarray(sim, float))]
    except NotImplementedError as e:  # a family simulate does not do (the same in both)
        out["simulate"] = f"NotImplementedError: {e}"
    return out
'''
exec(REPORT)  # defines report() here too

LOADER = REPORT + r'''
loader = sys.argv[1]
if loader == "joblib":
    import joblib
    m, newdata = joblib.load(sys.argv[2])
else:
    with open(sys.argv[2], "rb") as fh:
        m, newdata = pickle.load(fh)
assert "_problem" not in m.__dict__ or type(m).__name__ == "GlmerMod"
print(json.dumps(report(m, newdata)))
'''


def _nb_data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(15), 12)
    x = rng.normal(size=g.size)
    mu = np.exp(0.5 + 0.4 * x + rng.normal(scale=0.5, size=15)[g])
    y = rng.negative_binomial(3, 3 / (3 + mu))
    return pd.DataFrame({"y": y, "x": x, "g": [f"s{i:02d}" for i in g]})


def _models():
    ss, cbpp = load("sleepstudy"), load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "lmer": (mw.lmer("Reaction ~ Days + (Days | Subject)", data=ss), ss),
            "lmer_ml_weights": (mw.lmer("Reaction ~ Days + (1 | Subject)", data=ss, REML=False,
                                        weights=np.linspace(0.5, 2, len(ss))), ss),
            "glmer": (mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                               data=cbpp, family="binomial"), cbpp),
            "glmer_nb": (mw.glmer_nb("y ~ x + (1 | g)", data=_nb_data()), _nb_data()),
        }


MODELS = _models()


def _in_new_process(loader: str, path) -> dict:
    out = subprocess.run([sys.executable, "-c", LOADER, loader, str(path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", list(MODELS))
def test_pickle_round_trip_in_a_new_process(name, tmp_path):
    m, nd = MODELS[name]
    want = report(m, nd)
    path = tmp_path / "m.pkl"
    with open(path, "wb") as fh:
        pickle.dump((m, nd), fh)
    got = _in_new_process("pickle", path)
    assert got == want


@pytest.mark.parametrize("name", ["lmer", "glmer"])
def test_joblib_round_trip_in_a_new_process(name, tmp_path):
    joblib = pytest.importorskip("joblib")
    m, nd = MODELS[name]
    path = tmp_path / "m.joblib"
    joblib.dump((m, nd), path)
    assert _in_new_process("joblib", path) == report(m, nd)


def test_caches_left_out_and_rebuilt_on_first_use():
    m, nd = MODELS["lmer"]
    state = m.__getstate__()
    assert "_problem" not in state and state[persist.VERSION_KEY] == persist.version()
    m2 = pickle.loads(pickle.dumps(m))
    assert "_problem" not in m2.__dict__
    np.testing.assert_array_equal(mw.predict(m2, newdata=nd), mw.predict(m, newdata=nd))
    assert str(mw.summary(m2)) == str(mw.summary(m))
    assert "_problem" in m2.__dict__  # rebuilt when the summary needed it
    np.testing.assert_array_equal(m2._problem.XtX, m._problem.XtX)
    g = MODELS["glmer"][0]
    g2 = pickle.loads(pickle.dumps(g))
    assert "_xx" not in g._problem.__getstate__()
    for a, b in zip(g2._problem._xx, g._problem._xx):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_refit_model_round_trip():
    """A refit's problem holds the new response: loading never brings back the old one."""
    m, nd = MODELS["lmer"]
    y2 = np.asarray(m.design.y)[::-1].copy()
    r = mw.refit(m, y2)
    r2 = pickle.loads(pickle.dumps(r))
    assert str(mw.summary(r2)) == str(mw.summary(r))
    np.testing.assert_array_equal(mw.fixef(r2), mw.fixef(r))
    np.testing.assert_array_equal(r2._problem.y, r._problem.y)


def test_pickle_holds_the_model_frame_not_the_users_frame():
    ss = load("sleepstudy")
    wide = ss.assign(**{f"junk_column_{k}": [f"text {k} {i} " * 20 for i in range(len(ss))]
                        for k in range(5)})
    narrow = pickle.dumps(mw.lmer("Reaction ~ Days + (Days | Subject)", data=ss))
    big = pickle.dumps(mw.lmer("Reaction ~ Days + (Days | Subject)", data=wide))
    assert b"junk_column" not in big
    assert len(big) <= len(narrow) + 200


def test_pickle_from_another_version_is_refused(monkeypatch):
    m, _ = MODELS["glmer"]
    data = pickle.dumps(m)
    monkeypatch.setattr(persist, "version", lambda: "0.0.0-other")
    with pytest.raises(VersionError, match="saved by mlm_wrap .*this is mlm_wrap 0.0.0-other"):
        pickle.loads(data)
    state = m.__getstate__()
    del state[persist.VERSION_KEY]  # a pickle from before versions were stored
    with pytest.raises(VersionError, match="unknown version"):
        type(m).__new__(type(m)).__setstate__(state)
