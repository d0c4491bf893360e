"""Issue #16's large sparse problems: per-evaluation time of lme4's criterion by the blocked
factor (engines/cholesky.py, with its mode) and by CHOLMOD (engines/cholmod.py, scikit-sparse,
symbolic analysis once, numeric refactorisation per theta; simplicial and supernodal), on
InstEval and crossed designs of growing size.  ``engines/cholmod.use_cholmod``'s crossovers
(``CHOLMOD_MIN_Q2``, ``CHOLMOD_MAX_DEGREE``) are set from this table, measured once; fits
never time themselves.  Prints a markdown table (benchmarks/SPARSE.md).

    python benchmarks/bench_sparse.py                    # every shape
    python benchmarks/bench_sparse.py --only crossed     # names containing a substring
    python benchmarks/bench_sparse.py --fits 5           # the grid's sparse points: whole fits

``--fits``: the grid's InstEval and crossed 1000 x 500 points (the grid's cached CSVs), the
median process CPU time of whole ``lmer()`` fits and of the criterion at the fitted theta (31
calls): CPU time, because the shared machine's load inflates wall time.  Run it with
``PYTHONPATH`` at another checkout for a before/after.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.mixedlm import make_problem
from mlm_wrap.spec.design import build_design
from mlm_wrap.spec.formula import parse_formula

CACHE = Path(tempfile.gettempdir()) / "mlm_wrap_bench"
CROSSED = "y ~ x + (1 | a) + (1 | b)"
# name, rows, levels of a, levels of b
SHAPES = [("crossed 1000 x 500, n 1e4", 10_000, 1000, 500),
          ("crossed 1000 x 500, n 1e5", 100_000, 1000, 500),
          ("crossed 4000 x 1000, n 2e4", 20_000, 4000, 1000),
          ("crossed 5000 x 2000, n 2e4", 20_000, 5000, 2000),
          ("crossed 5000 x 2000, n 1e5", 100_000, 5000, 2000),
          ("crossed 10000 x 3000, n 3e4", 30_000, 10_000, 3000),
          ("crossed 20000 x 4000, n 5e4", 50_000, 20_000, 4000),
          ("clustered 4000 x 2000 (100 clusters), n 2e4", 20_000, 4000, 2000),
          ("clustered 10000 x 4000 (200 clusters), n 4e4", 40_000, 10_000, 4000)]


def crossed(n: int, A: int, B: int, seed: int = 16, clusters: int = 0) -> pd.DataFrame:
    """Crossed factors a and b; with ``clusters``, a's and b's levels fall into that many
    clusters and a row meets levels of one cluster (95 %) or b at random (5 %): crossed
    within clusters (schools x teachers), the Schur block sparse after reordering."""
    rng = np.random.default_rng(seed)
    a, b, x = rng.integers(0, A, n), rng.integers(0, B, n), rng.normal(size=n)
    if clusters:
        cl = rng.integers(0, clusters, n)
        a = cl * (A // clusters) + rng.integers(0, A // clusters, n)
        local = cl * (B // clusters) + rng.integers(0, B // clusters, n)
        b = np.where(rng.uniform(size=n) < 0.95, local, b)
    y = 1 + 0.5 * x + rng.normal(size=A)[a] + rng.normal(0, 0.7, B)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str)})


def insteval() -> pd.DataFrame | None:
    """lme4's InstEval (the grid's cached CSV, else exported by R), None without R."""
    csv = CACHE / "InstEval.csv"
    if not csv.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        code = ("d <- lme4::InstEval[c('y', 'service', 's', 'd', 'dept')];"
                f"write.csv(d, '{csv}', row.names = FALSE)")
        try:
            subprocess.run(["Rscript", "-e", code], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return None
    return pd.read_csv(csv, dtype={c: str for c in ("s", "d", "dept", "service")})


def per_eval(f, budget: float = 2.0, most: int = 15) -> float:
    """Median seconds of f() over up to ``most`` calls within about ``budget`` seconds."""
    f()
    ts = []
    while len(ts) < 3 or (len(ts) < most and sum(ts) < budget):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def measure(label: str, formula: str, data: pd.DataFrame, REML: bool = True) -> dict:
    from mlm_wrap.engines.cholmod import CholmodCriterion, available
    d = build_design(parse_formula(formula), data)
    t = time.perf_counter()
    pb = make_problem(d)
    setup = time.perf_counter() - t
    pb._dense = pb._cholmod = None  # the blocked path whatever the rules pick
    theta = np.full(pb.ntheta, 0.6)
    row = dict(shape=label, q1=pb.q1, q2=pb.q2, nnz21=int(pb.xp.Z2tZ1.nnz if sp.issparse(pb.xp.Z2tZ1)
                                                          else np.count_nonzero(pb.xp.Z2tZ1)),
               mode=pb.mode, setup=setup)
    big = pb.q2 > 6000  # the dense Schur block would take minutes: not timed
    row["blocked"] = np.nan if big else per_eval(lambda: pb._criterion(theta, REML))
    ref = np.nan if big else pb._criterion(theta, REML)
    if available():
        for mode in ("simplicial", "supernodal"):
            t = time.perf_counter()
            c = CholmodCriterion(pb.Z.T @ pb.Z, [b.nlevels for b in pb.blocks], pb.ZtX, pb.Zty,
                                 pb.XtX, pb.Xty, pb.yty, pb.n, pb.ldW, mode=mode)
            row[f"analyse_{mode}"] = time.perf_counter() - t
            row[mode] = per_eval(lambda: c.criterion(theta, REML))
            row["flops"] = c.flops()
            row[f"diff_{mode}"] = abs(c.criterion(theta, REML) - ref) / abs(ref)
    return row


GRID_POINTS = [("InstEval (ML)", "InstEval", "y ~ service + (1 | s) + (1 | d) + (1 | dept)", False),
               ("crossed 1000 x 500, n 1e4", "crossed_10000_1000_500", CROSSED, True),
               ("crossed 1000 x 500, n 1e5", "crossed_100000_1000_500", CROSSED, True)]


def fits(nfit: int) -> None:
    """Whole fits and per-evaluation CPU time on the grid's sparse points."""
    import mlm_wrap as mw
    print("| point | mode | per evaluation (CPU ms) | fit (CPU s) | BOBYQA | logLik |")
    print("|---|---|---|---|---|---|")
    for label, data, formula, REML in GRID_POINTS:
        csv, meta = CACHE / f"{data}.csv", CACHE / f"{data}.factors.json"
        if not csv.exists():
            print(f"| {label} | (no {csv}: run bench_grid.py once) |")
            continue
        df = pd.read_csv(csv, dtype={c: str for c in json.loads(meta.read_text())})
        ts = []
        for _ in range(nfit):
            t = time.process_time()
            m = mw.lmer(formula, df, REML=REML)
            ts.append(time.process_time() - t)
        pb, th = m._problem, m.theta
        pb.objective(th, REML)
        ev = []
        for _ in range(31):
            t = time.process_time()
            pb.objective(th, REML)
            ev.append(time.process_time() - t)
        print(f"| {label} | {pb.mode} | {1e3 * np.median(ev):.3g} | {np.median(ts):.3g} | "
              f"{m.optinfo.messages[0]} | {float(m.logLik()):.10f} |", flush=True)


