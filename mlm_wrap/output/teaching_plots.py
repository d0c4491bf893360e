"""The figures a teacher draws to explain pooling, beside :mod:`mlm_wrap.output.plots`:
complete / no / partial pooling lines per group, shrinkage of each group's estimate
toward the mean as a function of its size, and the residual diagnostics of a fit.

The numbers are the model's own: the lines are :func:`mlm_wrap.pooling_table`'s (``lm``,
``lmList``, the mixed model's ``coef``), the diagnostics ``fitted``, ``residuals`` and
``ranef``.  Each function returns its Figure and never calls ``plt.show()``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.output.plots import _check_column, _levels, _pyplot
from mlm_wrap.toolbox.lmlist import pooling_table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_pooling_lines", "plot_shrinkage", "plot_diagnostics", "ppoints"]

#: the three lines of each panel: (pooling_table prefix, label, style)
POOLING_STYLES = (("complete", "complete pooling (lm)", {"color": "black", "linestyle": "--"}),
                  ("none", "no pooling (lmList)", {"color": "tab:blue", "linestyle": ":"}),
                  ("partial", "partial pooling (lmer)", {"color": "tab:red", "linestyle": "-"}))


def plot_pooling_lines(m, x: str, group: str, data: pd.DataFrame | None = None,
                       ncols: int = 4) -> Figure:
    """Gelman & Hill's pooling figure: one panel per level of ``group`` with its data and
    three lines of ``y`` on ``x``: complete pooling (one ``lm`` for all, dashed), no
    pooling (the group's own regression, ``lmList``, dotted) and partial pooling (the
    mixed model's ``coef``, solid).  Each line's intercept and slope are
    :func:`mlm_wrap.pooling_table`'s.  Returns the Figure."""
    plt = _pyplot()
    frame = m.design.frame if data is None else data
    xcol = _check_column(m, x, "x") if data is None else frame[x]
    gcol = _check_column(m, group, "group") if data is None else frame[group]
    tab = pooling_table(m, x, group, data)
    y = pd.Series(m.design.y, index=m.design.frame.index) if data is None else \
        frame[m.design.parsed.response]
    levels = [lv for lv in _levels(gcol) if lv in tab.index]
    ncols = max(1, min(ncols, len(levels)))
    nrows = -(-len(levels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False,
                             figsize=(2.6 * ncols + 0.8, 2.3 * nrows + 0.9), layout="constrained")
    xs = np.array([float(xcol.min()), float(xcol.max())])
    for ax, lev in zip(axes.flat, levels):
        rows = (gcol == lev).to_numpy()
        ax.scatter(xcol.to_numpy(dtype=float)[rows], y.to_numpy(dtype=float)[rows], s=14,
                   color="0.45", edgecolors="none")
        for prefix, label, style in POOLING_STYLES:
            a, b = tab.loc[lev, f"{prefix} (Intercept)"], tab.loc[lev, f"{prefix} {x}"]
            ax.plot(xs, a + b * xs, label=label, linewidth=1.5, **style)
        ax.set_title(str(lev), fontsize=9)
    for ax in list(axes.flat)[len(levels):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, frameon=False, fontsize=8)
    fig.supxlabel(x)
    fig.supylabel(m.design.parsed.response)
    return fig


def plot_shrinkage(m, x: str, group: str, coef: str = "(Intercept)",
                   data: pd.DataFrame | None = None) -> Figure:
    """Shrinkage toward the mean: each group's ``coef`` (the intercept, or the slope of
    ``x``) under no pooling (``lmList``, open circles) and partial pooling (the mixed
    model, filled), an arrow from one to the other, and the fixed effect (the mean the
    groups shrink toward) as a horizontal line.  Groups run from the smallest to the
    largest (ties by their own estimate), labelled with their number of observations:
    small groups move furthest.  Returns the Figure."""
    plt = _pyplot()
    if coef not in ("(Intercept)", x):
        raise ValueError(f"coef must be '(Intercept)' or {x!r}, not {coef!r}")
    tab = pooling_table(m, x, group, data)
    gcol = (m.design.frame if data is None else data)[group]
    sizes = gcol.value_counts().reindex(tab.index)
    order = sorted(tab.index, key=lambda lev: (sizes[lev], tab.loc[lev, f"none {coef}"]))
    tab, sizes = tab.loc[order], sizes.loc[order]
    none, partial = tab[f"none {coef}"].to_numpy(), tab[f"partial {coef}"].to_numpy()
    pos = np.arange(len(order), dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(order) + 2.5), 4.5), layout="constrained")
    mean = float(m.fixef()[coef]) if coef in m.fixef().index else float(np.nanmean(partial))
    ax.axhline(mean, color="0.3", linestyle="--", linewidth=1, label=f"fixed effect ({mean:.6g})")
    ax.scatter(pos, none, facecolors="none", edgecolors="tab:blue", label="no pooling (lmList)")
    ax.scatter(pos, partial, color="tab:red", label="partial pooling (lmer)", zorder=3)
    for p, a, b in zip(pos, none, partial):
        ax.annotate("", xy=(p, b), xytext=(p, a),
                    arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8})
    ax.set_xticks(pos, [f"{lev}\n(n={n})" for lev, n in sizes.items()], fontsize=8,
                  rotation=0 if len(order) <= 8 else 90)
    ax.set_xlabel(f"{group} (by number of observations)")
    ax.set_ylabel(coef if coef == "(Intercept)" else f"slope of {x}")
    ax.set_title(f"{coef}: shrinkage toward the fixed effect")
    ax.legend(fontsize=8, loc="best")
    return fig


def ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: the probabilities of a normal Q-Q plot."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def _qq(ax, values: np.ndarray, title: str) -> None:
    v = np.sort(values[np.isfinite(values)])
    q = stats.norm.ppf(ppoints(len(v)))
    ax.scatter(q, v, s=14, color="tab:blue", edgecolors="none")
    q1, q3 = np.quantile(v, [0.25, 0.75])  # R's qqline: through the quartiles
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (z3 - z1)
    ax.plot(q, q1 + slope * (q - z1), color="0.4", linestyle="--", linewidth=1)
    ax.set_xlabel("Theoretical quantiles")
    ax.set_title(title, fontsize=10)


def plot_diagnostics(m, group: str | None = None) -> Figure:
    """Four residual diagnostics (R's ``plot(m)``, ``qqnorm(resid(m))``,
    ``qqnorm(ranef(m)$g[, 1])``): residuals against fitted values, a normal Q-Q plot of the
    scaled residuals (Pearson residuals of a glmer fit), the scale-location plot
    (sqrt|scaled residual| against fitted) and a normal Q-Q plot of the first random
    effect of ``group`` (default: the first grouping factor).  Returns the Figure."""
    plt = _pyplot()
    glmm = getattr(m, "family_object", None) is not None
    fitted = m.fitted().to_numpy(dtype=float)
    resid = m.residuals(type="pearson").to_numpy(dtype=float)
    scaled = resid if glmm else resid / m.sigma()
    re_all = m.ranef(condVar=False)
    group = next(iter(re_all)) if group is None else group
    if group not in re_all:
        raise ValueError(f"group={group!r} is not a grouping factor of the model "
                         f"(grouping factors: {', '.join(re_all)})")
    re = re_all[group]
    fig, axes = plt.subplots(2, 2, figsize=(9, 7), layout="constrained")
    ax = axes[0, 0]
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
    ax.scatter(fitted, resid, s=14, color="tab:blue", edgecolors="none")
    ax.set(xlabel="Fitted values", ylabel="Pearson residuals" if glmm else "Residuals",
           title="Residuals vs fitted")
    _qq(axes[0, 1], scaled, "Normal Q-Q: scaled residuals")
    axes[0, 1].set_ylabel("Scaled residuals")
    ax = axes[1, 0]
    ax.scatter(fitted, np.sqrt(np.abs(scaled)), s=14, color="tab:blue", edgecolors="none")
    ax.set(xlabel="Fitted values", ylabel=r"$\sqrt{|\mathrm{scaled\ residuals}|}$",
           title="Scale-location")
    _qq(axes[1, 1], re.iloc[:, 0].to_numpy(dtype=float),
        f"Normal Q-Q: ranef {group} {re.columns[0]}")
    axes[1, 1].set_ylabel("Conditional modes")
    return fig
