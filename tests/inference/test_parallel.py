"""bootMer and the other long jobs on every back end (mlm_wrap.inference.parallel): the same
numbers serial and parallel, failed refits counted, Ctrl-C returns nothing, progress bars."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.errors import ConvergenceWarning
from mlm_wrap.inference.parallel import n_workers, run_tasks, spawn_seeds


@pytest.fixture(scope="module")
def sleep():
    return mw.lmer("Reaction ~ Days + (Days | Subject)", data=load("sleepstudy"))


def test_seeds_are_spawned_from_one_sequence():
    a, ea = spawn_seeds(5, 4)
    b, _ = spawn_seeds(5, 10)
    assert [s.generate_state(2).tolist() for s in a] == [s.generate_state(2).tolist() for s in b[:4]]
    c, ec = spawn_seeds(None, 3)
    again, _ = spawn_seeds(ec, 3)  # the entropy repeats a seed=None run
    assert [s.generate_state(1)[0] for s in c] == [s.generate_state(1)[0] for s in again]
    assert ea == 5


def test_serial_and_two_processes_agree_number_for_number(sleep):
    a = mw.bootMer(sleep, 24, seed=11, progress=False)
    b = mw.bootMer(sleep, 24, seed=11, progress=False, parallel="multicore", ncpus=2)
    assert np.array_equal(a.t.to_numpy(), b.t.to_numpy(), equal_nan=True)  # bit for bit
    assert a.t0.equals(b.t0) and a.nfail == b.nfail == 0
    # a user's FUN (a lambda: carried by cloudpickle) on "snow", R's other name for it
    f = mw.bootMer(sleep, 6, seed=11, FUN=lambda x: x.fixef(), progress=False)
    g = mw.bootMer(sleep, 6, seed=11, FUN=lambda x: x.fixef(), progress=False, parallel="snow",
                   ncpus=2)
    pd.testing.assert_frame_equal(f.t, g.t, check_exact=True)
    # the same draws whatever the statistic: FUN=fixef is confint's statistics' tail
    assert np.allclose(f.t.to_numpy(), a.t.iloc[:6, -2:].to_numpy(), rtol=1e-6)


def test_dask_local_cluster_agrees(sleep):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed "
                                      "(pip install 'mlm_wrap[dask]')")
    a = mw.bootMer(sleep, 16, seed=4, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as lc, distributed.Client(lc) as c:
        b = mw.bootMer(sleep, 16, seed=4, progress=False, parallel="dask")  # the default client
        d = mw.bootMer(sleep, 16, seed=4, progress=False, parallel="dask", cl=c.scheduler.address)
        assert n_workers("dask") == 2
    assert np.array_equal(a.t.to_numpy(), b.t.to_numpy(), equal_nan=True)
    assert np.array_equal(a.t.to_numpy(), d.t.to_numpy(), equal_nan=True)


def test_ray_agrees(sleep):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'mlm_wrap[ray]')")
    a = mw.bootMer(sleep, 8, seed=9, progress=False)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        b = mw.bootMer(sleep, 8, seed=9, progress=False, parallel="ray")
    finally:
        if started:
            ray.shutdown()
    assert np.array_equal(a.t.to_numpy(), b.t.to_numpy(), equal_nan=True)


def test_failed_refits_are_counted_with_their_messages(sleep):
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] in (3, 5):  # the 1st call is FUN(m) itself
            raise ValueError("no convergence here")
        warnings.warn("a refit's warning", UserWarning)
        return x.fixef()
    with pytest.warns(ConvergenceWarning, match=r"some bootstrap runs failed \(2/6\)"), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", "a refit's warning")  # FUN(m) itself, not a refit
        b = mw.bootMer(sleep, 6, seed=1, FUN=flaky, progress=False)
    assert b.nfail == 2 and b.t.isna().all(axis=1).sum() == 2
    assert b.fail_msgs == {"ValueError: no convergence here": 2}
    assert b.all_msgs["a refit's warning"] == 4


def test_ctrl_c_stops_and_returns_nothing(sleep):
    calls = {"n": 0}

    def interrupted(x):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return x.fixef()
    with pytest.raises(KeyboardInterrupt):
        mw.bootMer(sleep, 50, seed=1, FUN=interrupted, progress=False)
    assert calls["n"] == 4  # stopped at once, not after the 50 refits
    done = []

    def task(state, i):
        if i == 2:
            raise KeyboardInterrupt
        done.append(i)
        return i
    with pytest.raises(KeyboardInterrupt):
        run_tasks(task, None, range(10), progress=False)
    assert done == [0, 1]


def _interrupt_at_5(state, i):
    if i == 5:
        raise KeyboardInterrupt
    return i


def test_ctrl_c_in_a_worker_stops_the_pool():
    with pytest.raises(KeyboardInterrupt):
        run_tasks(_interrupt_at_5, None, range(100), parallel="multicore", ncpus=2, progress=False)
    # the pool was shut down and comes back for the next job
    assert run_tasks(_interrupt_at_5, None, range(5), parallel="multicore", ncpus=2,
                     progress=False) == [0, 1, 2, 3, 4]


def test_backend_names_and_errors(sleep):
    with pytest.raises(ValueError, match="parallel must be one of"):
        mw.bootMer(sleep, 2, parallel="threads")
    assert n_workers("no") == 1 and n_workers("multicore", 3) == 3
    distributed = pytest.importorskip("distributed")
    try:
        distributed.default_client()
    except ValueError:
        with pytest.raises(ValueError, match="running distributed.Client"):
            mw.bootMer(sleep, 2, parallel="dask")


def test_tasks_warnings_reach_the_caller_in_order():
    def task(state, i):
        warnings.warn(f"task {i}", UserWarning)
        return state + i
    with pytest.warns(UserWarning) as rec:
        assert run_tasks(task, 10, range(3), progress=False) == [10, 11, 12]
    assert [str(w.message) for w in rec] == ["task 0", "task 1", "task 2"]


def test_progress_bar_on_stderr_and_off(sleep, capsys, monkeypatch):
    import mlm_wrap.inference.parallel as par
    monkeypatch.setattr(par, "PROGRESS_DELAY", 0.0)  # the bar of a job this short, shown
    mw.bootMer(sleep, 3, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap" in err and "3/3" in err
    mw.bootMer(sleep, 3, seed=1, progress=False, parallel="multicore", ncpus=2)
    assert capsys.readouterr().err == ""


def test_profile_and_allfit_on_workers(sleep):
    a = mw.confint(sleep, method="profile", progress=False)
    b = mw.confint(sleep, method="profile", progress=False, parallel="multicore", ncpus=2)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    x = mw.allFit(sleep, progress=False)
    y = mw.allFit(sleep, progress=False, parallel="multicore", ncpus=2)
    pd.testing.assert_frame_equal(x["fixef"], y["fixef"], check_exact=True)
    assert x["which.OK"].equals(y["which.OK"])


@pytest.mark.filterwarnings("ignore:extreme order statistics")
def test_confint_boot_takes_parallel(sleep):
    a = mw.confint(sleep, method="boot", nsim=10, seed=3, progress=False)
    b = mw.confint(sleep, method="boot", nsim=10, seed=3, progress=False, parallel="snow", ncpus=2)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_glmer_bootstrap_agrees_on_workers():
    g = mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data=load("cbpp"),
                 family="binomial")
    a = mw.bootMer(g, 6, seed=8, progress=False)
    b = mw.bootMer(g, 6, seed=8, progress=False, parallel="multicore", ncpus=2)
    assert np.array_equal(a.t.to_numpy(), b.t.to_numpy(), equal_nan=True)
