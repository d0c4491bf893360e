"""What every fitted model shares: its kind (lmer or glmer), the arguments it recorded, R's trailers."""
from __future__ import annotations

from typing import Any, Iterable


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
