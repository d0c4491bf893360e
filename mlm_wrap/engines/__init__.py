"""Engines, the second stage: minimise lme4's criteria for a planned design.

``lmm`` is lme4's profiled REML/ML criterion (the sparse engine) and ``mixedlm`` the
statsmodels MixedLM path checked and polished against it; ``pirls`` and ``glmm`` are lme4's
PIRLS, Laplace/AGQ deviance and two-stage optimization for GLMMs; ``blas`` pins BLAS threads.
Engines know designs and numbers, not model objects or printouts.
"""
