"""The fitted model: data and computations, no printing (lme4's ``merMod``).

Every quantity is computed from lme4's formulas at the optimal theta
(:mod:`mlm_wrap.engines.lmm`), named and ordered as R names and orders it.  Printing
lives in :mod:`mlm_wrap.output` (reached through :func:`~mlm_wrap.models.base.render`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.lmm import LmmProblem, Solution, split_theta
from mlm_wrap.engines.mixedlm import FitInfo, fit_theta, make_problem
from mlm_wrap.engines.optimize import check_optimizer
from mlm_wrap.errors import (
    ConvergenceWarning,
    DataError,
    MixedModelMessage,
    ModelError,
    SingularFitWarning,
)
from mlm_wrap.models import persist
from mlm_wrap.models.base import COEF_FOOTER, ranef_footer, render
from mlm_wrap.models.loglik import LogLik, make_unique
from mlm_wrap.models.summary import Summary
from mlm_wrap.models.varcorr import VarCorr, VarCorrTerm
from mlm_wrap.rformat.objects import RFrame, RList, RSeries
from mlm_wrap.spec.design import Design, build_design, new_fixed_matrix, new_offset, new_term_rows
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.spec.plan import Plan, make_plan


class LmerMod:
    """A linear mixed model fitted as lme4's ``lmer`` fits it."""

    def __init__(self, design: Design, plan: Plan, info: FitInfo, problem: LmmProblem,
                 data_name: str | None = None):
        self.design, self.plan, self.optinfo, self._problem = design, plan, info, problem
        self.REML = plan.REML
        self.formula = design.parsed.formula
        self.data_name = data_name
        # conditional variances (full=True) are computed on first use: for InstEval they cost
        # 0.45 s of a 3.5 s fit that most scripts never ask for
        self._sol: Solution = problem.solve(info.theta)

    # -- pickling (models/persist.py): caches dropped, the version checked on loading ------
    def __getstate__(self) -> dict:
        return persist.getstate(self)

    def __setstate__(self, state: dict) -> None:
        persist.setstate(self, state)

    def __getattr__(self, name: str):  # only for missing attributes: rebuilds a dropped cache
        if name.startswith("__"):
            raise AttributeError(name)
        return persist.lazy_attribute(self, name)

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

    def ranef(self, condVar: bool = True) -> RList:
        """Conditional modes, one DataFrame per grouping factor (R's ``ranef(m)$g``).  With
        ``condVar=True`` (lme4's default) each table carries its conditional covariances as
        R's ``attr(, "postVar")``: ``df.attrs["postVar"]``, a (p, p, levels) array (a list of
        them, one per term, when a factor has several terms)."""
        groups = list(dict.fromkeys(td.name for td in self.design.terms))
        out = self._by_factor(self._b_per_term(), footer=ranef_footer(groups) if condVar else "")
        if condVar:
            post: dict[str, list[np.ndarray]] = {}
            for td, cv in zip(self.design.terms, self.condvar()):
                post.setdefault(td.name, []).append(np.transpose(cv, (1, 2, 0)))
            for g, arrs in post.items():
                out[g].attrs["postVar"] = arrs[0] if len(arrs) == 1 else arrs
        return out

    def condvar(self) -> list[np.ndarray]:
        """Per term, (levels, p, p) conditional covariances (lme4's ``condVar``)."""
        s2 = self.sigma() ** 2
        if "condvar_rel" not in self._sol.extras:
            self._sol.extras["condvar_rel"] = \
                self._problem.solve(self._sol.theta, full=True).extras["condvar_rel"]
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
        return self.design.na_omitted()

    def df_residual(self) -> int:
        return self.nobs() - self._npar()

    # -- fitted values and prediction ----------------------------------------------------
    def _padded(self, values: np.ndarray, name: str) -> pd.Series:
        """Per-row values; with ``na_action="na.exclude"`` the rows dropped for missing
        values come back as NaN (R's ``naresid``)."""
        return self.design.pad(values, name)

    def fitted(self) -> pd.Series:
        return self._padded(self._sol.fitted, "fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """lme4's ``residuals(m, type =, scaled =)``: ``"response"`` and ``"working"``
        (y - fitted), ``"pearson"`` and ``"deviance"`` (times sqrt(prior weight), the same for
        a gaussian model); ``scaled=True`` divides by sigma."""
        r = self.design.y - self._sol.fitted
        if type in ("pearson", "deviance"):  # gaussian: the deviance residual is the pearson one
            if self.design.weights is not None:
                r = r * np.sqrt(self.design.weights)
        elif type not in ("response", "working"):
            raise ValueError("type must be 'response', 'pearson', 'deviance' or 'working' for an "
                             f"lmer fit, not {type!r}")
        if scaled:
            r = r / self.sigma()
        return self._padded(r, "residuals")

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
                gv = newdata[list(td.term.group_vars)].iloc[np.flatnonzero(new)]
                if gv.isna().any(axis=None):
                    raise DataError("NAs are not allowed in prediction data for grouping "
                                    f"variables ({', '.join(td.term.group_vars)}) unless "
                                    "allow_new_levels=True")
                lv = pd.Series([":".join(map(str, r)) for r in gv.itertuples(index=False)])
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
            off = self.design.offset if self.design.offset is not None else 0.0
            return self._padded(self.design.X @ beta + off + self._re_part(keep, None), "fitted")
        if not isinstance(newdata, pd.DataFrame):
            newdata = pd.DataFrame(newdata)
        pred = new_fixed_matrix(self.design, newdata) @ beta + new_offset(self.design, newdata)
        return pd.Series(pred + self._re_part(keep, newdata, allow_new_levels), index=newdata.index)

    # -- intervals ----------------------------------------------------------------------
    def _theta_names(self) -> list[str]:
        n = len(self.theta)
        return [f".sig{i + 1:02d}" for i in range(n)] + [".sigma"]

    def confint(self, parm=None, level: float = 0.95, method: str = "Wald") -> pd.DataFrame:
        """Wald confidence intervals as lme4's ``confint(m, method = "Wald")``: the fixed
        effects, NA for the variance parameters.  Profile and bootstrap intervals are
        :func:`mlm_wrap.confint`'s (``method="profile" | "boot"``)."""
        if method.lower() != "wald":
            raise ValueError(f"m.confint(method={method!r}): the model's own method gives Wald "
                             f"intervals; use mlm_wrap.confint(m, method={method!r})")
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
    def summary(self) -> Summary:
        """lme4's ``summary(m)``; lmerTest's (``ddf=``) is :func:`mlm_wrap.summary`'s."""
        return Summary(self)

    def __str__(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        """Notebooks: ``print(m)`` and, below it, the model's equation (``mw.options``)."""
        return render(self, "html")

    def _repr_latex_(self) -> str:
        """The model in Gelman & Hill's notation (:func:`mlm_wrap.equation`)."""
        return render(self, "latex")


def _pct(p: float) -> str:
    """R's ``format(100 * p, trim = TRUE, scientific = FALSE, digits = 3)``."""
    s = f"{100 * p:.3g}"
    return s


@dataclass(frozen=True)
class LmerControl:
    """lme4's ``lmerControl()``: the optimizer by lme4's name, its settings, the checks."""

    optimizer: str = "nloptwrap"
    optCtrl: dict = field(default_factory=dict)  # e.g. {"maxfun": 1e5}
    check_conv_singular: str = "message"  # "ignore" silences the singular-fit message
    check_conv_grad: str = "warning"  # "ignore" silences the gradient warning
    given: tuple = ()  # the arguments the user set (R's call shows only those)

    def deparse(self) -> str:
        """The call as R deparses it: ``lmerControl(optimizer = "bobyqa")``."""
        parts = []
        for k in self.given:
            v = getattr(self, k)
            name = k.replace("_", ".") if k.startswith("check") else k
            if isinstance(v, dict):
                v = "list(" + ", ".join(f"{a} = {b:g}" if isinstance(b, (int, float)) else
                                        f'{a} = "{b}"' for a, b in v.items()) + ")"
            else:
                v = f'"{v}"'
            parts.append(f"{name} = {v}")
        return f"lmerControl({', '.join(parts)})"


def lmerControl(**kw) -> LmerControl:
    """``lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 2e5), ...)``, as in lme4
    (Python spelling of dotted names: ``check_conv_singular``)."""
    allowed = {"optimizer", "optCtrl", "check_conv_singular", "check_conv_grad"}
    kw = {k.replace(".", "_"): v for k, v in kw.items()}
    bad = sorted(set(kw) - allowed)
    if bad:
        raise TypeError(f"lmerControl() got unsupported argument(s) {bad}; it takes "
                        f"{', '.join(sorted(allowed))}")
    check_optimizer(kw.get("optimizer", "nloptwrap"))
    for k in ("check_conv_singular", "check_conv_grad"):
        if k in kw and kw[k] not in ("ignore", "message", "warning", "stop"):
            raise ValueError(f"{k} must be 'ignore', 'message', 'warning' or 'stop', not {kw[k]!r}")
    opt = dict(kw.get("optCtrl") or {})
    if set(opt) - {"maxfun", "maxeval"}:
        raise TypeError(f"optCtrl takes maxfun (or maxeval), not {sorted(set(opt) - {'maxfun', 'maxeval'})}")
    return LmerControl(**{**kw, "optCtrl": opt}, given=tuple(kw))


def _as_control(control) -> LmerControl | None:
    if control is None or isinstance(control, LmerControl):
        return control
    if isinstance(control, dict):
        return lmerControl(**control)
    raise TypeError("control must be mw.lmerControl(...) or a dict of its arguments, "
                    f"not {type(control).__name__}")


def _as_start(start, ntheta: int) -> np.ndarray | None:
    """``start =``: theta (a vector, or ``{"theta": ...}`` as lme4's list(theta = ...))."""
    if start is None:
        return None
    if isinstance(start, dict):
        if set(start) != {"theta"}:
            raise ValueError(f"start takes theta only (lme4's list(theta = ...)), not {sorted(start)}")
        start = start["theta"]
    x = np.asarray(start, dtype=float).ravel()
    if len(x) != ntheta or not np.all(np.isfinite(x)):
        raise ValueError(f"start must give the {ntheta} theta parameters of this model (lme4: "
                         f"'incorrect number of theta components'), not {len(x)} values")
    return x


def _optimizer_args(ctrl: LmerControl | None) -> dict:
    """``fit_theta``'s ``optimizer`` and ``maxfun`` from ``control=`` (lme4's default path
    when no optimizer was named; ``optCtrl``'s maxfun or maxeval)."""
    if ctrl is None:
        return {"optimizer": None, "maxfun": None}
    return {"optimizer": ctrl.optimizer if "optimizer" in ctrl.given else None,
            "maxfun": ctrl.optCtrl.get("maxfun") or ctrl.optCtrl.get("maxeval")}


#: fitters for data that are not one in-memory frame, as (accepts(data), fit) pairs; the
#: out-of-core fit (models/outofcore.py) registers dask DataFrames and parquet paths
DATA_FITTERS: list = []


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, engine: str | None = None,
         data_name: str | None = None, weights=None, offset=None, subset=None,
         na_action: str = "na.omit", contrasts: dict[str, str] | None = None,
         control=None, start=None) -> LmerMod:
    """Fit a linear mixed model from an lme4 formula, as ``lme4::lmer`` does.

    ``REML=False`` fits by maximum likelihood.  R's other arguments: ``weights`` (prior
    weights: the residual variance of row i is sigma^2 / w_i), ``offset`` (added to the
    linear predictor, as are ``offset()`` terms), ``subset`` (an R expression such as
    ``'Diet != "4"'``, evaluated safely, or a boolean mask), ``na_action`` (``"na.omit"``;
    ``"na.exclude"`` pads fitted values and residuals with NaN; ``"na.fail"``) and
    ``contrasts`` (``{"f": "contr.sum"}``), ``control`` (``mw.lmerControl(optimizer =
    "bobyqa")``, or a dict: lme4's optimizer names, ``optCtrl`` maxfun, the singular and
    gradient checks) and ``start`` (theta).  ``weights``/``offset`` take a column name or an
    R expression, or one value per row.

    ``engine="statsmodels"`` fits with statsmodels MixedLM and checks (and if needed
    polishes) the optimum against lme4's criterion; ``engine="sparse"`` minimises lme4's
    profiled criterion directly on sparse matrices; ``"auto"`` (the default, or
    ``MLM_WRAP_ENGINE``) picks MixedLM for one grouping factor with few groups and the
    sparse engine otherwise (and for weights or offsets).
    """
    for accepts, fit in DATA_FITTERS:  # dask / parquet: mlm_wrap.models.outofcore
        if accepts(data):
            return fit(formula, data, REML=REML, engine=engine, data_name=data_name,
                       weights=weights, offset=offset, subset=subset, na_action=na_action,
                       contrasts=contrasts, control=control, start=start)
    if not isinstance(REML, (bool, np.bool_)):
        raise TypeError(f"REML must be True or False, not {REML!r}")
    parsed = parse_formula(formula)
    name = data_name or (getattr(data, "attrs", {}) or {}).get("name")
    with single_threaded_blas():  # the rank check's QR: threads contend (13 s vs 1.2 s, 2e4 x 500)
        design = build_design(parsed, data, data_name=name, weights=weights, offset=offset,
                              subset=subset, na_action=na_action, contrasts=contrasts)
    if design.X.shape[1] == 0:
        REML = False  # lme4: REML with no fixed effects is ML (mkLmerDevfun's REML = p)
    plan = make_plan(design, REML=REML, engine=engine)
    n, p = design.X.shape
    if n - p <= 0:
        raise ModelError(f"the fixed effects take all {n} observations ({p} columns): nothing is "
                         "left to estimate the variance components (R: 'objective in x0 "
                         "returns NA')")
    ctrl = _as_control(control)
    try:
        with single_threaded_blas():  # small dense blocks: BLAS threads only cost (blas.py)
            problem = make_problem(design)
            x0 = _as_start(start, len(problem.lower))
            info = fit_theta(plan, design, problem, start=x0, **_optimizer_args(ctrl))
            model = LmerMod(design, plan, info, problem, data_name=name)
    except np.linalg.LinAlgError as e:
        raise ModelError(f"the model {parsed.formula!r} cannot be fitted to these data: the "
                         f"penalized least-squares system is singular ({e})") from None
    return finish_fit(model, info, ctrl, design.messages, {
        "weights": weights, "offset": offset, "subset": subset, "na_action": na_action,
        "contrasts": contrasts, "control": ctrl, "start": start}, stacklevel=3)


def refit_control(m: LmerMod, control) -> LmerMod:
    """``update(m, control = ...)`` on the same data: the design, plan and cross-products
    (and the dense criterion's buffers) are reused, only lme4's optimisation runs again, from
    lme4's default start (what ``allFit`` runs once per optimizer)."""
    ctrl = _as_control(control)
    with single_threaded_blas():
        info = fit_theta(m.plan, m.design, m._problem, **_optimizer_args(ctrl))
        model = LmerMod(m.design, m.plan, info, m._problem, data_name=m.data_name)
    call_args = dict(getattr(m, "call_args", None) or {}, control=ctrl)
    return finish_fit(model, info, ctrl, m.design.messages, call_args, stacklevel=3)


def finish_fit(model: LmerMod, info: FitInfo, ctrl: LmerControl | None, messages: list[str],
               call_args: dict, stacklevel: int = 2) -> LmerMod:
    """lmer's last steps: the call's arguments kept as given (to_r() writes them back as R
    code), then lme4's messages, the convergence and the singular-fit warnings."""
    model.call_args = call_args
    for arg in ("weights", "offset", "subset"):
        if isinstance(call_args.get(arg), str):  # R prints the expression (Weights:, Offset:, Subset:)
            setattr(model, f"{arg}_arg", call_args[arg])
    for msg in messages:
        warnings.warn(msg, MixedModelMessage, stacklevel=stacklevel)
    if ctrl is not None:
        model.control = ctrl
    if not info.converged and not (ctrl and ctrl.check_conv_grad == "ignore"):
        warnings.warn(f"Model failed to converge with max|grad| = {info.max_grad:.6g} "
                      "(tol = 0.002)", ConvergenceWarning, stacklevel=stacklevel)
    if model.isSingular() and not (ctrl and ctrl.check_conv_singular == "ignore"):
        warnings.warn("boundary (singular) fit: see help('isSingular')", SingularFitWarning,
                      stacklevel=stacklevel)
    return model
