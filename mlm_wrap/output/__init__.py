"""The output layer: R's printouts (text and HTML) and plots of fitted models.

Importing it registers the printouts of the model layer's objects
(:mod:`mlm_wrap.output.render`); ``mlm_wrap`` imports it.
"""
from mlm_wrap.output import render  # noqa: F401
