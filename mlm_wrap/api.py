"""The R-named free functions: ``fixef(m)``, ``summary(m)``, ``confint(m)``, ...

Each delegates to the model's method, or to the inference layer where R's function does
more than the model object knows (lmerTest's ``summary(m, ddf=)``, profile and bootstrap
intervals).
"""
from __future__ import annotations

import pandas as pd

from mlm_wrap.inference.ddf import ddf_coefficients
from mlm_wrap.inference.profile import confint as _confint
from mlm_wrap.models.base import is_glmm
from mlm_wrap.models.summary import LME4_DDF, Summary
from mlm_wrap.rformat.objects import RFrame


def _delegate(name: str, doc: str):
    """``name(m, ...)``, R's spelling of the method call ``m.name(...)``."""
    def f(model, *args, **kwargs):
        return getattr(model, name)(*args, **kwargs)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"{doc}\n\nThe same as ``m.{name}(...)``."
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


def confint(m, parm=None, level: float = 0.95, method: str = "Wald", **kwargs) -> pd.DataFrame:
    """Confidence intervals, as lme4's ``confint(m, parm, level, method)``:
    ``method="Wald" | "profile" | "boot"`` (``nsim=``, ``seed=`` for boot; ``parallel=``,
    ``ncpus=``, ``cl=``, ``progress=`` for profile and boot, as :func:`bootMer`)."""
    if str(method).lower() == "wald":
        return m.confint(parm=parm, level=level, method="Wald", **kwargs)
    return RFrame(_confint(m, parm, level, method, **kwargs))


def summary(m, ddf: str | None = None) -> Summary:
    """lme4's ``summary(m)``: printable, with ``.coefficients``; ``ddf="Satterthwaite"`` or
    ``"Kenward-Roger"`` gives lmerTest's table (df and ``Pr(>|t|)``)."""
    if is_glmm(m) or ddf is None or str(ddf).lower() in LME4_DDF:
        return Summary(m, ddf=ddf)
    return Summary(m, ddf=ddf, ddf_table=ddf_coefficients(m, ddf))
