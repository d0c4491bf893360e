"""Fitted models, the third stage: ``lmer()``/``glmer()`` and the objects they return.

``LmerMod`` (``lmer``) and ``GlmerMod`` (``glmer``) carry the design and the optimum and
compute lme4's accessors from lme4's formulas (``fixef``, ``vcov``, ``ranef``, ``VarCorr``,
``logLik``...); ``summary`` holds ``summary.merMod``'s numbers.  Printing is the output
layer's: objects reach it through :func:`mlm_wrap.models.base.render`.
"""
