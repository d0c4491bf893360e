"""``glmer()``: generalized linear mixed models by maximum likelihood, as lme4 fits them.

lme4 1.1-31's recipe (``glmer``, ``mkGlmerDevfun``, ``optimizeGlmer``), step by step:

1. the response as ``glm`` codes it: ``cbind(successes, failures)`` becomes a proportion
   with the totals as prior weights; a proportion takes its trials from ``weights=``;
   a two-level factor is 0/1 (the first level is failure); Poisson counts may carry
   ``offset(log(exposure))`` terms or ``offset=``;
2. stage 1 (lme4's ``nAGQ = 0`` devfun): minimise the Laplace criterion over ``theta``,
   ``beta`` updated inside PIRLS;
3. stage 2: minimise the Laplace approximation (or, for ``nAGQ > 1`` and one scalar
   term, adaptive Gauss-Hermite quadrature) over ``(theta, beta)``, ``u`` by PIRLS at
   every point, each PIRLS started from stage 1's linear predictor;
4. lme4's finite-difference gradient and Hessian of the deviance at the optimum
   (``deriv12``): the convergence checks, and ``vcov`` (``use.hessian = TRUE``).

Steps 2-4 are :mod:`mlm_wrap.engines.glmm`'s; the response is :mod:`mlm_wrap.models.response`'s.
The deviance functions are lme4's own, PIRLS stopping rule included (see
:mod:`mlm_wrap.engines.pirls`): lme4's optimum, logLik and Hessian depend on it.  Only the
optimiser differs: lme4 uses bobyqa then Nelder-Mead; here a modified Newton method on
the same ``deriv12`` derivatives (fewer evaluations, and it ends at a tighter optimum).

The results object :class:`GlmerMod` subclasses :class:`~mlm_wrap.models.lmer.LmerMod`,
so ``ranef``, ``coef``, ``se_ranef``, ``ngrps``, ``isSingular``, ... are the same code.
"""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.glmm import SINGULAR_MSG, GlmerFitInfo, _separation_hint, fit_glmm, refit_glmm
from mlm_wrap.engines.lmm import ReBlock, Solution
from mlm_wrap.engines.pirls import (
    Family,
    GlmmProblem,
    PirlsError,
    PirlsState,
)
from mlm_wrap.errors import (
    ConvergenceWarning,
    DataError,
    MixedModelMessage,
    ModelError,
    OutOfCoreError,
    SingularFitWarning,
)
from mlm_wrap.models.families import _is_gaussian_identity, as_family
from mlm_wrap.models.lmer import LmerMod, lmer
from mlm_wrap.models.outofcore import is_out_of_core
from mlm_wrap.models.loglik import LogLik, make_unique
from mlm_wrap.models.response import (
    _YCOL,
    GlmResponse,
    _eval_numeric,
    _near_01,
    _vector_arg,
    glm_response,
    split_offsets,
)
from mlm_wrap.models.varcorr import VarCorr, VarCorrTerm
from mlm_wrap.spec.design import (
    subset_mask,
    Design,
    _to_pandas,
    build_design,
    new_fixed_matrix,
)
from mlm_wrap.spec.formula import ParsedFormula, parse_formula