def table(rows: list[dict]) -> str:
    ms = lambda v: "n/a" if not np.isfinite(v) else f"{1e3 * v:.3g}"
    out = ["| shape | q1 | q2 | nnz(Z2'Z1) | blocked mode | blocked (ms) | CHOLMOD simplicial (ms) "
           "| CHOLMOD supernodal (ms) | analyse (ms) | rel. diff | q2^3/3 (Mflop) "
           "| CHOLMOD (Mflop) |", "|---" * 12 + "|"]
    for r in rows:
        out.append(f"| {r['shape']} | {r['q1']} | {r['q2']} | {r['nnz21']} | {r['mode']} | "
                   f"{ms(r['blocked'])} | {ms(r.get('simplicial', np.nan))} | "
                   f"{ms(r.get('supernodal', np.nan))} | {ms(r.get('analyse_simplicial', np.nan))} | "
                   f"{r.get('diff_simplicial', np.nan):.1e} | {r['q2'] ** 3 / 3e6:.4g} | "
                   f"{r.get('flops', np.nan) / 1e6:.4g} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="names containing this substring")
    ap.add_argument("--json", type=Path, help="also save the raw rows here")
    ap.add_argument("--fits", type=int, default=0, help="whole fits of the grid's sparse points")
    args = ap.parse_args()
    rows = []
    if args.fits:
        with single_threaded_blas():
            fits(args.fits)
        return
    with single_threaded_blas():
        if "insteval".startswith(args.only.lower()) or args.only.lower() in "insteval (ml)":
            df = insteval()
            if df is not None:
                rows.append(measure("InstEval (ML)", "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
                                    df, REML=False))
                print(table(rows[-1:]), flush=True)
        for label, n, A, B in SHAPES:
            if args.only in label:
                k = int(label.split("(")[1].split()[0]) if label.startswith("clustered") else 0
                rows.append(measure(label, CROSSED, crossed(n, A, B, clusters=k)))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\nload average {os.getloadavg()}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
