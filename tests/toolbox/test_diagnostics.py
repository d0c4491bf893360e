"""lme4's hatvalues() and cooks.distance() against R (tb_* cases of the shared reference,
and the whole vectors written by tests/r/broom_refs.R)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlm_wrap.errors import ModelError
from mlm_wrap.toolbox import diagnostics as D
from broom_common import TB_CASES, broom_ref, checks, colerr, fit_case, tol


@pytest.mark.parametrize("cid", TB_CASES)
@pytest.mark.parametrize("call", ["hatvalues", "cooks_distance"])
def test_tb_rows(cid, call):
    c, m, _ = fit_case(cid)
    (ch,) = checks(c, call)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = getattr(D, call)(m)
    got = v.to_numpy()[np.asarray(ch["rows"]) - 1]
    assert colerr(got, ch["values"]) < tol(c)["varcomp"]


@pytest.mark.parametrize("name,cid", [("sleep", "tb_sleep"), ("cbpp", "tb_cbpp"),
                                      ("cbpp_pois", "tb_cbpp_pois")])
def test_whole_vectors(name, cid):
    ref = broom_ref(name)
    c, m, _ = fit_case(cid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h, cd = D.hatvalues(m), D.cooks_distance(m)
    assert len(h) == len(ref["hatvalues"]) == len(cd)
    assert colerr(h, ref["hatvalues"]) < tol(c)["varcomp"]
    assert colerr(cd, ref["cooks"]) < tol(c)["varcomp"]


def test_glmer_warns_as_lme4():
    _, m, _ = fit_case("tb_cbpp")
    with pytest.warns(UserWarning, match="the hat matrix may not make sense for GLMMs"):
        D.hatvalues(m)


def test_full_hat_matrix():
    _, m, _ = fit_case("tb_sleep")
    H = D.hatvalues(m, full_hat_matrix=True)
    h = D.hatvalues(m)
    assert H.shape == (180, 180)
    np.testing.assert_allclose(np.diag(H.to_numpy()), h.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(H.to_numpy(), H.to_numpy().T, atol=1e-12)


def test_large_n_refused(monkeypatch):
    _, m, _ = fit_case("tb_sleep")
    monkeypatch.setattr(D, "MAX_DENSE", 1000)
    with pytest.raises(ModelError, match="too large"):
        D.hatvalues(m)


# -- influence(): leave-one-group-out refits (tests/r/refs/broom/influence.json) -----------
def _check_influence(inf, r, g):
    import pandas as pd
    assert list(inf) == r["names"]
    assert inf["deleted"] == r["deleted"] and inf["groups"] == r["groups"]
    for k, v in r["fixed.effects"].items():
        assert abs(inf["fixed.effects"][k] - v) / abs(v) < 1e-4
    assert list(inf["var.cov.comps"].index) == list(r["var.cov.comps"])
    f1 = inf[f"fixed.effects[-{g}]"]
    ref = pd.DataFrame(r["fixed.1"]["data"])
    assert list(f1.columns) == r["fixed.1"]["columns"][1:]
    assert [str(x) for x in f1.index] == list(ref["deleted"])
    for col in f1.columns:
        assert colerr(f1[col], ref[col]) < 1e-4, col
    v1 = inf[f"var.cov.comps[-{g}]"]
    ref = pd.DataFrame(r["vc.1"]["data"])
    assert list(v1.columns) == r["vc.1"]["columns"][1:]
    for col in v1.columns:
        assert colerr(v1[col], ref[col]) < 2e-3, col
    first = inf[f"vcov[-{g}]"][r["deleted"][0]]
    ref = pd.DataFrame(r["vcov.1.first"]["data"])
    for col in first.columns:
        assert colerr(first[col], ref[col]) < 2e-3, col


def test_influence_sleepstudy_subject():
    _, m, _ = fit_case("tb_sleep")
    r = broom_ref("influence")["sleep_subject"]
    _check_influence(D.influence(m, groups="Subject"), r, "Subject")


def test_influence_oats_block():
    import mlm_wrap
    from conftest import load_case, load_data
    c = load_case("v2:tb_oats")
    O = load_data(c["data"], c["_data_dir"])
    mo = mlm_wrap.lmer("yield ~ N + (1 | Block/Variety)", O)
    r = broom_ref("influence")["oats_block"]
    _check_influence(D.influence(mo, groups="Block", data=O), r, "Block")


def test_influence_refusals():
    _, g, _ = fit_case("tb_cbpp")
    with pytest.raises(NotImplementedError):
        D.influence(g, groups="herd")
    _, m, _ = fit_case("tb_sleep")
    with pytest.raises(ModelError, match="no column"):
        D.influence(m, groups="nonesuch")


def test_influence_cases_default():
    """groups=None deletes each row; labels are R's row names (1-based)."""
    import mlm_wrap
    from conftest import load_case, load_data
    c = load_case("v2:tb_oats")
    O = load_data(c["data"], c["_data_dir"]).iloc[:24]
    mo = mlm_wrap.lmer("yield ~ N + (1 | Block)", O)
    inf = D.influence(mo)
    assert inf["groups"] == "case"
    assert inf["deleted"] == [str(i) for i in range(1, 25)]
    assert inf["fixed.effects[-case]"].shape == (24, 4)
    assert list(inf)[1] == "fixed.effects[-case]"


def test_prior_weights_lmer():
    import mlm_wrap
    from mlm_wrap.toolbox import broom as B
    _, _, df = fit_case("tb_sleep")
    df = df.copy()
    df["w"] = np.resize([1, 2, 0.5], len(df))
    mw = mlm_wrap.lmer("Reaction ~ Days + (Days | Subject)", df, weights="w")
    r = broom_ref("sleep_weights")
    assert colerr(D.hatvalues(mw), r["hatvalues"]) < 2e-3
    assert colerr(D.cooks_distance(mw), r["cooks"]) < 2e-3
    a = B.augment(mw)
    assert list(a.columns[:4]) == ["Reaction", "Days", "Subject", "(weights)"]
    for col in r["augment_head"]["columns"]:
        assert colerr(a[col].iloc[:10], r["augment_head"]["data"][col]) < 2e-3, col
