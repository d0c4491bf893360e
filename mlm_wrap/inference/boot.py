"""lme4's parametric bootstrap: ``simulate``, ``bootMer`` and percentile intervals.

:func:`simulate`, :func:`bootMer` and :func:`confint_boot` are lme4's parametric
bootstrap (``use.u = FALSE``) with ``boot``'s percentile intervals.  Each refit starts
at the fit's theta with a small quasi-Newton run seeded with the fit's curvature
(:func:`mlm_wrap.inference.anova._refit_theta`).
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.engines.optimize import _fd_hessian
from mlm_wrap.errors import ConvergenceWarning, ModelError
from mlm_wrap.inference.anova import _new_problem, _refit_theta, refit
from mlm_wrap.inference.params import _pct_labels, _sdcor, _which, varpar_names
from mlm_wrap.models.base import is_glmm
from mlm_wrap.models.lmer import LmerMod

__all__ = ["simulate", "bootMer", "BootMer", "confint_boot"]


# ============================================================================= bootstrap
def _criterion_hessian(m: LmerMod) -> np.ndarray:
    """Curvature of the fit's criterion in theta at the optimum (a refit's first guess)."""
    prob, REML = m._problem, m.REML
    lo, hi = prob.lower, np.full(len(m.theta), np.inf)
    f = lambda th: prob.objective(th, REML)
    return _fd_hessian(f, np.asarray(m.theta, float), f(m.theta), lo, hi)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _simulate_matrix(m: LmerMod, nsim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, nsim) responses: ``X beta + offset + sigma (Z Lambda u + e / sqrt(w))``,
    ``u, e ~ N(0, I)`` (the problem's rows are scaled by sqrt(w): dividing undoes it)."""
    if is_glmm(m):
        raise NotImplementedError("simulate() and bootMer() for glmer() fits are not available "
                                  "yet (they would need the family's random draws)")
    prob = m._problem
    n = prob.n
    eta = prob.X @ m._sol.beta
    U = rng.standard_normal((nsim, prob.q)).T
    E = rng.standard_normal((nsim, n)).T
    re = np.zeros((n, nsim))
    for blk, T, lo in zip(prob.blocks, prob.factors(m.theta), prob.offsets[:-1]):
        Uk = U[lo:lo + blk.q].reshape(blk.nlevels, blk.p, nsim)
        Bk = np.einsum("ij,ljs->lis", T, Uk)  # Lambda u, level by level
        re += np.einsum("rc,rcs->rs", blk.Xt, Bk[blk.codes])
    return (eta[:, None] + m.sigma() * (re + E)) / prob.sw[:, None] + prob.offset[:, None]


def simulate(m: LmerMod, nsim: int = 1, seed=None) -> pd.DataFrame:
    """lme4's ``simulate(m, nsim, seed)`` (``use.u = FALSE``): new random effects from
    the estimated covariances and new residuals; columns ``sim_1, ..., sim_nsim``."""
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be a positive integer")
    Y = _simulate_matrix(m, nsim, _rng(seed))
    return pd.DataFrame(Y, index=m.design.index, columns=[f"sim_{i + 1}" for i in range(nsim)])


def _boot_stat(blocks, theta, sol, REML: bool) -> np.ndarray:
    """confint.merMod's ``bootFun``: sds/cors, sigma, fixed effects of one refit."""
    sigma = math.sqrt(sol.sigma2_reml if REML else sol.sigma2_ml)
    return np.r_[_sdcor(blocks, theta, sigma), sol.beta]


@dataclass
class BootMer:
    """lme4's ``bootMer`` result: ``t0`` (statistics of the fit), ``t`` (one row per
    simulation; NaN rows for failed refits), the seed and timing."""

    t0: pd.Series
    t: pd.DataFrame
    nfail: int
    seconds: float
    seed: object = None
    messages: list[str] = field(default_factory=list)

    @property
    def seconds_per_refit(self) -> float:
        return self.seconds / max(len(self.t), 1)

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """``confint(bootMer(...), type = "perc")``: boot's percentile intervals."""
        a = (1 - level) / 2
        rows = [_norm_inter(self.t[c].to_numpy(float), np.array([a, 1 - a])) for c in self.t.columns]
        return pd.DataFrame(rows, index=list(self.t.columns), columns=_pct_labels(level))


