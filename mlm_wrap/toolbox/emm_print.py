"""emmeans' ``print.summary_emm``: the table object emmeans/contrast return and its printout."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mlm_wrap.rformat.numbers import format_num
from mlm_wrap.rformat.rounding import r_round, zapsmall

_TEST_STATS = ("t.ratio", "z.ratio")


class EmmTable(pd.DataFrame):
    """A summary_emm: R's columns (keys first), printed as emmeans prints it."""
    _metadata = ["_emm", "_print"]  # noqa: RUF012 (pandas' attribute)

    @property
    def _constructor(self):
        return pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self)

    def __str__(self) -> str:
        return print_summary_emm(pd.DataFrame(self), **self._print)

    def __repr__(self) -> str:
        return self.__str__()


def _opt_dig(row: np.ndarray) -> int:
    """emmeans' ``.opt.dig``."""
    mx = np.max(np.abs(row))
    if not np.isfinite(mx) or mx == 0:
        return 3
    z = np.array([row.min(), row.max()]) / mx
    dz = zapsmall(np.array([z[1] - z[0], z[0], z[1]]), digits=8)[0]
    if dz == 0:
        return 3
    zz = r_round(1.51 - math.log10(dz))
    return int(max(zz, 3))


def _fmt_fixed(x: np.ndarray, digits: int, nsmall: int) -> list[str]:
    """R's ``format(round(x, digits), nsmall=, sci=FALSE)``."""
    return format_num(r_round(np.asarray(x, float), digits), digits=7, nsmall=nsmall, scientific=False)


def print_summary_emm(x: pd.DataFrame, est_name: str, by: list[str], messages: list[str],
                      numeric_cols: dict) -> str:
    x = x.copy()
    cols = list(x.columns)
    numeric = {c for c in cols if c not in x.select_dtypes(exclude="number").columns}
    for c, vals in numeric_cols.items():  # numeric grid variables, held as R's strings
        x[c] = vals
        numeric.add(c)
    for c in numeric:
        v = x[c].to_numpy(float)
        fin = np.isfinite(v)
        if fin.any():
            v = v.copy()
            v[fin] = zapsmall(v[fin])
        x[c] = v
    just = {c: ("R" if c in numeric else "L") for c in cols}
    cells: dict[str, list[str]] = {}
    if "df" in x:
        x["df"] = r_round(x["df"].to_numpy(float), 2)
    for nm in _TEST_STATS:
        if nm in x:
            cells[nm] = _fmt_fixed(x[nm], 3, 3)
    if "p.value" in x:
        fp = _fmt_fixed(x["p.value"], 4, 4)
        cells["p.value"] = ["<.0001" if s.strip() == "0.0000" else s for s in fp]
    est = x[est_name].to_numpy(float)
    se = x["SE"].to_numpy(float)
    tmp = est[:, None] + se[:, None] * np.array([-2.0, 0.0, 2.0])
    digits = max(_opt_dig(r) for r in tmp)
    for c in cols:
        if c in cells:
            continue
        if c in numeric:
            cells[c] = format_num(x[c].to_numpy(float), digits=digits)
        else:
            cells[c] = [str(s) for s in x[c]]
    mat = {}
    for c in cols:
        w = max([len(c)] + [len(s) for s in cells[c]])
        mat[c] = [s.rjust(w) if just[c] == "R" else s.ljust(w) for s in cells[c]]
    shown = [c for c in cols if c not in by]
    heads = []
    for c in shown:
        w = len(mat[c][0]) if mat[c] else len(c)
        heads.append(c.ljust(w) if just[c] == "L" else c.rjust(w))

    def block(rows) -> list[str]:
        out = [" " + " ".join(heads)]
        for i in rows:
            out.append(" " + " ".join(mat[c][i] for c in shown))
        return out

    lines: list[str] = []
    if not by:
        lines += block(range(len(x))) + [""]
    else:
        keys = [tuple(x[b].iloc[i] for b in by) for i in range(len(x))]
        # R: order(rev(by)); stable, so the spec order is kept within a group
        order = sorted(range(len(x)), key=lambda i: tuple(_sort_key(x, b, i) for b in reversed(by)))
        groups: dict[tuple, list[int]] = {}
        for i in order:
            groups.setdefault(keys[i], []).append(i)
        for rows in groups.values():
            i0 = rows[0]
            lines.append(", ".join(f"{b} = {cells[b][i0].strip() if just[b] == 'R' else cells[b][i0]}"
                                   for b in by) + ":")
            lines += block(rows) + [""]
    lines += [msg + " " for msg in messages]
    return "\n".join(lines)


def _sort_key(x: pd.DataFrame, b: str, i: int):
    v = x[b].iloc[i]
    if isinstance(v, str):  # factor levels sort in the order they first appear (the grid's)
        return list(pd.unique(x[b])).index(v)
    return float(v)
