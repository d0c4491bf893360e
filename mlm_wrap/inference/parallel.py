"""Where the many refits run: in this process, in local worker processes, on Dask or Ray.

Every long job (``bootMer``, profile intervals, ``allFit``, ``power_sim``, ``fit_many``)
is a list of independent tasks run by :func:`run_tasks`, with R's argument names:

* ``parallel="no"`` (R's default): one after the other, here.
* ``parallel="multicore"`` or ``"snow"``: ``ncpus`` local worker processes (joblib's
  loky pool; R's two names mean the same here).
* ``parallel="dask"``: the default ``distributed.Client`` (or ``cl=``: a Client or a
  scheduler address such as ``"tcp://10.0.0.5:8786"``).
* ``parallel="ray"``: the running ``ray.init()`` (or ``cl=``: a Ray address to connect to).

What makes the answers the same whatever runs them:

* the tasks' random numbers come from one ``numpy.random.SeedSequence(seed)`` spawned
  into one child per task (:func:`spawn_seeds`), so task i draws the same numbers on any
  worker, in any order, with any number of workers;
* each task runs with one BLAS thread (:func:`mlm_wrap.engines.blas.single_threaded_blas`);
* a task's warnings are recorded and re-issued here, in task order.

The model's compact state (for a bootstrap: the problem's X, Z and cross-products, not the
data frame) goes to each worker once: a file the local workers read once (kept in each
worker's memory under a token), ``Client.scatter(broadcast=True)`` on Dask, ``ray.put``
on Ray; a task then carries only its index and seed.  Tasks go out in chunks (about
eight per worker) so that the per-task overhead stays small.

A tqdm progress bar (``tqdm.auto``: a widget in notebooks) follows every job;
``progress=False`` turns it off.  Ctrl-C (``KeyboardInterrupt``) cancels the workers'
remaining tasks and propagates: nothing half-written is returned.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import uuid
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.errors import caught_warnings

__all__ = ["BACKENDS", "run_tasks", "spawn_seeds", "progress_bar", "n_workers"]

BACKENDS = ("no", "multicore", "snow", "dask", "ray")


# ================================================================================= seeds
def spawn_seeds(seed, n: int) -> tuple[list[np.random.SeedSequence], object]:
    """``n`` independent child seeds of one ``SeedSequence`` (task i always gets child i),
    and the entropy that reproduces them (``seed=None`` draws fresh entropy: the
    returned value, passed back as ``seed``, repeats the run)."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2 ** 63))
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(n), ss.entropy


# ============================================================================== progress
#: seconds a job runs before its bar appears: long jobs get one, sub-second ones (a profile
#: of a small model, a handful of refits) print nothing
PROGRESS_DELAY = 0.5


class _Plain:
    """A one-line progress indicator on stderr when tqdm is not installed."""

    def __init__(self, total: int, desc: str, disable: bool):
        self.total, self.desc, self.disable, self.n = total, desc, disable, 0
        self.t0 = self.last = time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.perf_counter()
        if self.disable or (now - self.last < 0.25 and self.n < self.total) or \
                now - self.t0 < PROGRESS_DELAY:
            return
        self.last = now
        rate = (now - self.t0) / max(self.n, 1)
        sys.stderr.write(f"\r{self.desc}: {self.n}/{self.total} ({rate:.3f} s each, "
                         f"~{rate * (self.total - self.n):.0f} s left)  ")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.disable and time.perf_counter() - self.t0 >= PROGRESS_DELAY:
            sys.stderr.write("\n")
            sys.stderr.flush()


def progress_bar(total: int, desc: str, on: bool = True):
    """A tqdm bar (``tqdm.auto``: notebook-aware) on stderr, or a plain line without tqdm;
    shown once the job has run ``PROGRESS_DELAY`` seconds."""
    try:
        with caught_warnings("ignore"):  # tqdm.auto warns in a notebook without ipywidgets
            from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _Plain(total, desc, not on)
    return tqdm(total=total, desc=desc, disable=not on, file=sys.stderr, leave=True,
                dynamic_ncols=True, delay=PROGRESS_DELAY)


