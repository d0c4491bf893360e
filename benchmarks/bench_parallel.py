"""Parallel bootstrap: 1000 sleepstudy refits serial, on 2 local worker processes (joblib's
loky, ``parallel="multicore"``) and on a Dask LocalCluster of 2 single-threaded worker
processes (``parallel="dask"``); the speed-up, the per-task overhead, and that the three
answers are identical.

    python benchmarks/bench_parallel.py [--nsim 1000] [--repeats 3]

Per-task overhead: the dispatch cost of a task that does nothing (``run_tasks`` of an empty
function, 1000 tasks), and the extra worker-seconds per refit of the parallel run,
``(workers x wall_parallel - wall_serial) / nsim``.  Pool start-up (worker processes
importing mlm_wrap) is timed separately: the first call pays it, later calls reuse the pool.
The results go to stdout as a Markdown table (benchmarks/PARALLEL.md records a run).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.inference.parallel import run_tasks


def _noop(state, item):
    return item


def _time(f, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=load("sleepstudy"))
    n, W = args.nsim, 2
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    rows = []

    serial, a = _time(lambda: mw.bootMer(m, n, seed=1, progress=False), args.repeats)
    rows.append(("serial (`parallel=\"no\"`)", None, serial, None))

    t0 = time.perf_counter()
    run_tasks(_noop, m, range(4), parallel="multicore", ncpus=W, progress=False)
    startup = time.perf_counter() - t0
    noop_loky, _ = _time(lambda: run_tasks(_noop, None, range(1000), parallel="multicore",
                                           ncpus=W, progress=False), args.repeats)
    loky, b = _time(lambda: mw.bootMer(m, n, seed=1, progress=False, parallel="multicore",
                                       ncpus=W), args.repeats)
    rows.append(("2 local processes (`\"multicore\"`)", startup, loky, noop_loky))

    dask_row = None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask.distributed is not installed: no Dask row")
    else:
        t0 = time.perf_counter()
        with LocalCluster(n_workers=W, threads_per_worker=1, processes=True,
                          dashboard_address=None) as lc, Client(lc):
            run_tasks(_noop, m, range(4), parallel="dask", progress=False)
            dstart = time.perf_counter() - t0
            noop_dask, _ = _time(lambda: run_tasks(_noop, None, range(1000), parallel="dask",
                                                   progress=False), args.repeats)
            dask, c = _time(lambda: mw.bootMer(m, n, seed=1, progress=False, parallel="dask"),
                            args.repeats)
        dask_row = ("Dask LocalCluster, 2 worker processes (`\"dask\"`)", dstart, dask, noop_dask)
        rows.append(dask_row)
        assert np.array_equal(a.t.to_numpy(), c.t.to_numpy(), equal_nan=True), "dask differs from serial"
    assert np.array_equal(a.t.to_numpy(), b.t.to_numpy(), equal_nan=True), "multicore differs from serial"

    print(f"\n{n} parametric-bootstrap refits of Reaction ~ Days + (Days | Subject) "
          f"(sleepstudy), median of {args.repeats}; identical t matrices on every back end\n")
    print("| run | pool start-up (s) | wall (s) | speed-up | per refit (ms) | "
          "overhead per refit (ms) | empty task (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, start, wall, noop in rows:
        sp = serial / wall
        over = "" if start is None else f"{1000 * (W * wall - serial) / n:.2f}"
        print(f"| {name} | {'' if start is None else f'{start:.2f}'} | {wall:.2f} | {sp:.2f}x | "
              f"{1000 * wall / n:.2f} | {over} | {'' if noop is None else f'{noop:.3f}'} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
