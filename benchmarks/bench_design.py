"""How much of a fit is formula work: parsing, safe evaluation, R's model.matrix.

    python benchmarks/bench_design.py [--repeats 20]

For each model: the median time of ``parse_formula`` + ``build_design`` (everything the
spec layer does: R's parser, the allow-list check, evaluation of every variable, the model
frame, model.matrix, grouping factors) and of the whole ``lmer()`` fit, and their ratio.
Each repeat starts from a fresh copy of the frame.  Not a test: the numbers go to
benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.spec.design import build_design
from mlm_wrap.spec.formula import parse_formula


def _big(n: int, groups: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    u = rng.normal(size=groups)
    return pd.DataFrame({"y": 1 + 0.5 * x + u[g] + rng.normal(size=n), "x": x,
                         "f": rng.choice(["a", "b", "c", "d"], n), "g": g})


def _crossed(n: int, a: int, b: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ia, ib = rng.integers(0, a, n), rng.integers(0, b, n)
    return pd.DataFrame({"y": rng.normal(size=n) + rng.normal(size=a)[ia] + rng.normal(size=b)[ib],
                         "x": rng.normal(size=n), "a": ia, "b": ib})


MODELS = [
    ("sleepstudy (Days | Subject)", "Reaction ~ Days + (Days | Subject)", lambda: load("sleepstudy")),
    ("faculty m3", "salary ~ experience + (1 + experience | department)", lambda: load("faculty")),
    ("sleepstudy poly + factor", "Reaction ~ poly(Days, 2) + factor(Days > 4) + (1 | Subject)",
     lambda: load("sleepstudy")),
    ("(1 | g) 1e5 rows, 100 groups", "y ~ x + f + (1 | g)", lambda: _big(100_000, 100)),
    ("(1 + x | g) 1e5 rows, 1000 groups", "y ~ x + (1 + x | g)", lambda: _big(100_000, 1000)),
    ("crossed 1000 x 500, 1e5 rows", "y ~ x + (1 | a) + (1 | b)", lambda: _crossed(100_000, 1000, 500)),
]


def median_time(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (max(times) - min(times))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"{'model':36s} {'spec (parse+design)':>20s} {'lmer() total':>14s} {'share':>7s}")
    for label, formula, make in MODELS:
        data = make()
        big = len(data) > 10_000
        reps = 3 if big else args.repeats
        spec_t, spec_spread = median_time(
            lambda: build_design(parse_formula(formula), data.copy()), reps)
        fit_t, fit_spread = median_time(lambda: mw.lmer(formula, data.copy()), reps)
        print(f"{label:36s} {spec_t * 1e3:11.1f} ms (+-{spec_spread * 5e2:4.1f}) "
              f"{fit_t * 1e3:9.1f} ms {spec_t / fit_t:7.1%}")


if __name__ == "__main__":
    main()
