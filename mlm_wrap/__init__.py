"""mlm_wrap: lme4 for Python.

    import mlm_wrap as mw
    m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=df)
    mw.fixef(m); mw.ranef(m)["Subject"]; mw.VarCorr(m); print(mw.summary(m))
"""
from .api import (AIC, BIC, REMLcrit, VarCorr, coef, confint, deviance, fitted, fixef,
                  isSingular, lmer, logLik, na_action, ngrps, nobs, predict, ranef, resid, residuals,
                  se_fixef, se_ranef, sigma, summary, vcov)
from .errors import (ConvergenceWarning, DataError, FormulaError, ModelError,
                     SingularFitWarning, UnknownColumnError)
from .formula import parse_formula
from .results import LmerMod

__version__ = "0.1.0"

__all__ = ["lmer", "LmerMod", "parse_formula", "fixef", "vcov", "se_fixef", "ranef", "coef",
           "se_ranef", "VarCorr", "sigma", "logLik", "AIC", "BIC", "REMLcrit", "deviance",
           "nobs", "na_action", "ngrps", "isSingular", "fitted", "residuals", "resid", "predict", "confint",
           "summary", "FormulaError", "DataError", "ModelError", "UnknownColumnError",
           "ConvergenceWarning", "SingularFitWarning"]

# Loading the submodule mlm_wrap.summary binds the package attribute ``summary`` to it;
# load it now and re-bind the function, so that ``mw.summary(m)`` stays the function.
from .summary import Summary  # noqa: E402
from .api import display, extract_dic, se_coef, summary  # noqa: E402,F811
from .api import anova, bootMer, refit, simulate  # noqa: E402

__all__ += ["display", "extract_dic", "se_coef", "Summary", "anova", "bootMer", "refit", "simulate",
            "glmer"]
from .glmm import glmer
