"""broom.mixed's tidy(), glance(), augment() against R: the tb_* cases of the shared
reference and tests/r/refs/broom (tests/r/broom_refs.R)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mlm_wrap.errors import ModelError
from mlm_wrap.toolbox import broom as B
from broom_common import TB_CASES, broom_ref, checks, colerr, fit_case, ref_frame, tol

# which TOOLBOX.md tolerance a column follows
KIND = {"estimate": "linear", "std.error": "se", "statistic": "se", "conf.low": "se",
        "conf.high": "se", "p.value": "varcomp"}


def _rows(df: pd.DataFrame, key) -> pd.DataFrame:
    key = [key] if isinstance(key, str) else key
    return df.set_index(pd.Index(["|".join(map(str, r)) for r in df[key].itertuples(index=False)]))


@pytest.mark.parametrize("cid", TB_CASES)
def test_tb_tidy(cid):
    c, m, _ = fit_case(cid)
    for ch in checks(c, "tidy"):
        got = _rows(B.tidy(m, **ch["kwargs"]), ch["key"])
        ref = pd.DataFrame(ch["table"]["data"], index=ch["table"]["index"],
                           columns=ch["table"]["columns"])
        assert list(got.index) == list(ref.index)
        for col in ref.columns:
            t = tol(c)[KIND[col]] if ch["kwargs"]["effects"] == "fixed" else tol(c)["varcomp"]
            if col == "p.value":  # tiny p-values: relative
                np.testing.assert_allclose(got[col], ref[col], rtol=2e-2)
            else:
                assert colerr(got[col], ref[col]) < t, col


@pytest.mark.parametrize("cid", TB_CASES)
def test_tb_glance(cid):
    c, m, _ = fit_case(cid)
    (ch,) = checks(c, "glance")
    g = B.glance(m)
    assert list(g.columns) == list(ch["values"])
    for k, v in ch["values"].items():
        if k in ("logLik", "AIC", "BIC", "deviance", "REMLcrit"):
            assert abs(g[k].iloc[0] - v) < tol(c)["abs"], k
        elif k in ("nobs", "df.residual"):
            assert g[k].iloc[0] == v
        else:
            assert abs(g[k].iloc[0] - v) / v < tol(c)["varcomp"]


@pytest.mark.parametrize("cid", TB_CASES)
def test_tb_augment(cid):
    c, m, _ = fit_case(cid)
    a = B.augment(m)
    for ch in checks(c, "augment"):
        col = ch["args"][0]
        got = a[col].to_numpy()[np.asarray(ch["rows"]) - 1]
        kind = "linear" if col in (".fitted", ".fixed", ".mu") else \
            "se" if col == ".resid" else "varcomp"
        assert colerr(got, ch["values"]) < tol(c)[kind], col


# -- tests/r/refs/broom --------------------------------------------------------------------
def _compare(got: pd.DataFrame, tab: dict, t: float, skip=()):
    ref = ref_frame(tab)
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for col in ref.columns:
        if col in skip:
            continue
        if col in ("effect", "group", "level", "term"):
            norm = [None if pd.isna(x) else str(x) for x in got[col]]
            assert norm == [None if pd.isna(x) else str(x) for x in ref[col]], col
        else:
            assert colerr(got[col], ref[col]) < t, col


def test_tidy_default_lmer():
    _, m, _ = fit_case("tb_sleep")
    _compare(B.tidy(m), broom_ref("sleep")["tidy_default"], 2e-3)


def test_tidy_default_glmer_has_p_values():
    _, m, _ = fit_case("tb_cbpp")
    ref = broom_ref("cbpp")["tidy_default"]
    got = B.tidy(m)
    _compare(got, ref, 1e-2, skip=("p.value",))
    np.testing.assert_allclose(got["p.value"].to_numpy()[:4],
                               np.asarray(ref["data"]["p.value"][:4], float), rtol=2e-2)
    assert np.isnan(got["p.value"].iloc[4])


def test_tidy_ran_vals():
    _, m, _ = fit_case("tb_sleep")
    _compare(B.tidy(m, effects="ran_vals", conf_int=True),
             broom_ref("sleep")["tidy_ran_vals"], 2e-3)
    _, g, _ = fit_case("tb_cbpp")
    _compare(B.tidy(g, effects="ran_vals"), broom_ref("cbpp")["tidy_ran_vals"], 2e-2)


def test_tidy_ran_coefs():
    _, m, _ = fit_case("tb_sleep")
    _compare(B.tidy(m, effects="ran_coefs"), broom_ref("sleep")["tidy_ran_coefs"], 1e-3)


def test_tidy_conf_level():
    _, m, _ = fit_case("tb_sleep")
    _compare(B.tidy(m, effects="fixed", conf_int=True, conf_level=0.9),
             broom_ref("sleep")["tidy_fixed_90"], 1e-3)


def test_tidy_profile():
    _, m, _ = fit_case("tb_sleep")
    ref = broom_ref("sleep")
    _compare(B.tidy(m, effects="fixed", conf_int=True, conf_method="profile"),
             ref["tidy_fixed_profile"], 1e-3)
    _compare(B.tidy(m, effects="ran_pars", conf_int=True, conf_method="profile"),
             ref["tidy_ran_pars_profile"], 2e-3)


def test_tidy_boot_loosely():
    """R's and numpy's random numbers differ: the columns, and limits within a quarter of
    R's interval width."""
    _, m, _ = fit_case("tb_sleep")
    tab = broom_ref("sleep")["tidy_fixed_boot"]
    got = B.tidy(m, effects="fixed", conf_int=True, conf_method="boot", nsim=200, seed=1)
    ref = ref_frame(tab)
    assert list(got.columns) == list(ref.columns)
    width = (ref["conf.high"] - ref["conf.low"]).to_numpy()
    for col in ("conf.low", "conf.high"):
        assert np.all(np.abs(got[col].to_numpy() - ref[col].to_numpy()) < 0.25 * width), col


