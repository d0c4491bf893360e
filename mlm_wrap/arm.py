"""arm's helpers for ``merMod`` fits (Gelman & Hill): ``se.fixef``, ``se.ranef``,
``se.coef``, ``extractDIC`` and ``display``, as arm 1.13-1 defines them."""
from __future__ import annotations

import weakref
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from mlm_wrap.models.base import is_glmm
from mlm_wrap.output.deparse import deparse_lines, family_call, model_call
from mlm_wrap.output.varcorr import vc_rows
from mlm_wrap.rformat import format1, format_num, print_matrix, r_round
from mlm_wrap.rformat.layout import named_vector_text
from mlm_wrap.rformat.objects import RList, RSeries

if TYPE_CHECKING:  # pragma: no cover
    from mlm_wrap.models.lmer import LmerMod
    from mlm_wrap.models.varcorr import VarCorr

_ML_DEVIANCE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def se_fixef(m: "LmerMod") -> RSeries:
    """arm's ``se.fixef``: standard errors of the fixed effects."""
    return m.se_fixef()


def se_ranef(m: "LmerMod") -> RList:
    """arm's ``se.ranef``: conditional standard deviations of the random effects."""
    return m.se_ranef()


def se_coef(m: "LmerMod") -> RList:
    """arm's ``se.coef``: ``fixef`` (the fixed effects' SEs) then ``se.ranef``'s tables.

    arm's ``$fixef`` is an unnamed vector; here it keeps the coefficient names.
    """
    return RList({"fixef": m.se_fixef(), **m.se_ranef()})


def fround(x, digits: int) -> list[str]:
    """arm's ``fround``: ``format(round(x, digits), nsmall = digits)``."""
    return format_num(r_round(np.asarray(x, float), digits), nsmall=digits)


def refit_ml_deviance(m: "LmerMod") -> float:
    """``deviance(refitML(m))``: the ML deviance at the ML optimum (the fit's own for an
    ML fit; a REML fit is refitted by maximum likelihood, once per model)."""
    if not m.REML:
        return float(m.deviance())
    if m not in _ML_DEVIANCE:
        from mlm_wrap.engines.mixedlm import fit_theta
        info = fit_theta(replace(m.plan, REML=False), m.design, m._problem)
        _ML_DEVIANCE[m] = float(m._problem.objective(info.theta, False))
    return _ML_DEVIANCE[m]


def extract_dic(m: "LmerMod") -> float:
    """arm's ``extractDIC``: ``2 * deviance(refitML(m)) + 2 * logLik(m)``, i.e.
    ``dev + pD`` with ``pD = dev - Dhat`` and ``Dhat = -2 logLik`` (REML logLik for a
    REML fit)."""
    dev = refit_ml_deviance(m)
    d_hat = -2.0 * float(m.logLik())
    return dev + (dev - d_hat)


def _error_terms(vc: "VarCorr", digits: int) -> tuple[list[str], list[list[str]]]:
    """arm's ``as.matrix.VarCorr`` without its Variance column (``display``'s table)."""
    sds, groups, names, lens = vc_rows(vc, residual=float(vc.sigma) if vc.sigma is not None else 1.0)
    cols = [groups, names, fround(sds, digits)]
    colnames = ["Groups", "Name", "Std.Dev."]
    if any(n > 1 for n in lens):
        maxlen = max(lens)
        rows: list[list[str]] = []
        for t in vc.terms:
            n = len(t.names)
            f = fround(t.correlation.ravel(order="F"), digits)
            rows += [[f[j * n + i] if i > j else "" for j in range(n)] + [""] * (maxlen - n)
                     for i in range(n)]
        rows.append([""] * maxlen)
        colnames += ["Corr"] + [""] * (maxlen - 1)
        cols += [[r[j] for r in rows] for j in range(maxlen)]
    return colnames, [[c[i] for c in cols] for i in range(len(sds))]


def _display_call(m: "LmerMod") -> str:
    """``m@call``.  A negative binomial fit: lme4's ``glmer.nb`` stores
    ``lme4::glmer(formula =, data =, ..., family = MASS::negative.binomial(theta = th))``
    (theta to R's 15 significant digits); ``glmer(family = negative_binomial(th))`` is
    shown as ``negative.binomial(theta = th)``."""
    call = model_call(m)
    theta = getattr(getattr(m, "family_object", None), "theta", None)
    if not is_glmm(m) or theta is None:
        return call
    fam = f"family = {family_call(m.family, m.link)}"
    args = call[call.index("(") + 1:-1].replace(", " + fam, "")
    link = "" if m.link == "log" else f', link = "{m.link}"'
    if hasattr(m, "nb_evals"):  # glmer_nb()
        return (f"lme4::glmer({args}, family = MASS::negative.binomial(theta = "
                f"{float(theta):.15g}{link}))")
    return f"glmer({args}, family = negative.binomial(theta = {float(theta):.15g}{link}))"


def display_text(m: "LmerMod", digits: int = 2, detail: bool = False) -> str:
    """The text arm's ``display(m)`` prints."""
    out = ["\n".join(deparse_lines(_display_call(m))) + "\n"]
    fe, se = m.fixef(), m.se_fixef()
    p = len(fe)
    if p > 0:
        est, sd = fe.to_numpy(), se.to_numpy()
        if is_glmm(m):  # no scale: z values and their Wald p-values
            z = est / sd
            extra = {"z value": z, "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z))}
        else:
            extra = {"t value": est / sd}
        cols = ["coef.est", "coef.se"] + (list(extra) if detail else [])
        mat = np.column_stack([est, sd] + (list(extra.values()) if detail else []))
        cells = fround(mat.ravel(order="F"), digits)
        k = len(cols)
        grid = [[cells[j * p + i] for j in range(k)] for i in range(p)]
        if p == 1 and not detail:  # coefs[, 1:2] drops to a named vector
            out.append(named_vector_text(cols, grid[0]))
        else:
            out.append(print_matrix([str(i) for i in fe.index], cols, grid, right=False))
    out.append("\nError terms:\n")
    colnames, cells = _error_terms(m.VarCorr(), digits)
    out.append(print_matrix([""] * len(cells), colnames, cells, right=False))
    out.append("---\n")
    groups = "; ".join(f"{g}, {n}" for g, n in m.ngrps().items())
    out.append(f"number of obs: {m.nobs()}, groups: {groups}")
    out.append("\nAIC = %g, DIC = " % float(r_round(m.AIC(), 1)))
    out.append(format1(r_round(extract_dic(m), 1)))
    out.append(f"\ndeviance = {fround([refit_ml_deviance(m)], 1)[0]} \n")
    return "".join(out)


def display(m: "LmerMod", digits: int = 2, detail: bool = False) -> None:
    """arm's ``display(m)``: prints the call, coef.est/coef.se (``detail=True``: and the t
    value, or for a glmer fit the z value and Pr(>|z|)), the error terms, the number of
    observations and groups, AIC, DIC and the (ML) deviance."""
    print(display_text(m, digits=digits, detail=detail), end="")
