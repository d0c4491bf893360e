"""mlm_wrap.plots: what each figure draws, checked on the faculty models (Agg backend)."""
from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import mlm_wrap as mw  # noqa: E402
from mlm_wrap.datasets import load, simulate_faculty  # noqa: E402
from mlm_wrap.output.plots import plot_predictions, plot_ranef, plot_residuals  # noqa: E402

DEPTS = ["biology", "english", "informatics", "sociology", "statistics"]  # R's level order


@pytest.fixture(scope="module")
def faculty():
    return load("faculty")


@pytest.fixture(scope="module")
def m1(faculty):
    return mw.lmer("salary ~ experience + (1 | department)", faculty)


@pytest.fixture(scope="module")
def m3(faculty):
    return mw.lmer("salary ~ experience + (1 + experience | department)", faculty)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _group_lines(ax: Axes):
    return [ln for ln in ax.get_lines() if ln.get_label() != "population"]


# -- plot_predictions -------------------------------------------------------------------
def test_predictions_lines_labels_legend(m3):
    ax = plot_predictions(m3)
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == DEPTS  # one line per group, no population
    assert ax.get_xlabel() == "experience" and ax.get_ylabel() == "salary"
    leg = ax.get_legend()
    assert leg.get_title().get_text() == "department"
    assert [t.get_text() for t in leg.get_texts()] == DEPTS
    assert len(ax.collections) == len(DEPTS)  # one point cloud per group
    assert sum(len(c.get_offsets()) for c in ax.collections) == m3.nobs()


def test_predictions_points_and_line_share_colour(m3):
    ax = plot_predictions(m3)
    colours = [to_rgba(ln.get_color()) for ln in ax.get_lines()]
    assert len(set(colours)) == len(DEPTS)
    for coll, col in zip(ax.collections, colours):
        assert np.allclose(coll.get_facecolor()[0][:3], col[:3])


def test_predictions_lines_are_group_coefficients(m3, faculty):
    """Each line is coef(m)$department: intercept + slope * x, over that group's range."""
    ax = plot_predictions(m3)
    coefs = m3.coef()["department"]
    for ln in ax.get_lines():
        dept = ln.get_label()
        xs, ys = ln.get_xdata(), ln.get_ydata()
        b0, b1 = coefs.loc[dept, "(Intercept)"], coefs.loc[dept, "experience"]
        np.testing.assert_allclose(ys, b0 + b1 * xs, rtol=1e-10)
        obs = faculty.loc[faculty["department"] == dept, "experience"]
        assert xs.min() == obs.min() and xs.max() == obs.max()


def test_predictions_population_line(m1):
    ax = plot_predictions(m1, population=True)
    lines = ax.get_lines()
    assert len(lines) == len(DEPTS) + 1
    pop = lines[-1]
    assert pop.get_label() == "population"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == DEPTS + ["population"]
    fe = m1.fixef()
    np.testing.assert_allclose(pop.get_ydata(), fe["(Intercept)"] + fe["experience"] * pop.get_xdata())
    # m1 has random intercepts only: every group line is parallel to the population line
    for ln in _group_lines(ax):
        slope = np.polyfit(ln.get_xdata(), ln.get_ydata(), 1)[0]
        assert slope == pytest.approx(fe["experience"])


def test_predictions_draws_on_given_axes(m1):
    fig, ax = plt.subplots()
    assert plot_predictions(m1, ax=ax) is ax
    assert len(fig.axes) == 1


@pytest.mark.parametrize("kwargs, column", [
    ({"x": "salry"}, "salry"),
    ({"x": "id"}, "id"),  # a data column the model did not use
    ({"group": "dept"}, "dept"),
])
def test_predictions_unknown_column(m1, kwargs, column):
    with pytest.raises(ValueError, match=f"'{column}'.*model frame"):
        plot_predictions(m1, **kwargs)


def test_predictions_non_numeric_x(m1):
    with pytest.raises(ValueError, match="'department'.*numeric"):
        plot_predictions(m1, x="department", group="department")


