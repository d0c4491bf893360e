"""The fitted model: data and computations, no printing (lme4's ``merMod``).

Every quantity is computed from lme4's formulas at the optimal theta
(:mod:`mlm_wrap.engines.lmm`), named and ordered as R names and orders it.  Printing
lives in :mod:`mlm_wrap.output.printing`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.spec.design import Design, new_fixed_matrix, new_term_rows
from mlm_wrap.errors import DataError, ModelError
from mlm_wrap.engines.mixedlm import FitInfo
from mlm_wrap.spec.plan import Plan
from mlm_wrap.models.base import COEF_FOOTER, ranef_footer
from mlm_wrap.rformat.objects import RFrame, RList, RSeries
from mlm_wrap.engines.lmm import LmmProblem, Solution, split_theta


def make_unique(names: list[str]) -> list[str]:
    """R's ``make.unique``: ``Subject, Subject`` -> ``Subject, Subject.1``."""
    seen: dict[str, int] = {}
    out = []
    used = set(names)
    for nm in names:
        if nm in seen:
            k = seen[nm]
            while True:
                k += 1
                cand = f"{nm}.{k}"
                if cand not in used:
                    break
            seen[nm] = k
            used.add(cand)
            out.append(cand)
        else:
            seen[nm] = 0
            out.append(nm)
    return out


class LogLik(float):
    """A log-likelihood with R's attributes: ``df`` (parameters) and ``nobs``."""

    df: int
    nobs: int

    def __new__(cls, value: float, df: int, nobs: int, REML: bool = False):
        obj = super().__new__(cls, value)
        obj.df, obj.nobs, obj.REML = df, nobs, REML
        return obj

    def __str__(self) -> str:
        from mlm_wrap.rformat import format1
        return f"'log Lik.' {format1(float(self), 7)} (df={self.df})"

    __repr__ = __str__


