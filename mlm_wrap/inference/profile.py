"""Profile-likelihood intervals (lme4's ``confint(profile(m))``) and ``confint``'s dispatcher.

* :func:`confint_profile` is ``confint(profile(m))`` (``oldNames = FALSE``).  As
  ``lme4::devfun2``, the profile is always of the *ML* deviance (REML fits are
  refitted by ML first), over the standard deviations / correlations of the random
  effects, sigma and the fixed effects.  Instead of lme4's spline through ~20 points
  per parameter, each limit is the root of ``zeta = sign(x - x_hat) sqrt(dev(x) -
  dev_hat)`` found by a bracketed secant search, every ``dev(x)`` a full inner
  optimisation over the other parameters.  The profile of a correlation is capped by
  the branch where one of its two sds is 0 (there any correlation fits equally well):
  when that cap is under the cutoff the limit is the boundary, -1 or 1, as lme4's
  profile, which follows that branch, reports it.
* :func:`confint` is lme4's ``confint.merMod``: profile, Wald or parametric bootstrap
  (:func:`mlm_wrap.inference.boot.confint_boot`).

The parameter names and the theta <-> sd/cor conversions are in
:mod:`mlm_wrap.inference.params` (:func:`varpar_names` is importable from here too).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize

from mlm_wrap.engines.lmm import LmmProblem
from mlm_wrap.engines.optimize import _qn_minimize
from mlm_wrap.errors import ConvergenceWarning
from mlm_wrap.inference.anova import refit_ml
from mlm_wrap.inference.boot import confint_boot
from mlm_wrap.inference.glmm_profile import GlmmProfiler, glmm_profile_task
from mlm_wrap.inference.parallel import run_tasks
from mlm_wrap.inference.params import (
    _diag_mask,
    _layout,
    _pct_labels,
    _phi_from_theta,
    _sdcor,
    _theta_from_phi,
    _which,
    varpar_names,
)
from mlm_wrap.models.base import is_glmm
from mlm_wrap.models.lmer import LmerMod

LOG2PI = math.log(2.0 * math.pi)

__all__ = ["confint_profile", "confint", "varpar_names"]


# ============================================================================== profile
class _Profiler:
    """Profiles of lme4's ML deviance (``devfun2``) for one model.

    The profiled parameters are lme4's: per term the absolute sds and correlations
    (laid out as theta), then sigma, then the fixed effects.  With one of them fixed
    the deviance is minimised over the rest, parameterised so that the optimiser has
    no traps: for an sd or sigma over theta itself (sigma follows from the fixed sd
    and theta's row; a zero sd is a zero row of the factor, from which any direction
    is open), for a correlation over the other relative sds and correlations (sigma
    profiled out analytically), for a fixed effect over theta with that column moved
    to the offset (beta and sigma profiled out), as lme4 does."""

    def __init__(self, m: LmerMod):
        ml = refit_ml(m)
        self.model = ml
        self.prob = ml._problem
        self.blocks = self.prob.blocks
        self.n, self.p = self.prob.n, self.prob.p
        sol = self.prob.solve(ml.theta)
        self.theta_hat = np.asarray(ml.theta, float)
        self.base = float(sol.deviance_ml)
        self.sigma_hat = math.sqrt(sol.sigma2_ml)
        self.phi_hat = _phi_from_theta(self.blocks, self.theta_hat)
        self.diag = _diag_mask(self.blocks)
        self.v_hat = _sdcor(self.blocks, self.theta_hat, self.sigma_hat)
        self.beta_hat = np.asarray(sol.beta, float)
        self.se_beta = np.sqrt(np.diag(sol.sigma2_ml * np.linalg.inv(sol.RXtRX))) if self.p else np.zeros(0)
        self.nv = len(self.v_hat)
        self.names = varpar_names(m) + list(m.design.xnames)
        self.nsolve = 0
        self._pts: dict[int, list] = {}
        self._hess: dict = {}
        self._caps: dict = {}
        self._warned = False
        self._current = None
        self.v_se = self._v_se()

    # -- deviance pieces ------------------------------------------------------------------
    def _solve(self, prob: LmmProblem, theta: np.ndarray | None):
        if theta is None:
            return None
        self.nsolve += 1
        try:
            s = prob.solve(theta)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return None
        return s if np.isfinite(s.pwrss) and np.isfinite(s.logdet_L) else None

    def _dev_sigma(self, theta, sigma: float) -> float:
        """ML deviance at (theta, sigma), beta profiled out (devfun2's LMM branch)."""
        s = self._solve(self.prob, theta)
        if s is None or not sigma > 0:
            return np.inf
        s2 = sigma * sigma
        return float(s.logdet_L + s.pwrss / s2 + self.n * (LOG2PI + math.log(s2)))

    def _dev_prof(self, theta, prob: LmmProblem | None = None) -> float:
        """ML deviance with sigma (and beta) profiled out."""
        s = self._solve(prob or self.prob, theta)
        return np.inf if s is None else float(s.deviance_ml)

    def dev_v(self, v: np.ndarray) -> float:
        """ML deviance as a function of lme4's profile parameters (sds, cors, sigma)."""
        sigma = v[-1]
        if not sigma > 0:
            return np.inf
        phi = np.where(self.diag, v[:-1] / sigma, v[:-1])
        return self._dev_sigma(_theta_from_phi(self.blocks, phi), sigma)

    def _v_se(self) -> np.ndarray:
        """Wald-type standard errors of v from a central-difference Hessian (start guesses)."""
        v0 = self.v_hat.copy()
        k = len(v0)
        h = 1e-3 * np.where(np.abs(v0) > 1e-6, np.abs(v0), self.sigma_hat)
        h = np.where(~np.r_[self.diag, True], np.minimum(h, 1e-3), h)  # correlations
        f0 = self.base
        H = np.zeros((k, k))
        try:
            for i in range(k):
                ei = np.zeros(k); ei[i] = h[i]
                fp, fm = self.dev_v(v0 + ei), self.dev_v(v0 - ei)
                H[i, i] = (fp - 2 * f0 + fm) / h[i] ** 2
                for j in range(i):
                    ej = np.zeros(k); ej[j] = h[j]
                    H[i, j] = H[j, i] = (self.dev_v(v0 + ei + ej) - self.dev_v(v0 + ei - ej)
                                         - self.dev_v(v0 - ei + ej) + self.dev_v(v0 - ei - ej)) / (4 * h[i] * h[j])
            cov = 2.0 * np.linalg.inv(H)
            se = np.sqrt(np.diag(cov))
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            se = np.full(k, np.nan)
        return np.where(np.isfinite(se) & (se > 0), se, np.nan)

    # -- one profile point -----------------------------------------------------------------
    def _inner(self, f: Callable[[np.ndarray], float], x0: np.ndarray, bounds) -> tuple[np.ndarray, float]:
        """Minimise f over the free parameters from a warm start (bounded quasi-Newton,
        the curvature carried over from the previous point of the same profile)."""
        if len(x0) == 0:
            return x0, f(x0)
        lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
        hi = np.array([b[1] if b[1] is not None else np.inf for b in bounds])
        x0 = np.clip(x0, lo, hi)
        if not np.isfinite(f(x0)):
            return x0, np.inf
        H0 = self._hess.get(self._current)
        if H0 is not None and H0.shape != (len(x0), len(x0)):
            H0 = None
        x, fx, H, ok = _qn_minimize(f, x0, lo, hi, H0)
        at0 = (x0 <= lo) & (lo == 0.0)
        if at0.any():  # an sd at 0 is a stationary point: also start inside (cf. refits)
            x2, f2, H2, ok2 = _qn_minimize(f, np.where(at0, 0.5, x0), lo, hi, None)
            if f2 < fx - 1e-10:
                x, fx, H, ok = x2, f2, H2, ok2
        if ok:
            self._hess[self._current] = H
            return x, fx
        r = minimize(f, x, method="L-BFGS-B", bounds=bounds,
                     options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 1000})
        return (np.asarray(r.x), float(r.fun)) if r.fun < fx else (x, fx)

    def point(self, w: int, x: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """(deviance, optimal free parameters) with parameter ``w`` fixed at ``x``."""
        self._current = (w, x == 0)
        if w < self.nv:
            return self._point_var(w, x, start)
        return self._point_beta(w - self.nv, x, start)

    def _phi_bounds(self, idx: np.ndarray) -> list:
        return [(0.0, None) if self.diag[i] else (-1.0, 1.0) for i in idx]

    def _theta_bounds(self, idx=None) -> list:
        lo = self.prob.lower if idx is None else self.prob.lower[idx]
        return [(0.0 if np.isfinite(l) else None, None) for l in lo]

    def _row(self, w: int) -> np.ndarray:
        """Indices in theta of row k of the factor T whose diagonal entry is theta[w]."""
        o = 0
        for blk in self.blocks:
            lay = _layout(blk)
            if w < o + len(lay):
                k = lay[w - o][0]
                return np.asarray([o + t for t, (i, j) in enumerate(lay) if i == k])
            o += len(lay)
        raise IndexError(w)

    def _point_var(self, w: int, x: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """Variance parameter w fixed at x.  sds and sigma are profiled over theta (the
        scale lme4 fits on, where a zero sd is not a trap for the optimiser); a
        correlation over the other relative sds and correlations."""
        nphi = self.nv - 1
        allidx = np.arange(nphi)
        if w == nphi:  # sigma fixed: optimise theta
            f = lambda th: self._dev_sigma(th, x)
            return self._inner(f, start, self._theta_bounds())[::-1]
        if self.diag[w]:
            row = self._row(w)
            if x > 0:  # sd fixed: sigma = x / |row k of T|
                if not np.any(start[row] != 0):  # from a zero sd: start at sigma_hat
                    start = start.copy()
                    start[w] = x / self.sigma_hat

                def f(th):
                    r = math.sqrt(float(th[row] @ th[row]))
                    return self._dev_sigma(th, x / r) if r > 0 else np.inf
                return self._inner(f, start, self._theta_bounds())[::-1]
            free = np.setdiff1d(allidx, row)  # sd fixed at 0: that row of T is 0

            def f0(fr):
                th = np.zeros(nphi)
                th[free] = fr
                return self._dev_prof(th)
            fr, dev = self._inner(f0, start[free], self._theta_bounds(free))
            th = np.zeros(nphi)
            th[free] = fr
            return dev, th
        # a correlation: sigma profiled out, phi_w fixed
        free = allidx[allidx != w]
        val = x

        def f(fr):
            ph = np.empty(nphi)
            ph[free], ph[w] = fr, val
            return self._dev_prof(_theta_from_phi(self.blocks, ph))
        fr, dev = self._inner(f, start[free], self._phi_bounds(free))
        ph = np.empty(nphi)
        ph[free], ph[w] = fr, val
        # the branch where one of the two sds is 0 (any correlation fits it) caps the
        # profile; the free parameters returned stay on this branch (warm starts)
        return min(dev, self._cor_cap(w)[0]), ph

    def _cor_sds(self, w: int) -> list[int]:
        """Indices (in phi) of the two relative sds of the correlation phi[w]."""
        o = 0
        for blk in self.blocks:
            lay = _layout(blk)
            if w < o + len(lay):
                i, j = lay[w - o]
                return [o + lay.index((i, i)), o + lay.index((j, j))]
            o += len(lay)
        raise IndexError(w)

    def _cor_cap(self, w: int) -> tuple[float, np.ndarray]:
        """The lowest deviance with one of correlation w's two sds at 0: there the
        correlation has no effect, so the profile of the correlation never rises above
        it.  lme4's profile follows that branch up to +-1 (whence R's boundary limits)."""
        if w in self._caps:
            return self._caps[w]
        nphi = self.nv - 1
        best = (np.inf, self.phi_hat.copy())
        saved = self._current
        for d in self._cor_sds(w):
            fixed = [d, w]
            free = np.setdiff1d(np.arange(nphi), fixed)

            def f(fr, d=d, free=free):
                ph = self.phi_hat.copy()
                ph[free], ph[d] = fr, 0.0
                return self._dev_prof(_theta_from_phi(self.blocks, ph))
            self._current = ("cap", w, d)
            fr, dev = self._inner(f, self.phi_hat[free], self._phi_bounds(free))
            if dev < best[0]:
                ph = self.phi_hat.copy()
                ph[free], ph[d] = fr, 0.0
                best = (dev, ph)
        self._current = saved
        self._caps[w] = best
        return best

    def _point_beta(self, j: int, b: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """Fixed effect j at b: drop its column, offset the response, optimise theta."""
        X = self.prob.X
        keep = [k for k in range(self.p) if k != j]
        prob = LmmProblem(X[:, keep], self.prob.y - b * X[:, j], self.blocks)
        lo = self.prob.lower
        bounds = [(0.0 if np.isfinite(l) else None, None) for l in lo]
        th, dev = self._inner(lambda t: self._dev_prof(t, prob), start, bounds)
        return dev, th

    # -- zeta and the limits ---------------------------------------------------------------
    def estimate(self, w: int) -> float:
        return float(self.v_hat[w]) if w < self.nv else float(self.beta_hat[w - self.nv])

    def _free_hat(self, w: int) -> np.ndarray:
        return self.phi_hat.copy() if self._kind(w) == "cor" else self.theta_hat.copy()

    def _kind(self, w: int) -> str:
        if w >= self.nv:
            return "beta"
        if w == self.nv - 1:
            return "sigma"
        return "sd" if self.diag[w] else "cor"

    def _bounds(self, w: int) -> tuple[float, float]:
        kind = self._kind(w)
        if kind in ("sd", "sigma"):
            return 0.0, np.inf
        if kind == "cor":
            return -1.0, 1.0
        return -np.inf, np.inf

    def _transform(self, w: int):
        """Scale on which zeta is close to linear (log for sds, atanh for correlations)."""
        kind, xh = self._kind(w), self.estimate(w)
        if kind in ("sd", "sigma") and xh > 0:
            return (lambda x: np.log(x) if x > 0 else -np.inf), np.exp
        if kind == "cor" and abs(xh) < 1:
            return (lambda x: np.arctanh(np.clip(x, -1 + 1e-15, 1 - 1e-15))), np.tanh
        return (lambda x: x), (lambda u: u)

    @staticmethod
    def _polish_root(g, ginv, x, z, target, inner, outer, xh) -> float:
        """One last secant step (no evaluation) from the closest point and its neighbour."""
        other = outer if outer is not None and outer[0] != x else inner
        if other is None or other[0] == x:
            other = (xh, 0.0)
        u, uo = g(x), g(other[0])
        if not (np.isfinite(u) and np.isfinite(uo)) or other[1] == z:
            return x
        un = u + (target - z) * (u - uo) / (z - other[1])
        xn = float(ginv(un))
        return xn if np.isfinite(xn) and abs(xn - x) <= abs(x - other[0]) else x

    def limit(self, w: int, target: float) -> float:
        """The x where zeta(x) = target (R's backSpline evaluated at qnorm(a))."""
        xh = self.estimate(w)
        lo, hi = self._bounds(w)
        s = 1.0 if target > 0 else -1.0
        bound = hi if s > 0 else lo
        if xh == bound or (np.isnan(xh)):
            return xh
        g, ginv = self._transform(w)
        kind = self._kind(w)
        # first guess from a Wald-type standard error on the transformed scale
        if kind == "beta":
            se = self.se_beta[w - self.nv]
            guess = xh + target * se
        else:
            se = self.v_se[w]
            if kind in ("sd", "sigma") and xh > 0:
                du = target * se / xh if np.isfinite(se) else 0.5 * s
                guess = ginv(g(xh) + np.clip(du, -3.0, 3.0))
            elif kind == "cor" and abs(xh) < 1:
                du = target * se / (1 - xh * xh) if np.isfinite(se) else 0.5 * s
                guess = ginv(g(xh) + np.clip(du, -3.0, 3.0))
            else:  # an sd estimated as 0: no scale; start from sigma's
                guess = xh + s * (se * abs(target) if np.isfinite(se) else 0.1 * self.sigma_hat)
        # evaluated points of this parameter (both sides): warm starts for the optimiser
        pts = self._pts.setdefault(w, [(xh, 0.0, self._free_hat(w))])
        hist = [(xh, 0.0)]  # this side's points, in order

        def zeta(x: float) -> float:
            # warm start: extrapolate the free parameters from the two nearest points
            near = sorted(pts, key=lambda p: abs(g(p[0]) - g(x)) if np.isfinite(g(x)) else abs(p[0] - x))
            start = near[0][2].copy()
            if len(near) > 1 and np.isfinite(g(x)):
                (x1, _, f1), (x2, _, f2) = near[0], near[1]
                du = g(x2) - g(x1)
                far = abs(g(x) - g(x1)) > 2.0 * abs(du)  # extrapolate only a short way
                if np.all(np.isfinite([g(x1), g(x2)])) and abs(du) > 0 and not far:
                    cand = f1 + (f2 - f1) * (g(x) - g(x1)) / du
                    if np.all(np.isfinite(cand)):
                        start = cand
            if kind == "sd" and near[0][0] > 0 and x > 0:
                start = near[0][2].copy()  # same sigma and correlations, row k rescaled
                start[self._row(w)] *= x / near[0][0]
            dev, fr = self.point(w, x, start)
            if not np.isfinite(dev):
                dev, fr = self.point(w, x, near[0][2].copy())
            if dev < self.base - 1e-4 and not self._warned:
                self._warned = True  # R stops here ("profiling detected new, lower deviance")
                warnings.warn(f"profiling {self.names[w]} found a deviance {self.base - dev:.3g} "
                              "below the fit's: the ML estimates are not at the optimum",
                              ConvergenceWarning, stacklevel=4)
            z = math.copysign(math.sqrt(max(dev - self.base, 0.0)), x - xh) if np.isfinite(dev) else s * np.inf
            pts.append((x, z, fr))
            hist.append((x, z))
            return z

        def past(z):  # zeta beyond the target
            return s * (z - target) > 0

        inner = (xh, 0.0)
        outer = None
        x = float(np.clip(guess, lo, hi))
        if x == xh:
            x = xh + s * 1e-3 * max(abs(xh), 1.0)
        scale_in = scale_out = 1.0  # Illinois weights of the bracket's ends
        replaced = None
        for _ in range(60):
            z = zeta(x)
            if abs(z - target) < 1e-4:
                return self._polish_root(g, ginv, x, z, target, inner, outer, xh)
            if past(z):
                if replaced == "outer":
                    scale_in *= 0.5
                bracketed = outer is not None
                outer, scale_out = (x, z), 1.0
                replaced = "outer" if bracketed else None
            else:
                if replaced == "inner":
                    scale_out *= 0.5
                inner, scale_in = (x, z), 1.0
                replaced = "inner" if outer is not None else None
            if outer is None:
                if x == bound:
                    return bound  # the profile never reaches the cutoff inside the space
                (xa, za), (xb, zb) = hist[-2], hist[-1]
                ua, ub = g(xa), g(xb)
                slope = (zb - za) / (ub - ua) if ub != ua else np.nan
                step = ub - ua
                if np.isfinite(slope) and slope > 0:  # zeta increases with x
                    du = (target - zb) / slope * 1.02 + s * 1e-9
                    du = float(np.clip(du, -8 * abs(step) - 1e-12, 8 * abs(step) + 1e-12))
                else:
                    du = 2.0 * step
                xn = float(ginv(ub + du))
                if np.isfinite(bound):
                    near_bound = (abs(xn - bound) < 0.05 * abs(xh - bound)) or s * (xn - bound) >= 0
                    if near_bound or not np.isfinite(xn):
                        xn = bound
                elif not np.isfinite(xn) or (kind in ("sd", "sigma") and
                                             xn > 1e4 * max(xh, self.sigma_hat)):
                    return s * np.inf  # a flat profile: no finite limit (R's upper = Inf)
                x = xn
                continue
            # bracketed: regula falsi (Illinois) on the transformed scale where finite
            (xi, zi), (xo, zo) = inner, outer
            ui, uo = g(xi), g(xo)
            if not (np.isfinite(ui) and np.isfinite(uo)):
                ui, uo, gi = xi, xo, (lambda u: u)
            else:
                gi = ginv
            fi, fo = (zi - target) * scale_in, (zo - target) * scale_out
            un = uo - fo * (uo - ui) / (fo - fi) if fo != fi else 0.5 * (ui + uo)
            if not (min(ui, uo) < un < max(ui, uo)):
                un = 0.5 * (ui + uo)
            xn = float(gi(un))
            if abs(xo - xi) <= 1e-10 * max(abs(xi), abs(xo), 1e-300) or xn in (xi, xo):
                return xn
            x = xn
        warnings.warn(f"profile limit for {self.names[w]} did not converge", ConvergenceWarning,
                      stacklevel=3)
        return x


def _profile_task(st: dict, w: int) -> list[float]:
    """Both limits of parameter ``w`` (a worker's task: the two searches share their
    points, so a parameter is never split between workers)."""
    prof, zq = st["prof"], st["zq"]
    if prof._kind(w) == "cor" and np.isnan(prof.estimate(w)):
        return [np.nan, np.nan]  # the correlation of a zero-variance term
    return [prof.limit(w, -zq), prof.limit(w, zq)]


def confint_profile(m: LmerMod, level: float = 0.95, parm=None, parallel: str = "no",
                    ncpus: int | None = None, cl=None, progress: bool = True) -> pd.DataFrame:
    """Profile-likelihood intervals, as ``confint(m, method = "profile", oldNames = FALSE)``.

    Rows: ``sd_<col>|<group>``, ``cor_<col2>.<col1>|<group>``, ``sigma``, then the fixed
    effects (``parm`` selects rows by name, or ``"theta_"`` / ``"beta_"``).  A limit the
    profile does not reach inside the parameter space is the boundary (0 for an sd,
    +-1 for a correlation), as in R.  One task per parameter on the ``parallel=`` back end
    (:mod:`mlm_wrap.inference.parallel`; the same limits on every back end)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    if is_glmm(m):  # glmer fits: the stage-2 deviance, no sigma (lme4's profile of a GLMM)
        prof, task = GlmmProfiler(m), glmm_profile_task
    else:
        prof, task = _Profiler(m), _profile_task
    idx = _which(prof.names, prof.nv, parm)
    zq = float(stats.norm.ppf(1 - (1 - level) / 2))
    rows = run_tasks(task, {"prof": prof, "zq": zq}, list(idx), parallel=parallel,
                     ncpus=ncpus, cl=cl, progress=progress, desc="profile")
    return pd.DataFrame(rows, index=[prof.names[w] for w in idx], columns=_pct_labels(level))


def confint(m: LmerMod, parm=None, level: float = 0.95, method: str = "profile",
            **kwargs) -> pd.DataFrame:
    """lme4's ``confint.merMod``: ``method = "profile"`` (lme4's default), ``"boot"``
    or ``"Wald"``."""
    meth = method.lower()
    if meth == "profile":
        return confint_profile(m, level=level, parm=parm, **kwargs)
    if meth == "boot":
        return confint_boot(m, level=level, parm=parm, **kwargs)
    if meth == "wald":
        return m.confint(parm=parm, level=level, method="Wald")
    raise ValueError(f"method must be 'profile', 'Wald' or 'boot', not {method!r}")
