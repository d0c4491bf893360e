"""Inference beyond Wald: lme4's anova, profile and bootstrap intervals, lmerTest's df.

Each function ports the R code that users compare against, so the numbers mean
what they mean in R:

* :func:`anova` is ``lme4:::anova.merMod`` for several models: REML fits are refitted
  by ML (warm-started at the REML theta, as ``refitML`` does), models ordered by
  their number of parameters, likelihood-ratio tests between neighbours; ``str()`` of
  the result is R's ``print.anova``.
* :func:`confint_profile` is ``confint(profile(m))`` (``oldNames = FALSE``).  As
  ``lme4::devfun2``, the profile is always of the *ML* deviance (REML fits are
  refitted by ML first), over the standard deviations / correlations of the random
  effects, sigma and the fixed effects.  Instead of lme4's spline through ~20 points
  per parameter, each limit is the root of ``zeta = sign(x - x_hat) sqrt(dev(x) -
  dev_hat)`` found by a bracketed secant search, every ``dev(x)`` a full inner
  optimisation over the other parameters.
* :func:`simulate`, :func:`refit`, :func:`bootMer` and :func:`confint_boot` are
  lme4's parametric bootstrap (``use.u = FALSE``) with ``boot``'s percentile
  intervals.  Each refit starts at the fit's theta (as lme4's ``refit``) with a small
  quasi-Newton run seeded with the fit's curvature, and falls back to the fit's own
  polish (:func:`mlm_wrap.engines.mixedlm._polish`) whenever lme4's gradient check is not passed:
  the same optimum, 5-9 times faster than the polish alone.
* :func:`satterthwaite` is lmerTest's ``contest1D`` (Kuznetsova et al. 2017): the
  Hessian of the deviance in ``(theta, sigma)`` and the Jacobian of ``vcov(beta)``,
  both by numDeriv's Richardson extrapolation (ported), so the df match lmerTest's.
* :func:`kenward_roger` is pbkrtest's ``vcovAdj`` / ``Lb_ddf`` (what lmerTest's
  ``ddf = "Kenward-Roger"`` calls).  Like pbkrtest it needs the dense ``n x n``
  inverse of the marginal covariance (refused above :data:`KR_MAX_N` rows).

The functions take a fitted :class:`~mlm_wrap.models.lmer.LmerMod`; the public API
delegates to them (``confint(m, method=...)``, ``summary(m, ddf=...)``, ``anova``).
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize

from mlm_wrap.engines.lmm import LmmProblem, ReBlock, split_theta
from mlm_wrap.engines.mixedlm import FitInfo, _gradient, _polish, fit_theta
from mlm_wrap.errors import ConvergenceWarning, MixedModelMessage, ModelError
from mlm_wrap.spec.plan import make_plan

if TYPE_CHECKING:  # pragma: no cover  (results.py may import this module lazily)
    from mlm_wrap.models.lmer import LmerMod

LOG2PI = math.log(2.0 * math.pi)
DBL_EPS = float(np.finfo(float).eps)

__all__ = ["anova", "AnovaTable", "refit_ml", "confint_profile", "confint_boot", "confint",
           "simulate", "refit", "bootMer", "BootMer", "satterthwaite", "kenward_roger",
           "ddf_coefficients", "varpar_names"]


# =============================================================================== names
def _layout(block: ReBlock) -> list[tuple[int, int]]:
    """(row, col) of each theta entry of a term: lower triangle, column-major (lme4)."""
    return [(i, j) for j in range(block.p) for i in range(j, block.p)]


def varpar_names(m: LmerMod) -> list[str]:
    """lme4's ``tnames(m, old = FALSE, prefix = c("sd", "cor"))`` plus ``"sigma"``."""
    out = []
    for td, blk in zip(m.design.terms, m._problem.blocks):
        e, g = list(td.cnames), td.name
        for i, j in _layout(blk):
            out.append(f"sd_{e[i]}|{g}" if i == j else f"cor_{e[i]}.{e[j]}|{g}")
    return out + ["sigma"]


