"""``glmer_nb()``: negative binomial GLMMs with theta estimated, as ``lme4::glmer.nb``.

lme4 1.1-31's alternation (``glmer.nb``, ``est_theta``, ``optTheta``, ``refitNB``):

1. a Poisson ``glmer`` fit of the same model;
2. ``theta`` from MASS's ``theta.ml`` on the response and that fit's ``mu``, with the prior
   weights (``limit = 20``, ``eps = 2 * tol``);
3. a ``glmer`` fit with ``MASS::negative.binomial(theta)``;
4. ``optimize`` (R's Brent ``fmin``, ported in :func:`r_optimize`) of ``-2 logLik`` over
   ``log(theta)`` on ``log(theta0) +/- 3`` with ``tol = 5e-5``, refitting the model at
   each theta; the result is the last refit (lme4's ``lastfit``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import special

from mlm_wrap.engines.pirls import NegBinFamily
from mlm_wrap.errors import caught_warnings
from mlm_wrap.models.families import negative_binomial, poisson
from mlm_wrap.models.glmer import GlmerMod, glmer, refit_glmer


def r_optimize(f, lower: float, upper: float, tol: float = 1.220703e-4) -> float:
    """R's ``optimize(f, c(lower, upper), tol = tol)$minimum``: Brent's ``fmin`` as R's
    ``src/library/stats/src/optimize.c`` (``Brent_fmin``) has it, step for step."""
    c = (3.0 - math.sqrt(5.0)) * 0.5
    eps = math.sqrt(np.finfo(float).eps)
    a, b = lower, upper
    v = a + c * (b - a)
    w = x = v
    d = e = 0.0
    fx = f(x)
    fv = fw = fx
    tol3 = tol / 3.0
    while True:
        xm = (a + b) * 0.5
        tol1 = eps * abs(x) + tol3
        t2 = tol1 * 2.0
        if abs(x - xm) <= t2 - (b - a) * 0.5:
            break
        p = q = r = 0.0
        if abs(e) > tol1:  # fit a parabola
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = (q - r) * 2.0
            if q > 0.0:
                p = -p
            else:
                q = -q
            r = e
            e = d
        if abs(p) >= abs(q * 0.5 * r) or p <= q * (a - x) or p >= q * (b - x):
            e = (b - x) if x < xm else (a - x)  # golden-section step
            d = c * e
        else:  # parabolic-interpolation step
            d = p / q
            u = x + d
            if u - a < t2 or b - u < t2:
                d = tol1 if x < xm else -tol1
        if abs(d) >= tol1:
            u = x + d
        elif d > 0.0:
            u = x + tol1
        else:
            u = x - tol1
        fu = f(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, w, x = w, x, u
            fv, fw, fx = fw, fx, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv = w, fw
                w, fw = u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x


def theta_ml(y, mu, weights=None, limit: int = 10, eps: float = np.finfo(float).eps ** 0.25) -> float:
    """MASS's ``theta.ml(y, mu, n = sum(weights), weights, limit, eps)``: Newton's method
    on the negative binomial score for theta, from ``n / sum(w (y / mu - 1)^2)``; warns as
    MASS does when the estimate is truncated at zero or the iteration limit is reached."""
    y, mu = np.asarray(y, float), np.asarray(mu, float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, float)
    n = float(np.sum(w))

    def score(th):
        return float(np.sum(w * (special.digamma(th + y) - special.digamma(th) + np.log(th) + 1.0
                                 - np.log(th + mu) - (y + th) / (mu + th))))

    def info(th):
        return float(np.sum(w * (-special.polygamma(1, th + y) + special.polygamma(1, th) - 1.0 / th
                                 + 2.0 / (mu + th) - (y + th) / (mu + th) ** 2)))

    t0 = n / float(np.sum(w * (y / mu - 1.0) ** 2))
    it, dl = 0, 1.0
    while True:
        it += 1
        if not (it < limit and abs(dl) > eps):
            break
        t0 = abs(t0)
        dl = score(t0) / info(t0)
        t0 = t0 + dl
    if t0 < 0:
        t0 = 0.0
        warnings.warn("estimate truncated at zero", UserWarning, stacklevel=3)
    if it == limit:
        warnings.warn("iteration limit reached", UserWarning, stacklevel=3)
    return float(t0)


def refit_nb(prev: GlmerMod, theta: float) -> GlmerMod:
    """lme4's ``refitNB(object, theta)``: ``refit(setNBdisp(object, theta))``, the same
    model with ``negative.binomial(theta)``, optimised from the previous fit's estimates
    and linear predictor (stage 2 only, as lme4's ``refit``)."""
    return refit_glmer(prev, family=negative_binomial(theta, prev.link))


def glmer_nb(formula: str, data: pd.DataFrame, *, interval=None, tol: float = 5e-5,
             verbose: bool = False, init_theta: float | None = None, limit: int = 20,
             eps: float | None = None, link: str = "log", **glmer_args) -> GlmerMod:
    """Fit a negative binomial GLMM, estimating theta, as ``lme4::glmer.nb``.

    A Poisson :func:`~mlm_wrap.glmer` fit gives the start (``init_theta``, lme4's
    ``initCtrl$theta``, skips it): MASS's ``theta.ml`` on its fitted means (``limit``,
    ``eps = 2 * tol``, lme4's ``initCtrl``); then R's ``optimize`` of ``-2 logLik`` over
    ``log(theta)`` on ``interval`` (default ``log(theta0) + c(-3, 3)``) with ``tol``,
    refitting with :func:`~mlm_wrap.negative_binomial` at every step.  The result is a
    :class:`~mlm_wrap.GlmerMod` whose family is ``Negative Binomial(theta)``;
    ``getME(m, "glmer.nb.theta")`` is theta.  ``glmer_args`` (``weights``, ``offset``,
    ``subset``, ``nAGQ``, ``data_name``, ...) go to every :func:`~mlm_wrap.glmer` fit.
    """
    if "family" in glmer_args:
        raise TypeError("glmer_nb() estimates the negative binomial family: no 'family' argument")
    eps = 2.0 * tol if eps is None else float(eps)
    th = init_theta
    if th is None:
        with caught_warnings():  # lme4: suppressMessages(glmer(family = poisson))
            g0 = glmer(formula, data, family=poisson(link), **glmer_args)
        pb = g0._problem
        th = theta_ml(pb.y, g0._state.mu, weights=pb.wt, limit=limit, eps=eps)
        if verbose:
            print(f"th := est_theta(glmer(..)) = {th:.7g}")
    th = float(th)
    lo, hi = (math.log(th) - 3.0, math.log(th) + 3.0) if interval is None else map(float, interval)
    state: dict = {"fit": None, "warnings": [], "it": 0}

    def fit_at(theta: float) -> GlmerMod:
        with caught_warnings("always", record=True) as caught:
            prev = state["fit"]
            if prev is None or prev.nAGQ == 0:
                m = glmer(formula, data, family=negative_binomial(theta, link), **glmer_args)
            else:
                m = refit_nb(prev, theta)
        state["fit"], state["warnings"] = m, list(caught)
        return m

    g1 = fit_at(th)
    if verbose:
        print(f" --> dev.= -2*logLik(.) = {-2.0 * float(g1.logLik()):.7g}")

    def nb_dev(t: float) -> float:
        m = fit_at(math.exp(t))
        dev = -2.0 * float(m.logLik())
        state["it"] += 1
        if verbose:
            print(f"{state['it']:2d}: th={math.exp(t):15.10g}, dev={dev:14.8f}, "
                  f"beta[1]={float(m._sol.beta[0]):14.8f}")
        return dev

    r_optimize(nb_dev, lo, hi, tol)
    m = state["fit"]
    m.nb_evals = state["it"]  # lme4's attr(, "nevals")
    for w in state["warnings"]:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return m


__all__ = ["glmer_nb", "negative_binomial", "refit_nb", "theta_ml", "r_optimize", "NegBinFamily"]