# ================================================================================ tasks
def _call(fn: Callable, state, item) -> tuple[Any, list]:
    """One task: ``fn(state, item)`` with one BLAS thread, its warnings recorded."""
    with caught_warnings("always", record=True) as caught:
        with single_threaded_blas():
            out = fn(state, item)
    return out, [(w.category, str(w.message)) for w in caught]


def _chunk(fn: Callable, state, items: Sequence) -> list:
    return [_call(fn, state, it) for it in items]


_WORKER_STATE: dict[str, Any] = {}  # token -> state, in each worker process


def _cached(token: str, load: Callable[[], Any]):
    if token not in _WORKER_STATE:
        while len(_WORKER_STATE) >= 4:  # a few jobs' states at most
            _WORKER_STATE.pop(next(iter(_WORKER_STATE)))
        _WORKER_STATE[token] = load()
    return _WORKER_STATE[token]


def _cloudpickle():
    """cloudpickle (carries lambdas and notebook functions): standalone or joblib's copy."""
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - older joblib vendors it
        from joblib.externals import cloudpickle
    return cloudpickle


def _loky_chunk(path: str, token: str, fn: Callable, items: Sequence) -> list:
    def load():
        with open(path, "rb") as fh:
            return _cloudpickle().load(fh)
    return _chunk(fn, _cached(token, load), items)


def _ray_chunk(token: str, ref: list, fn: Callable, items: Sequence) -> list:
    import ray
    return _chunk(fn, _cached(token, lambda: ray.get(ref[0])), items)


def _chunks(n: int, workers: int) -> list[range]:
    size = max(1, math.ceil(n / max(1, 8 * workers)))
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def n_workers(parallel: str = "no", ncpus: int | None = None, cl=None) -> int:
    """How many tasks run at once: 1, ``ncpus`` (all cores by default) for local
    processes, the cluster's threads or CPUs for Dask and Ray."""
    p = _backend(parallel)
    if p == "no":
        return 1
    if p in ("multicore", "snow"):
        return int(ncpus) if ncpus else (os.cpu_count() or 1)
    if p == "dask":
        client = _dask_client(cl)
        try:
            return _dask_threads(client)
        finally:
            if _owned(client, cl):
                client.close()
    return max(1, int(_ray(cl).cluster_resources().get("CPU", 1)))


def _backend(parallel) -> str:
    p = "no" if parallel in (None, False) else str(parallel).lower()
    if p not in BACKENDS:
        raise ValueError(f"parallel must be one of {', '.join(repr(b) for b in BACKENDS)}, "
                         f"not {parallel!r}")
    return p


def _dask_client(cl=None):
    try:
        from distributed import Client, default_client
    except ImportError as e:
        raise ImportError("parallel='dask' needs dask.distributed: pip install "
                          "'mlm_wrap[dask]'") from e
    if cl is None:
        try:
            return default_client()
        except ValueError as e:
            raise ValueError("parallel='dask' uses the running distributed.Client: start one "
                             "(Client() for a local cluster, Client('tcp://host:8786') for a "
                             "scheduler) or pass cl= a Client or a scheduler address") from e
    return cl if isinstance(cl, Client) else Client(cl, set_as_default=False)


def _owned(client, cl) -> bool:
    """Whether run_tasks opened this client (from an address) and so closes it."""
    return cl is not None and client is not cl


def _ray(cl=None):
    try:
        import ray
    except ImportError as e:
        raise ImportError("parallel='ray' needs ray: pip install 'mlm_wrap[ray]'") from e
    if not ray.is_initialized():
        if cl is None:
            raise ValueError("parallel='ray' uses the running Ray: call ray.init() (or "
                             "ray.init(address='auto') on a Ray cluster) first, or pass cl= "
                             "a Ray address")
        ray.init(address=cl)
    return ray


