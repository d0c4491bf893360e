"""Model specification, the first stage of the pipeline: the lme4 formula as data.

Formula text is parsed (``r_parser`` -> ``r_ast``; R's ``deparse`` in ``r_deparse``), lme4's
bar algorithms applied (``terms``: ``findbars``, ``nobars``, ``expandDoubleVerts``), the
model frame and matrices built with R's names (``design``, input ``checks``), and the fit
planned (``plan``: which engine, and MixedLM's grouping).  Nothing here fits anything.
"""
