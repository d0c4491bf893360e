"""glmer's optimization, as lme4 runs it: stage 1 (theta, with beta from PIRLS; nAGQ = 0), stage 2
(theta and beta by Laplace or adaptive Gauss-Hermite quadrature), lme4's convergence checks.

Every evaluation of the deviance runs PIRLS (:mod:`mlm_wrap.engines.pirls`) from the same
linear predictor with lme4's stopping rule, so values and the finite-difference Hessian are R's."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from mlm_wrap.engines.lmm import theta_start
from mlm_wrap.engines.pirls import (
    GlmmProblem,
    PirlsError,
    PirlsState,
    deriv12,
    ghrule,
)
from mlm_wrap.errors import (
    ModelError,
)

SINGULAR_MSG = "boundary (singular) fit: see help('isSingular')"


# ------------------------------------------------------------------------------ fitting
@dataclass
class GlmerFitInfo:
    """How the optimum was reached (lme4's ``optinfo``)."""

    nAGQ: int
    par: np.ndarray  # (theta, beta) of stage 2, theta of a nAGQ = 0 fit
    deviance: float  # the criterion at par (opt$fval)
    stage1_theta: np.ndarray
    stage1_deviance: float
    lp_start: np.ndarray | None = None  # linear predictor each stage-1 PIRLS starts from
    lp_stage1: np.ndarray | None = None  # ... and each stage-2 PIRLS (lme4's lp0)
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    max_grad: float = 0.0
    converged: bool = True
    messages: list[str] = field(default_factory=list)
    feval: int = 0
    seconds: float = 0.0
    optimizer: tuple[str, str] = ("Newton (deriv12)", "Newton (deriv12)")  # lme4: bobyqa, Nelder_Mead


class _Devfun:
    """lme4's ``devfun`` of one stage: every evaluation runs PIRLS from the same linear
    predictor ``lp0`` with lme4's stopping rule, so the values (and the finite-difference
    Hessian built from them) are R's, digit for digit."""

    def __init__(self, problem: GlmmProblem, nAGQ: int, lp0: np.ndarray):
        self.problem, self.nAGQ, self.lp0 = problem, nAGQ, lp0
        self.rule = ghrule(nAGQ) if nAGQ > 1 else None
        self.nth = problem.ntheta
        self.neval = 0

    def state(self, par: np.ndarray) -> PirlsState:
        par = np.asarray(par, float)
        if self.nAGQ == 0:
            return self.problem.pirls(par, None, eta0=self.problem.offset + self.lp0)
        return self.problem.pirls(par[:self.nth], par[self.nth:],
                                  eta0=self.problem.offset + self.lp0)

    def value(self, s: PirlsState) -> float:
        if self.nAGQ > 1:
            return self.problem.agq(s, self.rule)
        return self.problem.laplace(s)

    def __call__(self, par: np.ndarray) -> float:
        self.neval += 1
        try:
            v = self.value(self.state(par))
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        return v if np.isfinite(v) else np.inf


def _check_boundary(f, par: np.ndarray, fval: float, lower: np.ndarray, nth: int,
                    tol: float = 1e-5) -> tuple[np.ndarray, float]:
    """lme4's ``check.boundary``: theta within ``tol`` of its bound moves onto it if that
    does not increase the deviance."""
    par = par.copy()
    bdiff = par[:nth] - lower[:nth]
    edge = np.isfinite(bdiff) & (bdiff > 0) & (bdiff < tol)
    if edge.any():
        for i in np.flatnonzero(edge):
            tmp = par.copy()
            tmp[i] = lower[i]
            if f(tmp) < fval:
                par[i] = lower[i]
        fval = f(par)
    return par, fval


def _central_gradient(f, x: np.ndarray, delta: float = 1e-4) -> np.ndarray:
    """The gradient part of lme4's ``deriv12`` (2k evaluations)."""
    g = np.empty(len(x))
    for j in range(len(x)):
        e = np.zeros(len(x))
        e[j] = delta
        g[j] = (f(x + e) - f(x - e)) / (2 * delta)
    return g


@dataclass
class NewtonResult:
    x: np.ndarray
    fx: float
    iterations: int
    hessian: np.ndarray | None  # full-dimension Hessian at ``hessian_at`` (all coordinates free)
    hessian_at: np.ndarray | None


def _newton(f, x0: np.ndarray, lower: np.ndarray, delta: float = 1e-4, maxit: int = 100,
            xtol: float = 1e-7, H0: np.ndarray | None = None,
            chord_rel: float = 3e-2) -> NewtonResult:
    """Minimise ``f`` by modified Newton steps on lme4's finite-difference derivatives
    (``deriv12``), with a backtracking line search; once the steps are small the Hessian
    is kept and only the gradient recomputed (2k instead of 2k^2 evaluations).  ``H0``: a
    Hessian to start from instead of ``deriv12`` (a refit starts from the fit's own), then
    corrected by BFGS updates from the gradients' changes (a fresh fit keeps lme4's
    finite-difference Hessians: its optimum, and R's printed digits, stay as they were).
    ``chord_rel``: the relative step below which a full step keeps the Hessian (a refit
    keeps it from larger steps); after six kept-Hessian steps ``deriv12`` is taken afresh.

    The deviance is even in each column of a relative covariance factor (``T`` and ``T``
    with a column's sign flipped give the same ``TT'``), so theta is searched without
    bounds and put back in lme4's form (non-negative diagonal) afterwards; a diagonal
    element that comes within 1e-5 of 0 is set to 0 (lme4's ``check.boundary``) and kept
    there when that does not increase the deviance.
    """
    x = np.asarray(x0, float).copy()
    fx = f(x)
    if not np.isfinite(fx):
        raise PirlsError("the deviance is not finite at the starting values")
    bounded = np.isfinite(lower)
    fixed = np.zeros(len(x), bool)
    H = H_at = H_free = None
    chord = exact = False
    kept = 0
    prev = None  # (x, g) of the last gradient, for the BFGS update of a kept Hessian
    bfgs = H0 is not None and H0.shape == (len(x), len(x)) and bool(np.all(np.isfinite(H0)))
    if bfgs:
        H, H_free, chord = np.array(H0, float), np.arange(len(x)), True
    it = 0
    for it in range(1, maxit + 1):
        free = np.flatnonzero(~fixed)
        if not len(free):
            break

        def fsub(xf, free=free):
            xx = x.copy()
            xx[free] = xf
            return f(xx)

        if chord and H_free is not None and np.array_equal(H_free, free):
            g = _central_gradient(fsub, x[free], delta)
            if bfgs and prev is not None and len(prev[0]) == len(free):
                H = _bfgs_update(H, x[free] - prev[0], g - prev[1])
                exact = False
        else:
            g, H = deriv12(fsub, x[free], delta, fx=fx)
            H_at, H_free, exact = x.copy(), free.copy(), True
        prev = (x[free].copy(), g.copy())
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            raise PirlsError("non-finite derivatives of the deviance")
        lam, V = np.linalg.eigh((H + H.T) / 2)
        big = max(np.max(np.abs(lam)), 1e-12)
        alam = np.maximum(np.abs(lam), 1e-8 * big)
        step = -(V @ ((V.T @ g) / alam))
        rel = np.max(np.abs(step) / (1.0 + np.abs(x[free])))
        if rel < 1e-4 and lam[0] < -1e-6 * big:
            # a saddle or a maximum with a flat gradient (theta = 0 is one: the deviance is
            # even in theta): leave along the direction of negative curvature
            v = V[:, 0] * 0.1 * (1.0 + np.max(np.abs(x[free])))
            fp, fm = fsub(x[free] + v), fsub(x[free] - v)
            step = v if fp <= fm else -v
            rel = np.max(np.abs(step) / (1.0 + np.abs(x[free])))
            chord = False
        slope = float(g @ step)
        t, accepted, decrease = 1.0, False, 0.0
        for _ in range(30):
            cand = x.copy()
            cand[free] = x[free] + t * step
            fc = f(cand)
            if np.isfinite(fc) and fc <= fx + 1e-4 * t * min(slope, 0.0) and (fc < fx or rel < xtol):
                accepted = True
                break
            t /= 2.0
        if accepted:
            decrease = fx - fc
            x, fx = cand, fc
        if rel < xtol and accepted:
            break
        if not accepted:
            if chord:  # the kept Hessian is stale: recompute it before giving up
                chord = False
                continue
            break
        if decrease < 1e-12 * max(1.0, abs(fx)) and rel * t < 1e-5:
            break
        kept = kept + 1 if chord else 0
        chord = t == 1.0 and rel < chord_rel and kept < 6
        near = bounded & ~fixed & (np.abs(x) < 1e-5)
        for i in np.flatnonzero(near):
            cand = x.copy()
            cand[i] = lower[i]
            fc = f(cand)
            away = cand.copy()
            away[i] += 1e-4
            if fc <= fx and f(away) >= fc:  # on the bound, and the bound is a minimum there
                x, fx, fixed[i] = cand, fc, True
                chord = False
    full = exact and H is not None and H_free is not None and len(H_free) == len(x)
    return NewtonResult(x, fx, it, H if full else None, H_at if full else None)


def _bfgs_update(H: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BFGS's correction of the Hessian approximation ``H`` by a step ``s`` and the
    gradient's change ``y`` (skipped where the curvature condition ``s'y > 0`` fails)."""
    sy = float(s @ y)
    Hs = H @ s
    sHs = float(s @ Hs)
    if not (sy > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y) and sHs > 0):
        return H
    return H + np.outer(y, y) / sy - np.outer(Hs, Hs) / sHs


def _canonical_theta(problem: GlmmProblem, theta: np.ndarray) -> np.ndarray:
    """The same covariance with lme4's non-negative diagonals (column signs flipped)."""
    out, k = [], 0
    for b in problem.blocks:
        T = b.T(theta[k:k + b.ntheta])
        for j in range(b.p):
            if T[j, j] < 0:
                T[j:, j] = -T[j:, j]
        out += [T[i, j] for j in range(b.p) for i in range(j, b.p)]
        k += b.ntheta
    return np.asarray(out, float)


def _minimise(f, x0: np.ndarray, lower: np.ndarray, problem: GlmmProblem, **newton_kw):
    """Newton first; a derivative-free bounded search if Newton fails.  Returns the
    optimum, the deviance there and the Newton result (for its last Hessian)."""
    nth = problem.ntheta
    try:
        res = _newton(f, x0, lower, **newton_kw)
        x = res.x.copy()
        x[:nth] = _canonical_theta(problem, x[:nth])
        if not np.array_equal(x, res.x):
            res.hessian = None
        fx = f(x)
        if np.isfinite(fx):
            return x, fx, res
    except (PirlsError, np.linalg.LinAlgError):
        pass
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    x0 = np.maximum(np.asarray(x0, float), np.where(np.isfinite(lower), lower, -np.inf))
    r = minimize(f, x0, method="Nelder-Mead", bounds=bounds,
                 options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000, "maxfev": 20000})
    return np.asarray(r.x, float), float(r.fun), None


