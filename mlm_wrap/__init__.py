"""mlm_wrap: lme4 for Python.

    import mlm_wrap as mw
    m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=df)
    mw.fixef(m); mw.ranef(m)["Subject"]; mw.VarCorr(m); print(mw.summary(m))

The pipeline (ARCHITECTURE.md): ``spec`` (formula, design) -> ``engines`` (fitting) ->
``models`` (LmerMod, GlmerMod) -> ``inference`` -> ``toolbox`` -> ``output`` (printouts).
"""
from mlm_wrap import output  # noqa: F401  (registers the printouts of the model objects)
from mlm_wrap.api import (AIC, BIC, REMLcrit, VarCorr, coef, confint, deviance, fitted, fixef,
                          isSingular, logLik, na_action, ngrps, nobs, predict, ranef, resid,
                          residuals, se_fixef, se_ranef, sigma, summary, vcov)
from mlm_wrap.arm import display, extract_dic, se_coef
from mlm_wrap.errors import (ConvergenceWarning, DataError, FormulaError, MixedModelMessage,
                             ModelError, OutOfCoreError, SingularFitWarning,
                             UnknownColumnError)
from mlm_wrap.inference.anova import anova, refit
from mlm_wrap.inference.boot import bootMer, simulate
from mlm_wrap.inference.ranova import ranova
from mlm_wrap.inference.terms_anova import drop1
from mlm_wrap.models.families import Gamma, binomial, gaussian, inverse_gaussian, negative_binomial, poisson
from mlm_wrap.models.glmer_nb import glmer_nb
from mlm_wrap.models.glmer import GlmerMod, glmer
from mlm_wrap.models.lmer import LmerMod, lmer, lmerControl
from mlm_wrap.models import outofcore as _outofcore  # registers lmer(data=<dask | parquet>)
from mlm_wrap.models.summary import Summary
from mlm_wrap.output.equation import equation, options
from mlm_wrap.output.to_r import to_r
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.toolbox.accessors import (df_residual, family, formula, getME, model_matrix, terms,
                                        weights)
from mlm_wrap.toolbox.broom import augment, glance, tidy
from mlm_wrap.toolbox.diagnostics import cooks_distance, hatvalues, influence
from mlm_wrap.toolbox.emmeans import contrast, emmeans, pairs
from mlm_wrap.toolbox.fit_many import fit_many
from mlm_wrap.toolbox.lmlist import lmList, pooling_table
from mlm_wrap.toolbox.performance import icc, r2
from mlm_wrap.toolbox.power import PowerCurve, PowerSim, extend, power_curve, power_sim
from mlm_wrap.toolbox.update import allFit, update
from mlm_wrap.spec.plan import set_default_engine

__version__ = "0.1.0"

__all__ = ["lmer", "glmer", "glmer_nb", "lmerControl", "LmerMod", "GlmerMod", "Summary", "parse_formula",
           "fixef", "vcov", "se_fixef", "ranef", "coef", "se_ranef", "se_coef", "VarCorr", "sigma",
           "logLik", "AIC", "BIC", "REMLcrit", "deviance", "nobs", "na_action", "ngrps",
           "isSingular", "fitted", "residuals", "resid", "predict", "confint", "summary",
           "display", "extract_dic", "anova", "bootMer", "refit", "simulate", "set_default_engine",
           "FormulaError", "DataError", "ModelError", "UnknownColumnError", "OutOfCoreError",
           "ConvergenceWarning", "SingularFitWarning", "MixedModelMessage",
           # the post-fit toolbox
           "drop1", "ranova", "update", "allFit", "emmeans", "pairs", "contrast", "tidy",
           "glance", "augment", "icc", "r2", "lmList", "pooling_table", "hatvalues",
           "cooks_distance", "influence", "getME", "model_matrix", "formula", "terms",
           "df_residual", "weights", "family",
           # many refits: simr's power analysis, many models (parallel= as bootMer's)
           "power_sim", "extend", "power_curve", "PowerSim", "PowerCurve", "fit_many",
           # teaching: the R script of a fit, the model's equation, display options
           "to_r", "equation", "options",
           # glmer's families (R's binomial(), poisson(), Gamma(), inverse.gaussian(), gaussian())
           "binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian", "negative_binomial"]
