"""Profile-likelihood intervals of a glmer fit (lme4's ``confint(profile(m))`` for a GLMM).

As ``lme4::profile.merMod`` for a GLMM, the profiled deviance is glmer's stage-2
criterion (Laplace or AGQ, :class:`mlm_wrap.engines.glmm._Devfun` from the fit's linear
predictor) over the random effects' sds / correlations (``Cv_to_Sv(theta)``, not scaled
by a sigma) and the fixed effects; with one parameter fixed the criterion is minimised
over the others (lme4's Newton steps on ``deriv12`` derivatives, warm-started from the
previous point).  Each limit is the root of ``zeta = sign(x - x_hat) sqrt(dev(x) -
dev_hat)`` at the normal quantile, by a bracketed secant search (lme4 interpolates a
spline through ~20 profile points instead).  An sd whose profile stays under the
cut-off down to 0 has the limit 0.  Families with a scale parameter (Gamma, inverse
Gaussian, Gaussian with a link) are refused in lme4's words, as lme4 1.1-31 refuses
them; a ``glmer_nb`` fit is profiled with theta fixed (its family), as lme4 does.
"""
from __future__ import annotations

import math

import numpy as np

from mlm_wrap.engines.glmm import _Devfun, _newton
from mlm_wrap.engines.pirls import deriv12
from mlm_wrap.errors import ModelError
from mlm_wrap.inference.params import (
    _diag_mask,
    _phi_from_theta,
    _theta_from_phi,
    varpar_names,
)

__all__ = ["GlmmProfiler", "glmm_profile_task"]


class GlmmProfiler:
    def __init__(self, m):
        if m.family_object.has_scale:
            raise ModelError("can't (yet) profile GLMMs with non-fixed scale parameters")
        if m.nAGQ == 0:
            raise ModelError("can't profile a glmer fit with nAGQ = 0 (lme4 profiles the "
                             "stage-2 deviance)")
        pb = m._problem
        self.blocks = pb.blocks
        self.dev = _Devfun(pb, m.nAGQ, m.optinfo.lp_stage1)
        self.diag = _diag_mask(self.blocks)
        self.nv = len(self.diag)
        self.v_hat = np.r_[_phi_from_theta(self.blocks, m.theta), m._sol.beta]
        self.v_hat[:self.nv] = np.where(np.isnan(self.v_hat[:self.nv]), 0.0, self.v_hat[:self.nv])
        self.names = varpar_names(m)[:-1] + list(m.design.xnames)
        self.lower = np.r_[np.where(self.diag, 0.0, -np.inf), np.full(pb.p, -np.inf)]
        self.base = self.f(self.v_hat)
        best = self._inner(None, None, self.v_hat)[1]
        self.base = min(self.base, best)
        _, H = deriv12(self.f, self.v_hat, fx=self.base)
        try:
            self.se = np.sqrt(np.abs(np.diag(2.0 * np.linalg.inv(H))))
        except np.linalg.LinAlgError:
            self.se = np.maximum(np.abs(self.v_hat) * 0.1, 0.1)

    def f(self, v: np.ndarray) -> float:
        """glmer's deviance at sds / correlations and fixed effects ``v``."""
        phi = np.asarray(v[:self.nv], float).copy()
        phi[self.diag] = np.abs(phi[self.diag])  # the deviance is even in each sd
        if np.any(np.abs(phi[~self.diag]) > 1):
            return np.inf
        theta = _theta_from_phi(self.blocks, phi)
        if theta is None:
            return np.inf
        return self.dev(np.r_[theta, v[self.nv:]])

    def _inner(self, w: int | None, x: float | None, start: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimum of the deviance over every parameter but ``w`` (fixed at ``x``)."""
        free = np.array([i for i in range(len(start)) if i != w])
        base = np.asarray(start, float).copy()
        if w is not None:
            base[w] = x

        def g(z):
            v = base.copy()
            v[free] = z
            return self.f(v)

        res = _newton(g, base[free], self.lower[free])
        v = base.copy()
        v[free] = res.x
        v[:self.nv][self.diag] = np.abs(v[:self.nv][self.diag])
        return v, float(res.fx)

    def limit(self, w: int, target: float) -> float:
        """The value of parameter ``w`` where zeta reaches ``target`` (a secant search)."""
        xh = self.v_hat[w]
        sgn = 1.0 if target > 0 else -1.0
        start = self.v_hat.copy()
        is_sd = w < self.nv and self.diag[w]
        is_cor = w < self.nv and not self.diag[w]
        bound = (0.0 if sgn < 0 else np.inf) if is_sd else ((sgn * 1.0) if is_cor else sgn * np.inf)

        def zeta(x: float) -> float:
            nonlocal start
            v, d = self._inner(w, x, start)
            if np.isfinite(d):
                start = v
            return sgn * math.sqrt(max(d - self.base, 0.0)) if np.isfinite(d) else sgn * np.inf

        step = max(abs(self.se[w]), 1e-3 * (1 + abs(xh)))
        x0, z0 = xh, 0.0
        x1 = xh + target * step
        if (sgn < 0 and x1 <= bound) or (sgn > 0 and x1 >= bound):
            x1 = xh + 0.9 * (bound - xh)
        z1 = zeta(x1)
        for _ in range(60):  # move out until zeta passes the target
            if abs(z1) >= abs(target):
                break
            if np.isfinite(bound) and abs(bound - x1) < 1e-8:
                return bound  # the profile stays under the cut-off up to the boundary
            slope = (z1 - z0) / (x1 - x0) if x1 != x0 else 0.0
            nxt = x1 + ((target - z1) / slope if slope * sgn > 0 else (x1 - xh))
            nxt = x1 + sgn * min(abs(nxt - x1) * 1.5, 4 * abs(x1 - xh) + step)
            if np.isfinite(bound) and ((sgn < 0 and nxt <= bound) or (sgn > 0 and nxt >= bound)):
                nxt = bound
            x0, z0, x1, z1 = x1, z1, nxt, zeta(nxt)
        lo, zlo, hi, zhi = x0, z0, x1, z1  # target is between zlo and zhi
        for _ in range(40):  # regula falsi (Illinois) on the bracket
            if not np.isfinite(zhi):
                mid = 0.5 * (lo + hi)
            else:
                mid = hi - (zhi - target) * (hi - lo) / (zhi - zlo)
            zm = zeta(mid)
            if abs(zm - target) < 1e-6 or abs(hi - lo) < 1e-9 * (1 + abs(mid)):
                return float(mid)
            if (zm - target) * (zhi - target) < 0:
                lo, zlo = hi, zhi
                hi, zhi = mid, zm
            else:
                hi, zhi = mid, zm
                zlo = target + (zlo - target) / 2.0
        return float(hi)


def glmm_profile_task(st: dict, w: int) -> list[float]:
    """Both limits of parameter ``w`` of a glmer profile (a worker's task)."""
    return [st["prof"].limit(w, -st["zq"]), st["prof"].limit(w, st["zq"])]