def run_tasks(fn: Callable, state, items: Sequence, *, parallel="no", ncpus: int | None = None,
              cl=None, progress: bool = True, desc: str = "tasks") -> list:
    """``[fn(state, item) for item in items]`` on the chosen back end, in item order.

    ``fn`` is a module-level function (or any callable cloudpickle can carry);
    ``state`` goes to each worker once.  Each task's warnings are re-issued here, in task
    order, whichever worker ran it.  An exception in a task (other than those ``fn``
    handles itself) cancels the rest and is raised here; so is ``KeyboardInterrupt``."""
    items = list(items)
    p = _backend(parallel)
    bar = progress_bar(len(items), desc, progress)
    try:
        if p == "no" or len(items) == 0:
            pairs = []
            for it in items:
                pairs.append(_call(fn, state, it))
                bar.update(1)
        elif p in ("multicore", "snow"):
            pairs = _run_loky(fn, state, items, n_workers(p, ncpus), bar)
        elif p == "dask":
            client = _dask_client(cl)
            try:
                pairs = _run_dask(fn, state, items, client, bar)
            finally:
                if _owned(client, cl):
                    client.close()
        else:
            pairs = _run_ray(fn, state, items, _ray(cl), bar)
    finally:
        bar.close()
    for _, caught in pairs:
        for cat, msg in caught:
            warnings.warn(msg, cat, stacklevel=3)
    return [r for r, _ in pairs]


def _run_loky(fn, state, items, workers: int, bar) -> list:
    try:
        from joblib import Parallel, delayed
        cloudpickle = _cloudpickle()
    except ImportError as e:  # pragma: no cover - joblib is a dependency
        raise ImportError("parallel='multicore' needs joblib: pip install joblib") from e
    token = uuid.uuid4().hex
    fd, path = tempfile.mkstemp(prefix="mlm_wrap_state_", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            cloudpickle.dump(state, fh)
        chunks = _chunks(len(items), workers)
        out: list = []
        jobs = (delayed(_loky_chunk)(path, token, fn, [items[i] for i in c]) for c in chunks)
        with Parallel(n_jobs=workers, backend="loky", batch_size=1,
                      return_as="generator") as par:
            for res in par(jobs):
                out.extend(res)
                bar.update(len(res))
        return out
    finally:
        os.unlink(path)


def _dask_threads(client) -> int:
    info = client.scheduler_info()["workers"]
    return max(1, sum(w.get("nthreads", 1) for w in info.values()))


def _run_dask(fn, state, items, client, bar) -> list:
    from distributed import as_completed
    token = uuid.uuid4().hex
    [fut_state] = client.scatter([state], broadcast=True, hash=False)
    chunks = _chunks(len(items), _dask_threads(client))
    futs = [client.submit(_chunk, fn, fut_state, [items[i] for i in c], pure=False,
                          key=f"mlm_wrap-{token}-{k}") for k, c in enumerate(chunks)]
    index = {f.key: k for k, f in enumerate(futs)}
    res: list = [None] * len(futs)
    try:
        for f in as_completed(futs):
            r = f.result()
            res[index[f.key]] = r
            bar.update(len(r))
    except BaseException:
        client.cancel(futs)
        raise
    finally:
        client.cancel([fut_state])
    return [x for r in res for x in r]


def _run_ray(fn, state, items, ray, bar) -> list:
    token = uuid.uuid4().hex
    ref = ray.put(state)
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    remote = ray.remote(_ray_chunk)
    refs = [remote.remote(token, [ref], fn, [items[i] for i in c])
            for c in _chunks(len(items), workers)]
    index = {r: k for k, r in enumerate(refs)}
    res: list = [None] * len(refs)
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                out = ray.get(r)
                res[index[r]] = out
                bar.update(len(out))
    except BaseException:
        for r in pending:
            ray.cancel(r, force=True)
        raise
    return [x for r in res for x in r]
