"""Small smooth optimisation helpers: a bounded quasi-Newton minimiser, finite-difference Hessians.

They serve the warm-started refits and profile steps of the inference layer (a
handful of parameters, started near the optimum), but know nothing of models.
"""
from __future__ import annotations

import numpy as np


def _fd_hessian(f, x: np.ndarray, fx: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Forward-difference Hessian (steps into the feasible side), made positive definite."""
    n = len(x)
    h = 1e-4 * np.maximum(np.abs(x), 0.1)
    h = np.where(x + h > hi, -h, h)
    fi = np.array([f(x + h[i] * np.eye(n)[i]) for i in range(n)])
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            e = np.zeros(n); e[i] += h[i]; e[j] += h[j]
            H[i, j] = H[j, i] = (f(x + e) - fi[i] - fi[j] + fx) / (h[i] * h[j])
    return _make_pd(H)


def _make_pd(H: np.ndarray) -> np.ndarray:
    H = (H + H.T) / 2
    if not np.all(np.isfinite(H)):
        return np.eye(len(H))
    w, V = np.linalg.eigh(H)
    big = max(np.max(np.abs(w)), 1e-8)
    w = np.maximum(np.abs(w), 1e-6 * big)
    return (V * w) @ V.T


def _qn_minimize(f, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, H0: np.ndarray | None = None,
                 maxit: int = 60) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """A small bounded quasi-Newton (BFGS) minimiser with forward-difference gradients.

    Meant for the few smooth parameters of a profile step, warm-started near the optimum
    with the curvature of the previous step: a handful of iterations of ``n + 2``
    evaluations each.  Returns (x, f(x), Hessian approximation, converged)."""
    n = len(x0)
    x = np.clip(np.asarray(x0, float), lo, hi)
    fx = f(x)

    def grad(x, fx):
        h = 1e-7 * np.maximum(np.abs(x), 0.1)
        h = np.where(x + h > hi, -h, h)
        return np.array([(f(x + h[i] * np.eye(n)[i]) - fx) / h[i] for i in range(n)])

    H = H0.copy() if H0 is not None else _fd_hessian(f, x, fx, lo, hi)
    g = grad(x, fx)
    for _ in range(maxit):
        if not np.all(np.isfinite(g)):
            return x, fx, H, False
        active = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
        free = ~active
        d = np.zeros(n)
        if free.any():
            try:
                d[free] = -np.linalg.solve(H[np.ix_(free, free)], g[free])
            except np.linalg.LinAlgError:
                d[free] = -g[free]
        dec = -float(g @ d)
        if dec < 2e-10:
            return x, fx, H, True
        if dec <= 0:
            d = np.where(free, -g, 0.0)
            dec = float(g[free] @ g[free])
        cap = 2.0 * max(1.0, float(np.linalg.norm(x)))
        nd = float(np.linalg.norm(d))
        if nd > cap:
            d *= cap / nd
            dec = -float(g @ d)
        t, ok = 1.0, False
        for _ in range(30):
            xn = np.clip(x + t * d, lo, hi)
            fn = f(xn)
            if np.isfinite(fn) and fn <= fx - 1e-4 * t * dec:
                ok = True
                break
            t *= 0.5
        if not ok:
            return x, fx, H, dec < 1e-6
        gn = grad(xn, fn)
        sv, yv = xn - x, gn - g
        sy = float(sv @ yv)
        if sy > 1e-12 * float(np.linalg.norm(sv) * np.linalg.norm(yv)):
            Hs = H @ sv
            H = H - np.outer(Hs, Hs) / float(sv @ Hs) + np.outer(yv, yv) / sy
        gain = fx - fn
        x, fx, g = xn, fn, gn
        if gain < 1e-11:
            return x, fx, H, True
    return x, fx, H, False


# ------------------------------------------------------------------ lme4's optimizers
#: lme4's optimizer names; the ones available here run through nlopt (lme4's own defaults)
LME4_OPTIMIZERS = ("nloptwrap", "bobyqa", "Nelder_Mead", "nlminbwrap", "optimx")
AVAILABLE = ("nloptwrap", "bobyqa", "Nelder_Mead")


def check_optimizer(name: str) -> str:
    """lme4's optimizer name, or a clear refusal naming it."""
    if name not in LME4_OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: lme4's optimizers are "
                         f"{', '.join(LME4_OPTIMIZERS)}")
    if name not in AVAILABLE:
        raise NotImplementedError(f"optimizer {name!r} is not available in mlm_wrap yet; "
                                  f"use one of {', '.join(AVAILABLE)}")
    return name


