"""What every fitted model shares: its kind (lmer or glmer), the arguments it recorded, R's
trailers, and :func:`render`, the one way from a model object to its printout.

Models sit below the output layer and never import it.  ``render`` is a
``functools.singledispatch`` function whose implementations live in
:mod:`mlm_wrap.output.render`, registered when ``mlm_wrap`` is imported; a model's
``__str__``/``_repr_html_`` call it, as R's ``print()`` dispatches to a method.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable


@functools.singledispatch
def render(obj: Any, fmt: str = "text", **options: Any) -> str:
    """The printout of ``obj`` as R prints it (``fmt="text"``) or as an HTML table
    (``fmt="html"``); ``options`` are the print method's (``digits=``, ...)."""
    raise NotImplementedError(f"no printout is registered for {type(obj).__name__} "
                              "(import mlm_wrap to register the output layer)")


def is_glmm(m: Any) -> bool:
    """A glmer fit (lme4's ``isGLMM``): it carries a GLM family."""
    return getattr(m, "family_object", None) is not None


def call_arg(m: Any, name: str) -> str | None:
    """The R expression given as glmer's ``weights =`` / ``offset =`` argument, when the
    fit recorded it as text (``m.weights_arg = "size"``); None otherwise (R prints a
    ``Weights:`` line only for an argument it can deparse)."""
    v = getattr(m, f"{name}_arg", None)
    return v if isinstance(v, str) and v else None


def ranef_footer(groups: Iterable[str]) -> str:
    """lme4's ``print.ranef.mer`` trailer (``ranef()`` keeps conditional variances)."""
    return "with conditional variances for " + " ".join(f"\u201c{g}\u201d" for g in groups) + " \n"


COEF_FOOTER = 'attr(,"class")\n[1] "coef.mer"\n'  # R has no print method for coef.mer
