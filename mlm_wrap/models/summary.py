"""``summary(m)``: lme4's ``summary.merMod`` object, as data (its printout: :mod:`mlm_wrap.output.summary`).

The fields carry lme4's names (``methTitle``, ``AICtab``, ``coefficients``, ``varcor``,
``ngrps``, ``residuals``...), so ``summary(m).coefficients`` reads as
``summary(m)$coefficients`` does in R.  ``str()`` is R's ``print(summary(m))``, for lmer
fits (``lmerMod``: t values) and glmer fits (``glmerMod``: family, z values and
``Pr(>|z|)``, Pearson residuals).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from mlm_wrap.models.base import call_arg, is_glmm, render
from mlm_wrap.rformat.html import _chomp
from mlm_wrap.rformat.objects import RFrame

#: lme4's ``getOption("lme4.summary.cor.max")``: no correlation table above it.
COR_MAX = 12
#: The ``ddf`` values that mean lme4's own table (t values, no p-values).
LME4_DDF = (None, "none", "lme4")
SINGULAR_MSG = "boundary (singular) fit: see help('isSingular')"


class Summary:
    """The numbers lme4's ``print(summary(m))`` shows, computed once from the model."""

    objClass = "lmerMod"
    #: what lme4 names its default optimizer in the convergence line (R's printout;
    #: the optimum itself is lme4's criterion minimised here, see mlm_wrap.engines.mixedlm)
    optimizer = "nloptwrap"
    cor_max = COR_MAX

    #: lme4's ``family`` / ``link`` of a GLMM (None for an LMM: no `` Family:`` line)
    family: str | None = None
    link: str | None = None
    #: the R expressions of glmer's ``weights =`` / ``offset =`` arguments, if any
    weights: str | None = None
    offset: str | None = None
    subset: str | None = None
    control: str | None = None  # R's Control: line (lmerControl(...) as the call gave it)
    useScale = True

    def __init__(self, model: Any, ddf: str | None = None,
                 ddf_table: pd.DataFrame | None = None) -> None:
        """``model`` is a fitted LmerMod/GlmerMod.  lmerTest's summary (``ddf`` =
        ``"Satterthwaite"`` or ``"Kenward-Roger"``) takes its coefficient table, with df and
        ``Pr(>|t|)``, as ``ddf_table`` (computed by :mod:`mlm_wrap.inference.ddf`)."""
        self.model = model  # the fit (its equation shows under the notebook summary)
        if is_glmm(model):
            self._init_glmm(model, ddf)
            return
        m = model
        lmertest = not (ddf is None or str(ddf).lower() in ("none", "lme4"))
        if lmertest and ddf_table is None:
            raise ValueError(f"summary(m, ddf={ddf!r}) needs the denominator-df table: "
                             "call mlm_wrap.summary(m, ddf=...)")
        self.ddf = ddf
        self.REML: bool = m.REML
        self.methTitle: str = ("Linear mixed model fit by REML" if m.REML
                               else "Linear mixed model fit by maximum likelihood ")  # R's paste
        self.formula: str = m.design.parsed.deparse()
        self.data_name: str | None = m.data_name
        self.logLik = m.logLik()
        if m.REML:
            self.AICtab: dict[str, float] = {"REML": m.REMLcrit()}
        else:
            self.AICtab = {"AIC": m.AIC(), "BIC": m.BIC(), "logLik": float(self.logLik),
                           "deviance": m.deviance(), "df.resid": float(m.df_residual())}
        self.sigma: float = m.sigma()
        self.residuals: np.ndarray = m.residuals(type="pearson").dropna().to_numpy() / self.sigma
        self.weights, self.offset = call_arg(m, "weights"), call_arg(m, "offset")
        self.subset = call_arg(m, "subset")
        ctrl = getattr(m, "control", None)
        if ctrl is not None and ctrl.given:
            self.control = ctrl.deparse()
            if "optimizer" in ctrl.given:
                self.optimizer = ctrl.optimizer
        self.varcor = m.VarCorr()
        self.ngrps: dict[str, int] = dict(m.ngrps())
        self.nobs: int = m.nobs()
        fe, se = m.fixef(), m.se_fixef()
        self.coefficients: pd.DataFrame = RFrame(
            {"Estimate": fe.to_numpy(), "Std. Error": se.to_numpy(),
             "t value": (fe / se).to_numpy()}, index=list(fe.index))
        if lmertest:  # lmerTest's summary: df and Pr(>|t|) columns, its title and class
            self.coefficients = RFrame(ddf_table)
            method = "Satterthwaite" if "satterthwaite".startswith(str(ddf).lower()) else "Kenward-Roger"
            self.ddf = method
            self.methTitle = f"{self.methTitle}. t-tests use {method}'s method"
            self.objClass = "lmerModLmerTest"
        self.vcov: pd.DataFrame = m.vcov()
        sd = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = self.vcov.to_numpy() / np.outer(sd, sd)
        self.correlation: pd.DataFrame = RFrame(cor, index=self.vcov.index, columns=self.vcov.columns)
        self.fitMsgs: list[str] = list(m.design.messages)
        self.conv_code: int = 0
        self.conv_messages: list[str] = self._conv_messages(m)

    def _init_glmm(self, m, ddf: str | None) -> None:
        """lme4's ``summary.merMod`` of a ``glmerMod``: z tests with Wald p-values,
        Pearson residuals, no residual variance, the family and the quadrature."""
        if ddf is not None and str(ddf).lower() not in ("none", "lme4"):
            raise ValueError(f"summary(m, ddf={ddf!r}): denominator degrees of freedom apply to "
                             "lmer() fits; a glmer() fit has z tests (Pr(>|z|))")
        self.ddf = None
        self.objClass = "glmerMod"
        self.useScale = bool(m.family_object.has_scale)
        self.REML = False
        self.family, self.link = m.family, m.link
        self.nAGQ: int = int(m.nAGQ)
        self.methTitle = m.methTitle
        self.formula = m.design.parsed.deparse()
        self.data_name = m.data_name
        self.weights, self.offset = call_arg(m, "weights"), call_arg(m, "offset")
        self.subset = call_arg(m, "subset")
        self.logLik = m.logLik()
        self.AICtab = dict(m.AICtab())
        self.sigma = float(m.sigma())
        self.residuals = m.residuals(type="pearson").to_numpy() / self.sigma
        self.varcor = m.VarCorr()
        self.ngrps = dict(m.ngrps())
        self.nobs = m.nobs()
        self.coefficients = RFrame(m.coefficients)
        self.vcov = m.vcov()
        sd = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = self.vcov.to_numpy() / np.outer(sd, sd)
        self.correlation = RFrame(cor, index=self.vcov.index, columns=self.vcov.columns)
        self.fitMsgs = list(m.design.messages)
        self.conv_code = 0
        # glmer's last optimizer: stage 2's Nelder_Mead, or stage 1's bobyqa for nAGQ = 0
        self.optimizer = "bobyqa" if self.nAGQ == 0 else "Nelder_Mead"
        self.conv_messages = list(m.optinfo.messages)

    @staticmethod
    def _conv_messages(m: Any) -> list[str]:
        """lme4's ``optinfo$conv$lme4$messages``: singular fit, gradient check."""
        msgs = []
        if m.isSingular():
            msgs.append(SINGULAR_MSG)
        if not m.optinfo.converged:
            msgs.append(f"Model failed to converge with max|grad| = {m.optinfo.max_grad:.6g} "
                        "(tol = 0.002)")
        return msgs

    def format(self, digits: int = 4, correlation: bool | None = None, show_resids: bool = True,
               ranef_comp: Sequence[str] = ("Variance", "Std.Dev.")) -> str:
        """``print(summary(m), digits=, correlation=, show.resids=, ranef.comp=)`` as text."""
        return render(self, "text", digits=digits, correlation=correlation,
                      show_resids=show_resids, ranef_comp=ranef_comp)

    def __str__(self) -> str:
        return _chomp(self.format())

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        return render(self, "html")
