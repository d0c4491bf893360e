"""``mlm_wrap.plots``: the figures R users draw after a fit (see :mod:`mlm_wrap.output.plots`)."""
from mlm_wrap.output.plots import plot_pooling, plot_predictions, plot_ranef, plot_residuals

__all__ = ["plot_predictions", "plot_ranef", "plot_residuals", "plot_pooling"]
