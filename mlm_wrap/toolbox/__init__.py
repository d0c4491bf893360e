"""The post-fit toolbox, above inference: what an R script calls after ``summary(m)``.

Its home for emmeans, broom.mixed's ``tidy``/``glance``/``augment``, ``lmList``,
``update``/``drop1``, diagnostics and performance's ``icc``/``r2``: functions on fitted
models (``mlm_wrap.models``) that may use ``mlm_wrap.inference``, returning R-named tables
(``mlm_wrap.rformat.objects``).  See ARCHITECTURE.md for where a new R function goes.
"""
