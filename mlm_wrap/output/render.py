"""The printouts of the model layer's objects, registered with
:func:`mlm_wrap.models.base.render` (R's ``print()`` methods, dispatched on the class).

``print(m)`` is lme4's ``print.merMod``; ``print(summary(m))`` its ``print.summary.merMod``;
``print(VarCorr(m))`` its ``print.VarCorr.merMod``.  ``fmt="html"`` gives the notebook form
(for a model and its summary with the model's equation below, unless
``mlm_wrap.options.equation_in_summary`` is False); ``fmt="latex"`` a model's equation.
"""
from __future__ import annotations

from typing import Any

from mlm_wrap.models.base import render
from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.models.summary import Summary
from mlm_wrap.models.varcorr import VarCorr
from mlm_wrap.output.equation import equation, equation_html, options
from mlm_wrap.output.summary import format_model, format_summary, summary_html
from mlm_wrap.output.varcorr import format_varcorr, varcorr_html
from mlm_wrap.rformat.html import _pre


def _html_only_default(fmt: str, options: dict, formats=("text", "html")) -> None:
    if fmt not in formats:
        raise ValueError(f"fmt must be {' or '.join(map(repr, formats))}, not {fmt!r}")
    if fmt != "text" and options:
        raise TypeError(f"the {fmt.upper()} printout takes no options: {sorted(options)}")


def _with_equation(html: str, model: Any) -> str:
    """The notebook form with the model's equation below it (``options``' opt-out)."""
    if model is None or not options.equation_in_summary:
        return html
    return html + equation_html(equation(model))


@render.register
def _(obj: LmerMod, fmt: str = "text", **options: Any) -> str:
    _html_only_default(fmt, options, ("text", "html", "latex"))
    if fmt == "latex":
        return equation(obj)._repr_latex_()
    if fmt == "html":
        return _with_equation(_pre(format_model(obj)), obj)
    return format_model(obj, **options)


@render.register
def _(obj: Summary, fmt: str = "text", **options: Any) -> str:
    _html_only_default(fmt, options)
    if fmt == "html":
        return _with_equation(summary_html(obj), getattr(obj, "model", None))
    return format_summary(obj, **options)


@render.register
def _(obj: VarCorr, fmt: str = "text", **options: Any) -> str:
    _html_only_default(fmt, options)
    return varcorr_html(obj) if fmt == "html" else format_varcorr(obj, **options)
