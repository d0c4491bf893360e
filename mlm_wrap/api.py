"""``lmer()`` and the R-named free functions; each delegates to the model's method."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.spec.design import build_design
from mlm_wrap.errors import ConvergenceWarning, MixedModelMessage, SingularFitWarning
from mlm_wrap.engines.mixedlm import fit_theta, make_problem
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.spec.plan import make_plan
from mlm_wrap.models.lmer import LmerMod


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, engine: str | None = None,
         data_name: str | None = None) -> LmerMod:
    """Fit a linear mixed model from an lme4 formula, as ``lme4::lmer`` does.

    ``REML=False`` fits by maximum likelihood.  ``engine="statsmodels"`` fits with
    statsmodels MixedLM and checks (and if needed polishes) the optimum against lme4's
    criterion; ``engine="sparse"`` minimises lme4's profiled criterion directly on
    sparse matrices; ``"auto"`` (the default, or ``MLM_WRAP_ENGINE``) picks MixedLM for
    one grouping factor with few groups and the sparse engine otherwise.
    """
    if not isinstance(REML, (bool, np.bool_)):
        raise TypeError(f"REML must be True or False, not {REML!r}")
    parsed = parse_formula(formula)
    name = data_name or (getattr(data, "attrs", {}) or {}).get("name")
    design = build_design(parsed, data, data_name=name)
    if design.X.shape[1] == 0:
        REML = False  # lme4: REML with no fixed effects is ML (mkLmerDevfun's REML = p)
    plan = make_plan(design, REML=REML, engine=engine)
    with single_threaded_blas():  # small dense blocks: BLAS threads only cost (see blas.py)
        problem = make_problem(design)
        info = fit_theta(plan, design, problem)
        model = LmerMod(design, plan, info, problem, data_name=name)
    for msg in design.messages:
        warnings.warn(msg, MixedModelMessage, stacklevel=2)
    if not info.converged:
        warnings.warn(f"Model failed to converge with max|grad| = {info.max_grad:.6g} "
                      "(tol = 0.002)", ConvergenceWarning, stacklevel=2)
    if model.isSingular():
        warnings.warn("boundary (singular) fit: see help('isSingular')", SingularFitWarning,
                      stacklevel=2)
    return model


def _delegate(name: str, doc: str):
    def f(model, *args, **kwargs):
        return getattr(model, name)(*args, **kwargs)
    f.__name__ = name
    f.__doc__ = doc
    return f


fixef = _delegate("fixef", "Fixed-effects estimates (lme4's ``fixef``).")
vcov = _delegate("vcov", "Covariance of the fixed effects, sigma^2 (X'V^-1 X)^-1.")
se_fixef = _delegate("se_fixef", "Standard errors of the fixed effects (arm's ``se.fixef``).")
ranef = _delegate("ranef", "Conditional modes per grouping factor (``ranef(m)$g``).")
coef = _delegate("coef", "Fixed plus random effects per level (``coef(m)$g``).")
se_ranef = _delegate("se_ranef", "Conditional SDs of the random effects (arm's ``se.ranef``).")
VarCorr = _delegate("VarCorr", "Random-effects variances and correlations (``VarCorr(m)``).")
sigma = _delegate("sigma", "Residual standard deviation.")
logLik = _delegate("logLik", "Log-likelihood (REML criterion / -2 for REML fits).")
AIC = _delegate("AIC", "Akaike's criterion from logLik, as R computes it.")
BIC = _delegate("BIC", "Bayesian criterion from logLik, as R computes it.")
REMLcrit = _delegate("REMLcrit", "The REML criterion at the estimates.")
deviance = _delegate("deviance", "ML deviance (REML criterion, with a warning, for REML fits).")
nobs = _delegate("nobs", "Number of observations used.")
ngrps = _delegate("ngrps", "Number of levels of each grouping factor.")
isSingular = _delegate("isSingular", "True when the fit is on the boundary (lme4's isSingular).")
fitted = _delegate("fitted", "Fitted values (conditional on the random effects).")
residuals = _delegate("residuals", "Response residuals.")
resid = residuals
predict = _delegate("predict", "Predictions; ``re_form='~0'`` gives population-level ones.")
na_action = _delegate("na_action", "Labels of the rows dropped for missing values (R's na.action).")
confint = _delegate("confint", "Confidence intervals: ``method='Wald' | 'profile' | 'boot'``.")
summary = _delegate("summary", "lme4's summary: printable, with ``.coefficients``.")

# arm's helpers (Gelman & Hill): display(), se.coef(), extractDIC()
from mlm_wrap.arm import display, extract_dic, se_coef  # noqa: E402

# inference as lme4/lmerTest users do it: anova(), simulate(), refit(), bootMer()
from mlm_wrap.inference.core import anova, bootMer, refit, simulate  # noqa: E402
