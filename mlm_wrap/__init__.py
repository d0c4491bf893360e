"""mlm_wrap: lme4 for Python.

    import mlm_wrap as mw
    m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=df)
    mw.fixef(m); mw.ranef(m)["Subject"]; mw.VarCorr(m); print(mw.summary(m))
"""
from mlm_wrap.api import (AIC, BIC, REMLcrit, VarCorr, anova, bootMer, coef, confint, deviance, display,
                  extract_dic, fitted, fixef, isSingular, lmer, logLik, na_action, ngrps, nobs,
                  predict, ranef, refit, resid, residuals, se_coef, se_fixef, se_ranef, sigma,
                  simulate, summary, vcov)
from mlm_wrap.errors import (ConvergenceWarning, DataError, FormulaError, ModelError,
                     SingularFitWarning, UnknownColumnError)
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.models.glmer import GlmerMod, glmer
from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.models.summary import Summary

__version__ = "0.1.0"

__all__ = ["lmer", "glmer", "LmerMod", "GlmerMod", "Summary", "parse_formula",
           "fixef", "vcov", "se_fixef", "ranef", "coef", "se_ranef", "se_coef", "VarCorr", "sigma",
           "logLik", "AIC", "BIC", "REMLcrit", "deviance", "nobs", "na_action", "ngrps",
           "isSingular", "fitted", "residuals", "resid", "predict", "confint", "summary",
           "display", "extract_dic", "anova", "bootMer", "refit", "simulate",
           "FormulaError", "DataError", "ModelError", "UnknownColumnError",
           "ConvergenceWarning", "SingularFitWarning"]
