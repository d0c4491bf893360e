"""lmer()'s R arguments besides the formula: weights, offset, subset, na_action, contrasts,
control and start.  R's numbers for weights/offset/subset are the v2 corpus's (checked
quantity by quantity in test_lmer.py); here: the argument forms agree with each other,
lme4's Control: line, and every misuse gets a named error."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_case, load_data
from printouts import printout_mismatches

import mlm_wrap as mw
from mlm_wrap.errors import DataError


def quiet(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mw.lmer(*a, **k)


@pytest.fixture(scope="module")
def sleepx() -> pd.DataFrame:
    case = load_case("v2:fam_sleep_weights")
    return load_data(case["data"], case["_data_dir"])


def test_weights_offset_subset_as_expressions_or_values(sleepx):
    f = "Reaction ~ Days + (1 | Subject)"
    a = quiet(f, sleepx, weights="w", offset="prior", subset="Days >= 2")
    b = quiet(f, sleepx, weights=sleepx["w"].to_numpy(), offset=sleepx["prior"],
              subset=(sleepx["Days"] >= 2).to_numpy())
    np.testing.assert_allclose(mw.fixef(a), mw.fixef(b), rtol=1e-10)
    assert float(mw.logLik(a)) == pytest.approx(float(mw.logLik(b)), abs=1e-8)
    assert mw.nobs(a) == 144
    # an expression of columns, evaluated by the safe evaluator, as R's weights = 2 * w
    c = quiet(f, sleepx, weights="2 * w")
    d = quiet(f, sleepx.assign(w2=2 * sleepx["w"]), weights="w2")
    np.testing.assert_allclose(mw.fixef(c), mw.fixef(d), rtol=1e-10)


def test_unit_weights_and_zero_offset_change_nothing(sleepx):
    f = "Reaction ~ Days + (Days | Subject)"
    plain = quiet(f, sleepx, engine="sparse")
    w1 = quiet(f, sleepx.assign(one=1.0), weights="one", offset="0 * Days")
    np.testing.assert_allclose(mw.fixef(plain), mw.fixef(w1), rtol=1e-7)
    assert float(mw.REMLcrit(plain)) == pytest.approx(float(mw.REMLcrit(w1)), abs=1e-6)


def test_na_action(sleepx):
    d = sleepx.copy()
    d.loc[d.index[[3, 50]], "Reaction"] = np.nan
    f = "Reaction ~ Days + (1 | Subject)"
    omit = quiet(f, d)
    excl = quiet(f, d, na_action="na.exclude")
    assert len(mw.fitted(omit)) == 178 and len(mw.fitted(excl)) == 180
    assert mw.fitted(excl).iloc[[3, 50]].isna().all() and mw.residuals(excl).iloc[[3, 50]].isna().all()
    np.testing.assert_allclose(mw.fitted(excl).dropna(), mw.fitted(omit), rtol=1e-12)
    assert list(mw.na_action(omit)) == list(d.index[[3, 50]])
    with pytest.raises(DataError, match="na.fail"):
        quiet(f, d, na_action="na.fail")
    with pytest.raises(ValueError, match="na_action"):
        quiet(f, d, na_action="drop")


def test_contrasts_argument(sleepx):
    d = sleepx.assign(third=pd.Categorical(np.where(sleepx.Days < 3, "a", np.where(sleepx.Days < 6, "b", "c"))))
    m = quiet("Reaction ~ third + (1 | Subject)", d, contrasts={"third": "contr.sum"}, REML=False)
    assert list(mw.fixef(m).index) == ["(Intercept)", "third1", "third2"]
    m2 = quiet("Reaction ~ third + (1 | Subject)", d, REML=False)  # ML: the same model
    assert float(mw.logLik(m)) == pytest.approx(float(mw.logLik(m2)), abs=1e-8)


def test_control_prints_rs_control_line_and_reaches_the_optimum():
    case = load_case("extra:orthodont_sex_bobyqa")  # R: lmerControl(optimizer = "bobyqa")
    df = load_data(case["data"], case["_data_dir"])
    df.attrs["name"] = "Orthodont"
    for ctrl in (mw.lmerControl(optimizer="bobyqa"), {"optimizer": "bobyqa"}):
        m = quiet(case["formula"], df, REML=case["REML"], control=ctrl)
        assert not printout_mismatches(str(mw.summary(m)), case["summary_text"])
        assert float(mw.REMLcrit(m)) == pytest.approx(case["REMLcrit"], abs=1e-6)
    for opt in ("Nelder_Mead", "nloptwrap"):
        m = quiet(case["formula"], df, control=mw.lmerControl(optimizer=opt, optCtrl={"maxfun": 500}))
        assert float(mw.REMLcrit(m)) == pytest.approx(case["REMLcrit"], abs=1e-6)


def test_control_refuses_by_name(sleepx):
    f = "Reaction ~ Days + (1 | Subject)"
    with pytest.raises(NotImplementedError, match="'nlminbwrap' is not available"):
        mw.lmerControl(optimizer="nlminbwrap")
    with pytest.raises(ValueError, match="unknown optimizer 'BOBYQA'"):
        quiet(f, sleepx, control={"optimizer": "BOBYQA"})
    with pytest.raises(TypeError, match="maxit"):
        mw.lmerControl(maxit=10)
    with pytest.raises(TypeError, match="control must be"):
        quiet(f, sleepx, control="bobyqa")


def test_start(sleepx):
    f = "Reaction ~ Days + (Days | Subject)"
    m = quiet(f, sleepx)
    m2 = quiet(f, sleepx, start=m.theta)
    m3 = quiet(f, sleepx, start={"theta": [1.0, 0.0, 1.0]})
    for other in (m2, m3):
        assert float(mw.REMLcrit(other)) == pytest.approx(float(mw.REMLcrit(m)), abs=1e-6)
    with pytest.raises(ValueError, match="3 theta parameters"):
        quiet(f, sleepx, start=[1.0])
    with pytest.raises(ValueError, match="theta only"):
        quiet(f, sleepx, start={"beta": [1.0]})


def test_bad_arguments_are_named(sleepx):
    f = "Reaction ~ Days + (1 | Subject)"
    with pytest.raises(DataError, match="negative weights"):
        quiet(f, sleepx.assign(w=-sleepx["w"]), weights="w")
    with pytest.raises(DataError, match="subset must be a logical"):
        quiet(f, sleepx, subset="Days + 1")
    with pytest.raises(DataError, match="weights has 3 values"):
        quiet(f, sleepx, weights=[1.0, 2.0, 3.0])
    with pytest.raises(mw.UnknownColumnError, match="did you mean 'w'"):
        quiet(f, sleepx, weights="W")


def test_refit_and_simulate_keep_weights_and_offset(sleepx):
    """refit() of the model's own response is the same fit; simulate() draws around the
    fitted values with the offset and sigma^2 / w residual variances."""
    m = quiet("Reaction ~ Days + (1 | Subject)", sleepx, weights="w", offset="prior")
    m2 = mw.refit(m, m.design.y)
    np.testing.assert_allclose(mw.fixef(m2), mw.fixef(m), rtol=1e-8)
    sims = mw.simulate(m, 400, seed=3)
    assert abs(float(sims.to_numpy().mean()) - float(mw.fitted(m).mean())) < 5.0
    resid = sims.to_numpy() - sims.to_numpy().mean(axis=1, keepdims=True)
    heavy, light = sleepx["w"].to_numpy() >= 2.0, sleepx["w"].to_numpy() <= 1.0
    assert resid[heavy].var() < resid[light].var()  # larger weight, smaller variance


def test_glmer_simulation_is_the_family_not_gaussian():
    # glmer fits are simulated from their family (tests/inference/test_glmm_boot.py
    # checks the moments against R): binomial draws are counts out of the trials
    from mlm_wrap.datasets import load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", load("cbpp"),
                     family="binomial")
    Y = mw.simulate(g, 5, seed=1).to_numpy()
    k = Y * g._problem.wt[:, None]
    assert np.all((Y >= 0) & (Y <= 1)) and np.allclose(k, np.round(k))
    b = mw.bootMer(g, 3, seed=1, progress=False)
    assert b.t.shape == (3, 5) and b.nfail == 0