@dataclass
class VarCorrTerm:
    """One random-effects term's covariance (absolute scale)."""

    group: str  # unique name, as R shows it (Subject, Subject.1, cask:batch)
    names: list[str]
    cov: np.ndarray

    @property
    def stddev(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def correlation(self) -> np.ndarray:
        sd = self.stddev
        with np.errstate(invalid="ignore", divide="ignore"):
            c = self.cov / np.outer(sd, sd)
        np.fill_diagonal(c, 1.0)
        return c


class VarCorr:
    """lme4's ``VarCorr(m)``: the estimated random-effects covariances and sigma."""

    def __init__(self, terms: list[VarCorrTerm], sigma: float | None, use_sc: bool = True):
        self.terms, self.sigma, self.use_sc = terms, sigma, use_sc

    def __getitem__(self, group: str) -> pd.DataFrame:
        for t in self.terms:
            if t.group == group:
                return pd.DataFrame(t.cov, index=t.names, columns=t.names)
        raise KeyError(group)

    def keys(self) -> list[str]:
        return [t.group for t in self.terms]

    def to_frame(self) -> pd.DataFrame:
        """R's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for t in self.terms:
            n = len(t.names)
            sd, cor = t.stddev, t.correlation
            for i in range(n):
                rows.append((t.group, t.names[i], None, float(t.cov[i, i]), float(sd[i])))
            for j in range(n):  # lower triangle, column-major: (i > j)
                for i in range(j + 1, n):
                    rows.append((t.group, t.names[j], t.names[i], float(t.cov[i, j]), float(cor[i, j])))
        if self.use_sc and self.sigma is not None:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def __str__(self) -> str:
        from mlm_wrap.output.varcorr import format_varcorr
        return format_varcorr(self)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from mlm_wrap.output.varcorr import varcorr_html
        return varcorr_html(self)


class LmerMod:
    """A linear mixed model fitted as lme4's ``lmer`` fits it."""

    def __init__(self, design: Design, plan: Plan, info: FitInfo, problem: LmmProblem,
                 data_name: str | None = None):
        self.design, self.plan, self.optinfo, self._problem = design, plan, info, problem
        self.REML = plan.REML
        self.formula = design.parsed.formula
        self.data_name = data_name
        self._sol: Solution = problem.solve(info.theta, full=True)

    # -- basic pieces --------------------------------------------------------------------
    @property
    def theta(self) -> np.ndarray:
        return self._sol.theta

    def nobs(self) -> int:
        return self.design.n

    def sigma(self) -> float:
        s = self._sol
        return float(np.sqrt(s.sigma2_reml if self.REML else s.sigma2_ml))

    def fixef(self) -> RSeries:
        return RSeries(self._sol.beta, index=self.design.xnames, name="fixef")

    def vcov(self) -> pd.DataFrame:
        """``sigma^2 (RX'RX)^-1``, as lme4's vcov."""
        V = self.sigma() ** 2 * np.linalg.inv(self._sol.RXtRX)
        return pd.DataFrame(V, index=self.design.xnames, columns=self.design.xnames)

    def se_fixef(self) -> RSeries:
        return RSeries(np.sqrt(np.diag(self.vcov().to_numpy())), index=self.design.xnames,
                       name="se_fixef")

    def ngrps(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.design.terms:
            out.setdefault(t.name, t.factor.nlevels)
        return out

    def _term_thetas(self) -> list[np.ndarray]:
        return split_theta(self._problem.blocks, self.theta)

    def isSingular(self, tol: float = 1e-4) -> bool:
        """lme4's isSingular: a diagonal element of a relative covariance factor near 0."""
        lo = self._problem.lower
        return bool(np.any(self.theta[np.isfinite(lo)] < tol))

    # -- variance components -------------------------------------------------------------
    def VarCorr(self) -> VarCorr:
        s2 = self.sigma() ** 2
        groups = make_unique([t.name for t in self.design.terms])
        terms = []
        for g, td, T in zip(groups, self.design.terms, self._problem.factors(self.theta)):
            terms.append(VarCorrTerm(g, list(td.cnames), s2 * (T @ T.T)))
        return VarCorr(terms, self.sigma())

    # -- random effects -----------------------------------------------------------------
    def _by_factor(self, per_term: list[np.ndarray], footer: str = "") -> RList:
        """Merge per-term (levels x p) arrays by grouping factor, as ranef() does."""
        out = RList(footer=footer)
        for td, arr in zip(self.design.terms, per_term):
            df = RFrame(arr, index=pd.Index(td.factor.levels, name=None), columns=td.cnames)
            if td.name in out:
                out[td.name] = pd.concat([out[td.name], df], axis=1)
            else:
                out[td.name] = df
        return out

    def _b_per_term(self) -> list[np.ndarray]:
        b, offs = self._sol.b, self._problem.offsets
        return [b[offs[k]:offs[k + 1]].reshape(td.factor.nlevels, td.Xt.shape[1])
                for k, td in enumerate(self.design.terms)]

    def ranef(self) -> RList:
        """Conditional modes, one DataFrame per grouping factor (R's ``ranef(m)$g``)."""
        groups = list(dict.fromkeys(td.name for td in self.design.terms))
        return self._by_factor(self._b_per_term(), footer=ranef_footer(groups))

    def condvar(self) -> list[np.ndarray]:
        """Per term, (levels, p, p) conditional covariances (lme4's ``condVar``)."""
        s2 = self.sigma() ** 2
        return [s2 * c for c in self._sol.extras["condvar_rel"]]

    def se_ranef(self) -> RList:
        """arm's ``se.ranef``: conditional standard deviations of the random effects."""
        return self._by_factor([np.sqrt(np.clip(np.einsum("lii->li", c), 0, None))
                                for c in self.condvar()])

    def coef(self) -> RList:
        """lme4's ``coef``: fixed effects plus each group's random effects, all fixed columns."""
        fe = self.fixef()
        ranefs = self.ranef()
        # lme4: random-only columns (setdiff over all factors) come first, filled with 0
        missing = list(dict.fromkeys(c for re in ranefs.values() for c in re.columns
                                     if c not in fe.index))
        cols = missing + list(fe.index)
        out = RList(footer=COEF_FOOTER)
        for g, re in ranefs.items():
            base = RFrame([[fe.get(c, 0.0) for c in cols]] * len(re), index=re.index, columns=cols)
            for c in re.columns:
                base[c] = base[c] + re[c]
            out[g] = base
        return out

    # -- likelihood ---------------------------------------------------------------------
    def _npar(self) -> int:
        return len(self.design.xnames) + len(self.theta) + 1

    def logLik(self) -> LogLik:
        s = self._sol
        crit = s.reml_crit if self.REML else s.deviance_ml
        return LogLik(-crit / 2.0, self._npar(), self.nobs(), self.REML)

    def REMLcrit(self) -> float:
        return float(self._sol.reml_crit)

    def deviance(self) -> float:
        """ML deviance; for a REML fit, the REML criterion with lme4's warning."""
        if self.REML:
            warnings.warn("deviance() is deprecated for REML fits; use REMLcrit for the REML "
                          "criterion or deviance(.,REML=FALSE) for deviance calculated at the "
                          "REML fit", UserWarning, stacklevel=2)
            return self.REMLcrit()
        return float(self._sol.deviance_ml)

    def AIC(self) -> float:
        return -2.0 * float(self.logLik()) + 2.0 * self._npar()

    def BIC(self) -> float:
        return -2.0 * float(self.logLik()) + np.log(self.nobs()) * self._npar()

    def na_action(self) -> pd.Index:
        """R's ``na.action(m)``: labels of the rows dropped for missing values (na.omit)."""
        kept = set(self.design.index)
        return pd.Index([i for i in self.design.all_index if i not in kept], name="omit")

    def df_residual(self) -> int:
        return self.nobs() - self._npar()

    # -- fitted values and prediction ----------------------------------------------------
    def fitted(self) -> pd.Series:
        return pd.Series(self._sol.fitted, index=self.design.index, name="fitted")

    def residuals(self) -> pd.Series:
        return pd.Series(self.design.y - self._sol.fitted, index=self.design.index, name="residuals")

    def _terms_in(self, re_form) -> list[int]:
        """Indices of the random terms a ``re_form`` keeps (None: all; ~0/NA/False: none)."""
        if re_form is None or re_form is True:
            return list(range(len(self.design.terms)))
        if re_form is False or (isinstance(re_form, float) and np.isnan(re_form)):
            return []
        text = str(re_form).strip()
        if text in ("~0", "~ 0", "NA", "~1", "~ 1", "0"):
            return []
        from mlm_wrap.spec.formula import find_bars
        wanted = find_bars(text)
        keep = []
        for k, td in enumerate(self.design.terms):
            if any(w.group == td.term.group and w.expr.replace(" ", "") == td.term.expr.replace(" ", "")
                   for w in wanted):
                keep.append(k)
        if len(keep) < len(wanted):
            raise ModelError(f"re_form {text!r} names random terms that are not in the model "
                             f"({', '.join(self.plan.term_labels)})")
        return keep

    def _re_part(self, keep: list[int], newdata: pd.DataFrame | None,
                 allow_new_levels: bool = False) -> np.ndarray:
        """Sum of the kept random terms' contributions Z_k b_k for the model's rows
        (``newdata=None``) or for new rows (a new level counts 0 when allowed)."""
        bper = self._b_per_term()
        n = self.design.n if newdata is None else len(newdata)
        out = np.zeros(n)
        for k in keep:
            td = self.design.terms[k]
            if newdata is None:
                out += np.einsum("ij,ij->i", td.Xt, bper[k][td.factor.codes])
                continue
            Xt, codes = new_term_rows(self.design, td, newdata)
            new = codes < 0
            if new.any() and not allow_new_levels:
                lv = newdata.loc[new, list(td.term.group_vars)].astype(str).agg(":".join, axis=1)
                raise DataError(f"new level(s) {', '.join(map(repr, lv.unique()[:5]))} of "
                                f"grouping factor {td.name!r} in newdata; use "
                                "allow_new_levels=True to predict them at the population level")
            out += np.where(new, 0.0, np.einsum("ij,ij->i", Xt, bper[k][np.where(new, 0, codes)]))
        return out

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None,
                allow_new_levels: bool = False) -> pd.Series:
        """lme4's ``predict``: conditional (default) or population (``re_form="~0"``)."""
        keep = self._terms_in(re_form)
        beta = self._sol.beta
        if newdata is None:
            if len(keep) == len(self.design.terms):
                return self.fitted()
            return pd.Series(self.design.X @ beta + self._re_part(keep, None), index=self.design.index)
        if not isinstance(newdata, pd.DataFrame):
            newdata = pd.DataFrame(newdata)
        pred = new_fixed_matrix(self.design, newdata) @ beta
        return pd.Series(pred + self._re_part(keep, newdata, allow_new_levels), index=newdata.index)

    # -- intervals ----------------------------------------------------------------------
    def _theta_names(self) -> list[str]:
        n = len(self.theta)
        return [f".sig{i + 1:02d}" for i in range(n)] + [".sigma"]

    def confint(self, parm=None, level: float = 0.95, method: str = "Wald", **kw) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint``: ``"Wald"`` (fixed effects; NA for the
        variance parameters), ``"profile"`` (profiled deviance) or ``"boot"`` (parametric
        bootstrap: ``nsim=``, ``seed=``, ``progress=``)."""
        if method.lower() != "wald":
            from mlm_wrap.inference.core import confint
            return RFrame(confint(self, parm, level, method, **kw))
        a = (1 - level) / 2
        cols = [f"{_pct(a)} %", f"{_pct(1 - a)} %"]
        z = stats.norm.ppf(1 - a)
        fe, se = self.fixef(), self.se_fixef()
        rows = [[np.nan, np.nan] for _ in self._theta_names()]
        rows += [[fe[k] - z * se[k], fe[k] + z * se[k]] for k in fe.index]
        out = RFrame(rows, index=self._theta_names() + list(fe.index), columns=cols)
        if parm is not None:
            out = out.loc[[parm] if isinstance(parm, str) else list(parm)]
        return out

    # -- printing hooks ------------------------------------------------------------------
    def summary(self, ddf: str | None = None):
        from mlm_wrap.models.summary import Summary
        return Summary(self, ddf=ddf)

    def __str__(self) -> str:
        from mlm_wrap.output.summary import format_model
        return format_model(self)

    def __repr__(self) -> str:
        return self.__str__()


def _pct(p: float) -> str:
    """R's ``format(100 * p, trim = TRUE, scientific = FALSE, digits = 3)``."""
    s = f"{100 * p:.3g}"
    return s
