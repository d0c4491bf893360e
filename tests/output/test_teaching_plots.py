"""The teaching figures (Agg backend): each is drawn and its plotted data are the model's
numbers (pooling_table's lm / lmList / coef lines, fitted values, residuals, ranef)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import mlm_wrap as mw  # noqa: E402
from mlm_wrap.datasets import load  # noqa: E402
from mlm_wrap.plots import (plot_diagnostics, plot_pooling, plot_pooling_lines,  # noqa: E402
                            plot_predictions, plot_ranef, plot_shrinkage)
from mlm_wrap.output.teaching_plots import ppoints  # noqa: E402

DEPTS = ["biology", "english", "informatics", "sociology", "statistics"]


@pytest.fixture(scope="module")
def faculty():
    return load("faculty")


@pytest.fixture(scope="module")
def m3(faculty):
    return mw.lmer("salary ~ experience + (1 + experience | department)", faculty)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_pooling_lines_are_lm_lmlist_and_coef(m3, faculty):
    fig = plot_pooling_lines(m3, "experience", "department")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == DEPTS
    tab = mw.pooling_table(m3, "experience", "department")
    coef = mw.coef(m3)["department"]
    for ax in panels:
        lev = ax.get_title()
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert set(lines) == {"complete pooling (lm)", "no pooling (lmList)", "partial pooling (lmer)"}
        for label, prefix in (("complete pooling (lm)", "complete"), ("no pooling (lmList)", "none"),
                              ("partial pooling (lmer)", "partial")):
            x, y = lines[label].get_data()
            a, b = tab.loc[lev, f"{prefix} (Intercept)"], tab.loc[lev, f"{prefix} experience"]
            np.testing.assert_allclose(y, a + b * np.asarray(x), rtol=1e-12)
        # partial pooling is the mixed model's coef; no pooling the group's own regression
        x, y = lines["partial pooling (lmer)"].get_data()
        np.testing.assert_allclose(y, coef.loc[lev, "(Intercept)"] + coef.loc[lev, "experience"] * np.asarray(x))
        rows = faculty[faculty["department"] == lev]
        ols = np.polyfit(rows["experience"], rows["salary"], 1)
        x, y = lines["no pooling (lmList)"].get_data()
        np.testing.assert_allclose(y, np.polyval(ols, x), rtol=1e-9)
        pts = ax.collections[0].get_offsets()
        np.testing.assert_allclose(np.asarray(pts)[:, 1], rows["salary"].to_numpy())


def test_shrinkage_points_and_the_fixed_effect(m3):
    fig = plot_shrinkage(m3, "experience", "department")
    ax = fig.axes[0]
    tab = mw.pooling_table(m3, "experience", "department")
    none, partial = (np.asarray(c.get_offsets()) for c in ax.collections[:2])
    # equal sizes (20 each): departments by their own (no pooling) intercept
    order = list(tab["none (Intercept)"].sort_values().index)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{d}\n(n=20)" for d in order]
    np.testing.assert_allclose(none[:, 1], tab.loc[order, "none (Intercept)"].to_numpy())
    np.testing.assert_allclose(partial[:, 1],
                               mw.coef(m3)["department"].loc[order, "(Intercept)"].to_numpy())
    hline = ax.get_lines()[0].get_ydata()
    assert hline[0] == pytest.approx(mw.fixef(m3)["(Intercept)"])
    slope = plot_shrinkage(m3, "experience", "department", coef="experience").axes[0]
    by_slope = list(tab["none experience"].sort_values().index)
    np.testing.assert_allclose(np.asarray(slope.collections[1].get_offsets())[:, 1],
                               mw.coef(m3)["department"].loc[by_slope, "experience"].to_numpy())
    # unequal sizes: the smallest group first
    sleep = load("sleepstudy").iloc[[i for i in range(180) if not (i < 30 and i % 10 > 4)]]
    ms = mw.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    labels = [t.get_text() for t in plot_shrinkage(ms, "Days", "Subject").axes[0].get_xticklabels()]
    assert labels[0].endswith("(n=5)") and labels[-1].endswith("(n=10)")
    with pytest.raises(ValueError, match="coef must be"):
        plot_shrinkage(m3, "experience", "department", coef="salary")


def test_diagnostics_plot_the_model_numbers(m3):
    fig = plot_diagnostics(m3)
    a, b, c, d = fig.axes
    fitted, resid = mw.fitted(m3).to_numpy(), mw.residuals(m3).to_numpy()
    np.testing.assert_allclose(np.asarray(a.collections[0].get_offsets()), np.c_[fitted, resid])
    scaled = resid / mw.sigma(m3)
    qq = np.asarray(b.collections[0].get_offsets())
    np.testing.assert_allclose(qq[:, 1], np.sort(scaled))
    np.testing.assert_allclose(qq[:, 0], stats.norm.ppf(ppoints(len(scaled))))
    np.testing.assert_allclose(np.asarray(c.collections[0].get_offsets())[:, 1],
                               np.sqrt(np.abs(scaled)))
    re = mw.ranef(m3)["department"]["(Intercept)"].to_numpy()
    np.testing.assert_allclose(np.asarray(d.collections[0].get_offsets())[:, 1], np.sort(re))
    # R's ppoints
    np.testing.assert_allclose(ppoints(5), (np.arange(1, 6) - 3 / 8) / (5 + 1 - 3 / 4))
    np.testing.assert_allclose(ppoints(20), (np.arange(1, 21) - 0.5) / 20)
    g = mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", load("cbpp"),
                 family="binomial")
    ga = plot_diagnostics(g).axes[0]
    np.testing.assert_allclose(np.asarray(ga.collections[0].get_offsets())[:, 1],
                               mw.residuals(g, type="pearson").to_numpy())
    with pytest.raises(ValueError, match="not a grouping factor"):
        plot_diagnostics(m3, group="nope")


def test_the_other_teaching_figures_draw(m3):
    """Predicted lines with the population line, caterpillar, pooling scatter: drawn (their
    data are checked in test_plots.py)."""
    ax = plot_predictions(m3, population=True)
    pop = [ln for ln in ax.get_lines() if ln.get_label() == "population"][0]
    x, y = pop.get_data()
    fe = mw.fixef(m3)
    np.testing.assert_allclose(y, fe["(Intercept)"] + fe["experience"] * np.asarray(x))
    assert plot_ranef(m3).axes and plot_pooling(m3, "experience", "department").axes
