"""R's console layout: ``cat(fill = TRUE)``, ``strwrap()``, ``print()`` of named vectors, data frames and lists (``options(width = 80, digits = 7)``)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mlm_wrap.rformat.matrix import print_matrix
from mlm_wrap.rformat.names import deparse_name
from mlm_wrap.rformat.numbers import format_num

WIDTH = 80  #: ``getOption("width")``
DIGITS = 7  #: ``getOption("digits")``


# ======================================================================================
# R layout primitives
# ======================================================================================

def cat_fill(*items: str | Sequence[str], width: int = WIDTH, sep: str = " ") -> str:
    """R's ``cat(..., fill = TRUE)`` (builtin.c ``do_cat``): items joined by ``sep``,
    a new line before an item that would pass ``width``, and a final newline.

    An item may be a sequence of strings (an R character vector, e.g. ``deparse()``'s
    lines).  The separator is written before the line break, as R writes it.
    """
    out: list[str] = []
    col = 0
    sepw = len(sep)
    first = True
    for obj in items:
        vec = [obj] if isinstance(obj, str) else list(obj)
        if not first:
            out.append(sep)
        if not vec:
            first = False
            continue
        for i, p in enumerate(vec):
            if i == 0 and not first and col + len(p) + sepw > width:
                out.append("\n")
                col = 0
            out.append(p)
            col += len(p) + sepw
            if i < len(vec) - 1:
                out.append(sep)
                if col + len(vec[i + 1]) + sepw > width:
                    out.append("\n")
                    col = 0
        first = False
    out.append("\n")
    return "".join(out)


def named_vector_text(names: Sequence[str], values: Sequence[str], gap: int = 1,
                      width: int = WIDTH) -> str:
    """R's ``printNamedVector``: names over values, all right-justified to one common
    width, each followed by ``gap`` blanks, as many per line as fit ``width``.

    ``values`` are already formatted (``format()``'s common-width strings, or the
    strings of a character vector printed with ``quote = FALSE``).
    """
    n = len(values)
    if n == 0:
        return "named numeric(0)\n"
    w = max([len(v) for v in values] + [len(s) for s in names])
    per_line = max(1, width // (w + gap))
    lines = []
    for start in range(0, n, per_line):
        idx = range(start, min(n, start + per_line))
        lines.append("".join(names[k].rjust(w) + " " * gap for k in idx))
        lines.append("".join(values[k].rjust(w) + " " * gap for k in idx))
    return "\n".join(lines) + "\n"


def format_vector(x: Any, digits: int = DIGITS) -> str:
    """``print(x)`` of a named numeric vector (a Series: index = names)."""
    s = pd.Series(x)
    vals = _numeric_cells(s.to_numpy(), digits)
    return named_vector_text([str(i) for i in s.index], vals)


def _numeric_cells(values: np.ndarray, digits: int = DIGITS) -> list[str]:
    """``format()`` of one numeric column / vector, NaN shown as R's NA."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return format_num(arr, digits=digits)
    if arr.dtype.kind == "b":
        strs = ["TRUE" if v else "FALSE" for v in arr]
        w = max([len(s) for s in strs] + [0])
        return [s.rjust(w) for s in strs]
    vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
            for v in arr.astype(object)]
    return format_num(vals, digits=digits)


def _column_cells(col: pd.Series, digits: int) -> list[str]:
    """``format.data.frame``'s formatting of one column (right-justified later)."""
    if pd.api.types.is_bool_dtype(col.dtype) and not col.isna().any():
        return ["TRUE" if v else "FALSE" for v in col]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        arr = col.to_numpy()
        if arr.dtype.kind in "iu":
            return [str(int(v)) for v in arr]
        return _numeric_cells(arr.astype(float), digits)
    out = []
    for v in col.astype(object):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append("<NA>" if not pd.api.types.is_bool_dtype(col.dtype) else "NA")
        elif isinstance(v, (bool, np.bool_)):
            out.append("TRUE" if v else "FALSE")
        else:
            out.append(str(v))
    return out


def format_frame(df: pd.DataFrame, digits: int = DIGITS) -> str:
    """``print()`` of a data frame (or numeric matrix): columns formatted one by one
    with ``digits`` significant digits, row names left-, cells right-justified."""
    cols = [str(c) for c in df.columns]
    if len(df) == 0:
        return f"[1] {' '.join(cols)}\n<0 rows> (or 0-length row.names)\n"
    cells_by_col = [_column_cells(df.iloc[:, j], digits) for j in range(df.shape[1])]
    cells = [[cells_by_col[j][i] for j in range(len(cols))] for i in range(len(df))]
    return print_matrix([str(i) for i in df.index], cols, cells, right=True)


def _list_name(name: str) -> str:
    """How R prints a list element's tag: ``$Subject``, ``$`cask:batch```."""
    return "$" + deparse_name(str(name))


def format_list(items: dict, digits: int = DIGITS, footer: str = "") -> str:
    """``print()`` of a named list of tables (``$name``, the table, a blank line)."""
    out = []
    for k, v in items.items():
        body = format_frame(v, digits) if isinstance(v, pd.DataFrame) else format_vector(v, digits)
        out.append(f"{_list_name(k)}\n{body}\n")
    return "".join(out) + footer


# ======================================================================================
# summary(m) sections (lme4's .prt.* helpers)
# ======================================================================================

def strwrap(text: str, width: int, exdent: int = 0) -> list[str]:
    """R's ``strwrap(text, width, exdent = )`` for one paragraph of plain words: greedy
    filling, every line (its indent included) shorter than ``width``."""
    lines: list[str] = []
    cur = ""
    for w in text.split():
        if not cur:
            cur = (" " * exdent if lines else "") + w
        elif len(cur) + 1 + len(w) < width:
            cur += " " + w
        else:
            lines.append(cur)
            cur = " " * exdent + w
    if cur or not lines:
        lines.append(cur)
    return lines
