"""Out-of-core lmer: rows/s, wall time and peak memory per worker on a 2-worker LocalCluster.

    python benchmarks/bench_outofcore.py --rows 1e6 1e7 1e8 --dir /tmp/oocbench [--compare 1e6 1e7]

For each size: a parquet data set ``y ~ x + (1 + x | g)`` with 1e4 groups is written in
files of ``--chunk`` rows (generated chunk by chunk, never all in memory), fitted with
``mw.lmer(formula, data=<directory>)`` on ``distributed.LocalCluster(n_workers=2,
threads_per_worker=1, memory_limit=--limit)``; the peak resident memory of each worker
process (VmHWM) is read after the fit.  For the ``--compare`` sizes the same data are read
into pandas and fitted in memory: the criterion at a fixed theta and the estimates are
compared.  Prints a markdown table (benchmarks/OUTOFCORE.md holds a measured one).
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mlm_wrap as mw

FORMULA = "y ~ x + (1 + x | g)"
NGROUPS = 10_000


def write_data(n: int, out: Path, chunk: int, seed: int = 1) -> int:
    """``n`` rows in files of ``chunk`` rows; returns the bytes written."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    b0, b1 = rng.normal(0, 1.0, NGROUPS), rng.normal(0, 0.3, NGROUPS)
    for k, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        g = rng.integers(0, NGROUPS, m).astype(np.int32)
        x = rng.normal(size=m)
        y = 2.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=m)
        pd.DataFrame({"y": y, "x": x, "g": g}).to_parquet(out / f"part{k:05d}.parquet", index=False)
    return sum(p.stat().st_size for p in out.glob("*.parquet"))


def vmhwm() -> int:
    """This process's peak resident memory (bytes), from /proc/self/status."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", nargs="+", type=float, default=[1e6, 1e7])
    ap.add_argument("--compare", nargs="*", type=float, default=[1e6, 1e7])
    ap.add_argument("--dir", default="/tmp/oocbench")
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--limit", default="1GiB")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
          f"{platform.processor() or platform.machine()}, formula {FORMULA}, {NGROUPS} groups, "
          f"files of {args.chunk} rows, 2 workers x 1 thread, memory_limit={args.limit}")
    print("| rows | parquet MB | in-memory MB | write s | fit s | rows/s | peak MB w1 | peak MB w2 "
          "| theta | in-memory fit s | max rel diff crit(theta0) | max abs diff theta | "
          "max abs diff beta | rel diff sigma | diff logLik |")
    print("|---" * 15 + "|")
    for n in (int(r) for r in args.rows):
        path = Path(args.dir) / f"n{n}"
        t0 = time.perf_counter()
        size = write_data(n, path, args.chunk) if not path.exists() else \
            sum(p.stat().st_size for p in path.glob("*.parquet"))
        t_write = time.perf_counter() - t0
        with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=args.limit,
                          processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = mw.lmer(FORMULA, data=str(path))
            t_fit = time.perf_counter() - t0
            peaks = sorted(client.run(vmhwm).values())
        row = [f"{n:.0e}", f"{size / 2**20:.0f}", f"{n * 20 / 2**20:.0f}", f"{t_write:.1f}",
               f"{t_fit:.1f}", f"{n / t_fit:.3g}"] + [f"{p / 2**20:.0f}" for p in peaks] + \
            [" ".join(f"{t:.5f}" for t in m.theta)]
        if n in [int(c) for c in args.compare]:
            df = pd.read_parquet(path)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m0 = mw.lmer(FORMULA, data=df)
            t_mem = time.perf_counter() - t0
            ths = [m0.theta, np.array([0.8, 0.1, 0.4])]
            crit = max(abs(m._problem.objective(th, r) / m0._problem.objective(th, r) - 1)
                       for th in ths for r in (True, False))
            row += [f"{t_mem:.1f}", f"{crit:.1e}", f"{np.max(np.abs(m.theta - m0.theta)):.1e}",
                    f"{np.max(np.abs(m.fixef().to_numpy() - m0.fixef().to_numpy())):.1e}",
                    f"{abs(m.sigma() / m0.sigma() - 1):.1e}",
                    f"{abs(float(m.logLik()) - float(m0.logLik())):.1e}"]
            del df, m0
        else:
            row += ["-"] * 6
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