def conv_messages(g: np.ndarray, H: np.ndarray, theta: np.ndarray, lower: np.ndarray,
                  ntheta: int, tol: float = 0.002, hess_tol: float = 1e-6) -> tuple[bool, float, list[str]]:
    """lme4's ``checkConv``: singular fit, scaled-gradient and Hessian checks (its words)."""
    msgs: list[str] = []
    bound = np.isfinite(lower[:ntheta]) & (lower[:ntheta] == 0)
    if np.any(theta[bound] < 1e-4):
        return True, 0.0, [SINGULAR_MSG]
    max_grad = 0.0
    converged = True
    try:
        R = np.linalg.cholesky(H).T  # R's chol(): upper triangular, H = R'R
        scgrad = np.linalg.solve(R, g)
        if np.any(~np.isfinite(scgrad)):
            raise np.linalg.LinAlgError
        max_grad = float(np.max(np.minimum(np.abs(scgrad), np.abs(g))))
        if max_grad > tol:
            converged = False
            msgs.append(f"Model failed to converge with max|grad| = {max_grad:g} (tol = {tol:g}, "
                        "component 1)")
    except np.linalg.LinAlgError:
        converged = False
        max_grad = float(np.max(np.abs(g)))
        msgs.append("unable to evaluate scaled gradient")
    # lme4's checkConv takes ntheta = length(lbound); glmer's lbound covers beta too, so
    # its separate fixed-effect Hessian check only runs when the bounds are theta's alone
    checks = ([(H[ntheta:, ntheta:], "fixed-effect")] if len(lower) < H.shape[0] else []) + [(H, "")]
    for Hs, kind in checks:
        if Hs.size == 0:
            continue
        try:
            ev = np.linalg.eigvalsh((Hs + Hs.T) / 2)
        except np.linalg.LinAlgError:
            msgs.append("Problem with Hessian check (infinite or missing values?)")
            converged = False
            continue
        neg = int(np.sum(ev < -hess_tol))
        label = f"degenerate {kind} Hessian" if kind else "degenerate  Hessian"
        if neg:
            msgs.append(f"Model failed to converge: {label} with {neg} negative eigenvalues")
            converged = False
        elif np.any(np.abs(ev) < hess_tol):
            msgs.append(f"{kind} Hessian is numerically singular: parameters are not uniquely determined")
            converged = False
        else:
            if ev.max() * hess_tol > 1:
                msgs.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
            if ev.min() / ev.max() < hess_tol:
                msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return converged, max_grad, msgs


