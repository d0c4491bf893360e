"""Find lme4's optimum: statsmodels MixedLM first, then judged by lme4's own criterion.

MixedLM's convergence flag is not trusted (measured: on the faculty model it stops
0.56 log-likelihood units short of lme4; at 1e6 rows its BFGS stops after one
gradient and reports success).  So every fit goes through :func:`fit_theta`:

1. MixedLM on the response scaled to unit SD (salaries in the tens of thousands stall
   its optimiser; theta, the relative covariance factor, does not change with the
   response's scale), trying its optimisers in turn;
2. its estimates converted to lme4's ``theta`` and scored with lme4's criterion
   (:mod:`mlm_wrap.engines.lmm`);
3. a bounded quasi-Newton polish of that criterion from MixedLM's point, and a
   derivative-free one (Nelder-Mead) as a fallback; the best point wins;
4. convergence judged by the gradient of the criterion at the solution (lme4's
   ``max|grad|`` check), singularity by theta on its boundary (lme4's ``isSingular``).

The single entry point takes the plan and design and returns theta plus an info
record, so another engine can be added behind the same function.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, minimize

from mlm_wrap.engines.lmm import LmmProblem, ReBlock, theta_start
from mlm_wrap.engines.optimize import check_conv, deriv12, lme4_minimize, newton_finish
from mlm_wrap.errors import caught_warnings
from mlm_wrap.spec.design import Design
from mlm_wrap.spec.plan import Plan


@dataclass
class FitInfo:
    """How the optimum was reached (lme4's ``optinfo`` in spirit)."""

    engine: str
    criterion: float
    theta: np.ndarray
    statsmodels_criterion: float | None = None
    statsmodels_converged: bool | None = None
    statsmodels_method: str | None = None
    polished: bool = False
    max_grad: float = 0.0
    converged: bool = True
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)


def make_problem(design: Design) -> LmmProblem:
    blocks = [ReBlock(t.factor.codes, t.Xt, t.factor.nlevels) for t in design.terms]
    return LmmProblem(design.X, design.y, blocks, weights=design.weights, offset=design.offset)


