"""Make the figures in docs/ from the bundled faculty data (rerun after changing plots.py).

    python docs/make_figures.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(OUT.parent))  # run from a checkout without installing

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import mlm_wrap as mw  # noqa: E402
from mlm_wrap.datasets import load  # noqa: E402
from mlm_wrap.plots import plot_predictions, plot_ranef, plot_residuals  # noqa: E402

MODELS = {
    "m1": "salary ~ experience + (1 | department)",
    "m2": "salary ~ experience + (0 + experience | department)",
    "m3": "salary ~ experience + (1 + experience | department)",
}
TITLES = {
    "m1": "m1: random intercepts",
    "m2": "m2: random slopes",
    "m3": "m3: random intercepts and slopes",
}


def save(fig, name: str) -> None:
    """Write one PNG into docs/ and close the figure."""
    fig.savefig(OUT / name, dpi=110)
    plt.close(fig)
    print("wrote", OUT / name)


def main() -> None:
    """Fit m1-m3 on the faculty data and save their figures."""
    faculty = load("faculty")
    fits = {k: mw.lmer(f, faculty) for k, f in MODELS.items()}
    for k, m in fits.items():
        ax = plot_predictions(m, x="experience", group="department", population=True)
        ax.set_title(f"{TITLES[k]}   {MODELS[k]}", fontsize=10)
        save(ax.figure, f"faculty_{k}_predictions.png")
    save(plot_ranef(fits["m3"]), "faculty_m3_ranef.png")
    ax = plot_residuals(fits["m3"])
    ax.set_title(f"m3 residuals   {MODELS['m3']}", fontsize=10)
    save(ax.figure, "faculty_m3_residuals.png")


if __name__ == "__main__":
    main()
