"""Inference beyond Wald for fitted models: lme4's anova, profile and bootstrap intervals, lmerTest's df.

Each module ports the R code users compare against, so the numbers mean what they mean
in R; each takes a fitted :class:`~mlm_wrap.models.lmer.LmerMod`, and the public API
delegates to it (``anova``, ``confint(m, method=...)``, ``summary(m, ddf=...)``):

* :mod:`~mlm_wrap.inference.anova`: model comparison (``anova``), ``refitML``, ``refit``;
* :mod:`~mlm_wrap.inference.profile`: profile-likelihood intervals and ``confint``;
* :mod:`~mlm_wrap.inference.boot`: ``simulate``, ``bootMer``, bootstrap intervals;
* :mod:`~mlm_wrap.inference.ddf`: Satterthwaite and Kenward-Roger df;
* :mod:`~mlm_wrap.inference.params`: the variance parameters' names and sd/cor scale.

The layer sits above ``models`` and below ``toolbox`` and ``output``; import from the
modules (this package re-exports nothing).
"""