def _safe_chol(C: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a covariance that may be singular (zero columns kept)."""
    C = (C + C.T) / 2.0
    w, V = np.linalg.eigh(C)
    w = np.clip(w, 0.0, None)
    C = (V * w) @ V.T
    for jitter in (0.0, 1e-12, 1e-10, 1e-8):
        try:
            return np.linalg.cholesky(C + jitter * np.eye(len(C)) * max(np.trace(C), 1e-300))
        except np.linalg.LinAlgError:
            continue
    return np.diag(np.sqrt(np.clip(np.diag(C), 0, None)))


def _theta_from_T(T: np.ndarray) -> list[float]:
    p = T.shape[0]
    return [T[i, j] for j in range(p) for i in range(j, p)]


# ------------------------------------------------------------------ statsmodels engine
def _mixedlm(plan: Plan, design: Design, problem: LmmProblem):
    """Build and fit MixedLM as the plan says; return lme4's theta from its estimates."""
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec

    terms = design.terms
    n = design.n
    ysd = float(np.std(design.y)) or 1.0
    y = design.y / ysd  # scaling only: centring would change a model without intercept
    if plan.groups is None:
        gcodes = np.zeros(n, dtype=np.int64)
    else:
        gcodes = next(t.factor.codes for t in terms if t.name == plan.groups)
    exog_re = np.column_stack([terms[i].Xt for i in plan.re_terms]) if plan.re_terms else None
    exog_vc = None
    if plan.vc_terms:
        ngroups = int(gcodes.max()) + 1
        order = [np.flatnonzero(gcodes == g) for g in range(ngroups)]
        names, colnames, mats = [], [], []
        for i in plan.vc_terms:
            td = terms[i]
            cn, mt = [], []
            for rows in order:
                lv = td.factor.codes[rows]
                present = np.unique(lv)
                M = (lv[:, None] == present[None, :]) * td.Xt[rows, :1]
                mt.append(M.astype(float))
                cn.append([f"{td.name}[{td.factor.levels[k]}]" for k in present])
            names.append(td.name)
            colnames.append(cn)
            mats.append(mt)
        exog_vc = VCSpec(names, colnames, mats)
    with caught_warnings():  # thread-safe (errors.caught_warnings)
        md = MixedLM(y, design.X, groups=gcodes, exog_re=exog_re, exog_vc=exog_vc)
        kw = {}
        if plan.block_diagonal:
            k = exog_re.shape[1]
            mask = np.zeros((k, k))
            o = 0
            for i in plan.re_terms:
                p = terms[i].Xt.shape[1]
                mask[o:o + p, o:o + p] = 1.0
                o += p
            kw["free"] = MixedLMParams.from_components(np.ones(md.k_fe), mask,
                                                       np.ones(md.k_vc) if md.k_vc else None)
        best = None
        for method in (["lbfgs"], ["bfgs"], ["nm", "bfgs"], ["powell", "lbfgs"]):
            try:
                res = md.fit(reml=plan.REML, method=method, **kw)
            except Exception:  # MixedLM raises on some starts; try the next optimiser
                continue
            theta = _theta_from_mixedlm(res, plan, terms)
            crit = problem.objective(theta, plan.REML)
            if best is None or crit < best[1] - 1e-9:
                best = (theta, crit, bool(res.converged), method[0])
            if res.converged and best[0] is theta:
                break
    return best


def _theta_from_mixedlm(res, plan: Plan, terms) -> np.ndarray:
    """MixedLM's absolute covariances -> lme4's relative Cholesky factors, in term order."""
    scale = float(res.scale)
    parts: dict[int, list[float]] = {}
    if plan.re_terms:
        C = np.asarray(res.cov_re, float) / scale
        o = 0
        for i in plan.re_terms:
            p = terms[i].Xt.shape[1]
            parts[i] = _theta_from_T(_safe_chol(C[o:o + p, o:o + p]))
            o += p
    vcomp = np.atleast_1d(np.asarray(getattr(res, "vcomp", []), float))
    for k, i in enumerate(plan.vc_terms):
        parts[i] = [float(np.sqrt(max(vcomp[k], 0.0) / scale))]
    return np.asarray([x for i in range(len(terms)) for x in parts[i]])


# ------------------------------------------------------------------ lme4's own path
#: lme4's ``check.conv.grad`` tolerance: below it lme4 accepts the optimizer's point
CONV_TOL = 2e-3


def _fit_lme4(plan: Plan, problem: LmmProblem, start: np.ndarray, maxfun: int | None,
              t0: float) -> FitInfo:
    """lme4's ``optimizeLmer``: nloptwrap (BOBYQA, lme4's tolerances) from lme4's start,
    its ``restart_edge`` and ``check.boundary`` steps, lme4's ``deriv12`` derivatives at
    the result and lme4's gradient check.  BOBYQA's stopping point depends on the last bits
    of the criterion (R's and ours part after ~60 evaluations on faculty m3), so Newton
    steps with those derivatives finish on the optimum R's point approximates; where lme4
    would warn, the criterion is polished further and the better point reported."""
    REML = plan.REML
    f = lambda th: problem.objective(th, REML)
    lo = problem.lower
    x, fx, evals = lme4_minimize("nloptwrap", f, start, lo, maxfun)
    on = np.isfinite(lo) & (x == lo)
    if on.any():  # restart_edge: a parameter on its bound whose criterion falls inward
        btol = 1e-5
        for i in np.flatnonzero(on):
            e = x.copy(); e[i] = lo[i] + btol
            if f(e) < fx:
                x, fx, ev2 = lme4_minimize("nloptwrap", f, x, lo, maxfun)
                evals += ev2
                break
    near = np.isfinite(lo) & (x - lo > 0) & (x - lo < 1e-5)
    if near.any():  # check.boundary: snap near-boundary values when that is no worse
        pp = x.copy()
        for i in np.flatnonzero(near):
            tmp = pp.copy(); tmp[i] = lo[i]
            if f(tmp) < fx:
                pp[i] = lo[i]
        x, fx = pp, f(pp)
    derivs = deriv12(f, x, fx)  # lme4 computes them at its optimum too (optwrap)
    x, fx = newton_finish(f, x, fx, lo, *derivs)
    ok, max_grad = check_conv(f, x, fx, lo, CONV_TOL, derivs=derivs)
    messages = [f"nloptwrap: {evals} evaluations"]
    polished = False
    if not ok:  # lme4 would warn here: polish, and report the better point
        x2, f2 = _polish(problem, x, REML, near_optimum=True)
        if f2 < fx:
            messages.append(f"lme4's point failed lme4's gradient check ({max_grad:.3g}): "
                            f"polished ({fx - f2:.3g} lower criterion)")
            x, fx, polished = x2, f2, True
        # the check of the point reported (the Newton steps may already have reached the
        # optimum BOBYQA stopped short of, where the polish finds nothing lower)
        ok, max_grad = check_conv(f, x, fx, lo, CONV_TOL)
    return FitInfo(engine=plan.engine, criterion=float(fx), theta=np.asarray(x, float),
                   polished=polished, max_grad=max_grad, converged=ok,
                   seconds=time.perf_counter() - t0, messages=messages)


# ------------------------------------------------------------------ lme4's criterion
def _polish(problem: LmmProblem, theta0: np.ndarray, REML: bool,
            near_optimum: bool = True) -> tuple[np.ndarray, float]:
    """Minimise lme4's criterion from theta0; the best point of the optimisers wins.

    From lme4's default start, a bounded derivative-free trust-region method (COBYQA,
    the successor of the BOBYQA lme4 uses) does the work; from MixedLM's point, a
    quasi-Newton polish (L-BFGS-B) is enough.  Nelder-Mead is the fallback when the
    gradient at the best point is still not small."""
    f = lambda th: problem.objective(th, REML)
    lo = problem.lower
    lower = np.where(np.isfinite(lo), lo, -np.inf)
    lb_bounds = [(0.0 if np.isfinite(l) else None, None) for l in lo]
    best_x = np.maximum(np.asarray(theta0, float), lower)
    best_f = f(best_x)

    def consider(x, fx):
        nonlocal best_x, best_f
        if fx < best_f - 1e-12:
            best_x, best_f = np.asarray(x, float), float(fx)

    grads: dict[bytes, np.ndarray] = {}

    def grad(x):  # each gradient costs 2 * ntheta evaluations: compute once per point
        key = np.asarray(x, float).tobytes()
        if key not in grads:
            grads[key] = _gradient(problem, x, REML)
        return grads[key]

    runs = ["lbfgsb", "cobyqa"] if near_optimum else ["cobyqa", "lbfgsb"]
    for run in runs:
        if run == "cobyqa":
            r = minimize(f, best_x, method="COBYQA", bounds=Bounds(lower, np.inf),
                         options={"final_tr_radius": 1e-8, "maxfev": 5000,
                                  "initial_tr_radius": 0.05 if near_optimum else 1.0})
        else:
            r = minimize(f, best_x, method="L-BFGS-B", bounds=lb_bounds,
                         options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000})
        consider(r.x, r.fun)
        if run == runs[0] and np.max(np.abs(grad(best_x))) < 1e-4:
            break  # already at the optimum: skip the second optimiser
    if np.max(np.abs(grad(best_x))) > 1e-3:
        r = minimize(f, best_x, method="Nelder-Mead", bounds=lb_bounds,
                     options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000})
        consider(r.x, r.fun)
    # snap near-boundary values onto the boundary, as lme4's bounded optimiser lands there
    snapped = best_x.copy()
    on = np.isfinite(lo) & (snapped < 1e-6)
    if on.any():
        snapped[on] = 0.0
        fs = f(snapped)
        if fs <= best_f + 1e-10:
            best_x, best_f = snapped, fs
    return best_x, best_f


