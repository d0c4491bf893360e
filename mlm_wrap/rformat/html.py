"""HTML renderings of R tables for notebooks, with R's number formatting in every cell."""
from __future__ import annotations

import html
from typing import Sequence

import pandas as pd

from mlm_wrap.rformat.layout import DIGITS, _column_cells, _numeric_cells


# ---------------------------------------------------------------------------- HTML
def html_table(colnames: Sequence[str], cells: Sequence[Sequence[str]],
               rownames: Sequence[str] | None = None, caption: str | None = None,
               align: str | Sequence[str] = "right") -> str:
    """A plain HTML table of already formatted (R) cells (``align``: one for all
    columns, or one per column)."""
    al = [align] * len(colnames) if isinstance(align, str) else list(align)
    esc = lambda s: html.escape(str(s).strip())
    head = "".join(f"<th>{esc(c)}</th>" for c in (([""] if rownames is not None else []) + list(colnames)))
    rows = []
    for i, r in enumerate(cells):
        lab = f"<th>{esc(rownames[i])}</th>" if rownames is not None else ""
        rows.append("<tr>" + lab + "".join(f'<td style="text-align:{a}">{esc(c)}</td>'
                                           for c, a in zip(r, al)) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="mlm-wrap">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def frame_html(df: pd.DataFrame, digits: int = DIGITS, caption: str | None = None) -> str:
    """A data frame as an HTML table with R's number formatting."""
    cols = [_column_cells(df.iloc[:, j], digits) for j in range(df.shape[1])]
    cells = [[cols[j][i] for j in range(df.shape[1])] for i in range(len(df))]
    return html_table([str(c) for c in df.columns], cells, [str(i) for i in df.index], caption)


def vector_html(x: pd.Series, digits: int = DIGITS) -> str:
    """A named vector as a one-row HTML table."""
    vals = _numeric_cells(x.to_numpy(), digits)
    return html_table([str(i) for i in x.index], [vals])


def _chomp(text: str) -> str:
    """R's console text without its final newline (``print()`` adds it back)."""
    return text[:-1] if text.endswith("\n") else text


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"
