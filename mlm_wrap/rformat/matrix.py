"""R's ``print()`` of a character matrix (printmatrix.c): column widths, justification, wrapping at the console width."""
from __future__ import annotations

import math
from typing import Sequence

# --------------------------------------------------------------------------
# print of a character matrix
# --------------------------------------------------------------------------


def _index_width(n: int) -> int:
    """R's ``IndexWidth``: digits needed to print n."""
    return int(math.log10(n + 0.5) + 1)


def print_matrix(rownames: Sequence[str] | None, colnames: Sequence[str] | None,
                 cells: Sequence[Sequence[str | None]], right: bool = True,
                 quote: bool = False, width: int = 80, gap: int = 1,
                 na_print: str | None = None) -> str:
    """Lay out a character matrix as R's ``print(m, quote=, right=)`` does (printmatrix.c).

    Row names are left-justified; cells and column names are right-justified
    when ``right`` (printCoefmat) and left-justified, with trailing blanks,
    otherwise (``print.default``'s default, used by lme4's correlation table).
    Columns wrap in blocks to fit ``width`` (R's ``getOption("width")``).
    ``None`` cells are R's NA.  The returned text ends with a newline.
    """
    r = len(cells)
    c = len(cells[0]) if r else (len(colnames) if colnames is not None else 0)
    if r == 0 and c == 0:
        return "<0 x 0 matrix>\n"
    na_s = na_print if na_print is not None else ("NA" if quote else "<NA>")

    def enc(s: str | None) -> str:
        if s is None:
            return na_s
        return '"' + s + '"' if quote else s

    if rownames is not None:
        rlabw = max([len(s) for s in rownames] + [0])
    else:
        rlabw = _index_width(r + 1) + 3
    w = []
    for j in range(c):
        col = [enc(cells[i][j]) for i in range(r)]
        wj = max([len(s) for s in col] + [0])
        clabw = len(colnames[j]) if colnames is not None else _index_width(j + 1) + 3
        w.append(max(wj, clabw))
    out: list[str] = []
    if c == 0:
        out.append(" " * rlabw)
        for i in range(r):
            out.append("\n" + _row_label(rownames, i, rlabw))
        out.append("\n")
        return "".join(out)
    jmin = 0
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + gap
            jmax += 1
            if not (jmax < c and tot + w[jmax] + gap < width):
                break
        out.append(" " * rlabw)
        for j in range(jmin, jmax):
            if colnames is not None:
                lab = colnames[j]
                if right:
                    out.append(" " * (gap + w[j] - len(lab)) + lab)
                else:
                    out.append(" " * gap + lab + " " * (w[j] - len(lab)))
            else:  # R left-aligns "[,j]" labels even when right = TRUE
                lab = "[,%d]" % (j + 1)
                out.append(" " * gap + lab + " " * (w[j] - len(lab)))
        for i in range(r):
            out.append("\n" + _row_label(rownames, i, rlabw))
            for j in range(jmin, jmax):
                s = enc(cells[i][j])
                out.append(" " * gap + (s.rjust(w[j]) if right else s.ljust(w[j])))
        out.append("\n")
        jmin = jmax
    return "".join(out)


def _row_label(rownames: Sequence[str] | None, i: int, rlabw: int) -> str:
    if rownames is not None:
        return rownames[i].ljust(rlabw)
    return ("[%d,]" % (i + 1)).rjust(rlabw)