def fit_glmm(problem: GlmmProblem, nAGQ: int = 1) -> tuple[GlmerFitInfo, PirlsState]:
    """lme4's two-stage optimisation; returns the fit record and the final PIRLS state."""
    t0 = time.perf_counter()
    nth = problem.ntheta
    theta0 = theta_start(problem.blocks)
    eta_init = problem.offset + problem.family.linkfun(problem.mustart())
    try:
        s0 = problem.pirls(theta0, None, eta0=eta_init)
    except PirlsError as e:
        raise ModelError(f"{e} at the starting values{_separation_hint(problem)}") from None
    lp0 = s0.eta - problem.offset
    dev0 = _Devfun(problem, 0, lp0)
    lower0 = problem.lower
    th1, f1, _ = _minimise(dev0, theta0, lower0, problem)
    if not np.isfinite(f1):
        raise ModelError("PIRLS failed at every value of theta tried (pwrssUpdate did not "
                         f"converge){_separation_hint(problem)}")
    if nAGQ == 0:
        th1, f1 = _check_boundary(dev0, th1, f1, lower0, nth)
        s1 = dev0.state(th1)
        f1 = dev0.value(s1)
        info = GlmerFitInfo(nAGQ=0, par=th1, deviance=f1, stage1_theta=th1, stage1_deviance=f1,
                            feval=dev0.neval, seconds=time.perf_counter() - t0, lp_start=lp0)
        bound = np.isfinite(lower0) & (lower0 == 0)
        if np.any(th1[bound] < 1e-4):
            info.messages.append(SINGULAR_MSG)
        return info, s1
    s1 = dev0.state(th1)
    dev = _Devfun(problem, nAGQ, s1.eta - problem.offset)
    x0 = np.r_[th1, s1.beta]
    return _stage2(problem, nAGQ, dev, x0, th1, f1, lp0, t0, dev0.neval)