# ------------------------------------------------------------------------------ glmer
def glmer(formula: str, data: pd.DataFrame, family="binomial", weights=None, nAGQ: int = 1,
          offset=None, data_name: str | None = None, subset=None, na_action: str = "na.omit",
          contrasts: dict[str, str] | None = None) -> "GlmerMod | LmerMod":
    """Fit a generalized linear mixed model by maximum likelihood, as ``lme4::glmer``.

    ``family``: a family object (``binomial``, ``poisson``, ``Gamma``, ``inverse_gaussian``,
    ``gaussian``, called with ``link=`` or not: ``Gamma(link="log")``), R's text
    (``"Gamma"``, ``'inverse.gaussian(link = "log")'``) or a statsmodels family instance;
    every link lme4 accepts.  Gamma, inverse Gaussian and non-identity Gaussian fits have
    lme4's scale parameter: ``sigma(m)``, a Residual row in ``VarCorr``, t values.  ``weights``: prior weights (a column name or one value
    per row; the number of trials for a proportion response).  ``nAGQ``: 1 is the Laplace
    approximation; ``> 1`` adaptive Gauss-Hermite quadrature (one scalar random-effects
    term only, as in lme4); 0 is lme4's fast first stage alone.  ``offset``: a column name
    or one value per row, added to ``offset(...)`` terms of the formula.  ``subset``,
    ``na_action`` (``"na.omit"``, ``"na.fail"``) and ``contrasts`` as in :func:`lmer`.  As in
    lme4, ``family="gaussian"`` (identity link) warns and fits ``lmer()``.
    """
    if _is_gaussian_identity(family):
        warnings.warn("calling glmer() with family=gaussian (identity link) as a shortcut to "
                      "lmer() is deprecated; please call lmer() directly", FutureWarning,
                      stacklevel=2)
        return lmer(formula, data, data_name=data_name, weights=weights, offset=offset,
                    subset=subset, na_action=na_action, contrasts=contrasts)
    if na_action not in ("na.omit", "na.fail"):
        raise NotImplementedError(f"glmer(na_action={na_action!r}): 'na.omit' and 'na.fail' are "
                                  "available for glmer fits")
    if is_out_of_core(data):
        raise OutOfCoreError("glmer() needs the data in memory: out-of-core fits (a dask "
                             "DataFrame or parquet path(s)) are lmer()'s only (PIRLS would take "
                             "a pass over the data per iteration); pass a pandas DataFrame, "
                             "e.g. data.compute() when it fits in memory")
    fam = as_family(family)
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= nAGQ <= 25:
        raise ValueError(f"nAGQ must be an integer from 0 to 25, not {nAGQ!r}")
    nAGQ = int(nAGQ)
    parsed = parse_formula(formula)
    if not isinstance(data, pd.DataFrame):
        data = _to_pandas(data)
    name = data_name or (getattr(data, "attrs", {}) or {}).get("name")
    weights_given, offset_given = weights, offset  # as given (subset below cuts arrays)
    if subset is not None:
        keep = subset_mask(subset, data)
        if not isinstance(weights, str) and weights is not None and np.size(weights) == len(data):
            weights = np.asarray(weights)[keep]
        if not isinstance(offset, str) and offset is not None and np.size(offset) == len(data):
            offset = np.asarray(offset)[keep]
        data = data.loc[keep]
    fixed, off_exprs = split_offsets(parsed.fixed)
    nrow = len(data)
    prior = np.ones(nrow) if weights is None else _vector_arg(weights, data, "weights")
    if np.any(prior[np.isfinite(prior)] < 0):
        raise DataError("negative weights not allowed")
    resp = glm_response(parsed.response, data, fam, prior)
    off = np.zeros(nrow)
    for e in off_exprs:
        off = off + _eval_numeric(e, data, "the offset")
    if offset is not None:
        off = off + _vector_arg(offset, data, "offset")
    ycol = np.where(np.isfinite(resp.weights) & np.isfinite(off), resp.y, np.nan)
    work = data.reset_index(drop=True).assign(**{_YCOL: ycol})
    ytext = _YCOL
    parsed2 = ParsedFormula(formula=parsed.formula, response=ytext, fixed=fixed,
                            random=parsed.random)
    try:
        design = build_design(parsed2, work, data_name=name, allow_n=True,  # lme4: allow.n
                              contrasts=contrasts, na_action=na_action)
    except (DataError, ModelError) as e:
        msg = str(e)
        if _YCOL in msg:
            msg = msg.replace(repr(ytext), repr(parsed.response)).replace(ytext, parsed.response)
            if "constant" in msg:
                msg = "Response is constant: " + msg
            raise type(e)(msg) from None
        raise
    pos = np.asarray(design.index, dtype=np.int64)
    design.index = data.index[pos]
    design.frame.index = design.index
    # the design was built on a renumbered copy: back to the user's labels (na_action, na.exclude)
    design.all_index = data.index
    if design.exclude_index is not None:
        design.exclude_index = data.index[np.asarray(design.exclude_index, dtype=np.int64)]
    if nAGQ > 1 and (len(design.terms) != 1 or design.terms[0].Xt.shape[1] != 1):
        raise ModelError("nAGQ > 1 is only available for models with a single, scalar "
                         "random-effects term")
    blocks = [ReBlock(t.factor.codes, t.Xt, t.factor.nlevels) for t in design.terms]
    problem = GlmmProblem(design.X, blocks, resp.y[pos], resp.weights[pos], off[pos],
                          resp.n[pos], fam)
    with single_threaded_blas():
        try:
            info, state = fit_glmm(problem, nAGQ)
        except PirlsError as e:
            raise ModelError(f"{e}{_separation_hint(problem)}") from None
    model = GlmerMod(design, problem, info, state, fam, resp, data_name=name,
                     offset_exprs=off_exprs, offset_arg=offset is not None)
    model.call_args = {"weights": weights_given, "offset": offset_given, "subset": subset,
                       "na_action": na_action, "contrasts": contrasts}  # for to_r()
    model.weights_arg = weights if isinstance(weights, str) else None  # R: "Weights: size"
    model.subset_arg = subset if isinstance(subset, str) else None  # R: " Subset: ..."
    for msg in design.messages:
        warnings.warn(msg, MixedModelMessage, stacklevel=2)
    for msg in resp.messages:
        warnings.warn(msg, UserWarning, stacklevel=2)
    for msg in info.messages:
        cat = SingularFitWarning if msg == SINGULAR_MSG else ConvergenceWarning
        warnings.warn(msg, cat, stacklevel=2)
    if fam.family == "binomial" and _near_01(state.mu, resp.weights[pos]):
        warnings.warn("fitted probabilities numerically 0 or 1 occurred", ConvergenceWarning,
                      stacklevel=2)
    return model