def _gradient(problem: LmmProblem, theta: np.ndarray, REML: bool, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the criterion; one-sided at an active lower bound,
    where only an increasing criterion (g >= 0) is consistent with an optimum."""
    f = lambda th: problem.objective(th, REML)
    g = np.zeros_like(theta)
    f0 = f(theta)
    for k in range(len(theta)):
        e = np.zeros_like(theta)
        e[k] = h
        at_bound = np.isfinite(problem.lower[k]) and theta[k] - h < problem.lower[k]
        if at_bound:
            g[k] = min((f(theta + e) - f0) / h, 0.0)  # a positive slope at the bound is fine
        else:
            g[k] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def fit_theta(plan: Plan, design: Design, problem: LmmProblem | None = None,
              optimizer: str | None = None, start: np.ndarray | None = None,
              maxfun: int | None = None) -> FitInfo:
    """The one engine entry point: plan + design in, lme4's optimal theta out.

    ``optimizer`` (lme4's name, from ``control=``) runs first from ``start`` (lme4's
    default start when None); the criterion's own check and polish follow as always, so
    the result is the optimum whichever optimizer ran."""
    t0 = time.perf_counter()
    problem = problem or make_problem(design)
    info_kw: dict = {}
    start = theta_start(problem.blocks) if start is None else np.asarray(start, float)
    if optimizer is None and plan.engine == "sparse" and os.environ.get("MLM_WRAP_PATH", "lme4") == "lme4":
        return _fit_lme4(plan, problem, start, maxfun, t0)
    if optimizer is not None:
        f = lambda th: problem.objective(th, plan.REML)
        x, fx, evals = lme4_minimize(optimizer, f, start, problem.lower, maxfun)
        info_kw["messages"] = [f"{optimizer}: {evals} evaluations"]
        start = x
    elif plan.engine == "statsmodels":
        try:
            sm = _mixedlm(plan, design, problem)
        except Exception as e:  # a MixedLM failure is not the user's: fall back, say so
            sm = None
            info_kw["messages"] = [f"statsmodels MixedLM failed ({type(e).__name__}: {e}); "
                                   "minimised lme4's criterion directly"]
        if sm is not None:
            start = sm[0]
            info_kw.update(statsmodels_criterion=sm[1], statsmodels_converged=sm[2],
                           statsmodels_method=sm[3])
    smc = info_kw.get("statsmodels_criterion")
    theta, crit = _polish(problem, start, plan.REML,
                          near_optimum=smc is not None or optimizer is not None)
    if smc is not None and smc - crit > 1e-2:
        # MixedLM's point was poor: a second start from lme4's default guards against a bad basin
        th2, c2 = _polish(problem, theta_start(problem.blocks), plan.REML, near_optimum=False)
        if c2 < crit:
            theta, crit = th2, c2
    # convergence judged as lme4 judges it, whichever optimiser ran (checkConv)
    ok, max_grad = check_conv(lambda th: problem.objective(th, plan.REML), theta, crit,
                              problem.lower, CONV_TOL)
    polished = smc is None or (smc - crit) > 1e-6
    return FitInfo(engine=plan.engine, criterion=float(crit), theta=np.asarray(theta),
                   polished=bool(polished), max_grad=max_grad,
                   converged=ok, seconds=time.perf_counter() - t0, **info_kw)