def refit_glmm(problem: GlmmProblem, nAGQ: int, par0: np.ndarray,
               eta_prev: np.ndarray, H0: np.ndarray | None = None) -> tuple[GlmerFitInfo, PirlsState]:
    """lme4's ``refit`` of a GLMM (``nAGQ >= 1``) on a changed response model (glmer.nb's
    ``refitNB``: a new theta of the family): PIRLS for ``u`` at the previous ``(theta,
    beta)`` from the previous linear predictor gives ``lp0``; then stage 2 alone from
    the previous optimum ``par0`` (Newton from the previous fit's Hessian ``H0`` when
    given: no finite-difference Hessian at the start)."""
    t0 = time.perf_counter()
    nth = problem.ntheta
    par0 = np.asarray(par0, float)
    try:
        s0 = problem.pirls(par0[:nth], par0[nth:], eta0=np.asarray(eta_prev, float))
    except PirlsError as e:
        raise ModelError(f"{e} at the previous fit's estimates") from None
    lp0 = s0.eta - problem.offset
    dev = _Devfun(problem, nAGQ, lp0)
    if not np.isfinite(dev(par0)):
        # nothing to start from (a bootstrap response far from the fit): fail now rather
        # than after a derivative-free search through infinite deviances
        raise ModelError("the deviance is not finite at the previous fit's estimates")
    return _stage2(problem, nAGQ, dev, par0, par0[:nth], float("nan"), lp0, t0, 0, H0=H0)


def _stage2(problem: GlmmProblem, nAGQ: int, dev: "_Devfun", x0: np.ndarray, th1, f1, lp0,
            t0: float, feval0: int, H0: np.ndarray | None = None) -> tuple[GlmerFitInfo, PirlsState]:
    """glmer's second stage from ``x0 = (theta, beta)``: the optimum, lme4's derivatives
    and convergence checks."""
    nth = problem.ntheta
    lower = np.r_[problem.lower, np.full(problem.p, -np.inf)]
    par, fval, res = _minimise(dev, x0, lower, problem, H0=H0,
                               chord_rel=0.3 if H0 is not None else 3e-2)
    par2, fval = _check_boundary(dev, par, fval, lower, nth)
    if (res is not None and res.hessian is not None and np.array_equal(par2, par)
            and np.max(np.abs(par - res.hessian_at) / (1.0 + np.abs(par))) < 1e-6):
        # Newton's last Hessian was taken (within 1e-6) at the optimum: only the gradient
        g, H = _central_gradient(dev, par), res.hessian
    else:
        g, H = deriv12(dev, par2, fx=fval)
    par = par2
    s = dev.state(par)
    fval = dev.value(s)
    info = GlmerFitInfo(nAGQ=nAGQ, par=par, deviance=fval, stage1_theta=th1, stage1_deviance=f1,
                        gradient=g, hessian=H, feval=feval0 + dev.neval, lp_start=lp0,
                        lp_stage1=dev.lp0)
    if np.all(np.isfinite(g)) and np.all(np.isfinite(H)):
        info.converged, info.max_grad, info.messages = conv_messages(g, H, par[:nth], lower, nth)
    else:
        info.converged, info.messages = False, ["Gradient contains NAs"]
    info.seconds = time.perf_counter() - t0
    return info, s


def _separation_hint(problem: GlmmProblem) -> str:
    if problem.family.family != "binomial":
        return ""
    return ("; fitted probabilities numerically 0 or 1 occurred: the fixed effects may separate "
            "the responses completely (complete separation), so some estimates are infinite")
