"""Run numerical work with one BLAS thread.

The engines make many small dense products, Cholesky factors and triangular solves;
OpenBLAS threads only add synchronisation to those, and on a 2-core machine with other
work they cost several-fold (measured: InstEval on the sparse engine 6.0 s with one
thread, 27 s with OpenBLAS's default; grouseticks glmer 0.7 s vs 20 s).
"""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with one BLAS thread, then restore the previous count.

    PIRLS makes thousands of small dense products and triangular solves; OpenBLAS threads
    only add synchronisation to those, and on a busy machine they cost 10-30x (measured:
    grouseticks 0.7 s single-threaded, 20 s with two threads competing with other work).
    Uses threadpoolctl when it is installed, else OpenBLAS's own setter through ctypes on
    the libraries numpy and scipy loaded; does nothing when neither is available.
    """
    controller = _controller()
    if controller is not None:
        with controller.limit(limits=1, user_api="blas"):
            yield
        return
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
    try:
        yield
    finally:
        for s, n in restore:
            try:
                s(n)
            except (OSError, ValueError):  # pragma: no cover
                pass


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
