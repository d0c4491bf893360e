"""Time the parametric bootstrap (bootMer / confint(method="boot")) per refit.

    python benchmarks/bench_boot.py              # 100 refits per model
    python benchmarks/bench_boot.py --nsim 500   # lme4's default nsim
    python benchmarks/bench_boot.py --r          # also lme4's bootMer through Rscript

Per model: seconds per refit of mlm_wrap's bootstrap (simulate a response, refit warm
started at the fit's theta, collect sds/cors/sigma/fixed effects), the same refit done
with the fit's own polish routine alone (mlm_wrap.engines.mixedlm._polish, the slower reference),
failed refits, and, with --r, lme4's seconds per refit for bootMer on the same data.
The profile intervals' time (confint(method="profile")) is shown alongside.
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
RREF = ROOT / "tests" / "r" / "refs" / "core"

import mlm_wrap as mw  # noqa: E402
from mlm_wrap.engines.mixedlm import _polish  # noqa: E402
from mlm_wrap.inference.anova import _new_problem  # noqa: E402
from mlm_wrap.inference.boot import _simulate_matrix, bootMer  # noqa: E402
from mlm_wrap.inference.profile import confint_profile  # noqa: E402

MODELS = [
    ("sleepstudy slope", "sleepstudy.csv", "Reaction ~ Days + (Days | Subject)"),
    ("sleepstudy int", "sleepstudy.csv", "Reaction ~ Days + (1 | Subject)"),
    ("faculty m3", "faculty.csv", "salary ~ experience + (1 + experience | department)"),
    ("penicillin crossed", "Penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
]


def load(name: str) -> pd.DataFrame:
    """A corpus data set with R's factor levels (the tests' loader)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import load_data
    return load_data(name)


def polish_only(m, nsim: int, seed: int) -> float:
    """Seconds per refit with the fit's polish routine instead of the warm quasi-Newton."""
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    for _ in range(nsim):
        y = _simulate_matrix(m, 1, rng)[:, 0]
        prob = _new_problem(m, y)
        _polish(prob, m.theta, m.REML)
    return (time.perf_counter() - t) / nsim


def r_bootmer(data: str, formula: str, nsim: int) -> float | None:
    """lme4's bootMer seconds per refit (None without Rscript)."""
    if not shutil.which("Rscript"):
        return None
    code = f"""
suppressMessages(library(lme4))
d <- read.csv("{RREF / 'data' / data}")
lv <- jsonlite::fromJSON("{RREF / 'data' / data.replace('.csv', '.levels.json')}")
for (c in names(lv)) d[[c]] <- factor(as.character(d[[c]]), levels = lv[[c]])
m <- lmer({formula}, d)
f <- function(x) c(getME(x, "theta"), sigma(x), fixef(x))
t <- system.time(suppressWarnings(bootMer(m, f, nsim = {nsim}, seed = 1)))[["elapsed"]]
cat(t / {nsim}, "\\n")
"""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(code)
    try:
        out = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, timeout=900)
        return float(out.stdout.split()[-1])
    except Exception:
        return None
    finally:
        Path(fh.name).unlink(missing_ok=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsim", type=int, default=100)
    ap.add_argument("--polish-nsim", type=int, default=20, help="refits timed with _polish alone")
    ap.add_argument("--r", action="store_true", help="time lme4's bootMer too")
    a = ap.parse_args(argv)
    print(f"{'model':<20} {'n':>5} {'s/refit':>9} {'polish s/refit':>15} {'speed-up':>9} "
          f"{'failed':>7} {'profile s':>10}" + (f" {'lme4 s/refit':>13}" if a.r else ""))
    for label, data, formula in MODELS:
        df = load(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mw.lmer(formula, data=df)
            bb = bootMer(m, nsim=a.nsim, seed=1, progress=False)
            t_pol = polish_only(m, a.polish_nsim, seed=1)
            t = time.perf_counter()
            confint_profile(m)
            t_prof = time.perf_counter() - t
        line = (f"{label:<20} {m.nobs():>5} {bb.seconds_per_refit:>9.4f} {t_pol:>15.4f} "
                f"{t_pol / bb.seconds_per_refit:>8.1f}x {bb.nfail:>7} {t_prof:>10.2f}")
        if a.r:
            tr = r_bootmer(data, formula, a.nsim)
            line += f" {tr:>13.4f}" if tr is not None else f" {'n/a':>13}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
