"""Benchmark grid: both engines, raw statsmodels MixedLM and (where Rscript has it) lme4.

    python benchmarks/bench_engines.py                   # the grid, raw MixedLM capped at 120 s
    python benchmarks/bench_engines.py --raw-timeout 0   # skip raw MixedLM
    python benchmarks/bench_engines.py --only crossed    # grid points whose label contains 'crossed'

Every fit runs in its own subprocess (one BLAS thread, as the issue's lme4 figures), so
each time and peak memory (max RSS) is that fit's alone.  Printed per grid point:
seconds and peak MB for the sparse engine, the statsmodels engine (MixedLM + lme4
check), raw MixedLM (or "> T" when it hit the timeout), lme4; and sparse/lme4 and
sparse/raw ratios.  Data are simulated with a fixed seed and written to a temporary
CSV that every contender reads.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

GRID = [
    # label, kind, sizes
    ("crossed 100x50, 1e5 rows", "crossed", dict(na=100, nb=50, n=100_000)),
    ("crossed 1000x500, 1e4 rows", "crossed", dict(na=1000, nb=500, n=10_000)),
    ("crossed 1000x500, 1e5 rows", "crossed", dict(na=1000, nb=500, n=100_000)),
    ("InstEval (ML)", "insteval", {}),
    ("(1|g) 1e3 rows, 10 groups", "intercept", dict(ng=10, n=1_000)),
    ("(1|g) 1e4 rows, 100 groups", "intercept", dict(ng=100, n=10_000)),
    ("(1|g) 1e5 rows, 10000 groups", "intercept", dict(ng=10_000, n=100_000)),
    ("(1|g) 1e6 rows, 1000 groups", "intercept", dict(ng=1000, n=1_000_000)),
    ("(1+x|g) 1e3 rows, 10 groups", "slope", dict(ng=10, n=1_000)),
    ("(1+x|g) 1e4 rows, 100 groups", "slope", dict(ng=100, n=10_000)),
    ("(1+x|g) 1e5 rows, 1000 groups", "slope", dict(ng=1000, n=100_000)),
    ("(1+x|g) 1e6 rows, 10000 groups", "slope", dict(ng=10_000, n=1_000_000)),
]

FORMULA = {"crossed": "y ~ 1 + (1 | a) + (1 | b)", "intercept": "y ~ x + (1 | g)",
           "slope": "y ~ x + (1 + x | g)", "insteval": "y ~ service + (1 | s) + (1 | d)"}


def make_data(kind: str, sizes: dict, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if kind == "crossed":
        a, b = rng.integers(0, sizes["na"], sizes["n"]), rng.integers(0, sizes["nb"], sizes["n"])
        y = 1 + rng.normal(0, 1, sizes["na"])[a] + rng.normal(0, .5, sizes["nb"])[b] + rng.normal(size=sizes["n"])
        return pd.DataFrame({"y": y, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]})
    if kind == "insteval":
        ref = ROOT / "tests" / "r" / "refs" / "core" / "data" / "InstEval.csv"
        return pd.read_csv(ref, usecols=["y", "service", "s", "d"])
    g = rng.integers(0, sizes["ng"], sizes["n"])
    x = rng.normal(size=sizes["n"])
    slope = rng.normal(0, .5, sizes["ng"])[g] * x if kind == "slope" else 0.0
    y = 2 + 0.5 * x + rng.normal(0, 1, sizes["ng"])[g] + slope + rng.normal(size=sizes["n"])
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


RUNNER = r"""
import json, resource, sys, time, warnings
import pandas as pd
warnings.simplefilter("ignore")
path, who, formula, reml = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
df = pd.read_csv(path, dtype={"a": str, "b": str, "g": str, "s": str, "d": str, "service": str})
def fit(df):
    if who.startswith("mlm_wrap:"):
        sys.path.insert(0, sys.argv[5])
        import mlm_wrap as mw
        return float(mw.logLik(mw.lmer(formula, data=df, REML=reml, engine=who.split(":")[1])))
    import statsmodels.formula.api as smf
    fixed = formula.split(" + (", 1)[0]
    if "(1 | a)" in formula or "(1 | s)" in formula:
        f1, f2 = ("a", "b") if "(1 | a)" in formula else ("s", "d")
        df = df.assign(one=1)
        md = smf.mixedlm(fixed, df, groups="one", re_formula="0",
                         vc_formula={f1: f"0 + C({f1})", f2: f"0 + C({f2})"})
    else:
        md = smf.mixedlm(fixed, df, groups="g", re_formula="~x" if "1 + x" in formula else "1")
    return float(md.fit(reml=reml).llf)
