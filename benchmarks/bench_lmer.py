"""Time mlm_wrap.lmer against raw statsmodels MixedLM (and lme4 where Rscript has it).

    python benchmarks/bench_lmer.py            # sleepstudy, faculty m1-m3, synthetic 1e5-row slope model
    python benchmarks/bench_lmer.py --insteval # also the 73k-row crossed InstEval case (slow on MixedLM)

Per model: seconds for mlm_wrap and for raw MixedLM (the call a statsmodels user would
type), their ratio, and logLik(raw MixedLM) - logLik(mlm_wrap) (negative: MixedLM stopped
short of the optimum).  lme4's seconds come from Rscript on the same CSV when available.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlm_wrap as mw  # noqa: E402


def load(name: str) -> pd.DataFrame:
    """A corpus data set with R's factor levels (the tests' loader)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import load_data
    return load_data(name)


def synthetic(n: int = 100_000, groups: int = 1000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    b0 = rng.normal(0, 1.0, groups)
    b1 = rng.normal(0, 0.5, groups)
    y = 2 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:04d}" for k in g]})


def raw_mixedlm(df, fixed, groups, re_formula=None, vc=None, reml=True):
    import statsmodels.formula.api as smf
    kw = {}
    if re_formula is not None:
        kw["re_formula"] = re_formula
    if vc is not None:
        kw["vc_formula"] = vc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        r = smf.mixedlm(fixed, df, groups=groups, **kw).fit(reml=reml)
        return time.perf_counter() - t, float(r.llf)


def lme4_seconds(df: pd.DataFrame, formula: str, reml: bool) -> float | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "d.csv"
        df.to_csv(p, index=False)
        code = (f"suppressMessages(library(lme4)); d <- read.csv('{p}', stringsAsFactors = TRUE);"
                f"t <- system.time(lmer({formula}, data = d, REML = {'TRUE' if reml else 'FALSE'}));"
                "cat(t[['elapsed']])")
        try:
            out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=600)
            return float(out.stdout.strip().split()[-1])
        except Exception:
            return None


def bench(label, df, formula, raw_kwargs, reml=True, r=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        m = mw.lmer(formula, data=df, REML=reml)
        t_mw = time.perf_counter() - t
    t_raw, ll_raw = raw_mixedlm(df, reml=reml, **raw_kwargs)
    t_r = lme4_seconds(df, formula, reml) if r else None
    ll = float(mw.logLik(m))
    print(f"{label:28s} {t_mw:8.2f} {t_raw:8.2f} {t_mw / t_raw:7.2f} {ll_raw - ll:+12.4g} "
          f"{'' if t_r is None else f'{t_r:8.2f}':>8s} {'' if t_r is None else f'{t_mw / t_r:7.1f}':>7s}",
          flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--insteval", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args(argv)
    r = not a.no_r
    print(f"{'model':28s} {'mlm_wrap':>8s} {'MixedLM':>8s} {'ratio':>7s} {'dlogLik(raw)':>12s} "
          f"{'lme4':>8s} {'/lme4':>7s}")
    ss = load("sleepstudy.csv")
    fac = load("faculty.csv")
    bench("sleepstudy (1|Subject)", ss, "Reaction ~ Days + (1 | Subject)",
          dict(fixed="Reaction ~ Days", groups="Subject"), r=r)
    bench("sleepstudy (Days|Subject)", ss, "Reaction ~ Days + (Days | Subject)",
          dict(fixed="Reaction ~ Days", groups="Subject", re_formula="~Days"), r=r)
    bench("faculty m1 (1|dept)", fac, "salary ~ experience + (1 | department)",
          dict(fixed="salary ~ experience", groups="department"), r=r)
    bench("faculty m2 (0+exp|dept)", fac, "salary ~ experience + (0 + experience | department)",
          dict(fixed="salary ~ experience", groups="department", re_formula="~0 + experience"), r=r)
    bench("faculty m3 (1+exp|dept)", fac, "salary ~ experience + (1 + experience | department)",
          dict(fixed="salary ~ experience", groups="department", re_formula="~experience"), r=r)
    syn = synthetic()
    bench("synthetic 1e5 (1+x|g) 1000g", syn, "y ~ x + (1 + x | g)",
          dict(fixed="y ~ x", groups="g", re_formula="~x"), r=r)
    if a.insteval:
        ie = load("InstEval.csv")
        ie["one"] = 1
        bench("InstEval (1|s)+(1|d) ML", ie, "y ~ service + (1 | s) + (1 | d)",
              dict(fixed="y ~ service", groups="one", re_formula="0",
                   vc={"s": "0 + C(s)", "d": "0 + C(d)"}), reml=False, r=r)


if __name__ == "__main__":
    main()
