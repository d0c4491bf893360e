"""simr-style power analysis (mlm_wrap.toolbox.power): power_sim against an independent
Monte Carlo loop run with lme4 in R (tests/r/power_refs.R: simulate + refit + anova /
lmerTest), within Monte Carlo error; simr's printouts; extend and power_curve; the same
p-values serial and in worker processes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.toolbox.power import _new_values, binom_exact

REF = json.loads((Path(__file__).resolve().parents[1] / "r" / "refs" / "power" /
                  "sleepstudy_int.json").read_text())


@pytest.fixture(scope="module")
def m():
    return mw.lmer(REF["formula"], data=load("sleepstudy"))


def _case(method, effect):
    return next(c for c in REF["cases"] if c["method"] == method and c["effect"] == effect)


@pytest.mark.parametrize("method,effect,nsim", [("lrt", 1.6, 400), ("satterthwaite", 1.6, 200),
                                                ("lrt", 0, 300)])
def test_power_matches_r_monte_carlo(m, method, effect, nsim):
    """Both are estimates of one probability: they must agree within 3.5 standard errors of
    their difference (binomial, pooled)."""
    ref = _case(method, effect)
    ps = mw.power_sim(m, REF["test"], nsim=nsim, alpha=ref["alpha"], method=method,
                      effect=effect, seed=1, progress=False)
    assert ps.n == nsim and not ps.errors
    p = (ps.successes + ref["successes"]) / (nsim + ref["nsim"])
    se = math.sqrt(max(p * (1 - p), 0.01 * 0.99) * (1 / nsim + 1 / ref["nsim"]))
    assert abs(ps.power - ref["power"]) < 3.5 * se, (ps.power, ref["power"], se)


def test_binomial_interval_is_r_binom_test():
    for c in REF["cases"]:
        mean, lo, hi = binom_exact(c["successes"], c["nsim"])
        assert mean == pytest.approx(c["power"]) and lo == pytest.approx(c["lower"], rel=1e-9)
        assert hi == pytest.approx(c["upper"], rel=1e-9)
    assert binom_exact(0, 10)[1] == 0.0 and binom_exact(10, 10)[2] == 1.0


def test_printout_is_simrs(m):
    ps = mw.power_sim(m, "Days", nsim=10, method="kr", effect=1.6, seed=3, progress=False)
    x = ps.successes
    mean, lo, hi = binom_exact(x, 10)
    head = (f"Power for predictor 'Days', (95% confidence interval):\n"
            f"      {100 * mean:5.2f}% ({100 * lo:5.2f}, {100 * hi:5.2f})\n\n").replace("100.00%", "100.0%")
    s = str(ps)
    assert s.startswith(head.replace("(100.00,", "(100.0,").replace(", 100.00)", ", 100.0)")), s
    assert "Test: Kenward Roger (package pbkrtest)\n      Effect size for Days is 1.6\n" in s
    assert "\nBased on 10 simulations, (0 warnings, 0 errors)\nalpha = 0.05, nrow = 180\n" in s
    assert "\nTime elapsed: 0 h 0 m " in s and "observed power" not in s
    assert list(ps.confint().columns) == ["2.5 %", "97.5 %"]
    observed = mw.power_sim(m, nsim=2, seed=1, progress=False)  # the first fixed effect
    assert observed.xname == "Days" and str(observed).endswith(
        "nb: result might be an observed power calculation\n")


def test_serial_and_workers_give_the_same_pvalues(m):
    a = mw.power_sim(m, "Days", nsim=8, effect=1.0, seed=5, progress=False)
    b = mw.power_sim(m, "Days", nsim=8, effect=1.0, seed=5, progress=False,
                     parallel="multicore", ncpus=2)
    assert np.array_equal(a.pval, b.pval)


def test_extend_and_power_curve(m):
    e = mw.extend(m, along="Subject", n=24)
    assert e.ngrps() == {"Subject": 24} and e.nobs() == 240
    assert np.array_equal(e.sim_params["beta"], m._sol.beta)  # simulated from m's parameters
    assert mw.extend(m, within="Days + Subject", n=2).nobs() == 360
    assert mw.extend(m, along="Subject", n=5).nobs() == 50
    pc = mw.power_curve(e, "Days", along="Subject", breaks=[6, 24], nsim=6, effect=1.6,
                        seed=2, progress=False)
    lines = str(pc).splitlines()
    assert lines[:2] == ["Power for predictor 'Days', (95% confidence interval),",
                         "by number of levels in Subject:"]
    assert lines[2].startswith("      6: ") and lines[2].endswith(" - 60 rows")
    assert lines[3].startswith("     24: ") and lines[3].endswith(" - 240 rows")
    assert list(pc.summary()["nlevels"]) == [6, 24]
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from mlm_wrap.plots import plot_power_curve
    ax = plot_power_curve(pc)
    assert ax.get_xlabel() == "number of levels in Subject"
    assert len(ax.lines[0].get_xdata()) == 2


def test_simr_new_level_names():
    assert _new_values([1, 2, 3], 2) == [4, 5]
    assert _new_values(["s1", "s2", "s3"], 2) == ["s4", "s5"]
    assert _new_values(["a", "b"], 2) == ["c", "d"]
    assert _new_values(["308", "309", "330"], 2) == ["a", "b"]  # simr's short labels
    assert _new_values(["Alpha", "Gamma"], 1) == ["New Level 1"]


def test_errors(m):
    with pytest.raises(ValueError, match="method must be"):
        mw.power_sim(m, "Days", nsim=2, method="wald")
    with pytest.raises(mw.ModelError, match="not a fixed effect"):
        mw.power_sim(m, "Dayz", nsim=2)
    with pytest.raises(ValueError, match="along= or within="):
        mw.extend(m)


def test_z_test_is_the_t_value_taken_as_normal(m):
    """simr's fixed(x, "z") on an lmer fit: the same draws as the Satterthwaite test (one
    seed), the t value's normal p-value, smaller than the t distribution's."""
    z = mw.power_sim(m, "Days", nsim=5, method="z", effect=0.8, seed=4, progress=False)
    t = mw.power_sim(m, "Days", nsim=5, method="satterthwaite", effect=0.8, seed=4, progress=False)
    assert "Test: z-test\n" in str(z)
    assert np.all(z.pval < t.pval) and np.all(z.pval > 0.5 * t.pval)
