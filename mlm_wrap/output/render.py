"""The printouts of the model layer's objects, registered with
:func:`mlm_wrap.models.base.render` (R's ``print()`` methods, dispatched on the class).

``print(m)`` is lme4's ``print.merMod``; ``print(summary(m))`` its ``print.summary.merMod``;
``print(VarCorr(m))`` its ``print.VarCorr.merMod``.  ``fmt="html"`` gives the notebook form.
"""
from __future__ import annotations

from typing import Any

from mlm_wrap.models.base import render
from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.models.summary import Summary
from mlm_wrap.models.varcorr import VarCorr
from mlm_wrap.output.summary import format_model, format_summary, summary_html
from mlm_wrap.output.varcorr import format_varcorr, varcorr_html


def _html_only_default(fmt: str, options: dict) -> None:
    if fmt not in ("text", "html"):
        raise ValueError(f"fmt must be 'text' or 'html', not {fmt!r}")
    if fmt == "html" and options:
        raise TypeError(f"the HTML printout takes no options: {sorted(options)}")


@render.register
def _(obj: LmerMod, fmt: str = "text", **options: Any) -> str:
    _html_only_default(fmt, options)
    if fmt == "html":
        return summary_html(obj.summary())
    return format_model(obj, **options)


@render.register
def _(obj: Summary, fmt: str = "text", **options: Any) -> str:
    _html_only_default(fmt, options)
    return summary_html(obj) if fmt == "html" else format_summary(obj, **options)


@render.register
def _(obj: VarCorr, fmt: str = "text", **options: Any) -> str:
    _html_only_default(fmt, options)
    return varcorr_html(obj) if fmt == "html" else format_varcorr(obj, **options)