def _pct_labels(level: float) -> list[str]:
    """R's ``format.perc(c(a, 1 - a), 3)``: ``"2.5 %"``, ``"97.5 %"``."""
    from mlm_wrap.rformat import format_num
    a = (1.0 - level) / 2.0
    return [s.strip() + " %" for s in format_num([100 * a, 100 * (1 - a)], digits=3, trim=True,
                                                 scientific=False)]


# ====================================================== theta <-> sd/cor (Cv_to_Sv etc.)
def _phi_from_theta(blocks: list[ReBlock], theta: np.ndarray) -> np.ndarray:
    """Relative sds and correlations, laid out as theta (lme4's ``Cv_to_Sv`` with s = 1)."""
    out = []
    for blk, th in zip(blocks, split_theta(blocks, theta)):
        T = blk.T(th)
        C = T @ T.T
        sd = np.sqrt(np.clip(np.diag(C), 0.0, None))
        for i, j in _layout(blk):
            if i == j:
                out.append(sd[i])
            else:
                out.append(C[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan)
    return np.asarray(out, float)


def _psd_chol(R: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a positive semi-definite correlation matrix (None if not)."""
    p = R.shape[0]
    L = np.zeros_like(R)
    for j in range(p):
        d = R[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10:
            return None
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, p):
            r = R[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0:
                L[i, j] = r / L[j, j]
            elif abs(r) > 1e-10:
                return None
    return L


def _theta_from_phi(blocks: list[ReBlock], phi: np.ndarray) -> np.ndarray | None:
    """Inverse of :func:`_phi_from_theta` (lme4's ``Sv_to_Cv``); None off the PSD cone."""
    out = []
    for blk, ph in zip(blocks, split_theta(blocks, phi)):
        if blk.p == 1:
            out.append(ph[0])
            continue
        sd = np.zeros(blk.p)
        R = np.eye(blk.p)
        for (i, j), v in zip(_layout(blk), ph):
            if i == j:
                sd[i] = v
            else:
                R[i, j] = R[j, i] = 0.0 if np.isnan(v) else v
        L = _psd_chol(R)
        if L is None:
            return None
        T = sd[:, None] * L
        out.extend(T[i, j] for i, j in _layout(blk))
    return np.asarray(out, float)


def _sdcor(blocks: list[ReBlock], theta: np.ndarray, sigma: float) -> np.ndarray:
    """Absolute sds and correlations of every term, then sigma (``Cv_to_Sv(theta, s=sigma)``)."""
    phi = _phi_from_theta(blocks, theta)
    diag = _diag_mask(blocks)
    return np.append(np.where(diag, sigma * phi, phi), sigma)


def _diag_mask(blocks: list[ReBlock]) -> np.ndarray:
    return np.asarray([i == j for blk in blocks for i, j in _layout(blk)], bool)


# ================================================================================ refits
def refit_ml(m: LmerMod) -> LmerMod:
    """lme4's ``refitML``: the same model fitted by ML, warm-started at the REML theta.

    Falls back to a full :func:`mlm_wrap.engines.mixedlm.fit_theta` when the warm start stops
    short of an optimum (gradient check)."""
    from mlm_wrap.models.lmer import LmerMod
    if not m.REML:
        return m
    t0 = time.perf_counter()
    plan = make_plan(m.design, REML=False, engine=m.plan.engine)
    problem = m._problem
    theta, crit, max_grad = _refit_theta(problem, m.theta, False)
    if max_grad < 2e-3:
        info = FitInfo(engine=plan.engine, criterion=float(crit), theta=np.asarray(theta),
                       polished=True, max_grad=max_grad, converged=True,
                       seconds=time.perf_counter() - t0,
                       messages=["refitted by ML from the REML estimates (lme4's refitML)"])
    else:
        info = fit_theta(plan, m.design, problem)
    return LmerMod(m.design, plan, info, problem, data_name=m.data_name)


def _new_problem(m: LmerMod, y: np.ndarray) -> LmmProblem:
    return LmmProblem(m._problem.X, np.asarray(y, float), m._problem.blocks)


def _criterion_hessian(m: LmerMod) -> np.ndarray:
    """Curvature of the fit's criterion in theta at the optimum (a refit's first guess)."""
    prob, REML = m._problem, m.REML
    lo, hi = prob.lower, np.full(len(m.theta), np.inf)
    f = lambda th: prob.objective(th, REML)
    return _fd_hessian(f, np.asarray(m.theta, float), f(m.theta), lo, hi)


def _refit_theta(problem: LmmProblem, theta0: np.ndarray, REML: bool,
                 H0: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """Minimise the criterion for a new response from ``theta0``: a quasi-Newton run
    started with the original fit's curvature (a few dozen solves), then the fit's own
    polish whenever lme4's gradient check is not passed.  (theta, criterion, max|grad|)."""
    f = lambda th: problem.objective(th, REML)
    lo = problem.lower
    hi = np.full(len(lo), np.inf)
    theta0 = np.asarray(theta0, float)
    theta, crit, _, ok = _qn_minimize(f, theta0, lo, hi, H0)
    at_bound = np.isfinite(lo) & (theta0 <= lo)
    if at_bound.any():
        # a zero sd is a stationary point of the criterion (it depends on theta^2): a
        # quasi-Newton started there stays; also start inside, as bobyqa's first steps do
        th2, c2, _, ok2 = _qn_minimize(f, np.where(at_bound, 0.5, theta0), lo, hi, None)
        if c2 < crit:
            theta, crit, ok = th2, c2, ok2
    g = _gradient(problem, theta, REML)
    max_grad = float(np.max(np.abs(g))) if len(g) else 0.0
    if not ok or max_grad > 1e-3 or not np.isfinite(crit):
        theta, crit = _polish(problem, theta if np.isfinite(crit) else theta0, REML)
        g = _gradient(problem, theta, REML)
        max_grad = float(np.max(np.abs(g))) if len(g) else 0.0
    else:  # land on the boundary as lme4's bounded optimiser does
        on = np.isfinite(lo) & (theta < 1e-6) & (theta > 0)
        if on.any():
            snapped = np.where(on, 0.0, theta)
            fs = f(snapped)
            if fs <= crit + 1e-10:
                theta, crit = snapped, fs
    return np.asarray(theta), float(crit), max_grad


def refit(m: LmerMod, newresp, _H0: np.ndarray | None = None) -> LmerMod:
    """lme4's ``refit(m, newresp)``: the same model and criterion for a new response,
    the optimiser started at ``m.theta`` (as lme4 does)."""
    from mlm_wrap.models.lmer import LmerMod
    y = np.asarray(newresp, float).ravel()
    if y.shape != m.design.y.shape:
        raise ModelError(f"newresp has {y.size} values; the model was fitted to {m.design.n} "
                         "observations")
    if not np.all(np.isfinite(y)):
        raise ModelError("newresp has missing or infinite values")
    t0 = time.perf_counter()
    problem = _new_problem(m, y)
    theta, crit, max_grad = _refit_theta(problem, m.theta, m.REML, _H0)
    info = FitInfo(engine=m.plan.engine, criterion=crit, theta=theta, polished=True,
                   max_grad=max_grad, converged=max_grad < 2e-3,
                   seconds=time.perf_counter() - t0, messages=["refit() to a new response"])
    design = replace(m.design, y=y)
    return LmerMod(design, m.plan, info, problem, data_name=m.data_name)


# ================================================================================= anova
class AnovaTable(pd.DataFrame):
    """A model-comparison table; ``str()`` is R's ``print.anova`` with its heading."""

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return AnovaTable

    def format(self, digits: int = 5, signif_stars: bool = True) -> str:
        """R's ``print(anova(...), digits=)`` as text (``digits`` default: R's 7 - 2)."""
        from mlm_wrap.rformat import format_coefmat
        heading = list(getattr(self, "heading", None) or [])
        cols = list(self.columns)
        x = self.to_numpy(dtype=float)
        cells = np.where(np.isnan(x), None, x).tolist()
        has_p = cols[-1].startswith(("Pr(", "P("))
        tst = [i for i, c in enumerate(cols) if c[1:7] == " value" or c in ("F", "Cp", "Chisq")]
        zap = [i for i in range(len(cols) - 1 if has_p else len(cols))
               if i not in tst and not cols[i].endswith("Df")]
        tab = format_coefmat(cells, rownames=[str(i) for i in self.index], colnames=cols,
                             digits=digits, signif_stars=signif_stars, cs_ind=[], tst_ind=tst,
                             zap_ind=zap, has_Pvalue=has_p, P_values=has_p, na_print="")
        text = tab.render()
        return "\n".join(heading + [text.rstrip("\n")])

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()


def _check_same_data(models: list[LmerMod], names: list[str]) -> None:
    """R's checks of ``anova.merMod``, and the rows/response checks R leaves to the user."""
    ref, rname = models[0], names[0]
    for m, nm in zip(models[1:], names[1:]):
        if m.nobs() != ref.nobs():
            raise ModelError(f"models were not all fitted to the same size of dataset: {rname} "
                             f"has {ref.nobs()} observations, {nm} has {m.nobs()} (missing "
                             "values in a variable one model uses drop different rows)")
        if not m.design.index.equals(ref.design.index):
            raise ModelError(f"models {rname} and {nm} were fitted to different rows of the data; "
                             "a likelihood-ratio test needs the same observations")
        if not np.array_equal(m.design.y, ref.design.y):
            lhs = lambda mm: mm.formula.split("~")[0].strip()
            raise ModelError(f"models {rname} and {nm} have different responses ({lhs(ref)!r} vs "
                             f"{lhs(m)!r}); their likelihoods cannot be compared")
        if m.data_name and ref.data_name and m.data_name != ref.data_name:
            raise ModelError(f"all models must be fit to the same data object: {rname} was fitted "
                             f"to {ref.data_name!r}, {nm} to {m.data_name!r}")


def anova(*models: LmerMod, refit: bool = True, model_names: Sequence[str] | None = None,
          **named_models: LmerMod) -> AnovaTable:
    """lme4's ``anova(m1, m2, ...)``: likelihood-ratio tests between nested fits.

    Models are named ``m1, m2, ...`` in argument order (R uses the variable names,
    which Python cannot see), or by keyword: ``anova(small=m1, big=m2)``, or by
    ``model_names``.  REML fits are refitted by ML unless ``refit=False``."""
    from mlm_wrap.models.lmer import LmerMod
    mods = list(models) + list(named_models.values())
    if len(mods) < 2:
        raise NotImplementedError("anova() of a single model (lme4's F table of the fixed "
                                  "effects) is not available; pass two or more models to "
                                  "compare them")
    for x in mods:
        if not isinstance(x, LmerMod):
            raise TypeError(f"anova() compares fitted models (LmerMod), not {type(x).__name__}")
    if model_names is not None:
        names = [str(s) for s in model_names]
        if len(names) != len(mods):
            raise ValueError("model names vector and model list have different lengths")
    else:
        names = [f"m{i + 1}" for i in range(len(models))] + list(named_models)
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    _check_same_data(mods, names)
    reml = [x.REML for x in mods]
    if refit:
        if any(reml):
            warnings.warn("refitting model(s) with ML (instead of REML)", MixedModelMessage,
                          stacklevel=2)
        mods = [refit_ml(x) if r else x for x, r in zip(mods, reml)]
    elif any(reml) and not all(reml):
        warnings.warn("some models fit with REML = TRUE, some not", UserWarning, stacklevel=2)
    lls = [x.logLik() for x in mods]
    npar = [ll.df for ll in lls]
    order = sorted(range(len(mods)), key=lambda i: npar[i])  # R's order(): stable
    mods = [mods[i] for i in order]
    names = [names[i] for i in order]
    lls = [lls[i] for i in order]
    npar = np.asarray([npar[i] for i in order], float)
    llk = np.asarray([float(v) for v in lls])
    chisq = np.r_[np.nan, 2.0 * np.maximum(0.0, np.diff(llk))]
    dfc = np.r_[np.nan, np.diff(npar)]
    with np.errstate(invalid="ignore"):
        pval = np.where(dfc == 0, np.nan, stats.chi2.sf(chisq, dfc))
    tab = AnovaTable({"npar": npar, "AIC": [x.AIC() for x in mods], "BIC": [x.BIC() for x in mods],
                      "logLik": llk, "deviance": -2.0 * llk, "Chisq": chisq, "Df": dfc,
                      "Pr(>Chisq)": pval}, index=names)
    data = mods[0].data_name or "data"
    tab.heading = [f"Data: {data}", "Models:"] + [f"{nm}: {x.design.parsed.deparse()}"
                                                  for nm, x in zip(names, mods)]
    return tab


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
        return dev, ph

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


def _which(names: list[str], nv: int, parm) -> list[int]:
    """lme4's ``get.which`` for names, ``"theta_"`` (variance parameters) or ``"beta_"``."""
    if parm is None:
        return list(range(len(names)))
    if isinstance(parm, str):
        if parm == "theta_":
            return list(range(nv))
        if parm == "beta_":
            return list(range(nv, len(names)))
        parm = [parm]
    out = []
    for p in parm:
        if isinstance(p, (int, np.integer)):
            out.append(int(p))
        elif p in names:
            out.append(names.index(p))
        else:
            raise ModelError(f"no parameter named {p!r}; the parameters are {names}")
    return out


def confint_profile(m: LmerMod, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Profile-likelihood intervals, as ``confint(m, method = "profile", oldNames = FALSE)``.

    Rows: ``sd_<col>|<group>``, ``cor_<col2>.<col1>|<group>``, ``sigma``, then the fixed
    effects (``parm`` selects rows by name, or ``"theta_"`` / ``"beta_"``).  A limit the
    profile does not reach inside the parameter space is the boundary (0 for an sd,
    +-1 for a correlation), as in R."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    prof = _Profiler(m)
    idx = _which(prof.names, prof.nv, parm)
    zq = float(stats.norm.ppf(1 - (1 - level) / 2))
    rows = []
    for w in idx:
        kind = prof._kind(w)
        if kind == "cor" and np.isnan(prof.estimate(w)):
            rows.append([np.nan, np.nan])  # the correlation of a zero-variance term
            continue
        rows.append([prof.limit(w, -zq), prof.limit(w, zq)])
    return pd.DataFrame(rows, index=[prof.names[w] for w in idx], columns=_pct_labels(level))


# ============================================================================= bootstrap
def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _simulate_matrix(m: LmerMod, nsim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, nsim) responses: ``X beta + sigma (Z Lambda u + e)``, ``u, e ~ N(0, I)``."""
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
    return eta[:, None] + m.sigma() * (re + E)


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


# ================================================================ numDeriv (Richardson)
_ZERO_TOL = math.sqrt(DBL_EPS / 7e-7)


def _nd_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, d: float = 0.1,
                eps: float = 1e-4, r: int = 4, v: int = 2) -> np.ndarray:
    """numDeriv's ``hessian(method = "Richardson")`` (via ``genD``), ported."""
    x = np.asarray(x, float)
    n = len(x)
    f0 = f(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    Hdiag = np.zeros(n)
    H = np.zeros((n, n))

    def richardson(a: np.ndarray) -> float:
        a = a.copy()
        for mm in range(1, r):
            for k in range(r - mm):
                a[k] = (a[k + 1] * 4 ** mm - a[k]) / (4 ** mm - 1)
        return float(a[0])

    for i in range(n):
        h = h0.copy()
        Ha = np.zeros(r)
        for k in range(r):
            e = np.zeros(n); e[i] = h[i]
            f1, f2 = f(x + e), f(x - e)
            Ha[k] = (f1 - 2 * f0 + f2) / h[i] ** 2
            h = h / v
        Hdiag[i] = richardson(Ha)
        H[i, i] = Hdiag[i]
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            Da = np.zeros(r)
            for k in range(r):
                e = np.zeros(n); e[i] += h[i]; e[j] += h[j]
                f1, f2 = f(x + e), f(x - e)
                Da[k] = (f1 - 2 * f0 + f2 - Hdiag[i] * h[i] ** 2 - Hdiag[j] * h[j] ** 2) / (2 * h[i] * h[j])
                h = h / v
            H[i, j] = H[j, i] = richardson(Da)
    return H


def _nd_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4,
                 eps: float = 1e-4, r: int = 4, v: int = 2) -> np.ndarray:
    """numDeriv's ``jacobian(method = "Richardson")``, ported: (len(f(x)), len(x))."""
    x = np.asarray(x, float)
    n = len(x)
    m0 = len(np.atleast_1d(f(x)))
    h = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    a = np.zeros((m0, r, n))
    for k in range(r):
        for i in range(n):
            e = np.zeros(n); e[i] = h[i]
            a[:, k, i] = (np.asarray(f(x + e), float) - np.asarray(f(x - e), float)) / (2 * h[i])
        h = h / v
    for mm in range(1, r):
        a = (a[:, 1:r + 1 - mm, :] * 4 ** mm - a[:, :r - mm, :]) / (4 ** mm - 1)
    return a[:, 0, :]


# ================================================================ Satterthwaite (lmerTest)
@dataclass
class _SattState:
    beta: np.ndarray
    vcov: np.ndarray
    vcov_varpar: np.ndarray
    jac: list[np.ndarray]


def _satt_state(m: LmerMod) -> _SattState:
    """lmerTest's ``as_lmerModLT``: asymptotic covariance of (theta, sigma) and the
    Jacobian of ``vcov(beta)`` with respect to them."""
    prob, REML = m._problem, m.REML
    n, p = prob.n, prob.p

    def devfun_vp(vp: np.ndarray) -> float:
        s2 = vp[-1] ** 2
        sol = prob.solve(vp[:-1])
        dev = sol.logdet_L + sol.pwrss / s2 + n * math.log(2 * math.pi * s2)
        if REML:
            dev += sol.logdet_RX - p * math.log(2 * math.pi * s2)
        return dev

    def covbeta(vp: np.ndarray) -> np.ndarray:
        sol = prob.solve(vp[:-1])
        return (vp[-1] ** 2 * np.linalg.inv(sol.RXtRX)).ravel(order="F")

    vp = np.r_[m.theta, m.sigma()]
    H = _nd_hessian(devfun_vp, vp)
    evals, evecs = np.linalg.eigh((H + H.T) / 2)
    tol = 1e-8
    neg = evals < -tol
    if neg.any():
        warnings.warn(f"Model failed to converge with {neg.sum()} negative eigenvalue"
                      f"{'s' if neg.sum() > 1 else ''}: " + " ".join(f"{e:.1e}" for e in evals[neg]),
                      ConvergenceWarning, stacklevel=3)
    zero = (evals > -tol) & (evals < tol)
    if zero.any():
        warnings.warn(f"Model may not have converged with {zero.sum()} eigenvalue"
                      f"{'s' if zero.sum() > 1 else ''} close to zero: "
                      + " ".join(f"{e:.1e}" for e in evals[zero]), ConvergenceWarning, stacklevel=3)
    pos = evals > tol
    Hinv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    J = _nd_jacobian(covbeta, vp)
    jac = [J[:, k].reshape((p, p), order="F") for k in range(J.shape[1])]
    return _SattState(beta=np.asarray(m._sol.beta), vcov=m.vcov().to_numpy(),
                      vcov_varpar=2.0 * Hinv, jac=jac)


def _ttable(m: LmerMod, est, se, df) -> pd.DataFrame:
    est, se, df = (np.asarray(a, float) for a in (est, se, df))
    tval = est / se
    pval = 2.0 * stats.t.sf(np.abs(tval), df)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": tval,
                         "Pr(>|t|)": pval}, index=list(m.design.xnames))


def satterthwaite(m: LmerMod) -> pd.DataFrame:
    """lmerTest's ``summary(m)`` coefficients: t tests with Satterthwaite's df."""
    st = _satt_state(m)
    p = len(st.beta)
    dfs = np.empty(p)
    for j in range(p):
        var_con = st.vcov[j, j]
        grad = np.array([J[j, j] for J in st.jac])
        dfs[j] = 2.0 * var_con ** 2 / (grad @ st.vcov_varpar @ grad)
    return _ttable(m, st.beta, np.sqrt(np.diag(st.vcov)), dfs)


# ============================================================== Kenward-Roger (pbkrtest)
def _kr_pieces(m: LmerMod):
    """pbkrtest's ``vcovAdj``: the adjusted covariance of beta and its P, W pieces.

    ``Sigma = sum_i gamma_i G_i`` over the covariance parameters (each term's lower
    triangle, then sigma^2) as pbkrtest builds it; every ``G_i = M_a M_b'`` is kept in
    that low-rank form (``M_c``: the term's column c spread over its levels), so the only
    ``n x n`` work is ``Sigma^-1`` (by Woodbury) and products with it."""
    import scipy.sparse as sp
    prob = m._problem
    n = prob.n
    X = prob.X
    Phi = m.vcov().to_numpy()
    vc = m.VarCorr()
    s2 = m.sigma() ** 2
    gam, pairs = [], []
    Ws = []
    for blk, term, T in zip(prob.blocks, vc.terms, prob.factors(m.theta)):
        rows = np.arange(n)
        M = [sp.csr_matrix((blk.Xt[:, c], (rows, blk.codes)), shape=(n, blk.nlevels))
             for c in range(blk.p)]
        for i, j in _layout(blk):  # lower triangle column-major == pbkrtest's order
            gam.append(term.cov[i, j])
            pairs.append((M[i], M[j], i == j))
        # Z Lambda for this term: column (level l, component k) = sum_c M_c[:, l] T[c, k]
        Ws.append(np.hstack([sum(T[c, k] * M[c] for c in range(blk.p)).toarray()
                             for k in range(blk.p)]))
    gam.append(s2)
    W = np.hstack(Ws)  # Sigma = s2 (I + W W')
    A = np.eye(W.shape[1]) + W.T @ W
    SigmaInv = (np.eye(n) - W @ np.linalg.solve(A, W.T)) / s2
    SigmaInv = (SigmaInv + SigmaInv.T) / 2
    HH = []
    for Ma, Mb, diag in pairs:
        H = Ma @ np.asarray(Mb.T @ SigmaInv)
        if not diag:
            H = H + Mb @ np.asarray(Ma.T @ SigmaInv)
        HH.append(np.asarray(H))
    HH.append(SigmaInv)
    ng = len(HH)
    TT = SigmaInv @ X
    OO = [H @ X for H in HH]
    PP = [-(O.T @ TT) for O in OO]
    PP = [(P + P.T) / 2 for P in PP]
    SO = [SigmaInv @ O for O in OO]
    QQ = {(r, t): OO[r].T @ SO[t] for r in range(ng) for t in range(r, ng)}
    K = np.empty((ng, ng))
    for r in range(ng):
        for t in range(r, ng):
            K[r, t] = K[t, r] = np.sum(HH[r].T * HH[t])
    IE2 = np.empty((ng, ng))
    for i in range(ng):
        PhiP = Phi @ PP[i]
        for j in range(i, ng):
            IE2[i, j] = IE2[j, i] = K[i, j] - 2 * np.sum(Phi * QQ[i, j]) + np.sum(PhiP * (PP[j] @ Phi))
    ev = np.linalg.eigvalsh((IE2 + IE2.T) / 2)
    Wt = 2 * (np.linalg.inv(IE2) if np.min(np.abs(ev)) > 1e-10 else np.linalg.pinv(IE2))
    Wt = (Wt + Wt.T) / 2
    p = X.shape[1]
    UU = np.zeros((p, p))
    for i in range(ng - 1):
        for j in range(i + 1, ng):
            UU += Wt[i, j] * (QQ[i, j] - PP[i] @ Phi @ PP[j])
    UU = UU + UU.T
    for i in range(ng):
        UU += Wt[i, i] * (QQ[i, i] - PP[i] @ Phi @ PP[i])
    PhiA = Phi + 2 * Phi @ UU @ Phi
    return Phi, PhiA, PP, Wt


def _lb_ddf(L: np.ndarray, V0: np.ndarray, P: list[np.ndarray], W: np.ndarray) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger denominator df for the contrast rows L."""
    L = np.atleast_2d(L)
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    ThetaV0 = Theta @ V0
    A1 = A2 = 0.0
    ng = len(P)
    for i in range(ng):
        ui = ThetaV0 @ P[i] @ V0
        for j in range(i, ng):
            e = 1.0 if i == j else 2.0
            uj = ThetaV0 @ P[j] @ V0
            A1 += e * W[i, j] * np.trace(ui) * np.trace(uj)
            A2 += e * W[i, j] * np.sum(ui * uj.T)
    q = L.shape[0]
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0_ = 1 + c1 * B
    V0_ = 0.0 if abs(V0_) < 1e-10 else V0_
    V1, V2 = 1 - c2 * B, 1 - c3 * B
    x = 1 - A2 / q
    ratio = 1.0 if (abs(x) < 1e-14 and abs(V1) < 1e-14) else x / V1
    rho = (1 / q) * ratio ** 2 * V0_ / V2
    return 4 + (q + 2) / (q * rho - 1)


#: Kenward-Roger keeps a few dense n x n matrices (as pbkrtest); beyond this many rows
#: that is gigabytes of memory.
KR_MAX_N = 5000


def kenward_roger(m: LmerMod) -> pd.DataFrame:
    """lmerTest's ``summary(m, ddf = "Kenward-Roger")`` coefficients (pbkrtest's method):
    the adjusted covariance for the standard errors, Kenward-Roger df for each."""
    if not m.REML:
        raise ModelError("Kenward-Roger's method is only available for REML model fits "
                         "(refit with REML=True, or use ddf='Satterthwaite')")
    if m.nobs() > KR_MAX_N:
        raise ModelError(f"Kenward-Roger needs dense {m.nobs()} x {m.nobs()} matrices (as "
                         f"pbkrtest); use ddf='Satterthwaite' for more than {KR_MAX_N} rows")
    Phi, PhiA, P, W = _kr_pieces(m)
    beta = np.asarray(m._sol.beta)
    p = len(beta)
    se, dfs = np.empty(p), np.empty(p)
    for j in range(p):
        L = np.zeros(p); L[j] = 1.0
        se[j] = math.sqrt(L @ PhiA @ L)
        dfs[j] = _lb_ddf(L, Phi, P, W)
    return _ttable(m, beta, se, dfs)


def ddf_coefficients(m: LmerMod, ddf: str) -> pd.DataFrame:
    """The coefficient table of lmerTest's ``summary(m, ddf=)``: ``"Satterthwaite"`` or
    ``"Kenward-Roger"`` (case-insensitive; R's partial matching of the names)."""
    key = str(ddf).lower().replace("_", "-")
    if "satterthwaite".startswith(key) and key:
        return satterthwaite(m)
    if "kenward-roger".startswith(key) and key:
        return kenward_roger(m)
    raise ValueError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger', not {ddf!r}")
