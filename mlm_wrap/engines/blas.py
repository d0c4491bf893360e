"""Run numerical work with one BLAS thread.

The engines make many small dense products, Cholesky factors and triangular solves;
OpenBLAS threads only add synchronisation to those, and on a 2-core machine with other
work they cost several-fold (measured: InstEval on the sparse engine 6.0 s with one
thread, 27 s with OpenBLAS's default; grouseticks glmer 0.7 s vs 20 s).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with one BLAS thread, then restore the previous count.

    PIRLS makes thousands of small dense products and triangular solves; OpenBLAS threads
    only add synchronisation to those, and on a busy machine they cost 10-30x (measured:
    grouseticks 0.7 s single-threaded, 20 s with two threads competing with other work).
    Uses threadpoolctl when it is installed, else OpenBLAS's own setter through ctypes on
    the libraries numpy and scipy loaded; does nothing when neither is available.

    Every fit runs in this block, so it also sets numpy's floating-point warnings off: the
    engines meet overflow and 0/0 while the optimizer tries extreme variance parameters
    (and check every result for non-finite values themselves); R is silent there too,
    and numpy's raw ``RuntimeWarning`` messages would only reach the user.

    The BLAS thread count is one setting for the whole process, and OpenBLAS honours a
    change only from some threads, so the thread that limits is the one that restores: the
    first block to enter (in any thread) limits and becomes the owner; its nested blocks
    count; blocks in other threads meanwhile run under the current setting and change
    nothing; when the owner's outermost block leaves, the user's setting comes back (each
    block saving and restoring on its own left a limit of 1 behind when two overlapped).
    """
    me = threading.get_ident()
    with np.errstate(all="ignore"):  # numpy's errstate is per thread (a context variable)
        with _one_thread(me):
            yield


@contextlib.contextmanager
def _one_thread(me: int):
    global _OWNER, _DEPTH, _RESTORE
    with _LOCK:
        if _OWNER is None:
            _OWNER, _DEPTH, _RESTORE = me, 0, _limit_to_one()
        mine = _OWNER == me
        if mine:
            _DEPTH += 1
    try:
        yield
    finally:
        if mine:
            with _LOCK:
                _DEPTH -= 1
                if _DEPTH == 0:
                    restore, _RESTORE, _OWNER = _RESTORE, None, None
                    if restore is not None:
                        restore()


_LOCK = threading.Lock()
_OWNER: int | None = None  # the thread whose block set the limit
_DEPTH = 0  # its blocks inside single_threaded_blas() now
_RESTORE = None  # puts the user's setting back


def _limit_to_one():
    """Limit BLAS to one thread now; return the function that undoes it."""
    controller = _controller()
    if controller is not None:
        return controller.limit(limits=1, user_api="blas").restore_original_limits
    restore = []
    for lib in _openblas_libs():
        for get, set_ in (("openblas_get_num_threads", "openblas_set_num_threads"),
                          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                          ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                          ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_")):
            try:
                g, s = getattr(lib, get), getattr(lib, set_)
                n = int(g())
                s(1)
                restore.append((s, n))
            except (AttributeError, OSError, ValueError):
                continue

    def undo() -> None:
        for s, n in restore:
            try:
                s(n)
            except (OSError, ValueError):  # pragma: no cover
                pass
    return undo


_BLAS_LIBS: list | None = None
_CONTROLLER: list = []


def _controller():
    """threadpoolctl's controller, built once: finding the loaded libraries reads
    /proc/self/maps, which cost 5 ms per fit when done every time (None without threadpoolctl)."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER.append(ThreadpoolController())
        except ImportError:
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


def _openblas_libs() -> list:
    """The OpenBLAS shared libraries loaded in this process (Linux: /proc/self/maps)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        import ctypes
        paths = []
        try:
            with open("/proc/self/maps") as fh:
                for line in fh:
                    p = line.split()[-1] if line.strip() else ""
                    if "openblas" in p.lower() and p.endswith(".so") or ".so." in p and "openblas" in p.lower():
                        if p not in paths:
                            paths.append(p)
        except OSError:
            paths = []
        libs = []
        for p in paths:
            try:
                libs.append(ctypes.CDLL(p))
            except OSError:
                continue
        _BLAS_LIBS = libs
    return _BLAS_LIBS
