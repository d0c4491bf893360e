"""R's ``printCoefmat()``: the coefficient tables of ``summary()`` and ``anova()``."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mlm_wrap.rformat.matrix import print_matrix
from mlm_wrap.rformat.na import DBL_EPSILON, _coerce
from mlm_wrap.rformat.numbers import (
    _encode_real,
    _format_real,
    format_num,
    format_pval,
)
from mlm_wrap.rformat.rounding import _fround, zapsmall

#: The text ``printCoefmat`` prints after ``---`` (UTF-8 locale, as R 4.2).
SIGNIF_LEGEND: str = (
    "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 "
    "0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
)


# --------------------------------------------------------------------------
# printCoefmat
# --------------------------------------------------------------------------


def signif_stars(pv: Any) -> list[str]:
    """R's ``symnum(pv, corr=FALSE, na=FALSE, cutpoints=c(0,.001,.01,.05,.1,1), ...)``.

    Unpadded symbols; NA or out-of-range p-values give ``""``.
    """
    cuts = (0.001, 0.01, 0.05, 0.1, 1.0)
    syms = ("***", "**", "*", ".", " ")
    out: list[str] = []
    for v, k in _coerce(pv):
        if k != "fin" or v < 0 or v > 1:
            out.append("")
            continue
        for c, s in zip(cuts, syms):
            if v <= c:
                out.append(s)
                break
    return out


_symnum_stars = signif_stars  # printCoefmat's argument `signif_stars` shadows the function


@dataclass
class CoefTable:
    """Formatted coefficient table as ``printCoefmat`` would print it.

    ``cells[i][j]`` are the strings of the character matrix R passes to
    ``print.default(quote = FALSE, right = TRUE)``; ``colnames`` includes the
    unnamed stars column (``""``) when stars are shown; ``legend`` is the
    ``Signif. codes:`` line (without the ``---`` line) or None.
    """

    rownames: list[str]
    colnames: list[str]
    cells: list[list[str]]
    legend: str | None = None

    def render(self, width: int = 80) -> str:
        """The exact console text of ``printCoefmat`` (ends with a newline)."""
        out = print_matrix(self.rownames, self.colnames, self.cells, right=True, width=width)
        if self.legend is not None:
            out += "---\n" + self.legend + "\n"
        return out


def _as_numeric(s: str) -> float | None:
    """R's ``as.numeric`` of a formatted number (None for NA)."""
    t = s.strip()
    if t in ("", "NA"):
        return None
    try:
        return float(t)
    except ValueError:
        return None