def test_tidy_wald_ran_pars_na_and_errors():
    _, m, _ = fit_case("tb_sleep")
    t = B.tidy(m, effects="ran_pars", conf_int=True)
    assert t["conf.low"].isna().all() and t["conf.high"].isna().all()
    with pytest.raises(ValueError, match="unknown effect type"):
        B.tidy(m, effects="ran_modes")
    with pytest.raises(ModelError, match="only Wald CIs"):
        B.tidy(m, effects="ran_vals", conf_int=True, conf_method="profile")


@pytest.mark.parametrize("name,cid", [("sleep", "tb_sleep"), ("cbpp", "tb_cbpp")])
def test_augment_columns(name, cid):
    _, m, _ = fit_case(cid)
    cols = list(B.augment(m).columns)
    ref = broom_ref(name)["augment_columns"]
    assert cols[cols.index(".fitted"):] == ref[ref.index(".fitted"):]
    if cid == "tb_sleep":
        assert cols == ref
    else:  # R's cbind() matrix column, flattened as as.data.frame(model.frame(m)) names it
        assert cols[:cols.index(".fitted")] == [
            "cbind(incidence, size - incidence).incidence",
            "cbind(incidence, size - incidence).V2", "period", "herd"]


def test_augment_newdata():
    _, m, _ = fit_case("tb_sleep")
    ref = broom_ref("sleep")["augment_newdata"]
    nd = pd.DataFrame({"Days": ref["newdata"]["data"]["Days"],
                       "Subject": ref["newdata"]["data"]["Subject"]})
    a = B.augment(m, newdata=nd)
    assert list(a.columns) == ["Days", "Subject", ".fitted"]
    assert colerr(a[".fitted"], ref["fitted"]) < 1e-4


def test_glance_full_lmer():
    _, m, _ = fit_case("tb_sleep")
    ref = broom_ref("sleep")["glance"]
    g = B.glance(m)
    assert list(g.columns) == list(ref)
    str(g)  # prints


@pytest.mark.parametrize("name,cid", [("sleep", "tb_sleep"), ("cbpp", "tb_cbpp"),
                                      ("cbpp_pois", "tb_cbpp_pois")])
def test_augment_values(name, cid):
    """Every augment() column R gives, first 10 rows (lme4's resp fields included)."""
    c, m, _ = fit_case(cid)
    tab = broom_ref(name)["augment_head"]
    a = B.augment(m).iloc[:10]
    for col in tab["columns"]:
        ref = np.asarray([np.nan if v is None else v for v in tab["data"][col]], float)
        assert colerr(a[col], ref) < tol(c)["varcomp"], col
