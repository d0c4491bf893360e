"""Saving and loading fitted models (``pickle``, ``joblib``).

A fitted model's state is its data (the model frame R keeps, the design matrices, the
fit's numbers) plus caches derived from them.  ``__getstate__`` leaves out the caches
that can be rebuilt (the LMM's cross-products and sparse Z, glmer's cached covariance)
and stamps the mlm_wrap version; ``__setstate__`` refuses a pickle from another version
by name (:class:`~mlm_wrap.errors.VersionError`) rather than loading an object whose
internals may have changed; the caches come back on first use (``lazy_attribute``).
The pickle holds the model frame (``m.design.frame``: the columns the formula uses, the
model's rows) and the data's row labels (for ``na_action``), never the user's full frame.
"""
from __future__ import annotations

import numpy as np

from mlm_wrap.errors import VersionError

VERSION_KEY = "__mlm_wrap_version__"
_CACHES = ("_vcov_cache",)  # set to None: recomputed on first use


def version() -> str:
    """The installed mlm_wrap version (the distribution's metadata)."""
    from importlib.metadata import PackageNotFoundError, version as dist_version
    try:
        return dist_version("mlm_wrap")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _problem_rebuildable(m) -> bool:
    """An LMM's problem is ``make_problem(m.design)`` unless it was made for another
    response or weights (checked by rebuilding it: the arrays must be identical); glmer's
    problem holds the response as glm codes it, so it is kept."""
    p = m.__dict__.get("_problem")
    if p is None or hasattr(m, "family_object") or type(p).__name__ != "LmmProblem":
        return False
    from mlm_wrap.engines.mixedlm import make_problem
    q = make_problem(m.design)

    def same(name: str) -> bool:
        a, b = getattr(p, name, None), getattr(q, name, None)
        if a is None or b is None:
            return a is None and b is None
        return np.array_equal(np.asarray(a), np.asarray(b))
    return all(same(k) for k in ("y", "X", "weights", "offset", "sw", "n", "p", "q"))


def getstate(m) -> dict:
    """The model's ``__dict__`` without rebuildable caches, with the version."""
    state = dict(m.__dict__)
    if _problem_rebuildable(m):
        del state["_problem"]
    for k in _CACHES:
        if k in state:
            state[k] = None
    state[VERSION_KEY] = version()
    return state


def setstate(m, state: dict) -> None:
    """Restore a pickled model; a pickle from another mlm_wrap version is refused."""
    state = dict(state)
    saved = state.pop(VERSION_KEY, None)
    current = version()
    if saved != current:
        raise VersionError(f"this {type(m).__name__} was saved by mlm_wrap "
                           f"{saved or '(unknown version)'}; this is mlm_wrap {current}: "
                           "refit the model with this version (pickles are not portable "
                           "across versions)")
    m.__dict__.update(state)


def lazy_attribute(m, name: str):
    """Rebuild a cache left out of the pickle (called by ``__getattr__``, i.e. only when
    the attribute is missing)."""
    if name == "_problem" and "design" in m.__dict__:
        from mlm_wrap.engines.mixedlm import make_problem
        problem = make_problem(m.__dict__["design"])
        m.__dict__["_problem"] = problem
        return problem
    raise AttributeError(f"{type(m).__name__!r} object has no attribute {name!r}")
