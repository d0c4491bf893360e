"""Issue #15's speed check: every family's reference fit timed side by side with lme4.

    python benchmarks/bench_families.py [--repeat 11]

For each ``fam_*`` case of ``tests/r/refs/v2`` (Gamma, inverse Gaussian and Gaussian with a
log link, binomial probit, Poisson sqrt, ``glmer.nb``, lmer with ``weights=``/``offset``):
lme4's time (``Rscript``, the case's own ``r_call``, median of ``--repeat`` fits after a
warm-up, data read with R's factor levels) and mlm_wrap's (the same data and call, median of
``--repeat`` fits after a warm-up), their ratio and the logLik difference.  One BLAS thread
on both sides.  Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
V2 = ROOT / "tests" / "r" / "refs" / "v2"
os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import pandas as pd  # noqa: E402

import mlm_wrap as mw  # noqa: E402

R_SCRIPT = r"""
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(TRUE); cases <- fromJSON(args[1], simplifyVector = FALSE)
reps <- as.integer(args[2]); out <- list()
for (cs in cases) {
  d <- read.csv(file.path(cs$dir, cs$data), stringsAsFactors = FALSE)
  lv <- fromJSON(file.path(cs$dir, sub("\\.csv$", ".levels.json", cs$data)))
  for (v in names(lv)) d[[v]] <- factor(as.character(d[[v]]), levels = lv[[v]])
  assign(sub("\\.csv$", "", cs$data), d)
  call <- parse(text = cs$r_call)[[1]]
  m <- suppressWarnings(eval(call))
  ts <- replicate(reps, system.time(suppressWarnings(eval(call)))[["elapsed"]])
  out[[cs$id]] <- list(seconds = median(ts), logLik = as.numeric(logLik(m)))
}
cat(toJSON(out, auto_unbox = TRUE, digits = 15))
"""


def cases() -> list[dict]:
    out = []
    for p in sorted((V2 / "cases").glob("fam_*.json")):
        c = json.loads(p.read_text())
        c["id"] = p.stem
        c["dir"] = str(V2 / "data")
        out.append(c)
    return out


def load(c: dict) -> pd.DataFrame:
    d = pd.read_csv(V2 / "data" / c["data"])
    lv = json.loads((V2 / "data" / c["data"].replace(".csv", ".levels.json")).read_text()) or {}
    for col, levels in lv.items():
        d[col] = pd.Categorical(d[col].astype(str), categories=[str(x) for x in levels])
    return d


def fit(c: dict, d: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if c["fun"] == "glmer.nb":
            return mw.glmer_nb(c["formula"], d)
        if c["fun"] == "glmer":
            return mw.glmer(c["formula"], d, family=c["family"])
        kw = {k: c[k] for k in ("weights", "offset") if c.get(k)}
        return mw.lmer(c["formula"], d, REML=c["REML"], **kw)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=11)
    a = ap.parse_args()
    cs = cases()
    with tempfile.TemporaryDirectory() as tmp:
        js, rs = Path(tmp) / "cases.json", Path(tmp) / "bench.R"
        js.write_text(json.dumps([{k: c[k] for k in ("id", "dir", "data", "r_call")} for c in cs]))
        rs.write_text(R_SCRIPT)
        try:
            r = json.loads(subprocess.run(["Rscript", str(rs), str(js), str(a.repeat)],
                                          capture_output=True, text=True, check=True).stdout)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"lme4 not timed ({type(e).__name__}): n/a")
            r = {}
    print("| case | call | lme4 | mlm_wrap | mlm_wrap / lme4 | logLik mlm_wrap - lme4 |")
    print("|---|---|---|---|---|---|")
    for c in cs:
        d = load(c)
        m = fit(c, d)
        ts = []
        for _ in range(a.repeat):
            dd = d.copy()
            t0 = time.perf_counter()
            fit(c, dd)
            ts.append(time.perf_counter() - t0)
        ours = statistics.median(ts)
        rr = r.get(c["id"])
        ratio = f"{ours / rr['seconds']:.2f}" if rr and rr["seconds"] > 0 else "n/a"
        lme4 = f"{rr['seconds'] * 1e3:.0f} ms" if rr else "n/a"
        dll = f"{float(mw.logLik(m)) - rr['logLik']:+.1e}" if rr else "n/a"
        print(f"| {c['id']} | `{c['r_call']}` | {lme4} | {ours * 1e3:.0f} ms | {ratio} | {dll} |")


if __name__ == "__main__":
    main()
