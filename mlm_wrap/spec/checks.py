"""lme4's checks on a model before it is fitted, in lme4's words.

lmer refuses models it cannot identify (``lmerControl()$checkControl``) and warns
about predictors on very different scales; mlm_wrap does the same, before any engine
sees the data, so the user gets lme4's message instead of a numerical failure.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlm_wrap.errors import DataError, ModelError


def check_response(y: np.ndarray, response: str, index: pd.Index) -> None:
    """A usable response: finite and not constant."""
    bad = ~np.isfinite(y)
    if bad.any():
        rows = ", ".join(str(i) for i in index[bad][:5])
        more = "" if bad.sum() <= 5 else ", ..."
        raise DataError(f"the response {response!r} has {int(bad.sum())} non-finite value(s) "
                        f"(rows {rows}{more}); remove them or transform the response")
    if len(y) > 1 and np.ptp(y) == 0:
        raise ModelError(f"the response {response!r} is constant ({y[0]:g} in every row): "
                         "there is no variance to model")


def check_fixed(X: np.ndarray, names: list[str], index: pd.Index) -> None:
    """Finite fixed-effects columns."""
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = ", ".join(str(i) for i in index[bad[:, j]][:5])
        raise DataError(f"the fixed-effects column {names[j]!r} has non-finite values "
                        f"(rows {rows}); remove them or transform the predictor")


# cross-products of n values stay finite and normal when max|v| * sqrt(n) is between these
# (with 2^20 to spare for sums over other columns and the variance parameters)
_HUGE = float(np.sqrt(np.finfo(float).max)) / 2.0 ** 20
_TINY = float(np.sqrt(np.finfo(float).tiny)) * 2.0 ** 20


def check_magnitude(values: np.ndarray, names: list[str], what: str) -> None:
    """Refuse columns whose squares overflow or underflow in double precision (1e200,
    1e-300): lme4 fails there too ('objective in x0 returns NA', 'Downdated VtV is not
    positive definite') or returns Inf/0 for sigma; the message names the column."""
    V = np.asarray(values, float).reshape(len(values), -1)
    if not V.size:
        return
    if V.shape[1] < 8:  # a column at a time: numpy's axis-0 reduction of a narrow C-order
        amax = np.array([max(c.max(), -c.min()) for c in V.T])  # array is 50x slower
    else:
        amax = np.maximum(V.max(axis=0), -V.min(axis=0))
    amax = amax * np.sqrt(len(V))
    for j, a in enumerate(amax):
        if not np.isfinite(a) or a > _HUGE or 0.0 < a < _TINY:
            big = not (0.0 < a < _TINY)
            m = float(np.max(np.abs(V[:, j])))
            raise DataError(f"{what} {names[j]!r} is too {'large' if big else 'small'} in "
                            f"magnitude (max |value| = {m:.3g}): its squares "
                            f"{'overflow' if big else 'underflow'} in double precision; "
                            f"rescale it (e.g. {'divide' if big else 'multiply'} it by "
                            f"{10.0 ** abs(round(np.log10(m))):.0e})")


def check_levels(terms, n: int, allow_n: bool = False) -> None:
    """lme4's checkNlevels: > 1 level, and fewer levels than observations (at most as
    many for glmer, ``allow.n = TRUE``: observation-level random effects)."""
    nl: dict[str, int] = {}
    for t in terms:
        nl.setdefault(t.name, t.factor.nlevels)
    few = [g for g, k in nl.items() if k < 2]
    if few:
        raise ModelError("grouping factors must have > 1 sampled level "
                         f"(problems: {', '.join(few)})")
    many = [g for g, k in nl.items() if (k > n if allow_n else k >= n)]
    if many:
        raise ModelError(f"number of levels of each grouping factor must be {'<=' if allow_n else '<'} "
                         f"number of observations (problems: {', '.join(many)})")


def check_nobs_vs_nre(terms, n: int, allow_n: bool = False) -> None:
    """lme4's checkZdims: more observations than random effects in every term (at least
    as many for glmer, which has no residual variance)."""
    for t in terms:
        q = t.Xt.shape[1] * t.factor.nlevels
        if (n < q) if allow_n else (n <= q):
            rest = "" if allow_n else " and the residual variance (or scale parameter)"
            raise ModelError(f"number of observations (={n}) {'<' if allow_n else '<='} number of "
                             f"random effects (={q}) for term {t.term}; the random-effects "
                             f"parameters{rest} are probably unidentifiable")


def scale_message(X: np.ndarray, tol: float = 1000.0) -> str | None:
    """lme4's checkScaleX: continuous columns whose SDs differ (or are) far from 1."""
    if X.shape[0] < 2:
        return None
    cont = [j for j in range(X.shape[1]) if not np.all(np.isin(X[:, j], (0.0, 1.0)))]
    if not cont:
        return None
    sd = np.std(X[:, cont], axis=0, ddof=1)
    sd = sd[sd > 0]
    if not len(sd):
        return None
    logsd = np.abs(np.log(sd))
    comp = np.abs(np.log(sd[:, None] / sd[None, :]))
    if np.any(comp > np.log(tol)) or np.any(logsd > np.log(tol)):
        return "Some predictor variables are on very different scales: consider rescaling"
    return None


def check_terms_present(parsed) -> None:
    if not parsed.random:
        raise ModelError(f"no random effects terms specified in formula {parsed.formula!r}; "
                         "add a term such as (1 | group), or use an ordinary regression")


#: the dense fixed-effects matrix and the copies made while building and fitting it
DENSE_COPIES = 3
#: share of the available memory a design may take
MEMORY_SHARE = 0.8


def available_memory() -> int | None:
    """Bytes of memory available to this process (Linux's MemAvailable, else the physical
    memory), or None where neither can be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""  # pragma: no cover


def check_dense_size(n: int, ncol: int, term: str) -> None:
    """Refuse, before allocating it, a fixed-effects matrix that would not fit in memory
    (with the copies building and fitting make), naming its size and the term that makes
    it that wide; nothing grows until the operating system kills the process."""
    need = float(n) * float(ncol) * 8.0 * DENSE_COPIES
    avail = available_memory()
    if avail is not None and need > MEMORY_SHARE * avail:
        raise DataError(f"the fixed-effects matrix would have {n} rows x {ncol} columns "
                        f"({_size(n * ncol * 8.0)}, about {_size(need)} while fitting) when "
                        f"{_size(avail)} of memory is available; the term {term!r} makes it "
                        "that wide: use fewer levels, or model the factor as a random effect "
                        f"((1 | {term.split(':')[0]}))")
