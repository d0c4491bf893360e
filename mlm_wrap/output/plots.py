"""Figures for fitted models: fitted lines per group, caterpillar plots, residuals.

matplotlib is imported inside each function, so ``import mlm_wrap`` (and even
``import mlm_wrap.plots``) works without it; install it with ``pip install mlm_wrap[plots]``.
Functions draw and return the Axes/Figure; they never call ``plt.show()``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.toolbox.lmlist import pooling_table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_predictions", "plot_ranef", "plot_residuals", "plot_pooling"]

GRID_POINTS = 50  # x values per fitted line: enough for curved terms such as log(x)
SE_MULT = 2.0  # caterpillar bars: conditional mode +/- 2 conditional SDs


def _pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError that says how to get it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("mlm_wrap's plots need matplotlib: pip install 'mlm_wrap[plots]' "
                          "(or pip install matplotlib)") from e
    return plt


def _colors(n: int) -> list:
    """n distinguishable colours: tab10 up to 10 groups, tab20 up to 20, then a colour wheel."""
    plt = _pyplot()
    if n <= 10:
        cmap = plt.get_cmap("tab10")
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = plt.get_cmap("tab20")
        return [cmap(i) for i in range(n)]
    cmap = plt.get_cmap("hsv")
    return [cmap(i / n) for i in range(n)]


def _check_column(m: LmerMod, name: str, role: str) -> pd.Series:
    """The model-frame column ``name``, or a ValueError naming it and the columns there are."""
    frame = m.design.frame
    if name not in frame.columns:
        raise ValueError(f"{role}={name!r} is not a column of the model frame "
                         f"(columns: {', '.join(map(str, frame.columns))})")
    return frame[name]


def _levels(col: pd.Series) -> list:
    """A grouping column's levels in R's order (factor order, else sorted), unused dropped."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna())
        return [c for c in col.cat.categories if c in present]
    vals = col.dropna().unique()
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def _typical_row(frame: pd.DataFrame) -> dict:
    """Each column's typical value: the first level of a factor, else the mean."""
    out: dict = {}
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = _levels(s)[0]
        elif pd.api.types.is_numeric_dtype(s.dtype) and s.dtype != bool:
            out[c] = float(s.mean())
        else:
            out[c] = s.iloc[0]
    return out


def _grid(frame: pd.DataFrame, x: str, xs: np.ndarray, fixed: dict) -> pd.DataFrame:
    """newdata: ``xs`` for x, every other column at its value in ``fixed``."""
    data = {c: [v] * len(xs) for c, v in fixed.items()}
    data[x] = xs
    out = pd.DataFrame(data, columns=list(frame.columns))
    for c in frame.columns:  # keep factor columns as factors with the frame's levels
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            out[c] = pd.Categorical(out[c], categories=frame[c].cat.categories)
    return out


