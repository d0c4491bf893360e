"""``print(summary(m))`` and ``print(m)``: one ``prt_*`` helper per section, each named after the
lme4 ``.prt.*`` function it ports (lme4 1.1-31), assembled by ``format_summary`` and ``format_model``.
Every function returns text; nothing here computes a statistic."""
from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from mlm_wrap.rformat import (
    abbreviate,
    format1,
    format_coefmat,
    format_num,
    print_matrix,
    r_round,
    zapsmall,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlm_wrap.models.lmer import LmerMod
    from mlm_wrap.models.summary import Summary
from mlm_wrap.output.deparse import deparse_lines
from mlm_wrap.output.varcorr import _vc_align, format_vc, prt_vc
from mlm_wrap.rformat.html import _chomp, _pre, html_table
from mlm_wrap.rformat.layout import DIGITS, WIDTH, cat_fill, named_vector_text, strwrap
from mlm_wrap.rformat.names import deparse_name


def prt_meth_title(title: str, cls: str) -> str:
    """lme4's ``.prt.methTit``: ``Linear mixed model fit by REML ['lmerMod']``; a title
    too long for the console (glmer's) is wrapped and its class shown without quotes:
    ``...(Laplace`` / ``  Approximation) [glmerMod]``."""
    if len(title) + 5 + len(cls) > WIDTH:
        return cat_fill(strwrap(title, WIDTH - 2, exdent=2), " [", cls, "]", sep="")
    return f"{title} ['{cls}']\n"


def prt_family(family: str | None, link: str | None) -> str:
    """lme4's ``.prt.family``: `` Family: binomial  ( logit )`` (nothing for an LMM)."""
    if not family:
        return ""
    return cat_fill(" Family:", family, *([f" ( {link} )"] if link else []))


def prt_call(formula: str, data_name: str | None, weights: str | None = None,
             offset: str | None = None, subset: str | None = None,
             control: str | None = None) -> str:
    """lme4's ``.prt.call``: the ``Formula:``, ``Data:``, ``Weights:`` and ``Offset:``
    lines.

    R prints no ``Data:`` line when the call has no ``data`` argument; a data set
    of unknown name is shown the same way (there is no expression to deparse), as is a
    ``data_name`` that is not a string (``df.attrs["name"] = 12345``).
    ``weights`` / ``offset`` are the R expressions of glmer's arguments (an
    ``offset()`` term of the formula is not one).
    """
    out = cat_fill("Formula:", deparse_lines(formula))
    if isinstance(data_name, str) and data_name:  # df.attrs["name"] may be anything
        out += cat_fill("   Data:", deparse_name(data_name))
    if weights:
        out += cat_fill("Weights:", deparse_lines(weights))
    if offset:
        out += cat_fill(" Offset:", deparse_lines(offset))
    if control:
        out += cat_fill("Control:", control)
    if subset:
        out += cat_fill(" Subset:", deparse_lines(subset))
    return out


def prt_aictab(aictab: dict[str, float], digits: int = 1) -> str:
    """lme4's ``.prt.aictab``: the REML criterion, or AIC/BIC/logLik/deviance/df.resid."""
    if list(aictab) == ["REML"]:
        return cat_fill("REML criterion at convergence:", format1(r_round(aictab["REML"], digits)))
    vals = [float(r_round(float(v), digits)) for v in aictab.values()]
    strs = format_num(vals, digits=DIGITS)
    names = list(aictab)
    if "df.resid" in names:
        k = names.index("df.resid")
        strs[k] = format_num([vals[k]], digits=DIGITS)[0]
    return named_vector_text(names, strs)


def r_quantile(x: np.ndarray, probs: Sequence[float] = (0, 0.25, 0.5, 0.75, 1)) -> np.ndarray:
    """R's ``quantile(x, probs, type = 7)``, computed as R computes it."""
    x = np.sort(np.asarray(x, float)[~np.isnan(np.asarray(x, float))])
    n = len(x)
    out = []
    for p in probs:
        index = 1 + max(n - 1, 0) * p
        lo, hi = math.floor(index), math.ceil(index)
        q = x[lo - 1]
        h = index - lo
        if index > lo and x[hi - 1] != q:
            q = (1 - h) * q + h * x[hi - 1]
        out.append(q)
    return np.asarray(out)


def prt_resids(resids: np.ndarray, digits: int, title: str = "Scaled residuals:") -> str:
    """lme4's ``.prt.resids``: the quantiles of the scaled residuals."""
    rq = zapsmall(r_quantile(resids), digits + 1)
    vals = format_num(rq, digits=digits)
    return f"{title} \n" + named_vector_text(["Min", "1Q", "Median", "3Q", "Max"], vals) + "\n"


def prt_grps(ngrps: dict[str, int], nobs: int) -> str:
    """lme4's ``.prt.grps``: ``Number of obs: 180, groups:  Subject, 18``."""
    return cat_fill(f"Number of obs: {nobs}, groups: ",
                    "; ".join(f"{k}, {v}" for k, v in ngrps.items()))


def prt_fixef(coefficients: pd.DataFrame, digits: int) -> str:
    """``printCoefmat`` of the fixed-effects table (no stars without p-values)."""
    return format_coefmat(coefficients, digits=digits, signif_stars=True).render()


def prt_corr(corr: pd.DataFrame) -> str:
    """The ``Correlation of Fixed Effects:`` block of ``print.summary.merMod``."""
    rn = [str(i) for i in corr.index]
    p = len(rn)
    if p <= 1:
        return ""
    rns = abbreviate(rn, minlength=11)
    cns = abbreviate(rn, minlength=6)
    flat = format_num(r_round(corr.to_numpy().ravel(order="F"), 3), nsmall=3)
    mat = [[flat[j * p + i] if i > j else "" for j in range(p)] for i in range(p)]
    cells = [row[:p - 1] for row in mat[1:]]
    return "\nCorrelation of Fixed Effects:\n" + print_matrix(rns[1:], cns[:p - 1], cells, right=False)


def prt_warn(s: "Summary", summary: bool = False) -> str:
    """lme4's ``.prt.warn``: the optimizer's code and lme4's convergence messages."""
    msgs = list(s.conv_messages)
    if s.conv_code == 0 and not msgs:
        return ""
    m = "(OK)" if s.conv_code == 0 else ""
    conv = f"optimizer ({s.optimizer}) convergence code: {s.conv_code} {m}"
    if summary:
        return f"{conv} ; 0 optimizer warnings; {len(msgs)} lme4 warnings \n"
    return "\n".join([conv] + msgs) + "\n\n"


def prt_fit_msgs(msgs: Sequence[str]) -> str:
    """``fit warnings:`` (the fixed-effects matrix's rank / scale messages)."""
    msgs = [x for x in msgs if x]
    return ("fit warnings:\n" + "".join(x + "\n" for x in msgs)) if msgs else ""


def format_summary(s: "Summary", digits: int = 4, correlation: bool | None = None,
                   show_resids: bool = True,
                   ranef_comp: Sequence[str] = ("Variance", "Std.Dev.")) -> str:
    """``print(summary(m))``: lme4's ``print.summary.merMod`` (its console text)."""
    out = [prt_meth_title(s.methTitle, s.objClass), prt_family(s.family, s.link),
           prt_call(s.formula, s.data_name, s.weights, s.offset, s.subset, s.control), "\n",
           prt_aictab(s.AICtab), "\n"]
    if show_resids:
        out.append(prt_resids(s.residuals, digits))
    out.append(prt_vc(s.varcor, digits, ranef_comp))
    out.append(prt_grps(s.ngrps, s.nobs))
    p = len(s.coefficients)
    if p > 0:
        out.append("\nFixed effects:\n")
        out.append(prt_fixef(s.coefficients, digits))
        if correlation is None:  # above cor_max lme4 message()s (stderr) that it is omitted
            correlation = p <= s.cor_max
        if correlation:
            out.append(prt_corr(s.correlation))
    out.append(prt_fit_msgs(s.fitMsgs))
    out.append(prt_warn(s, summary=False))
    return "".join(out)


def summary_html(s: "Summary", digits: int = 4) -> str:
    """``summary(m)`` for notebooks: the same sections, tables as HTML tables."""
    title = prt_meth_title(s.methTitle, s.objClass).strip().replace("\n  ", " ")
    parts = [f"<p><b>{html.escape(title)}</b></p>",
             _pre(prt_family(s.family, s.link) + prt_call(s.formula, s.data_name, s.weights, s.offset, s.subset, s.control)
                  + "\n" + prt_aictab(s.AICtab)),
             _pre(prt_resids(s.residuals, digits))]
    colnames, cells = format_vc(s.varcor, digits, ("Variance", "Std.Dev."))
    parts.append(html_table(colnames, cells, caption="Random effects", align=_vc_align(colnames)))
    parts.append(_pre(prt_grps(s.ngrps, s.nobs)))
    if len(s.coefficients):
        ct = format_coefmat(s.coefficients, digits=digits)
        parts.append(html_table(ct.colnames, ct.cells, ct.rownames, caption="Fixed effects"))
        corr = prt_corr(s.correlation) if len(s.coefficients) <= s.cor_max else ""
        if corr:
            parts.append(_pre(corr.lstrip("\n")))
    tail = prt_fit_msgs(s.fitMsgs) + prt_warn(s)
    if tail:
        parts.append(_pre(tail))
    return '<div class="mlm-wrap-summary">' + "".join(parts) + "</div>"


# ======================================================================================
# print(m) (lme4's print.merMod)
# ======================================================================================

def format_model(m: "LmerMod", digits: int = 4) -> str:
    """``print(m)``: lme4's ``print.merMod`` (a short summary)."""
    s = m.summary()
    out = [prt_meth_title(s.methTitle, s.objClass), prt_family(s.family, s.link),
           prt_call(s.formula, s.data_name, s.weights, s.offset, s.subset, s.control),
           prt_aictab(s.AICtab, 4), prt_vc(s.varcor, digits, ("Std.Dev.",)),
           prt_grps(s.ngrps, s.nobs)]
    fe = s.coefficients["Estimate"]
    if len(fe):
        out.append("Fixed Effects:\n")
        vals = format_num(fe.to_numpy(), digits=digits)
        out.append(named_vector_text([str(i) for i in fe.index], vals, gap=2))
    else:
        out.append("No fixed effect coefficients\n")
    out.append(prt_fit_msgs(s.fitMsgs))
    out.append(prt_warn(s, summary=True))
    return _chomp("".join(out))