def lme4_minimize(name: str, f, x0: np.ndarray, lower: np.ndarray,
                  maxfun: int | None = None) -> tuple[np.ndarray, float, int]:
    """Minimise ``f`` from ``x0`` with lme4's optimizer ``name`` and lme4's settings
    (``nloptwrap``: NLOPT_LN_BOBYQA, xtol_abs = ftol_abs = 1e-8, maxeval = 1e5;
    ``bobyqa``: BOBYQA, rhoend 2e-7 as minqa's default for lme4's start; ``Nelder_Mead``:
    lme4's tolerances FtolAbs 1e-5, FtolRel 1e-15, XtolRel 1e-7).  Returns (x, f(x), evals).
    """
    import nlopt

    n = len(x0)
    alg = nlopt.LN_NELDERMEAD if name == "Nelder_Mead" else nlopt.LN_BOBYQA
    opt = nlopt.opt(alg, n)
    lb = np.where(np.isfinite(lower), lower, -np.inf)
    opt.set_lower_bounds(lb)
    evals = 0

    def obj(x, grad):
        nonlocal evals
        evals += 1
        v = float(f(np.asarray(x)))
        return v if np.isfinite(v) else 1e300

    opt.set_min_objective(obj)
    if name == "nloptwrap":
        opt.set_xtol_abs(1e-8)
        opt.set_ftol_abs(1e-8)
        opt.set_maxeval(int(maxfun or 100000))
    elif name == "bobyqa":
        opt.set_initial_step(np.full(n, 0.2))
        opt.set_xtol_abs(2e-7)
        opt.set_maxeval(int(maxfun or 10000))
    else:
        opt.set_ftol_abs(1e-5)
        opt.set_ftol_rel(1e-15)
        opt.set_xtol_rel(1e-7)
        opt.set_initial_step(np.where(np.asarray(x0) != 0, 0.2 * np.abs(x0), 0.2))
        opt.set_maxeval(int(maxfun or 10000))
    x0 = np.maximum(np.asarray(x0, float), lb)
    try:
        x = opt.optimize(x0)
        fx = opt.last_optimum_value()
    except (nlopt.RoundoffLimited, ValueError, RuntimeError):
        x, fx = x0, float(f(x0))
    return np.asarray(x, float), float(fx), evals


# ------------------------------------------------------------------ lme4's convergence check
def deriv12(f, x: np.ndarray, fx: float, delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """lme4's ``deriv12``: central-difference gradient and Hessian with step ``delta`` (no
    bounds, as ``optwrap`` calls it)."""
    x = np.asarray(x, float)
    n = len(x)
    g, H = np.empty(n), np.empty((n, n))
    xadd, xsub = x + delta, x - delta

    def at(pairs):
        z = x.copy()
        for i, v in pairs:
            z[i] = v[i]
        return f(z)

    for j in range(n):
        fadd, fsub = at([(j, xadd)]), at([(j, xsub)])
        H[j, j] = fadd / delta ** 2 - 2 * fx / delta ** 2 + fsub / delta ** 2
        g[j] = (fadd - fsub) / (2 * delta)
        for i in range(j):
            H[i, j] = H[j, i] = (at([(i, xadd), (j, xadd)]) - at([(i, xadd), (j, xsub)])
                                 - at([(i, xsub), (j, xadd)]) + at([(i, xsub), (j, xsub)])) / (2 * delta) ** 2
    return g, H


def check_conv(f, x: np.ndarray, fx: float, lower: np.ndarray, tol: float = 2e-3,
               singular_tol: float = 1e-4, derivs: tuple | None = None) -> tuple[bool, float]:
    """lme4's ``checkConv`` for theta: a singular fit (a bounded theta under 1e-4) is not
    checked; otherwise the largest ``min(|scaled gradient|, |gradient|)`` (scaled by the
    Cholesky factor of lme4's finite-difference Hessian, ``derivs`` or :func:`deriv12`)
    must not exceed ``tol``.  Returns (passes, that largest value; inf where the scaled
    gradient is undefined)."""
    x = np.asarray(x, float)
    bounded = np.isfinite(lower) & (lower == 0)
    if np.any(x[bounded] < singular_tol):
        return True, 0.0
    g, H = derivs if derivs is not None else deriv12(f, x, fx)
    if not np.all(np.isfinite(g)) or not np.all(np.isfinite(H)):
        return False, np.inf
    try:
        R = np.linalg.cholesky(H).T  # R's chol(): upper, H = R'R
        sc = np.linalg.solve(R, g)
    except np.linalg.LinAlgError:
        return False, float(np.max(np.abs(g))) if len(g) else 0.0
    m = float(np.max(np.minimum(np.abs(sc), np.abs(g)))) if len(g) else 0.0
    return m <= tol, m


def newton_finish(f, x: np.ndarray, fx: float, lower: np.ndarray, g: np.ndarray,
                  H: np.ndarray, steps: int = 3) -> tuple[np.ndarray, float]:
    """Newton steps from a derivative-free optimiser's stopping point, with lme4's
    ``deriv12`` gradient and Hessian (then fresh central gradients, the same Hessian):
    BOBYQA stops within ``xtol`` of the optimum, at a point that depends on the last bits
    of the criterion; one or two steps land on the optimum itself, which is what R's own
    stopping point approximates.  Parameters on their bound stay there; a step is kept
    only if it lowers the criterion."""
    x = np.asarray(x, float)
    free = ~(np.isfinite(lower) & (x <= lower))
    if not free.any():
        return x, fx
    Hf = H[np.ix_(free, free)]
    try:
        c = np.linalg.cholesky(Hf)
    except np.linalg.LinAlgError:
        return x, fx
    for k in range(steps):
        d = np.zeros_like(x)
        d[free] = -np.linalg.solve(c.T, np.linalg.solve(c, g[free]))
        xn = np.maximum(x + d, np.where(np.isfinite(lower), lower, -np.inf))
        fn = f(xn)
        if not (np.isfinite(fn) and fn < fx):
            break
        gain = fx - fn
        x, fx = xn, fn
        if gain < 1e-10 or k == steps - 1:
            break
        g = central_gradient(f, x, free)
    return x, fx


def central_gradient(f, x: np.ndarray, which: np.ndarray, delta: float = 1e-4) -> np.ndarray:
    """Central differences (lme4's step) for the coordinates ``which``; 0 elsewhere."""
    g = np.zeros_like(x)
    for j in np.flatnonzero(which):
        e = np.zeros_like(x)
        e[j] = delta
        g[j] = (f(x + e) - f(x - e)) / (2 * delta)
    return g