def _norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """boot's ``norm.inter``: order statistics interpolated on the normal quantile scale."""
    t = np.sort(t[np.isfinite(t)])
    R = len(t)
    if R == 0:
        return np.full(len(alpha), np.nan)
    rk = (R + 1) * alpha
    if not np.all((rk > 1) & (rk < R)):
        warnings.warn("extreme order statistics used as endpoints", UserWarning, stacklevel=3)
    k = np.trunc(rk).astype(int)
    out = np.empty(len(alpha))
    for i, (ki, ri, al) in enumerate(zip(k, rk, alpha)):
        if ki == ri and 0 < ki <= R:
            out[i] = t[ki - 1]
        elif ki <= 0:
            out[i] = t[0]
        elif ki >= R:
            out[i] = t[R - 1]
        else:
            q1, q2, q3 = stats.norm.ppf([al, ki / (R + 1), (ki + 1) / (R + 1)])
            out[i] = t[ki - 1] + (q1 - q2) / (q3 - q2) * (t[ki] - t[ki - 1])
    return out


class _Progress:
    """A one-line progress indicator on stderr (updated at most 4 times a second)."""

    def __init__(self, total: int, label: str, on: bool):
        self.total, self.label, self.on = total, label, on
        self.t0 = self.last = time.perf_counter()

    def update(self, i: int) -> None:
        if not self.on:
            return
        now = time.perf_counter()
        if now - self.last < 0.25 and i < self.total:
            return
        self.last = now
        rate = (now - self.t0) / max(i, 1)
        eta = rate * (self.total - i)
        sys.stderr.write(f"\r{self.label}: {i}/{self.total} ({rate:.3f} s each, ~{eta:.0f} s left)  ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.on:
            sys.stderr.write("\n")
            sys.stderr.flush()


def bootMer(m: LmerMod, nsim: int = 500, seed=None, FUN: Callable[[LmerMod], Sequence[float]] | None = None,
            progress: bool = True) -> BootMer:
    """lme4's ``bootMer(m, FUN, nsim, use.u = FALSE, type = "parametric")``.

    Without ``FUN`` the statistics are those of ``confint(method = "boot")``: the
    sds/correlations, sigma and fixed effects (names as the profile intervals).  With
    ``FUN``, each refit is a full :class:`LmerMod` passed to ``FUN``."""
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be a positive integer")
    rng = _rng(seed)
    blocks = m._problem.blocks
    if FUN is None:
        names = varpar_names(m) + list(m.design.xnames)
        t0 = _boot_stat(blocks, m.theta, m._sol, m.REML)
    else:
        r0 = FUN(m)
        names = list(r0.index) if isinstance(r0, pd.Series) else [f"t{i + 1}" for i in range(len(np.atleast_1d(r0)))]
        t0 = np.asarray(r0, float).ravel()
    out = np.full((nsim, len(t0)), np.nan)
    if is_glmm(m):
        raise NotImplementedError("bootMer() for glmer() fits is not available yet (it would "
                                  "need the family's random draws)")
    H0 = _criterion_hessian(m)
    nfail, msgs = 0, []
    bar = _Progress(nsim, "bootstrap", progress)
    start = time.perf_counter()
    for i in range(nsim):
        y = _simulate_matrix(m, 1, rng)[:, 0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if FUN is None:
                    prob = _new_problem(m, y)
                    theta, _, _ = _refit_theta(prob, m.theta, m.REML, H0)
                    out[i] = _boot_stat(blocks, theta, prob.solve(theta), m.REML)
                else:
                    out[i] = np.asarray(FUN(refit(m, y, _H0=H0)), float).ravel()
        except Exception as e:  # a failed refit is an NA row, as in bootMer
            nfail += 1
            if len(msgs) < 5:
                msgs.append(f"{type(e).__name__}: {e}")
        bar.update(i + 1)
    bar.done()
    secs = time.perf_counter() - start
    if nfail:
        warnings.warn(f"{nfail} of {nsim} bootstrap refits failed: {msgs[0]}", ConvergenceWarning,
                      stacklevel=2)
    return BootMer(t0=pd.Series(t0, index=names), t=pd.DataFrame(out, columns=names),
                   nfail=nfail, seconds=secs, seed=seed, messages=msgs)


def confint_boot(m: LmerMod, nsim: int = 500, level: float = 0.95, seed=None,
                 progress: bool = True, parm=None) -> pd.DataFrame:
    """``confint(m, method = "boot", boot.type = "perc")``: parametric-bootstrap
    percentile intervals, rows named as :func:`confint_profile`'s."""
    bb = bootMer(m, nsim=nsim, seed=seed, progress=progress)
    if bb.t.isna().all().all():
        raise ModelError("*all* bootstrap runs failed!")
    ci = bb.confint(level)
    if parm is not None:
        ci = ci.iloc[_which(list(ci.index), len(varpar_names(m)), parm)]
    ci.attrs["boot"] = bb
    return ci
