"""``print(VarCorr(m))``: lme4's ``formatVC`` (variances, SDs and correlations of the random effects)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from mlm_wrap.rformat import (
    format_num,
    print_matrix,
    r_round,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlm_wrap.models.varcorr import VarCorr
from mlm_wrap.rformat.html import _chomp, html_table

# ======================================================================================
# Random effects (lme4's formatVC)
# ======================================================================================

def vc_rows(vc: "VarCorr", residual: float | None = None
            ) -> tuple[list[float], list[str], list[str], list[int]]:
    """One row per random-effect column (and a ``Residual`` row when ``residual`` is given):
    its SD, its group (on a term's first row only), its name; and each term's size."""
    sds: list[float] = []
    groups: list[str] = []
    names: list[str] = []
    lens: list[int] = []
    for t in vc.terms:
        sd = list(t.stddev)
        sds += sd
        groups += [t.group] + [""] * (len(sd) - 1)
        names += list(t.names)
        lens.append(len(sd))
    if residual is not None:
        sds.append(float(residual))
        groups.append("Residual")
        names.append("")
        lens.append(1)
    return sds, groups, names, lens


def format_vc(vc: "VarCorr", digits: int, comp: Sequence[str] = ("Std.Dev.",)
              ) -> tuple[list[str], list[list[str]]]:
    """lme4's ``formatVC``: the Groups/Name/Variance/Std.Dev./Corr character matrix."""
    use = [c for c in ("Variance", "Std.Dev.") if c in comp]
    if not use:
        raise ValueError("Must *either* show variances or standard deviations")
    colnames = ["Groups", "Name"] + use
    sds, groups, names, lens = vc_rows(vc, residual=vc.sigma if vc.use_sc else None)
    cols: list[list[str]] = [groups, names]
    if "Variance" in use:
        cols.append(format_num([s * s for s in sds], digits=digits))
    if "Std.Dev." in use:
        cols.append(format_num(sds, digits=digits))
    nr = len(sds)
    if any(n > 1 for n in lens):
        maxlen = max(lens)
        dig = max(2, digits - 2)
        corr_rows: list[list[str]] = []
        for t in vc.terms:
            corr_rows += _corr_block(t.correlation, dig, maxlen)
        corr_rows += [[""] * maxlen for _ in range(nr - len(corr_rows))]
        corr_rows = [r[:maxlen - 1] for r in corr_rows]  # [, -maxlen]
        colnames += ["Corr"] + [""] * (maxlen - 2)
        for j in range(maxlen - 1):
            cols.append([r[j] for r in corr_rows])
    cells = [[c[i] for c in cols] for i in range(nr)]
    return colnames, cells


def _corr_block(cor: np.ndarray, dig: int, maxlen: int) -> list[list[str]]:
    """One term's correlations, ``format(round(x, dig), nsmall = dig)``, lower triangle."""
    n = cor.shape[0]
    flat = format_num(r_round(cor.ravel(order="F"), dig), nsmall=dig)
    mat = [[flat[j * n + i] for j in range(n)] for i in range(n)]
    rows = [[mat[i][j] if i > j else "" for j in range(n)] + [""] * (maxlen - n) for i in range(n)]
    return rows


def prt_vc(vc: "VarCorr", digits: int, comp: Sequence[str] = ("Variance", "Std.Dev.")) -> str:
    """lme4's ``.prt.VC``: ``Random effects:`` and the formatVC table."""
    colnames, cells = format_vc(vc, digits, comp)
    return "Random effects:\n" + print_matrix([""] * len(cells), colnames, cells, right=False)


def format_varcorr(vc: "VarCorr", digits: int = 5, comp: Sequence[str] = ("Std.Dev.",)) -> str:
    """``print(VarCorr(m))``: lme4's ``print.VarCorr.merMod`` (digits = max(3, 7 - 2)),
    without the final newline (``str(VarCorr(m))``)."""
    colnames, cells = format_vc(vc, digits, comp)
    return _chomp(print_matrix([""] * len(cells), colnames, cells, right=False))


def varcorr_html(vc: "VarCorr", digits: int = 5, comp: Sequence[str] = ("Std.Dev.",)) -> str:
    """``VarCorr(m)`` as an HTML table (the cells of its printout)."""
    colnames, cells = format_vc(vc, digits, comp)
    return html_table(colnames, cells, align=_vc_align(colnames))


def _vc_align(colnames: Sequence[str]) -> list[str]:
    """Groups and Name left-aligned, the numbers right-aligned."""
    return ["left", "left"] + ["right"] * (len(colnames) - 2)