def refit_glmer(prev: "GlmerMod", newresp=None, family: Family | None = None,
                warn: bool = True) -> "GlmerMod":
    """lme4's ``refit(object, newresp)`` of a glmer fit (and glmer.nb's ``refitNB``, a new
    ``family``): the same model for a new response (on glm's scale: proportions for a
    binomial fit, the prior weights / trials kept) or family, PIRLS at the previous
    ``(theta, beta)`` from the previous linear predictor, then stage 2 alone from the
    previous optimum (lme4 refits ``nAGQ = 0`` fits by their one stage: a full fit here)."""
    old = prev._problem
    fam = old.family if family is None else family
    y = old.y if newresp is None else np.asarray(newresp, float).ravel()
    if y.shape != old.y.shape:
        raise ModelError(f"newresp has {y.size} values; the model was fitted to {old.n} "
                         "observations")
    if not np.all(np.isfinite(y)):
        raise ModelError("newresp has missing or infinite values")
    pb = old.with_response(y, fam)
    par0 = np.r_[np.asarray(prev.theta, float), np.asarray(prev._sol.beta, float)]
    with single_threaded_blas():
        try:
            if prev.nAGQ == 0:
                info, state = fit_glmm(pb, 0)
            else:
                info, state = refit_glmm(pb, prev.nAGQ, par0, prev._state.eta,
                                         H0=getattr(prev.optinfo, "hessian", None))
        except PirlsError as e:
            raise ModelError(str(e)) from None
    m = GlmerMod(prev.design, pb, info, state, fam, SimpleNamespace(kind=prev.response_kind),
                 data_name=prev.data_name, offset_exprs=prev.offset_exprs,
                 offset_arg=prev.offset_arg)
    for attr in ("weights_arg", "subset_arg", "call_args"):
        setattr(m, attr, getattr(prev, attr, None))
    if warn:
        for msg in info.messages:
            cat = SingularFitWarning if msg == SINGULAR_MSG else ConvergenceWarning
            warnings.warn(msg, cat, stacklevel=3)
    return m


