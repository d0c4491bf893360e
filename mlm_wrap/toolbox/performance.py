"""performance's ``icc()`` and ``r2()`` (Nakagawa's R2) for lmer and glmer fits.

The variance components are insight's (``get_variance``, insight 0.19 / performance 0.10.2):

* fixed: ``var(X beta)`` (R's ``var``, n - 1 denominator);
* random: per random-effects term, ``sum(diag(Z Sigma Z')) / n`` with ``Z`` the columns of
  the *fixed* model matrix named like the term's columns (an intercept column added when
  X has none; columns absent from X are left out, as insight does);
* residual (distribution-specific): ``sigma^2`` for lmer; binomial ``pi^2/3`` (logit),
  ``1`` (probit), ``pi^2/6`` (cloglog); Poisson with log link ``log1p(1/mu)`` where
  ``mu = exp(intercept)`` of the null model (same random part, fixed part ``~ 1``, refitted),
  sqrt link ``0.25``; negative binomial (log link) ``log1p(v / mu^2)`` with
  ``v = mu (1 + mu / theta)`` (insight warns, as here, when ``mu < 6``); Gamma (inverse,
  identity, log) and Gaussian with a link ``sigma^2``; inverse Gaussian ``sigma`` (insight's
  fallback, not squared).  Observation-level random effects are not treated separately.

``ICC_adjusted = random / (random + residual)``,
``ICC_unadjusted = random / (fixed + random + residual)``,
``R2_marginal = fixed / total``, ``R2_conditional = (fixed + random) / total``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from mlm_wrap.engines.glmm import fit_glmm
from mlm_wrap.engines.pirls import GlmmProblem
from mlm_wrap.errors import ModelError
from mlm_wrap.models.base import is_glmm
from mlm_wrap.rformat.objects import RSeries


def _var_fixed(m) -> float:
    eta = np.asarray(m.design.X, float) @ np.asarray(m._sol.beta, float)
    return float(np.var(eta, ddof=1)) if eta.size > 1 else 0.0


def _var_random(m) -> float:
    X = np.asarray(m.design.X, float)
    names = list(m.design.xnames)
    if not any(n.startswith("(Intercept)") for n in names):
        X = np.column_stack([np.ones(X.shape[0]), X])
        names = ["(Intercept)"] + names
    n = X.shape[0]
    total = 0.0
    for td, T in zip(m.design.terms, m._problem.factors(m.theta)):
        S = (T @ T.T) * m.sigma() ** 2
        keep = [i for i, c in enumerate(td.cnames) if c in names]
        if not keep:
            continue
        S = S[np.ix_(keep, keep)]
        Z = X[:, [names.index(td.cnames[i]) for i in keep]]
        total += float(np.sum((Z @ S) * Z)) / n
    return total


def _null_intercept(m) -> float:
    """The fixed intercept of the null model (``~ 1`` and the same random part)."""
    pb = m._problem
    ones = np.ones((pb.n, 1))
    null = GlmmProblem(ones, pb.blocks, pb.y, pb.wt, pb.offset, pb.n_trials, pb.family)
    info, state = fit_glmm(null, m.nAGQ)
    nth = null.ntheta
    beta = info.par[nth:] if m.nAGQ > 0 else state.beta
    return float(beta[0])


def _var_distribution(m) -> float:
    if not is_glmm(m):
        return m.sigma() ** 2
    fam, link = m.family, m.link
    theta = getattr(m.family_object, "theta", None)  # glmer_nb / negative_binomial(theta)
    if fam == "binomial":
        table = {"logit": math.pi ** 2 / 3, "probit": 1.0, "cloglog": math.pi ** 2 / 6}
    elif fam == "poisson" or theta is not None:
        if link == "sqrt":
            return 0.25
        if link == "log":
            mu = math.exp(_null_intercept(m))
            if mu < 6:  # insight's .variance_distributional
                warnings.warn(f"mu of {mu:.1f} is too close to zero, estimate of random effect "
                              "variances may be unreliable.", UserWarning, stacklevel=4)
            v = mu if theta is None else mu * (1.0 + mu / float(theta))
            return math.log1p(v / mu ** 2)
        table = {}
    elif fam == "Gamma" and link in ("inverse", "identity", "log"):
        return m.sigma() ** 2  # family(x)$variance(sigma)
    elif fam == "gaussian" and link in ("log", "inverse"):
        return m.sigma() ** 2  # insight counts any gaussian fit as linear
    elif fam == "inverse.gaussian":
        return m.sigma()  # insight's fallback: sigma itself, not squared
    else:
        table = {}
    if link not in table:
        raise ModelError(f"icc()/r2(): the {fam} family with the {link} link is not supported")
    return table[link]


def variance_components(m) -> dict[str, float]:
    """insight's ``get_variance(m)``: ``var.fixed``, ``var.random``, ``var.residual``."""
    return {"var.fixed": _var_fixed(m), "var.random": _var_random(m),
            "var.residual": _var_distribution(m)}


def icc(m) -> RSeries:
    """performance's ``icc(m)``: ``ICC_adjusted`` and ``ICC_unadjusted``."""
    v = variance_components(m)
    f, r, e = v["var.fixed"], v["var.random"], v["var.residual"]
    return RSeries({"ICC_adjusted": r / (r + e), "ICC_unadjusted": r / (f + r + e)})


def r2(m) -> RSeries:
    """performance's ``r2(m)`` (``r2_nakagawa``): ``R2_conditional`` and ``R2_marginal``."""
    v = variance_components(m)
    f, r, e = v["var.fixed"], v["var.random"], v["var.residual"]
    tot = f + r + e
    return RSeries({"R2_conditional": (f + r) / tot, "R2_marginal": f / tot})


__all__ = ["icc", "r2", "variance_components"]