try:  # warm-up on a small slice: imports and first-call costs are not the fit's
    fit(df.head(300))
except Exception:
    pass
t = time.perf_counter()
ll = fit(df)
secs = time.perf_counter() - t
print(json.dumps({"secs": secs, "logLik": ll,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(path: str, who: str, formula: str, reml: bool, timeout: float) -> dict | None:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        out = subprocess.run([sys.executable, "-c", RUNNER, path, who, formula, "1" if reml else "0",
                              str(ROOT)], capture_output=True, text=True, timeout=timeout, env=env)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"secs": float("inf"), "timeout": timeout}
    except Exception as e:  # a crash is reported, not hidden
        return {"error": f"{type(e).__name__}: {e}"}


def lme4(path: str, formula: str, reml: bool, timeout: float) -> float | None:
    if not shutil.which("Rscript"):
        return None
    code = (f"suppressMessages(library(lme4)); d <- read.csv('{path}', colClasses = c("
            "a='factor', b='factor', g='factor', s='factor', d='factor', service='factor'));"
            f"t <- system.time(lmer({formula}, data = d, REML = {'TRUE' if reml else 'FALSE'}));"
            "cat(t[['elapsed']])")
    try:
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=timeout,
                             env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        return float(out.stdout.strip().split()[-1])
    except Exception:
        return None


def fmt(r: dict | None) -> str:
    if r is None:
        return f"{'-':>15s}"
    if "error" in r:
        return f"{'error':>15s}"
    if "timeout" in r:
        return f"{'>' + format(r['timeout'], '.0f') + ' s':>15s}"
    return f"{r['secs']:7.2f}s {r['maxrss_mb']:5.0f}MB"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw-timeout", type=float, default=120.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args(argv)
    print(f"{'grid point':32s} {'sparse':>15s} {'statsmodels':>15s} {'raw MixedLM':>15s} {'lme4':>8s} "
          f"{'sp/lme4':>8s} {'sp/raw':>7s} {'dlogLik':>9s}")
    for label, kind, sizes in GRID:
        if a.only and a.only not in label:
            continue
        reml = kind != "insteval"
        with tempfile.TemporaryDirectory() as d:
            path = str(Path(d) / "data.csv")
            make_data(kind, sizes).to_csv(path, index=False)
            f = FORMULA[kind]
            sp = run(path, "mlm_wrap:sparse", f, reml, a.timeout)
            # MixedLM-based contenders are capped: they need minutes on the crossed designs
            sm = run(path, "mlm_wrap:statsmodels", f, reml, a.raw_timeout) if a.raw_timeout > 0 else None
            raw = run(path, "raw", f, reml, a.raw_timeout) if a.raw_timeout > 0 else None
            r = None if a.no_r else lme4(path, f, reml, a.timeout)
        ratio_r = f"{sp['secs'] / r:8.2f}" if r and "secs" in sp else f"{'-':>8s}"
        if raw and "timeout" in raw and "secs" in sp:  # raw MixedLM did not finish: a bound
            ratio_raw = f"{'<' + format(sp['secs'] / raw['timeout'], '.3f'):>7s}"
        elif raw and "secs" in raw and "secs" in sp:
            ratio_raw = f"{sp['secs'] / raw['secs']:7.3f}"
        else:
            ratio_raw = f"{'-':>7s}"
        dll = f"{raw['logLik'] - sp['logLik']:+9.2g}" if raw and "logLik" in raw and "logLik" in sp else f"{'':>9s}"
        rs = f"{r:7.2f}s" if r else f"{'-':>8s}"
        print(f"{label:32s} {fmt(sp)} {fmt(sm)} {fmt(raw)} {rs} {ratio_r} {ratio_raw} {dll}", flush=True)


if __name__ == "__main__":
    main()
