"""Where the dense criteria pay: per-evaluation time of lme4's criterion, dense augmented
(engines/dense.DenseCriterion), X eliminated first (ProfiledXCriterion), the block-diagonal
form of one term and the two-scalar-terms form, and the blocked factor (engines/lmm), over
sizes.  The cost model in engines/dense.py (``DENSE_MAX``,
``use_profiled_x``) is set from this table, measured once; fits never time themselves.

    python benchmarks/bench_dense.py            # one BLAS thread, as in fits
"""
from __future__ import annotations

import timeit
import warnings

import numpy as np
import pandas as pd

import mlm_wrap as mw
from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.dense import (BlockDiagCriterion, Crossprods, DenseCriterion, ProfiledXCriterion,
                                    TwoScalarCriterion)


def frame(n: int, ng: int, nf: int = 0, slope: bool = False, seed: int = 0,
          nh: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, n)
    x = rng.normal(size=n)
    d = pd.DataFrame({"x": x, "g": g.astype(str)})
    d["y"] = 1 + x + rng.normal(size=ng)[g] + (x * rng.normal(size=ng)[g] if slope else 0) \
        + rng.normal(size=n)
    if nf:
        d["f"] = rng.integers(0, nf, n).astype(str)
    if nh:
        h = rng.integers(0, nh, n)
        d["h"] = h.astype(str)
        d["y"] += rng.normal(size=nh)[h]
    return d


def per_eval(f, reps: int = 5) -> float:
    number = 20
    return min(timeit.repeat(f, number=number, repeat=reps)) / number


def row(label: str, formula: str, d: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(formula, d, control=mw.lmerControl(optCtrl={"maxfun": 3}))
    P = m._problem
    th = np.where(np.isfinite(P.lower), 0.5, 0.1)
    terms = [(int(o), b.nlevels, b.p) for o, b in zip(P.offsets, P.blocks)]
    xp = Crossprods(np.asarray((P.Z.T @ P.Z).toarray()), P.ZtX, P.Zty, P.XtX, P.Xty, P.yty, P.n)
    t_blocked = per_eval(lambda: P._criterion(th, True))
    t_dense = per_eval(lambda: DenseCriterion(xp, terms).criterion(th, True)) \
        if P.q + P.p + 1 <= 1500 else float("nan")
    dc = DenseCriterion(xp, terms) if P.q + P.p + 1 <= 1500 else None
    t_dense = per_eval(lambda: dc.criterion(th, True)) if dc else float("nan")
    px = ProfiledXCriterion(xp, terms) if P.p >= 2 else None
    t_px = per_eval(lambda: px.criterion(th, True)) if px else float("nan")
    if len(P.blocks) == 1:
        b = P.blocks[0]
        bd = BlockDiagCriterion(b.codes, b.Xt, b.nlevels, P.X, P.y, P.XtX, P.Xty, P.yty)
        t_bd = per_eval(lambda: bd.criterion(th, True))
    elif len(P.blocks) == 2 and P.blocks[0].p == P.blocks[1].p == 1:  # the two-scalar form
        b1, b2 = P.blocks
        ts = TwoScalarCriterion(b1.codes, b1.Xt[:, 0], b1.nlevels, b2.codes, b2.Xt[:, 0],
                                b2.nlevels, P.X, P.y, P.XtX, P.Xty, P.yty)
        t_bd = per_eval(lambda: ts.criterion(th, True))
    else:
        t_bd = float("nan")
    chosen = type(P.dense()).__name__ if P.dense() is not None else "blocked"
    print(f"| {label} | {P.q} | {P.p} | {t_blocked * 1e6:.0f} | {t_dense * 1e6:.0f} | "
          f"{t_px * 1e6:.0f} | {t_bd * 1e6:.0f} | {chosen} |")


def main() -> None:
    print("| model | q | p | blocked (us) | dense augmented (us) | X eliminated (us) | "
          "block-diagonal or two-scalar (us) | chosen |")
    print("|---|---|---|---|---|---|---|---|")
    with single_threaded_blas():
        for ng in (10, 30, 60, 100, 150, 250):
            row(f"(1 + x | g), {ng} groups", "y ~ x + (1 + x | g)", frame(20 * ng, ng, slope=True))
        for ng in (50, 100, 150, 300):
            row(f"(1 | g), {ng} groups", "y ~ x + (1 | g)", frame(20 * ng, ng))
        for ng, nh in ((30, 10), (60, 30), (100, 50), (150, 50), (200, 60), (200, 100), (1000, 20)):
            row(f"(1 | g) + (1 | h), {ng} x {nh}", "y ~ x + (1 | g) + (1 | h)",
                frame(20 * ng, ng, nh=nh))
        for nf in (20, 50, 150, 400):
            row(f"f ({nf} levels) + (1 | g), 100 groups", "y ~ f + (1 | g)", frame(8000, 100, nf))


if __name__ == "__main__":
    main()
