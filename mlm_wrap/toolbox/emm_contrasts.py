"""emmeans' ``contrast()`` and ``pairs()`` on an ``emmeans`` result: R's contrast
coefficients (``pairwise.emmc``, ``trt.vs.ctrl.emmc``, ``poly.emmc``), labels, df and
p-value adjustments (Tukey by the studentized range, Bonferroni, Holm, none)."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.toolbox.emm_print import EmmTable

_METHODS = ("pairwise", "trt.vs.ctrl", "poly")
_ADJUST = ("tukey", "bonferroni", "holm", "none")
_DEFAULT_ADJUST = {"pairwise": "tukey", "trt.vs.ctrl": "dunnettx",
                   "poly": "none"}
_PARENS = re.compile(r"-|\+|/|\*")


def _is_num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _pairwise(levs: list[str]):
    k = len(levs)
    names, rows = [], []
    for i in range(k - 1):
        for j in range(i + 1, k):
            c = np.zeros(k)
            c[i], c[j] = 1.0, -1.0
            names.append(f"{levs[i]} - {levs[j]}")
            rows.append(c)
    return names, np.array(rows)


def _trt_vs_ctrl(levs: list[str]):
    k = len(levs)
    names, rows = [], []
    for i in range(1, k):
        c = np.zeros(k)
        c[0], c[i] = -1.0, 1.0
        names.append(f"{levs[i]} - {levs[0]}")
        rows.append(c)
    return names, np.array(rows)


def _poly(levs: list[str]):
    """poly.emmc: R's orthogonal polynomials on 1..k, scaled to small integers."""
    k = len(levs)
    deg = min(6, k - 1)
    x = np.arange(1, k + 1, dtype=float)
    X = np.vander(x - x.mean(), deg + 1, increasing=True)
    Q, R = np.linalg.qr(X)
    Q = Q * np.sign(np.diag(R))
    nm = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]
    rows = []
    for j in range(1, deg + 1):
        con = Q[:, j]
        if con[-1] < 0:  # R's poly: positive leading coefficient
            con = -con
        con = con / np.min(con[con > 0.01])
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        rows.append(np.round(con))
    return nm[:deg], np.array(rows)


def _ptukey_sf(q: np.ndarray, k: int, df: np.ndarray) -> np.ndarray:
    out = np.empty(len(q))
    for i, (qq, d) in enumerate(zip(q, df)):
        d = d if np.isfinite(d) else 1e6  # scipy's studentized range needs a finite df
        out[i] = stats.studentized_range.sf(qq, k, d)
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    n = len(p)
    o = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * p[o]))
    out = np.empty(n)
    out[o] = adj
    return out


def contrast(emm, method: str = "pairwise", adjust: str | None = None) -> EmmTable:
    """emmeans' ``contrast(emm, method=, adjust=)`` (and ``pairs()``: method pairwise)."""
    info = getattr(emm, "_emm", None)
    if info is None:
        raise TypeError("contrast()/pairs() take the result of emmeans(m, ...)")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(x) for x in _METHODS)}, "
                         f"not {method!r}")
    if adjust is None:
        adjust = _DEFAULT_ADJUST[method]
        if adjust == "dunnettx":
            raise NotImplementedError("the Dunnett adjustment (emmeans' default for trt.vs.ctrl) is "
                                      "not available: pass adjust='bonferroni', 'holm' or 'none'")
    if adjust not in _ADJUST:
        raise ValueError(f"adjust must be one of {', '.join(repr(x) for x in _ADJUST)}, "
                         f"not {adjust!r}")
    if adjust == "tukey" and method != "pairwise":
        raise ValueError("adjust='tukey' is only for pairwise comparisons (emmeans would switch "
                         "to sidak): pass adjust='bonferroni', 'holm' or 'none'")
    if info.glmm and info.type == "response" and info.link != "identity":
        raise NotImplementedError("contrasts of back-transformed means (odds / rate ratios) are "
                                  "not available: contrast emmeans(..., type='link')")
    eng = info.engine
    by = info.by
    specs = info.specs
    # the level labels: numeric-looking spec variables get their name in front (enhance.levels)
    lab = pd.DataFrame({v: [str(s) for s in info.keys[v]] for v in specs})
    for v in specs:
        if all(_is_num(s) for s in lab[v]):
            lab[v] = [v + s for s in lab[v]]
    levs_all = [" ".join(r) for r in lab.itertuples(index=False)]
    if by:
        gkeys = [tuple(info.keys[b].iloc[i] for b in by) for i in range(len(lab))]
        groups: dict[tuple, list[int]] = {}
        for i, g in enumerate(gkeys):
            groups.setdefault(g, []).append(i)
    else:
        groups = {(): list(range(len(lab)))}
    rows_out = []
    for g, idx in groups.items():
        levs = [levs_all[i] for i in idx]
        if any(_PARENS.search(s) for s in levs):
            levs = [f"({s})" if _PARENS.search(s) else s for s in levs]
        if method == "pairwise":
            names, C = _pairwise(levs)
        elif method == "trt.vs.ctrl":
            names, C = _trt_vs_ctrl(levs)
        else:
            names, C = _poly(levs)
        Lc = C @ info.L[idx]
        est = Lc @ eng.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Lc, eng.V, Lc))
        dfs = np.array([eng.df(l) for l in Lc])
        stat = est / se
        asym = bool(np.all(np.isinf(dfs)))
        if adjust == "tukey":
            p = _ptukey_sf(np.abs(stat) * math.sqrt(2), len(idx), dfs)
        else:
            p = 2 * (stats.norm.sf(np.abs(stat)) if asym else stats.t.sf(np.abs(stat), dfs))
            if adjust == "bonferroni":
                p = np.minimum(1.0, p * len(p))
            elif adjust == "holm":
                p = _holm(p)
        for t in range(len(names)):
            rows_out.append((names[t], g, est[t], se[t], dfs[t], stat[t], p[t], asym, len(idx), len(names)))
    asym = all(r[7] for r in rows_out)
    sname = "z.ratio" if asym else "t.ratio"
    data = {"contrast": [r[0] for r in rows_out]}
    for j, b in enumerate(by):
        data[b] = [r[1][j] for r in rows_out]
    data.update({"estimate": [r[2] for r in rows_out], "SE": [r[3] for r in rows_out],
                 "df": [r[4] for r in rows_out], sname: [r[5] for r in rows_out],
                 "p.value": [r[6] for r in rows_out]})
    out = EmmTable(pd.DataFrame(data))
    msgs = []
    if info.averaged:
        msgs.append("Results are averaged over the levels of: " + ", ".join(info.averaged))
    if info.glmm and info.link != "identity":
        scale = "log odds ratio" if info.link == "logit" else info.link
        msgs.append(f"Results are given on the {scale} (not the response) scale.")
    if not info.glmm:
        msgs.append(f"Degrees-of-freedom method: {eng.method}")
    if adjust == "tukey":
        msgs.append(f"P value adjustment: tukey method for comparing a family of "
                    f"{rows_out[0][8]} estimates")
    elif adjust != "none":
        msgs.append(f"P value adjustment: {adjust} method for {rows_out[0][9]} tests")
    out._emm = None
    out._print = dict(est_name="estimate", by=by, messages=msgs,
                      numeric_cols={b: np.array([float(v) for v in data[b]])
                                    for b in info.numeric_keys if b in by})
    return out