# ------------------------------------------------------------------------------ results
class GlmerMod(LmerMod):
    """A generalized linear mixed model fitted as lme4's ``glmer`` fits it (``glmerMod``)."""

    def __init__(self, design: Design, problem: GlmmProblem, info: GlmerFitInfo,
                 state: PirlsState, family: Family, response: GlmResponse,
                 data_name: str | None = None, offset_exprs: list[str] | None = None,
                 offset_arg: bool = False):
        self.design, self._problem, self.optinfo = design, problem, info
        self._state = state
        self.REML = False
        self.formula = design.parsed.formula
        self.data_name = data_name
        self.family_object = family
        self.family: str = family.family
        self.link: str = family.link
        self.nAGQ: int = info.nAGQ
        self.response_kind = response.kind
        self.offset_exprs = list(offset_exprs or [])
        self.offset_arg = offset_arg
        self.plan = SimpleNamespace(REML=False, engine="pirls",
                                    term_labels=tuple(str(t.term) for t in design.terms))
        nth = problem.ntheta
        beta = info.par[nth:] if info.nAGQ > 0 else state.beta
        b = problem._lambda_apply(state.Ts, state.u)
        self._sol = Solution(theta=np.asarray(state.theta), beta=np.asarray(beta), u=state.u, b=b,
                             pwrss=float(state.pdev), logdet_L=state.ldL2, logdet_RX=np.nan,
                             RXtRX=np.empty((0, 0)), sigma2_ml=1.0, sigma2_reml=1.0,
                             deviance_ml=float(info.deviance), reml_crit=np.nan,
                             fitted=state.mu, extras={"condvar_rel": problem.condvar_rel(state)})
        self._vcov_cache: pd.DataFrame | None = None
        self.vcov_messages: list[str] = []

    # -- scale, covariances ---------------------------------------------------------------
    def sigma(self) -> float:
        """lme4's ``sigma``: 1 for binomial and poisson; for families with a scale parameter
        (``useSc``) ``sqrt(pwrss / n)``, pwrss = Pearson residuals' sum of squares + ||u||^2."""
        if not self.family_object.has_scale:
            return 1.0
        pb, s = self._problem, self._state
        wrss = float(np.sum(pb.wt * (pb.y - s.mu) ** 2 / pb.family.variance(s.mu)))
        return float(np.sqrt((wrss + float(s.u @ s.u)) / len(pb.y)))

    def vcov(self, use_hessian: bool | None = None) -> pd.DataFrame:
        """lme4's ``vcov.merMod``: from the finite-difference Hessian of the deviance over
        (theta, beta) when glmer stored one (``2 H^-1``, beta block), else ``(RX'RX)^-1``."""
        names = self.design.xnames
        if use_hessian is None and self._vcov_cache is not None:
            return self._vcov_cache.copy()
        H = self.optinfo.hessian
        nth = self._problem.ntheta
        avail = H is not None and H.shape[0] > nth
        if use_hessian and not avail:
            raise ModelError("'use.hessian'=TRUE specified, but Hessian is unavailable")
        use = avail if use_hessian is None else bool(use_hessian)
        V = None
        if use:
            try:
                Hi = np.linalg.inv(H)[nth:, nth:]
                V = Hi + Hi.T
                if np.any(~np.isfinite(V)) or np.min(np.linalg.eigvalsh(V)) <= 0:
                    V = None
            except np.linalg.LinAlgError:
                V = None
            if V is None:
                msg = ("variance-covariance matrix computed from finite-difference Hessian is\n"
                       "not positive definite or contains NA values: falling back to var-cov "
                       "estimated from RX")
                warnings.warn(msg, ConvergenceWarning, stacklevel=2)
                self.vcov_messages.append(msg)
        if V is None:
            V = self.sigma() ** 2 * self._problem.unscaled_vcov(self._state)
        out = pd.DataFrame(V, index=names, columns=names)
        if use_hessian is None:
            self._vcov_cache = out.copy()
        return out

    def VarCorr(self) -> VarCorr:
        """Random-effects covariances (lme4: sigma^2 Lambda Lambda'); a residual row only
        for families with a scale parameter."""
        groups = make_unique([t.name for t in self.design.terms])
        sc = self.sigma()
        terms = [VarCorrTerm(g, list(td.cnames), sc ** 2 * (T @ T.T))
                 for g, td, T in zip(groups, self.design.terms, self._problem.factors(self.theta))]
        return VarCorr(terms, sc, use_sc=self.family_object.has_scale)

    # -- likelihood ----------------------------------------------------------------------
    def _npar(self) -> int:
        # lme4's npar: glmer.nb's theta counts (logLik df) as a parameter
        return (len(self.design.xnames) + len(self.theta) + int(self.family_object.has_scale)
                + int(getattr(self.family_object, "theta", None) is not None))

    def logLik(self) -> LogLik:
        """-deviance/2, the deviance being glmer's criterion at the optimum (Laplace: with
        the family's normalising constants; nAGQ > 1: deviance residuals, as lme4)."""
        return LogLik(-float(self.optinfo.deviance) / 2.0, self._npar(), self.nobs(), False)

    def deviance(self) -> float:
        """lme4's ``deviance`` for a GLMM: the sum of squared deviance residuals."""
        return float(np.sum(self._problem.dev_resid(self._state.mu)))

    def REMLcrit(self) -> float:
        raise ModelError("can't compute REML deviance for a non-LMM")

    def AICtab(self) -> dict[str, float]:
        """The line summary() prints: AIC, BIC, logLik, deviance (-2 logLik), df.resid."""
        ll = float(self.logLik())
        return {"AIC": float(self.AIC()), "BIC": float(self.BIC()), "logLik": ll, "deviance": -2.0 * ll,
                "df.resid": float(self.df_residual())}

    @property
    def methTitle(self) -> str:
        """lme4's method title for summary()."""
        how = ("(Laplace Approximation)" if self.nAGQ == 1 else
               f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nAGQ})")
        return f"Generalized linear mixed model fit by maximum likelihood {how}"

    @property
    def coefficients(self) -> pd.DataFrame:
        """summary()'s fixed-effects table: Estimate, Std. Error, z value, Pr(>|z|)."""
        fe, se = self.fixef(), self.se_fixef()
        z = fe / se
        return pd.DataFrame({"Estimate": fe.to_numpy(), "Std. Error": se.to_numpy(),
                             ("t value" if self.family_object.has_scale else "z value"): z.to_numpy(),
                             "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z.to_numpy()))},
                            index=list(fe.index))

    # -- fitted values, residuals, prediction ---------------------------------------------
    def fitted(self) -> pd.Series:
        """Fitted values on the response scale (``mu``)."""
        return pd.Series(self._state.mu, index=self.design.index, name="fitted")

    def residuals(self, type: str = "deviance") -> pd.Series:
        """lme4's residuals for a GLMM: ``deviance`` (default), ``pearson``, ``working``,
        ``response``."""
        s, pb = self._state, self._problem
        y, mu = pb.y, s.mu
        if type == "deviance":
            r = np.sqrt(np.clip(pb.dev_resid(mu), 0, None))
            r = np.where(y > mu, r, -r)
        elif type == "pearson":
            r = np.sqrt(pb.wt / pb.family.variance(mu)) * (y - mu)
        elif type == "working":
            r = (y - mu) / pb.family.mu_eta(s.eta)
        elif type == "response":
            r = y - mu
        else:
            raise ValueError(f"type must be 'deviance', 'pearson', 'working' or 'response', not {type!r}")
        return pd.Series(r, index=self.design.index, name="residuals")

    def _offset_new(self, newdata: pd.DataFrame) -> np.ndarray:
        off = np.zeros(len(newdata))
        for e in self.offset_exprs:
            off = off + _eval_numeric(e, newdata, "the offset")
        return off

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None, type: str = "link",
                allow_new_levels: bool = False) -> pd.Series:
        """lme4's ``predict``: ``type="link"`` (default) or ``"response"``; ``re_form="~0"``
        (or NA) leaves out the random effects.  With ``newdata``, formula ``offset()``
        terms are evaluated on it (an ``offset=`` argument is not, as in R)."""
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        keep = self._terms_in(re_form)
        beta = self._sol.beta
        if newdata is None:
            if len(keep) == len(self.design.terms):
                eta = self._state.eta.copy()
            else:
                eta = self._problem.offset + self.design.X @ beta + self._re_part(keep, None)
            index = self.design.index
        else:
            if not isinstance(newdata, pd.DataFrame):
                newdata = pd.DataFrame(newdata)
            eta = new_fixed_matrix(self.design, newdata) @ beta + self._offset_new(newdata) + \
                self._re_part(keep, newdata, allow_new_levels)
            index = newdata.index
        out = eta if type == "link" else self.family_object.linkinv(eta)
        return pd.Series(out, index=index)

    # -- intervals -----------------------------------------------------------------------
    def _theta_names(self) -> list[str]:
        # lme4's profnames: a ".sigma" row only for a family with a scale parameter (useSc)
        sc = [".sigma"] if self.family_object.has_scale else []
        return [f".sig{i + 1:02d}" for i in range(len(self.theta))] + sc