def test_predictions_other_predictors_and_groups():
    """Another fixed factor sits at its first level; other grouping factors are left out."""
    df = simulate_faculty(n_per_dept=12, seed=5)
    rng = np.random.default_rng(6)
    df["rank"] = rng.choice(["assistant", "full"], len(df))
    df["campus"] = rng.choice(["north", "south", "west"], len(df))
    df["salary"] += np.where(df["rank"] == "full", 5000.0, 0.0) \
        + df["campus"].map({"north": -4000.0, "south": 0.0, "west": 4000.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics are not what is tested here
        m = mw.lmer("salary ~ experience + rank + (1 | department) + (1 | campus)", df,
                    engine="sparse")
    assert (m.ranef()["campus"].abs() > 100).all().all()  # campus effects that could leak in
    ax = plot_predictions(m)
    fe, re = m.fixef(), m.ranef()["department"]
    for ln in ax.get_lines():
        want = fe["(Intercept)"] + re.loc[ln.get_label(), "(Intercept)"] \
            + fe["experience"] * ln.get_xdata()  # rank = "assistant", campus effect 0
        np.testing.assert_allclose(ln.get_ydata(), want, rtol=1e-10)


# -- plot_ranef -------------------------------------------------------------------------
def test_ranef_panels_sorted_with_2se_bars(m3):
    fig = plot_ranef(m3)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["(Intercept)", "experience"]
    re, se = m3.ranef()["department"], m3.se_ranef()["department"]
    order = re["(Intercept)"].sort_values().index.tolist()  # lme4 sorts by the first column
    assert [t.get_text() for t in axes[0].get_yticklabels()] == order
    for ax, col in zip(axes, re.columns):
        (pts,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        assert len(pts.get_xdata()) == len(DEPTS)  # one marker per level
        np.testing.assert_allclose(pts.get_xdata(), re.loc[order, col])
        (bars,) = [c for c in ax.collections if len(c.get_segments()) == len(DEPTS)]
        lo = np.array([s[:, 0].min() for s in bars.get_segments()])
        hi = np.array([s[:, 0].max() for s in bars.get_segments()])
        np.testing.assert_allclose(hi - lo, 4 * se.loc[order, col])
    assert fig._suptitle.get_text() == "department"


def test_ranef_single_column_and_default_group(m1):
    fig = plot_ranef(m1, group="department")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "(Intercept)"
    assert len(plot_ranef(m1).axes) == 1


def test_ranef_unknown_group(m1):
    with pytest.raises(ValueError, match="'dept'.*grouping factor"):
        plot_ranef(m1, group="dept")


# -- plot_residuals ---------------------------------------------------------------------
def test_residuals_vs_fitted(m3):
    ax = plot_residuals(m3)
    assert isinstance(ax, Axes)
    (pts,) = ax.collections
    np.testing.assert_allclose(pts.get_offsets(), np.column_stack([m3.fitted(), m3.residuals()]))
    zero = [ln for ln in ax.get_lines() if np.all(np.asarray(ln.get_ydata()) == 0)]
    assert len(zero) == 1
    assert ax.get_xlabel() == "Fitted values" and ax.get_ylabel() == "Residuals"
    fig, own = plt.subplots()
    assert plot_residuals(m3, ax=own) is own


# -- no display, no hard dependency -----------------------------------------------------
def test_nothing_is_shown(m1, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("plt.show() called")
    monkeypatch.setattr(plt, "show", fail)
    plot_predictions(m1, population=True)
    plot_ranef(m1)
    plot_residuals(m1)


def _module_level_imports(body: list[ast.stmt]) -> list[str]:
    """Modules imported when a module runs (function bodies and TYPE_CHECKING blocks aside)."""
    out: list[str] = []
    for node in body:
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(node.module or "")
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                out += _module_level_imports(node.body) + _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            out += _module_level_imports(node.body)
    return out


def test_import_does_not_need_matplotlib():
    """No module of the package imports matplotlib at import time (plots imports it lazily)."""
    pkg = Path(mw.__file__).parent
    for path in sorted(pkg.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        top = [m for m in _module_level_imports(tree.body) if m.split(".")[0] == "matplotlib"]
        assert not top, f"{path.relative_to(pkg.parent)} imports {top} at import time"


def test_pooling_plot_draws_the_three_estimates_per_group():
    """Complete, no and partial pooling: the points are pooling_table's numbers."""
    import mlm_wrap as mw
    from mlm_wrap.datasets import load
    from mlm_wrap.plots import plot_pooling
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("salary ~ experience + (1 + experience | department)", data=load("faculty"))
    fig = plot_pooling(m, "experience", "department")
    tab = mw.pooling_table(m, "experience", "department")
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections]
    assert np.allclose(offsets[0], tab[["none (Intercept)", "none experience"]].to_numpy())
    assert np.allclose(offsets[1], tab[["partial (Intercept)", "partial experience"]].to_numpy())
    assert np.allclose(offsets[2][0], tab[["complete (Intercept)", "complete experience"]].iloc[0])
    assert len([t for t in ax.texts if t.get_text().strip() in tab.index]) == len(tab)
    plt.close(fig)
