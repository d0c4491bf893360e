"""``mlm_wrap.plots``: the figures R users draw after a fit (see :mod:`mlm_wrap.output.plots`
and, for pooling, shrinkage and diagnostics, :mod:`mlm_wrap.output.teaching_plots`)."""
from mlm_wrap.output.plots import plot_pooling, plot_predictions, plot_ranef, plot_residuals
from mlm_wrap.toolbox.power import plot_power_curve
from mlm_wrap.output.teaching_plots import plot_diagnostics, plot_pooling_lines, plot_shrinkage

__all__ = ["plot_predictions", "plot_ranef", "plot_residuals", "plot_pooling",
           "plot_pooling_lines", "plot_shrinkage", "plot_diagnostics",
           "plot_power_curve"]
