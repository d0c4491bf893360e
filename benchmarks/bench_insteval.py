"""Time the 73k-row crossed InstEval case (R: lmer(y ~ service + (1|s) + (1|d), REML = FALSE)).

    python benchmarks/bench_insteval.py [--engine statsmodels|sparse|auto]

Prints seconds and the logLik difference to R's reference value.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import mlm_wrap as mw  # noqa: E402
from conftest import load_case, load_data  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="statsmodels")
    a = ap.parse_args(argv)
    case = load_case("insteval_crossed")
    df = load_data(case["data"])
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer(case["formula"], data=df, REML=case["REML"], engine=a.engine)
    secs = time.perf_counter() - t
    print(f"InstEval engine={a.engine}: {secs:.1f} s (lme4 {case['r_fit_seconds']:.1f} s in the corpus); "
          f"logLik {float(mw.logLik(m)):.3f} vs R {case['logLik']:.3f}; "
          f"MixedLM criterion {m.optinfo.statsmodels_criterion}")


if __name__ == "__main__":
    main()