def plot_predictions(m: LmerMod, x: str = "experience", group: str = "department",
                     population: bool = False, ax: Axes | None = None) -> Axes:
    """The teaching module's figure: data coloured by group and each group's fitted line.

    Lines are ``m.predict()`` over a grid of ``x`` spanning each group's observed range,
    with the random terms of ``group`` only (other grouping factors at 0) and every other
    predictor at its first level / mean.  ``population=True`` adds the fixed-effects line
    (``re_form="~0"``) in black.  Returns the Axes; nothing is shown.
    """
    plt = _pyplot()
    frame = m.design.frame
    xcol = _check_column(m, x, "x")
    gcol = _check_column(m, group, "group")
    if isinstance(xcol.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(xcol.dtype):
        raise ValueError(f"x={x!r} must be a numeric column of the model frame "
                         f"(it is {xcol.dtype})")
    if x == group:
        raise ValueError(f"x and group are both {x!r}; choose different columns")
    response = m.design.parsed.response
    if x == response:
        raise ValueError(f"x={x!r} is the response; choose a predictor")

    # conditional lines use only the random terms grouped by `group`
    own = [str(t) for t in m.design.parsed.random if t.group == group]
    re_form: str | None = ("~" + " + ".join(own)) if own else "~0"
    if len(own) == len(m.design.parsed.random):
        re_form = None

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    y = pd.Series(m.design.y, index=frame.index)
    levels = _levels(gcol)
    colors = _colors(len(levels))
    typical = _typical_row(frame)
    handles = []
    for lev, col in zip(levels, colors):
        rows = (gcol == lev).to_numpy()
        xv = xcol.to_numpy(dtype=float)[rows]
        ax.scatter(xv, y.to_numpy()[rows], color=col, s=22, alpha=0.75, edgecolors="none")
        xs = np.linspace(xv.min(), xv.max(), GRID_POINTS)
        nd = _grid(frame, x, xs, {**typical, group: lev})
        pred = m.predict(nd, re_form=re_form).to_numpy()
        (line,) = ax.plot(xs, pred, color=col, linewidth=1.8, label=str(lev))
        handles.append(line)
    if population:
        xs = np.linspace(float(xcol.min()), float(xcol.max()), GRID_POINTS)
        pred = m.predict(_grid(frame, x, xs, typical), re_form="~0").to_numpy()
        (line,) = ax.plot(xs, pred, color="black", linewidth=2.2, linestyle="--",
                          label="population")
        handles.append(line)
    # legend entries show a group's point marker and line together
    from matplotlib.lines import Line2D
    proxies = [Line2D([], [], color=h.get_color(), linestyle=h.get_linestyle(),
                      linewidth=h.get_linewidth(),
                      marker="o" if h.get_label() != "population" else None, markersize=5)
               for h in handles]
    ax.legend(proxies, [h.get_label() for h in handles], title=group, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0,
              ncols=1 if len(handles) <= 16 else 2)
    ax.set_xlabel(x)
    ax.set_ylabel(response)
    return ax


def plot_ranef(m: LmerMod, group: str | None = None) -> Figure:
    """Caterpillar plot of conditional modes +/- 2 conditional SDs (R's
    ``dotplot(ranef(m, condVar = TRUE))``): one panel per random-effect column, levels
    sorted by the first column as lme4 sorts them, a dotted line at 0.  ``group`` defaults
    to the first grouping factor.  Returns the Figure.
    """
    plt = _pyplot()
    re_all = m.ranef()
    if group is None:
        group = next(iter(re_all))
    if group not in re_all:
        raise ValueError(f"group={group!r} is not a grouping factor of the model "
                         f"(grouping factors: {', '.join(re_all)})")
    re, se = re_all[group], m.se_ranef()[group]
    order = re.iloc[:, 0].sort_values(kind="stable").index
    re, se = re.loc[order], se.loc[order]
    ncol, nlev = re.shape[1], re.shape[0]
    height = min(max(2.4, 0.28 * nlev + 1.3), 14.0)
    fig, axes = plt.subplots(1, ncol, sharey=True, squeeze=False,
                             figsize=(3.4 * ncol + 1.0, height), layout="constrained")
    pos = np.arange(nlev)
    for ax, c in zip(axes[0], re.columns):
        ax.axvline(0.0, color="0.5", linestyle=":", linewidth=1)
        ax.errorbar(re[c].to_numpy(), pos, xerr=SE_MULT * se[c].to_numpy(), fmt="o",
                    color="tab:blue", ecolor="0.35", elinewidth=1.2, capsize=0,
                    markersize=5)
        ax.set_title(str(c))
        ax.grid(axis="y", color="0.92", linewidth=0.8)
        ax.set_axisbelow(True)
    axes[0, 0].set_yticks(pos, [str(v) for v in order])
    axes[0, 0].set_ylim(-0.7, nlev - 0.3)
    fig.suptitle(group)
    return fig


def plot_residuals(m: LmerMod, ax: Axes | None = None) -> Axes:
    """Residuals against fitted values with a zero line (R's ``plot(m)``): look for
    curvature or a funnel.  Returns the Axes; nothing is shown."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
    ax.scatter(m.fitted().to_numpy(), m.residuals().to_numpy(), s=18, alpha=0.75,
               color="tab:blue", edgecolors="none")
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("Residuals")
    return ax


def plot_pooling(m: LmerMod, x: str, group: str, data: pd.DataFrame | None = None) -> Figure:
    """Complete, no and partial pooling in one figure: each group's intercept and slope of
    ``x`` under one regression for all (complete), a regression per group (``lmList``: no
    pooling) and the mixed model (partial pooling), with an arrow from no to partial
    pooling showing the shrinkage toward the population line.  The numbers are
    :func:`mlm_wrap.pooling_table`'s."""
    plt = _pyplot()
    tab = pooling_table(m, x, group, data)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ic, sl = "(Intercept)", x
    ax.scatter(tab[f"none {ic}"], tab[f"none {sl}"], marker="o", facecolors="none",
               edgecolors="C0", label="no pooling (lmList)")
    ax.scatter(tab[f"partial {ic}"], tab[f"partial {sl}"], marker="o", color="C1",
               label="partial pooling (lmer)")
    ax.scatter(tab[f"complete {ic}"].iloc[:1], tab[f"complete {sl}"].iloc[:1], marker="X",
               s=90, color="k", label="complete pooling (lm)")
    for lvl in tab.index:
        ax.annotate("", xy=(tab.loc[lvl, f"partial {ic}"], tab.loc[lvl, f"partial {sl}"]),
                    xytext=(tab.loc[lvl, f"none {ic}"], tab.loc[lvl, f"none {sl}"]),
                    arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8})
        ax.text(tab.loc[lvl, f"none {ic}"], tab.loc[lvl, f"none {sl}"], f" {lvl}", fontsize=8,
                va="bottom")
    ax.set_xlabel("intercept")
    ax.set_ylabel(f"slope of {x}")
    ax.set_title(f"Shrinkage by {group}: no pooling -> partial pooling")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
