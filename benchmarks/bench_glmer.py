"""Time mlm_wrap.glmer against lme4's own fit times (``r_fit_seconds`` in R's references).

    python benchmarks/bench_glmer.py            # every glmer case: tests/r/refs/core + extra
    python benchmarks/bench_glmer.py --repeat 5 --only grouseticks

Per case: the median wall time of ``mw.glmer`` over ``--repeat`` fits (after one warm-up
fit, so imports are not counted), lme4's time as R recorded it when it made the reference
(one fit; R 4.2.2, lme4 1.1-31, same machine class), their ratio, the number of deviance
evaluations, and logLik(mlm_wrap) - logLik(lme4) as a check that both reached the same
optimum.  R's times were taken on a shared machine: treat ratios within ~2x as noise.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RREF = ROOT / "tests" / "r" / "refs" / "core"
EXTRA = ROOT / "tests" / "r" / "refs" / "extra"

import mlm_wrap as mw  # noqa: E402


def load(data_dir: Path, name: str) -> pd.DataFrame:
    """A reference data set with R's factor levels (as parity.py loads it)."""
    df = pd.read_csv(data_dir / name)
    lv = json.loads((data_dir / name.replace(".csv", ".levels.json")).read_text()) or {}
    for c, levels in lv.items():
        df[c] = pd.Categorical(df[c].astype("string").str.replace(r"\.0$", "", regex=True),
                               categories=[str(x) for x in levels])
    return df


def cases(only: str = ""):
    for folder in (RREF / "cases", EXTRA / "cases"):
        for f in sorted(folder.glob("*.json")):
            c = json.loads(f.read_text())
            if c.get("family") and only in c["id"]:
                yield folder.parent / "data", c


def fit(c: dict, df: pd.DataFrame):
    kw = {"family": c["family"]}
    if c.get("weights"):
        kw["weights"] = c["weights"]
    if c.get("nAGQ", 1) != 1:
        kw["nAGQ"] = c["nAGQ"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mw.glmer(c["formula"], data=df, **kw)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="")
    a = ap.parse_args(argv)
    rows = []
    for data_dir, c in cases(a.only):
        df = load(data_dir, c["data"])
        fit(c, df)  # warm-up: imports, caches
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            m = fit(c, df)
            times.append(time.perf_counter() - t)
        sec = statistics.median(times)
        rows.append({"case": c["id"], "nobs": c["nobs"], "nAGQ": c.get("nAGQ", 1),
                     "mlm_wrap_s": round(sec, 3), "lme4_s": c["r_fit_seconds"],
                     "ratio": round(sec / c["r_fit_seconds"], 2), "devfun_evals": m.optinfo.feval,
                     "dlogLik": float(mw.logLik(m)) - c["logLik"]})
    out = pd.DataFrame(rows)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(out.to_string(index=False, formatters={"dlogLik": "{:.1e}".format}))
    if len(out):
        print(f"\ntotal: mlm_wrap {out.mlm_wrap_s.sum():.2f}s, lme4 {out.lme4_s.sum():.2f}s "
              f"(median ratio {out.ratio.median():.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
