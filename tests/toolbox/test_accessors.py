"""getME and lme4's accessors against R (tests/r/refs/accessors/, tests/r/accessors_refs.R;
the v2 toolbox cases' getME theta and model.matrix checks)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import load_case, load_data

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.toolbox.accessors import (
    df_residual,
    family,
    formula,
    getME,
    model_matrix,
    terms,
    weights,
)

REFS = Path(__file__).resolve().parents[1] / "r" / "refs" / "accessors"
MODELS = {"getme_sleep": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", True),
          "getme_sleep_ml": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", False),
          "getme_penicillin": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", True)}


def _ref(name):
    return json.loads((REFS / f"{name}.json").read_text())


def _dense(x):
    return np.asarray(x["values"], float).reshape(x["dim"])


def _names(v):
    return list(np.atleast_1d(v))


def _num(v):
    return np.array([np.nan if a is None else a for a in np.atleast_1d(v)], float)


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request):
    data, f, reml = MODELS[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(f, load(data), REML=reml)
    return m, _ref(request.param)


def test_theta_beta_u_b(fitted):
    m, R = fitted
    th = getME(m, "theta")
    assert list(th.index) == _names(R["theta"]["names"])
    assert np.allclose(th.to_numpy(), R["theta"]["values"], rtol=2e-3, atol=1e-4)
    assert np.allclose(getME(m, "beta"), R["beta"], rtol=1e-5)
    scale = np.max(np.abs(R["b"]))
    assert np.max(np.abs(getME(m, "b") - R["b"])) < 2e-3 * scale
    assert np.max(np.abs(getME(m, "u") - R["u"])) < 2e-3 * np.max(np.abs(R["u"]))


def test_matrices(fitted):
    m, R = fitted
    assert np.array_equal(getME(m, "X").to_numpy(), _dense(R["X"]))
    assert list(getME(m, "X").columns) == _names(R["X"]["colnames"])
    Z = getME(m, "Z").toarray()
    assert np.array_equal(Z, _dense(R["Z"]))
    assert np.array_equal(getME(m, "Zt").toarray(), Z.T)
    L = getME(m, "Lambda").toarray()
    assert np.allclose(L, _dense(R["Lambda"]), atol=2e-3 * np.max(np.abs(L)))
    assert np.array_equal(getME(m, "Lambdat").toarray(), L.T)
    mm = model_matrix(m, type="random")
    assert list(mm.columns) == _names(R["model_matrix_random"]["colnames"])
    assert np.array_equal(mm.to_numpy(), _dense(R["model_matrix_random"]))
    fx = model_matrix(m)
    assert list(fx.columns) == _names(R["model_matrix"]["colnames"])
    assert np.array_equal(fx.to_numpy(), _dense(R["model_matrix"]))


def test_factors_and_sizes(fitted):
    m, R = fitted
    fl = getME(m, "flist")
    assert list(fl) == list(R["flist"])
    for k, v in fl.items():
        assert list(v.categories) == R["flist"][k]["levels"]
        assert list(v.codes + 1) == R["flist"][k]["codes"]
    cn = getME(m, "cnms")
    assert {k: list(np.atleast_1d(v)) for k, v in R["cnms"].items()} == cn
    lo = getME(m, "lower")
    assert np.array_equal(np.where(np.isfinite(lo), lo, np.nan), _num(R["lower"]), equal_nan=True)
    for k in ("n", "p", "q"):
        assert getME(m, k) == R[k]


def test_devcomp(fitted):
    m, R = fitted
    dc = getME(m, "devcomp")
    assert dict(dc["dims"]) == R["devcomp"]["dims"]
    for k, v in R["devcomp"]["cmp"].items():
        got = dc["cmp"][k]
        if v is None:
            assert np.isnan(got), k
        elif k in ("REML", "dev"):
            assert abs(got - v) < 5e-3, k
        else:
            assert abs(got - v) <= 2e-3 * abs(v) + 1e-3, (k, got, v)


def test_formula_terms_df_weights_family(fitted):
    m, R = fitted
    assert formula(m) == R["formula_text"]
    assert terms(m) == list(np.atleast_1d(R["terms"])) if R["terms"] else terms(m) == []
    assert df_residual(m) == R["df_residual"]
    assert np.array_equal(weights(m), R["weights"])
    assert str(family(m)) == "\n".join(R["family"])


def test_glmer_accessors():
    R = _ref("getme_cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mw.glmer(R["formula"], load("cbpp"), family="binomial")
    assert str(family(g)) == "\n".join(R["family"])
    assert np.array_equal(weights(g), R["weights"])
    assert df_residual(g) == R["df_residual"]
    assert formula(g) == R["formula_text"]
    assert list(getME(g, "theta").index) == list(np.atleast_1d(R["theta"]["names"]))
    assert abs(getME(g, "theta").iloc[0] - R["theta"]["values"]) < 1e-2 * R["theta"]["values"]
    assert (getME(g, "n"), getME(g, "p"), getME(g, "q")) == (R["n"], R["p"], R["q"])
    with pytest.raises(NotImplementedError):
        getME(g, "devcomp")


def test_double_vert_formula_and_unknown_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("Reaction ~ Days + (Days || Subject)", load("sleepstudy"))
    # lme4 keeps the expanded formula (update_sleep.json's "uncorrelated" refit)
    R = _ref("update_sleep")["updates"]["uncorrelated"]
    assert formula(m) == R["formula"]
    assert getME(m, "cnms") == [("Subject", ["(Intercept)"]), ("Subject", ["Days"])]
    assert list(getME(m, "theta").index) == ["Subject.(Intercept)", "Subject.Days"]
    with pytest.raises(ValueError, match="unknown name"):
        getME(m, "nonsense")
    assert np.isnan(getME(m, "glmer.nb.theta"))  # lme4: NA for a fit that is not glmer.nb


@pytest.mark.parametrize("cid", ["tb_sleep", "tb_faculty", "tb_oats", "tb_oats_by", "tb_cbpp"])
def test_v2_theta_names_and_model_matrix(cid):
    case = load_case(f"v2:{cid}")
    df = load_data(case["data"], case["_data_dir"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = (mw.lmer(case["formula"], df) if case["fun"] == "lmer"
             else mw.glmer(case["formula"], df, family=case["family"]))
    checks = {c["name"]: c for c in case["checks"]}
    c = checks["getME theta"]
    th = getME(m, "theta")
    assert list(th.index) == c["names"]
    assert np.allclose(th.to_numpy(), c["values"], rtol=1e-2)
    c = checks["model_matrix"]
    mm = model_matrix(m)
    rows = np.asarray(c["rows"]) - 1
    got = mm[c["table"]["columns"]].to_numpy()[rows]
    assert np.array_equal(got, np.asarray(c["table"]["data"], float))


def test_small_names(fitted):
    m, R = fitted
    assert getME(m, "REML") == (R["devcomp"]["dims"]["REML"])
    assert getME(m, "is_REML") == bool(R["devcomp"]["dims"]["REML"])
    assert np.array_equal(getME(m, "y"), m.design.y)
    T = getME(m, "Tlist")
    assert len(T) == len(m.design.terms) and np.allclose(np.tril(T[0]), T[0])