def format_coefmat(x: Any, rownames: Sequence[str] | None = None,
                   colnames: Sequence[str] | None = None,
                   digits: int = 5, signif_stars: bool = True,
                   signif_legend: bool | None = None, dig_tst: int | None = None,
                   cs_ind: Sequence[int] | None = None, tst_ind: Sequence[int] | None = None,
                   zap_ind: Sequence[int] = (), P_values: bool | None = None,
                   has_Pvalue: bool | None = None, eps_Pvalue: float = DBL_EPSILON,
                   na_print: str = "NA") -> CoefTable:
    """Port of ``stats::printCoefmat`` returning the formatted cells instead of printing.

    ``x`` is an (n, nc) table: nested lists, a numpy (masked) array or a pandas
    DataFrame (whose index / columns are the default row / column names).
    None / NA_REAL / masked entries are NA.  ``cs_ind``, ``tst_ind`` and
    ``zap_ind`` are 0-based column indices.  lme4's summary calls it with
    ``digits = max(3, getOption("digits") - 3)`` i.e. 4; R's default is 5.
    """
    if hasattr(x, "columns") and hasattr(x, "index"):  # pandas DataFrame
        if rownames is None:
            rownames = [str(v) for v in x.index]
        if colnames is None:
            colnames = [str(v) for v in x.columns]
        x = x.to_numpy(dtype=object)
    if isinstance(x, np.ma.MaskedArray):
        x = np.where(np.ma.getmaskarray(x), None, np.asarray(x.data, dtype=object))
    if isinstance(x, np.ndarray):
        rows = [list(r) for r in (x.tolist() if x.ndim == 2 else [x.tolist()])]
    else:
        rows = [list(r) for r in x]
    if colnames is None or rownames is None:
        raise ValueError("rownames and colnames are required unless x is a DataFrame")
    n = len(rows)
    nc = len(colnames)
    if any(len(r) != nc for r in rows):
        raise ValueError("every row of x needs one value per column name")
    # xm[i][j] as (value, kind)
    xm = [[_coerce([v])[0] for v in r] for r in rows]
    cn = list(colnames)
    if has_Pvalue is None:
        has_Pvalue = nc >= 4 and cn[nc - 1][:3] in ("Pr(", "p-v")
    if P_values is None:
        P_values = has_Pvalue
    elif P_values and not has_Pvalue:
        raise ValueError("'P.values' is TRUE, but 'has.Pvalue' is not")
    if has_Pvalue and not P_values:
        xm = [r[:-1] for r in xm]
        cn = cn[:-1]
        nc -= 1
        has_Pvalue = False
    tst_missing = tst_ind is None
    k = nc - int(has_Pvalue) - (1 if tst_missing else len(tst_ind))  # type: ignore[arg-type]
    if cs_ind is None:
        cs = list(range(k)) if k >= 1 else [0]  # R's 1:k
    else:
        if len(cs_ind) > k:
            raise ValueError("wrong k / cs.ind")
        cs = list(cs_ind)
    tst = [k] if tst_missing else list(tst_ind)  # type: ignore[arg-type]
    if dig_tst is None:
        dig_tst = max(1, min(5, digits - 1))

    Cf = [[""] * nc for _ in range(n)]
    ina = [[kk in ("na", "nan") for _, kk in r] for r in xm]
    ok = [[not m for m in r] for r in ina]
    for j in zap_ind:
        col = zapsmall([xm[i][j][0] for i in range(n)], digits)
        for i in range(n):
            if xm[i][j][1] == "fin":
                xm[i][j] = (float(col[i]), "fin")

    if cs:
        acs = [abs(xm[i][j][0]) for j in cs for i in range(n) if xm[i][j][1] not in ("na", "nan")]
        fin = [a for a in acs if math.isfinite(a)]
        if fin:
            nz = [a for a in fin if a != 0]
            if nz:
                digmin = [1 + math.floor(math.log10(min(nz))), 1 + math.floor(math.log10(max(nz)))]
            else:
                digmin = [1]
            rd = max([1] + [digits - dm for dm in digmin])
            cells = [(xm[i][j], i, j) for j in cs for i in range(n)]
            rounded = [((_fround(v, rd), kk) if kk == "fin" else (v, kk)) for (v, kk), _, _ in cells]
            w, d, e = _format_real(rounded, digits)
            for (v, kk), (_, i, j) in zip(rounded, cells):
                Cf[i][j] = _encode_real(v, kk, w, d, e)
    if tst:
        cells = [(xm[i][j], i, j) for j in tst for i in range(n)]
        rounded = [((_fround(v, dig_tst), kk) if kk == "fin" else (v, kk)) for (v, kk), _, _ in cells]
        w, d, e = _format_real(rounded, digits)
        for (v, kk), (_, i, j) in zip(rounded, cells):
            Cf[i][j] = _encode_real(v, kk, w, d, e)
    skip = set(cs) | set(tst) | ({nc - 1} if has_Pvalue else set())
    for j in range(nc):
        if j not in skip:
            col = [xm[i][j] for i in range(n)]
            w, d, e = _format_real(col, digits)
            for i in range(n):
                Cf[i][j] = _encode_real(col[i][0], col[i][1], w, d, e)
    for i in range(n):
        for j in tst:
            ok[i][j] = False
    # cells whose zero-ness changed by formatting get reformatted with digits - 1
    last = nc - 1 if has_Pvalue else nc
    changed = []
    for j in range(last):
        for i in range(n):
            if not ok[i][j]:
                continue
            num = _as_numeric(Cf[i][j])
            if num is None:
                continue
            if (xm[i][j][0] == 0) != (num == 0):
                changed.append((i, j))
    if changed:
        ff = format_num([xm[i][j][0] for i, j in changed], digits=max(1, digits - 1))
        for (i, j), s in zip(changed, ff):
            Cf[i][j] = s
    for i in range(n):
        for j in range(nc):
            if ina[i][j]:
                Cf[i][j] = na_print
            if xm[i][j][1] == "nan":
                Cf[i][j] = "NaN"
    legend: str | None = None
    show_stars = False
    if P_values:
        okP = [ok[i][nc - 1] for i in range(n)]
        if any(okP):
            pv = [xm[i][nc - 1][0] for i in range(n)]
            idx = [i for i in range(n) if okP[i]]
            fp = format_pval([pv[i] for i in idx], digits=dig_tst, eps=eps_Pvalue)
            for i, s in zip(idx, fp):
                Cf[i][nc - 1] = s
            show_stars = signif_stars and any(pv[i] < 0.1 for i in idx)
            if show_stars:
                stars = _symnum_stars([None if ina[i][nc - 1] else pv[i] for i in range(n)])
                sw = max(len(s) for s in stars)
                for i in range(n):
                    Cf[i].append(stars[i].ljust(sw))
                cn = cn + [""]
    if signif_legend is None:
        signif_legend = show_stars
    if show_stars and signif_legend:
        legend = SIGNIF_LEGEND
    return CoefTable(rownames=list(rownames), colnames=cn, cells=Cf, legend=legend)
