"""lme4's parametric bootstrap: ``simulate``, ``bootMer`` and percentile intervals.

:func:`simulate`, :func:`bootMer` and :func:`confint_boot` are lme4's parametric
bootstrap (``use.u = FALSE``) with ``boot``'s percentile intervals.  Each refit starts
at the fit's theta with a small quasi-Newton run seeded with the fit's curvature
(:func:`mlm_wrap.inference.anova._refit_theta`).
"""
from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.engines.crossprod import CrossprodProblem
from mlm_wrap.engines.optimize import _fd_hessian
from mlm_wrap.errors import ConvergenceWarning, ModelError, OutOfCoreError, caught_warnings
from mlm_wrap.inference.anova import _refit_theta, refit
from mlm_wrap.inference.parallel import run_tasks, spawn_seeds
from mlm_wrap.inference.params import _pct_labels, _sdcor, _which, varpar_names
from mlm_wrap.models.base import is_glmm
from mlm_wrap.models.glmer import refit_glmer
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


def _sim_re(prob, theta: np.ndarray, nsim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, nsim) new random effects ``Z Lambda u``, ``u ~ N(0, I)`` (lme4's ``sim.reff``)."""
    U = rng.standard_normal((nsim, prob.q)).T
    re = np.zeros((len(prob.blocks[0].codes), nsim))
    for blk, T, lo in zip(prob.blocks, prob.factors(theta), prob.offsets[:-1]):
        Uk = U[lo:lo + blk.q].reshape(blk.nlevels, blk.p, nsim)
        Bk = np.einsum("ij,ljs->lis", T, Uk)  # Lambda u, level by level
        re += np.einsum("rc,rcs->rs", blk.Xt, Bk[blk.codes])
    return re


def _simulate_matrix(m: LmerMod, nsim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, nsim) responses: ``X beta + offset + sigma (Z Lambda u + e / sqrt(w))``,
    ``u, e ~ N(0, I)`` (the problem's rows are scaled by sqrt(w): dividing undoes it);
    for a glmer fit, :func:`_simulate_glmm`."""
    if is_glmm(m):
        return _simulate_glmm(m, nsim, rng)
    return _simulate_lmm(m._problem, m._sol.beta, m.theta, m.sigma(), nsim, rng)


def _simulate_lmm(prob, beta: np.ndarray, theta: np.ndarray, sigma: float, nsim: int,
                  rng: np.random.Generator) -> np.ndarray:
    """(n, nsim) LMM responses at the parameters (beta, theta, sigma) on a problem's design."""
    eta = prob.X @ beta
    re = _sim_re(prob, theta, nsim, rng)
    E = rng.standard_normal((nsim, prob.n)).T
    return (eta[:, None] + sigma * (re + E)) / prob.sw[:, None] + prob.offset[:, None]


def _simulate_glmm(m, nsim: int, rng: np.random.Generator, beta=None, theta=None,
                   sigma: float | None = None) -> np.ndarray:
    """lme4's ``simulate.merMod`` for a GLMM (``re.form = NA``): ``eta = X beta + offset +
    Z Lambda u`` with new ``u ~ N(0, I)`` (no sigma factor, as lme4), ``mu = linkinv(eta)``,
    then lme4's ``simfunList`` draw of the family, the prior weights ``w`` kept:
    binomial ``rbinom(w, mu) / w`` (glm's proportion; non-integer ``w`` is refused),
    Poisson ``rpois(mu)``, negative binomial ``rnbinom(mu, size = theta)``, Gaussian
    ``rnorm(mu, sigma)``, Gamma with shape ``w / sigma^2`` and inverse Gaussian with
    shape ``w / sigma^2`` (sigma^2 the dispersion).  lme4 1.1-31 takes ``sigma`` instead of
    ``sigma^2`` for the last two, a bug fixed upstream (lme4 issue #782): this is the fix.
    ``beta``, ``theta``, ``sigma``: other parameters than the fit's (lme4's ``newparams``)."""
    prob, fam = m._problem, m.family_object
    n = prob.n
    beta = m._sol.beta if beta is None else np.asarray(beta, float)
    theta = m.theta if theta is None else np.asarray(theta, float)
    eta = (prob.X @ beta + prob.offset)[:, None] + _sim_re(prob, theta, nsim, rng)
    mu = fam.linkinv(eta.ravel(order="F")).reshape((n, nsim), order="F")
    w = np.repeat(prob.wt[:, None], nsim, axis=1)
    kind = "negative.binomial" if getattr(fam, "theta", None) is not None else fam.family
    if kind in ("poisson", "negative.binomial", "gaussian") and np.any(prob.wt != 1):
        warnings.warn("ignoring prior weights", UserWarning, stacklevel=4)
    if kind == "binomial":
        if np.any(prob.wt % 1 != 0):
            raise ModelError("cannot simulate from non-integer prior.weights")
        pos = w > 0
        out = np.zeros_like(mu)
        out[pos] = rng.binomial(w[pos].astype(np.int64), np.clip(mu[pos], 0.0, 1.0)) / w[pos]
        return out
    if kind == "poisson":
        return rng.poisson(mu).astype(float)
    if kind == "negative.binomial":
        th = float(fam.theta)
        return rng.negative_binomial(th, th / (th + mu)).astype(float)
    disp = (m.sigma() if sigma is None else float(sigma)) ** 2
    if kind == "gaussian":
        return rng.normal(mu, math.sqrt(disp))
    shape = w / disp
    if kind == "Gamma":
        return rng.gamma(shape, mu / shape)
    if kind == "inverse.gaussian":
        return rng.wald(mu, shape)
    raise ModelError(f"simulation not implemented for family '{fam.family}'")


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


def _boot_names(m: LmerMod) -> list[str]:
    """The rows of ``confint(method = "boot")``: the variance parameters (a glmer fit's
    ``sigma`` only when its family has a scale parameter, lme4's ``useSc``), then the
    fixed effects."""
    vn = varpar_names(m)
    if is_glmm(m) and not m.family_object.has_scale:
        vn = vn[:-1]
    return vn + list(m.design.xnames)


def _boot_stat_glmm(g) -> np.ndarray:
    """confint.merMod's ``bootFun`` for a glmer fit: ``Cv_to_Sv(theta)`` (the relative
    factor's sds/cors, not scaled by sigma), sigma if ``useSc``, the fixed effects."""
    v = _sdcor(g._problem.blocks, g.theta, 1.0)[:-1]
    sc = [g.sigma()] if g.family_object.has_scale else []
    return np.r_[v, sc, g._sol.beta]


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
    fail_msgs: dict = field(default_factory=dict)  # R's attr(, "boot.fail.msgs"): message -> count
    all_msgs: dict = field(default_factory=dict)  # R's attr(, "boot.all.msgs"): every message
    entropy: object = None  # SeedSequence(entropy) repeats a seed=None run

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


def _boot_task(st: dict, item) -> tuple[np.ndarray | None, str | None, list[str]]:
    """One bootstrap replicate (a worker's task): simulate with the task's own seed, refit,
    the statistics; (row or None if the refit failed, the failure, the refit's warnings)."""
    _, ss = item
    rng = np.random.default_rng(ss)
    with caught_warnings("always", record=True) as caught:
        try:
            if st["kind"] == "lmm":  # the compact state: the problem, no model frame
                prob = st["prob"]
                y = _simulate_lmm(prob, st["beta"], st["theta"], st["sigma"], 1, rng)[:, 0]
                new = prob.with_response(y)
                theta, _, _ = _refit_theta(new, st["theta"], st["REML"], st["H0"])
                row = _boot_stat(prob.blocks, theta, new.solve(theta), st["REML"])
            else:
                m, FUN = st["model"], st["FUN"]
                y = _simulate_matrix(m, 1, rng)[:, 0]
                if st["glmm"]:  # lme4's refit: stage 2 from the fit's (theta, beta)
                    g = refit_glmer(m, y, warn=False)
                    row = _boot_stat_glmm(g) if FUN is None else FUN(g)
                else:
                    row = FUN(refit(m, y, _H0=st["H0"]))
            row, err = np.asarray(row, float).ravel(), None
        except Exception as e:  # a failed refit is an NA row, as in bootMer
            row, err = None, f"{type(e).__name__}: {e}"
    return row, err, [str(w.message) for w in caught]


def bootMer(m: LmerMod, nsim: int = 500, seed=None, FUN: Callable[[LmerMod], Sequence[float]] | None = None,
            progress: bool = True, parallel: str = "no", ncpus: int | None = None, cl=None) -> BootMer:
    """lme4's ``bootMer(m, FUN, nsim, use.u = FALSE, type = "parametric", parallel, ncpus)``.

    Without ``FUN`` the statistics are those of ``confint(method = "boot")``: the
    sds/correlations, sigma and fixed effects (names as the profile intervals).  With
    ``FUN``, each refit is a full :class:`LmerMod` passed to ``FUN``.

    ``parallel = "no"`` (R's default), ``"multicore"`` / ``"snow"`` (``ncpus`` local
    processes), ``"dask"`` or ``"ray"`` (``cl=``: a Dask Client or scheduler address, a
    Ray address; by default the running one): see :mod:`mlm_wrap.inference.parallel`.
    Replicate i simulates from the i-th child of ``SeedSequence(seed)``, so the result is
    the same number for number on every back end and any number of workers.  Failed
    refits are NA rows, counted (``nfail``, R's ``bootFail``) with their messages
    (``fail_msgs``; every refit's warnings and errors in ``all_msgs``) and a warning, as R.

    A glmer fit is simulated by :func:`_simulate_glmm` and refitted as lme4's ``refit``
    (:func:`mlm_wrap.models.glmer.refit_glmer`: stage 2 from the fit's estimates); its
    statistics are lme4's ``bootFun``'s (the relative sds, sigma only for a family with
    a scale parameter).  A ``glmer_nb`` fit is refitted with its family, theta fixed at
    the estimate, as lme4's ``refit`` of a glmer.nb fit does (the family object carries
    theta; ``bootMer`` does not re-estimate it)."""
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be a positive integer")
    if isinstance(getattr(m, "_problem", None), CrossprodProblem):
        raise OutOfCoreError("bootMer() simulates every row and refits: an out-of-core fit "
                             "keeps only cross-products; fit the model in memory "
                             "(lmer(formula, data=pandas_frame)) to bootstrap it")
    seeds, entropy = spawn_seeds(seed, nsim)
    glmm = is_glmm(m)
    if FUN is None:
        names = _boot_names(m)
        t0 = _boot_stat_glmm(m) if glmm else _boot_stat(m._problem.blocks, m.theta, m._sol, m.REML)
    else:
        r0 = FUN(m)
        names = list(r0.index) if isinstance(r0, pd.Series) else [f"t{i + 1}" for i in range(len(np.atleast_1d(r0)))]
        t0 = np.asarray(r0, float).ravel()
    H0 = None if glmm else _criterion_hessian(m)
    if FUN is None and not glmm:
        state = {"kind": "lmm", "prob": m._problem, "theta": np.asarray(m.theta, float),
                 "beta": np.asarray(m._sol.beta, float), "sigma": m.sigma(), "REML": m.REML,
                 "H0": H0}
    else:
        state = {"kind": "model", "model": m, "FUN": FUN, "glmm": glmm, "H0": H0}
    start = time.perf_counter()
    res = run_tasks(_boot_task, state, list(enumerate(seeds)), parallel=parallel, ncpus=ncpus,
                    cl=cl, progress=progress, desc="bootstrap")
    secs = time.perf_counter() - start
    out = np.full((nsim, len(t0)), np.nan)
    fails: Counter = Counter()
    every: Counter = Counter()
    for i, (row, err, msgs) in enumerate(res):
        every.update(msgs)
        if err is None:
            out[i] = row
        else:
            fails[err] += 1
            every[err] += 1
    nfail = sum(fails.values())
    if nfail:
        warnings.warn(f"some bootstrap runs failed ({nfail}/{nsim}): {next(iter(fails))}",
                      ConvergenceWarning, stacklevel=2)
    return BootMer(t0=pd.Series(t0, index=names), t=pd.DataFrame(out, columns=names),
                   nfail=nfail, seconds=secs, seed=seed, messages=list(fails),
                   fail_msgs=dict(fails), all_msgs=dict(every), entropy=entropy)


def confint_boot(m: LmerMod, nsim: int = 500, level: float = 0.95, seed=None,
                 progress: bool = True, parm=None, parallel: str = "no", ncpus: int | None = None,
                 cl=None) -> pd.DataFrame:
    """``confint(m, method = "boot", boot.type = "perc")``: parametric-bootstrap
    percentile intervals, rows named as :func:`confint_profile`'s (``parallel=``,
    ``ncpus=``, ``cl=`` as :func:`bootMer`)."""
    bb = bootMer(m, nsim=nsim, seed=seed, progress=progress, parallel=parallel, ncpus=ncpus, cl=cl)
    if bb.t.isna().all().all():
        raise ModelError("*all* bootstrap runs failed!")
    ci = bb.confint(level)
    if parm is not None:
        ci = ci.iloc[_which(list(ci.index), len(_boot_names(m)) - len(m.design.xnames), parm)]
    ci.attrs["boot"] = bb
    return ci
