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

The deviance functions are lme4's own, PIRLS stopping rule included (see
:mod:`mlm_wrap.engines.pirls`): lme4's optimum, logLik and Hessian depend on it.  Only the
optimiser differs: lme4 uses bobyqa then Nelder-Mead; here a modified Newton method on
the same ``deriv12`` derivatives (fewer evaluations, and it ends at a tighter optimum).

The results object :class:`GlmerMod` subclasses :class:`~mlm_wrap.models.lmer.LmerMod`,
so ``ranef``, ``coef``, ``se_ranef``, ``ngrps``, ``isSingular``, ... are the same code.
"""
from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.lmm import ReBlock, Solution, theta_start
from mlm_wrap.engines.pirls import (
    Family,
    GlmmProblem,
    PirlsError,
    PirlsState,
    deriv12,
    ghrule,
)
from mlm_wrap.errors import (
    ConvergenceWarning,
    DataError,
    MixedModelMessage,
    ModelError,
    SingularFitWarning,
    UnknownColumnError,
)
from mlm_wrap.models.lmer import LmerMod, lmer
from mlm_wrap.models.loglik import LogLik, make_unique
from mlm_wrap.models.varcorr import VarCorr, VarCorrTerm
from mlm_wrap.spec.design import (
    Design,
    _to_pandas,
    _unknown_column,
    build_design,
    new_fixed_matrix,
    to_python_expr,
)
from mlm_wrap.spec.formula import ParsedFormula, parse_formula
from mlm_wrap.spec.r_ast import _all_vars, _Binary, _Call, _Name, _Unary
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.r_parser import _parse

_YCOL = "mlmwrap_glmer_response_"  # internal response column of the copy given to build_design
SINGULAR_MSG = "boundary (singular) fit: see help('isSingular')"


# ------------------------------------------------------------------------------ family
def as_family(family) -> Family:
    """``"binomial"``, ``"poisson"``, ``'binomial(link = "probit")'`` or a statsmodels
    family instance -> :class:`~mlm_wrap.engines.pirls.Family`."""
    from statsmodels.genmod import families as smf
    if isinstance(family, Family):
        return family
    if isinstance(family, str):
        m = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*(?:link\s*=\s*)?[\"']?(\w+)?[\"']?\s*\))?\s*", family)
        if not m:
            raise ValueError(f"family {family!r} is not understood; use 'binomial', 'poisson' "
                             "or a statsmodels family instance")
        name, link = m.group(1).lower(), m.group(2)
        links = {"logit": smf.links.Logit, "probit": smf.links.Probit,
                 "cloglog": smf.links.CLogLog, "log": smf.links.Log,
                 "identity": smf.links.Identity, "sqrt": smf.links.Sqrt,
                 "cauchit": smf.links.Cauchy, "inverse": smf.links.InversePower}
        fams = {"binomial": smf.Binomial, "poisson": smf.Poisson,
                "gaussian": smf.Gaussian, "gamma": smf.Gamma,
                "inverse.gaussian": smf.InverseGaussian}
        if name not in fams:
            raise ValueError(f"unknown family {name!r}: use 'binomial' or 'poisson'")
        if link is not None and link not in links:
            raise ValueError(f"unknown link {link!r} for family {name!r}")
        family = fams[name](link=links[link]()) if link else fams[name]()
    if not hasattr(family, "link") or not hasattr(family, "variance"):
        raise TypeError("family must be 'binomial', 'poisson' or a statsmodels family instance, "
                        f"not {type(family).__name__}")
    return Family(family)


def _is_gaussian_identity(family) -> bool:
    """R's ``isTRUE(all.equal(family, gaussian()))``."""
    if isinstance(family, str):
        return re.fullmatch(r"\s*gaussian\s*(\(\s*(link\s*=\s*)?[\"']?identity[\"']?\s*\)|\(\s*\))?\s*",
                            family) is not None
    return type(family).__name__ == "Gaussian" and type(getattr(family, "link", None)).__name__ == "Identity"


# ------------------------------------------------------------------------------ response
def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call's argument text."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _eval_numeric(expr: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """An R expression of the data's columns (``size - incidence``, ``log(exposure)``) as a
    float array (NaN where an input is missing), evaluated by formulaic."""
    from formulaic import Formula, model_matrix
    name = expr.strip().strip("`")
    if name in data.columns:
        s = data[name]
        if isinstance(s.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            raise DataError(f"{what} {expr!r} must be numeric; it is a "
                            f"{'factor' if isinstance(s.dtype, pd.CategoricalDtype) else str(s.dtype)} column")
        return pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
    text = f"0 + I({to_python_expr(expr)})"
    try:
        req = [str(v) for v in Formula(text).required_variables]
    except Exception as e:
        raise DataError(f"cannot read {what} {expr!r}: {e}") from None
    for v in req:
        if v not in data.columns and v not in ("I",) and not hasattr(np, v) and v not in (
                "log", "exp", "sqrt", "log10", "log2", "log1p", "abs", "scale", "center"):
            raise UnknownColumnError(_unknown_column(v, data, f"used in {what} {expr!r}"))
    cols = [v for v in req if v in data.columns]
    frame = pd.DataFrame({c: (data[c].astype(float) if pd.api.types.is_extension_array_dtype(data[c].dtype)
                              else data[c]) for c in cols}, index=data.index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mm = model_matrix(text, frame, na_action="ignore")
    except Exception as e:
        raise DataError(f"cannot evaluate {what} {expr!r}: {e}") from None
    if mm.shape[1] != 1:
        raise DataError(f"{what} {expr!r} must be one numeric column")
    return np.asarray(mm.iloc[:, 0], float)


@dataclass
class GlmResponse:
    """The response as glm's ``initialize`` codes it, one entry per data row."""

    y: np.ndarray  # proportion (binomial) or count
    n: np.ndarray  # glm's n: trials for a cbind response, else 1
    weights: np.ndarray  # prior weights (times n for a cbind response)
    kind: str  # "cbind", "factor", "numeric"
    levels: list[str] | None = None
    messages: list[str] = field(default_factory=list)


def glm_response(text: str, data: pd.DataFrame, family: Family, prior: np.ndarray) -> GlmResponse:
    """R's ``binomial()$initialize`` / ``poisson()$initialize`` on the response ``text``."""
    text = text.strip()
    msgs: list[str] = []
    m = re.fullmatch(r"cbind\s*\((.*)\)", text, flags=re.S)
    if m:
        args = _split_args(m.group(1))
        if len(args) != 2:
            raise DataError(f"the response {text!r} must have two columns: cbind(successes, failures)")
        if family.family != "binomial":
            raise DataError(f"a two-column response {text!r} needs family = binomial, "
                            f"not {family.family}")
        s, f = (_eval_numeric(a, data, "the response column") for a in args)
        ok = np.isfinite(s) & np.isfinite(f)
        if np.any((s[ok] < 0) | (f[ok] < 0)):
            raise DataError(f"the response {text!r} has negative counts")
        if np.any(np.abs(np.r_[s[ok], f[ok]] - np.round(np.r_[s[ok], f[ok]])) > 1e-3):
            msgs.append("non-integer counts in a binomial glm!")
        n = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(n == 0, 0.0, s / np.where(n == 0, 1.0, n))
        return GlmResponse(y=y, n=n, weights=prior * n, kind="cbind", messages=msgs)
    name = text.strip("`")
    levels = None
    if name in data.columns and (isinstance(data[name].dtype, pd.CategoricalDtype)
                                 or pd.api.types.is_bool_dtype(data[name].dtype)
                                 or data[name].dtype == object
                                 or pd.api.types.is_string_dtype(data[name].dtype)):
        if family.family != "binomial":
            raise DataError(f"the response {text!r} must be numeric for family {family.family}")
        col = data[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            y = col.astype("float64").to_numpy()  # pandas boolean NA -> NaN
            kind = "numeric"
        else:
            from mlm_wrap.spec.design import _as_factor
            fac = _as_factor(col)
            levels = list(fac.categories)
            codes = np.asarray(fac.codes)
            y = np.where(codes < 0, np.nan, (codes > 0).astype(float))
            kind = "factor"
    else:
        y = _eval_numeric(text, data, "the response")
        kind = "numeric"
    ok = np.isfinite(y)
    if family.family == "binomial":
        y = np.where(prior == 0, 0.0, y)
        if np.any((y[ok] < 0) | (y[ok] > 1)):
            raise ModelError("y values must be 0 <= y <= 1")
        mm = (prior * y)[ok & np.isfinite(prior)]
        if np.any(np.abs(mm - np.round(mm)) > 1e-3):
            msgs.append("non-integer #successes in a binomial glm!")
    else:
        if np.any(y[ok] < 0):
            raise ModelError("negative values not allowed for the 'Poisson' family")
        if np.any(np.abs(y[ok] - np.round(y[ok])) > 1e-8):
            msgs.append("non-integer response values in a Poisson glm: the log-likelihood "
                        "(R's dpois) is -Inf for them")
    return GlmResponse(y=y, n=np.ones_like(y), weights=prior.astype(float), kind=kind,
                       levels=levels, messages=msgs)


# ------------------------------------------------------------------------------ offsets
def split_offsets(fixed: str) -> tuple[str, list[str]]:
    """Remove top-level ``offset(...)`` terms from the fixed part: (rest, offset exprs)."""
    if "offset" not in fixed:
        return fixed, []
    node = _parse(fixed)
    terms: list[tuple[str, object]] = []

    def flat(nd, sign="+"):
        if isinstance(nd, _Binary) and nd.op in ("+", "-"):
            flat(nd.left, sign)
            terms.append((nd.op, nd.right))
        elif isinstance(nd, _Unary) and nd.op == "-" and not terms:
            terms.append(("-", nd.operand))
        else:
            terms.append((sign, nd))

    flat(node)
    keep, offs = [], []
    for sign, t in terms:
        if isinstance(t, _Call) and isinstance(t.fn, _Name) and t.fn.name == "offset":
            if sign == "-":
                raise ModelError(f"cannot subtract an offset term ('- {_deparse(t)}')")
            if len(t.args) != 1:
                raise ModelError(f"offset() takes one argument: {_deparse(t)!r}")
            offs.append(_deparse(t.args[0][1]))
        else:
            if "offset(" in _deparse(t):
                raise ModelError(f"offset() must be a term of its own in the formula, not part of "
                                 f"{_deparse(t)!r}")
            keep.append((sign, _deparse(t)))
    if not keep:
        return "1", offs
    text = keep[0][1] if keep[0][0] == "+" else f"1 - {keep[0][1]}"
    for sign, t in keep[1:]:
        text += f" {sign} {t}"
    return text, offs


def _vector_arg(x, data: pd.DataFrame, what: str) -> np.ndarray:
    """``weights=`` / ``offset=``: a column name or one value per data row."""
    if isinstance(x, str):
        return _eval_numeric(x, data, what)
    arr = np.asarray(x, dtype=float).ravel() if not isinstance(x, pd.Series) else \
        pd.to_numeric(x, errors="coerce").astype(float).to_numpy()
    if arr.size == 1:
        return np.full(len(data), float(arr[0]))
    if arr.size != len(data):
        raise DataError(f"{what} has {arr.size} values; the data has {len(data)} rows")
    return arr


# ------------------------------------------------------------------------------ fitting
@dataclass
class GlmerFitInfo:
    """How the optimum was reached (lme4's ``optinfo``)."""

    nAGQ: int
    par: np.ndarray  # (theta, beta) of stage 2, theta of a nAGQ = 0 fit
    deviance: float  # the criterion at par (opt$fval)
    stage1_theta: np.ndarray
    stage1_deviance: float
    lp_start: np.ndarray | None = None  # linear predictor each stage-1 PIRLS starts from
    lp_stage1: np.ndarray | None = None  # ... and each stage-2 PIRLS (lme4's lp0)
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    max_grad: float = 0.0
    converged: bool = True
    messages: list[str] = field(default_factory=list)
    feval: int = 0
    seconds: float = 0.0
    optimizer: tuple[str, str] = ("Newton (deriv12)", "Newton (deriv12)")  # lme4: bobyqa, Nelder_Mead


class _Devfun:
    """lme4's ``devfun`` of one stage: every evaluation runs PIRLS from the same linear
    predictor ``lp0`` with lme4's stopping rule, so the values (and the finite-difference
    Hessian built from them) are R's, digit for digit."""

    def __init__(self, problem: GlmmProblem, nAGQ: int, lp0: np.ndarray):
        self.problem, self.nAGQ, self.lp0 = problem, nAGQ, lp0
        self.rule = ghrule(nAGQ) if nAGQ > 1 else None
        self.nth = problem.ntheta
        self.neval = 0

    def state(self, par: np.ndarray) -> PirlsState:
        par = np.asarray(par, float)
        if self.nAGQ == 0:
            return self.problem.pirls(par, None, eta0=self.problem.offset + self.lp0)
        return self.problem.pirls(par[:self.nth], par[self.nth:],
                                  eta0=self.problem.offset + self.lp0)

    def value(self, s: PirlsState) -> float:
        if self.nAGQ > 1:
            return self.problem.agq(s, self.rule)
        return self.problem.laplace(s)

    def __call__(self, par: np.ndarray) -> float:
        self.neval += 1
        try:
            v = self.value(self.state(par))
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        return v if np.isfinite(v) else np.inf


def _check_boundary(f, par: np.ndarray, fval: float, lower: np.ndarray, nth: int,
                    tol: float = 1e-5) -> tuple[np.ndarray, float]:
    """lme4's ``check.boundary``: theta within ``tol`` of its bound moves onto it if that
    does not increase the deviance."""
    par = par.copy()
    bdiff = par[:nth] - lower[:nth]
    edge = np.isfinite(bdiff) & (bdiff > 0) & (bdiff < tol)
    if edge.any():
        for i in np.flatnonzero(edge):
            tmp = par.copy()
            tmp[i] = lower[i]
            if f(tmp) < fval:
                par[i] = lower[i]
        fval = f(par)
    return par, fval


def _central_gradient(f, x: np.ndarray, delta: float = 1e-4) -> np.ndarray:
    """The gradient part of lme4's ``deriv12`` (2k evaluations)."""
    g = np.empty(len(x))
    for j in range(len(x)):
        e = np.zeros(len(x))
        e[j] = delta
        g[j] = (f(x + e) - f(x - e)) / (2 * delta)
    return g


@dataclass
class NewtonResult:
    x: np.ndarray
    fx: float
    iterations: int
    hessian: np.ndarray | None  # full-dimension Hessian at ``hessian_at`` (all coordinates free)
    hessian_at: np.ndarray | None


def _newton(f, x0: np.ndarray, lower: np.ndarray, delta: float = 1e-4, maxit: int = 100,
            xtol: float = 1e-7) -> NewtonResult:
    """Minimise ``f`` by modified Newton steps on lme4's finite-difference derivatives
    (``deriv12``), with a backtracking line search; once the steps are small the Hessian
    is kept and only the gradient recomputed (2k instead of 2k^2 evaluations).

    The deviance is even in each column of a relative covariance factor (``T`` and ``T``
    with a column's sign flipped give the same ``TT'``), so theta is searched without
    bounds and put back in lme4's form (non-negative diagonal) afterwards; a diagonal
    element that comes within 1e-5 of 0 is set to 0 (lme4's ``check.boundary``) and kept
    there when that does not increase the deviance.
    """
    x = np.asarray(x0, float).copy()
    fx = f(x)
    if not np.isfinite(fx):
        raise PirlsError("the deviance is not finite at the starting values")
    bounded = np.isfinite(lower)
    fixed = np.zeros(len(x), bool)
    H = H_at = H_free = None
    chord = False
    it = 0
    for it in range(1, maxit + 1):
        free = np.flatnonzero(~fixed)
        if not len(free):
            break

        def fsub(xf, free=free):
            xx = x.copy()
            xx[free] = xf
            return f(xx)

        if chord and H_free is not None and np.array_equal(H_free, free):
            g = _central_gradient(fsub, x[free], delta)
        else:
            g, H = deriv12(fsub, x[free], delta, fx=fx)
            H_at, H_free = x.copy(), free.copy()
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            raise PirlsError("non-finite derivatives of the deviance")
        lam, V = np.linalg.eigh((H + H.T) / 2)
        big = max(np.max(np.abs(lam)), 1e-12)
        alam = np.maximum(np.abs(lam), 1e-8 * big)
        step = -(V @ ((V.T @ g) / alam))
        rel = np.max(np.abs(step) / (1.0 + np.abs(x[free])))
        if rel < 1e-4 and lam[0] < -1e-6 * big:
            # a saddle or a maximum with a flat gradient (theta = 0 is one: the deviance is
            # even in theta): leave along the direction of negative curvature
            v = V[:, 0] * 0.1 * (1.0 + np.max(np.abs(x[free])))
            fp, fm = fsub(x[free] + v), fsub(x[free] - v)
            step = v if fp <= fm else -v
            rel = np.max(np.abs(step) / (1.0 + np.abs(x[free])))
            chord = False
        slope = float(g @ step)
        t, accepted, decrease = 1.0, False, 0.0
        for _ in range(30):
            cand = x.copy()
            cand[free] = x[free] + t * step
            fc = f(cand)
            if np.isfinite(fc) and fc <= fx + 1e-4 * t * min(slope, 0.0) and (fc < fx or rel < xtol):
                accepted = True
                break
            t /= 2.0
        if accepted:
            decrease = fx - fc
            x, fx = cand, fc
        if rel < xtol and accepted:
            break
        if not accepted:
            if chord:  # the kept Hessian is stale: recompute it before giving up
                chord = False
                continue
            break
        if decrease < 1e-12 * max(1.0, abs(fx)) and rel * t < 1e-5:
            break
        chord = t == 1.0 and rel < 3e-2
        near = bounded & ~fixed & (np.abs(x) < 1e-5)
        for i in np.flatnonzero(near):
            cand = x.copy()
            cand[i] = lower[i]
            fc = f(cand)
            away = cand.copy()
            away[i] += 1e-4
            if fc <= fx and f(away) >= fc:  # on the bound, and the bound is a minimum there
                x, fx, fixed[i] = cand, fc, True
                chord = False
    full = H is not None and H_free is not None and len(H_free) == len(x)
    return NewtonResult(x, fx, it, H if full else None, H_at if full else None)


def _canonical_theta(problem: GlmmProblem, theta: np.ndarray) -> np.ndarray:
    """The same covariance with lme4's non-negative diagonals (column signs flipped)."""
    out, k = [], 0
    for b in problem.blocks:
        T = b.T(theta[k:k + b.ntheta])
        for j in range(b.p):
            if T[j, j] < 0:
                T[j:, j] = -T[j:, j]
        out += [T[i, j] for j in range(b.p) for i in range(j, b.p)]
        k += b.ntheta
    return np.asarray(out, float)


def _minimise(f, x0: np.ndarray, lower: np.ndarray, problem: GlmmProblem):
    """Newton first; a derivative-free bounded search if Newton fails.  Returns the
    optimum, the deviance there and the Newton result (for its last Hessian)."""
    nth = problem.ntheta
    try:
        res = _newton(f, x0, lower)
        x = res.x.copy()
        x[:nth] = _canonical_theta(problem, x[:nth])
        if not np.array_equal(x, res.x):
            res.hessian = None
        fx = f(x)
        if np.isfinite(fx):
            return x, fx, res
    except (PirlsError, np.linalg.LinAlgError):
        pass
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    x0 = np.maximum(np.asarray(x0, float), np.where(np.isfinite(lower), lower, -np.inf))
    r = minimize(f, x0, method="Nelder-Mead", bounds=bounds,
                 options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000, "maxfev": 20000})
    return np.asarray(r.x, float), float(r.fun), None


def conv_messages(g: np.ndarray, H: np.ndarray, theta: np.ndarray, lower: np.ndarray,
                  ntheta: int, tol: float = 0.002, hess_tol: float = 1e-6) -> tuple[bool, float, list[str]]:
    """lme4's ``checkConv``: singular fit, scaled-gradient and Hessian checks (its words)."""
    msgs: list[str] = []
    bound = np.isfinite(lower[:ntheta]) & (lower[:ntheta] == 0)
    if np.any(theta[bound] < 1e-4):
        return True, 0.0, [SINGULAR_MSG]
    max_grad = 0.0
    converged = True
    try:
        R = np.linalg.cholesky(H).T  # R's chol(): upper triangular, H = R'R
        scgrad = np.linalg.solve(R, g)
        if np.any(~np.isfinite(scgrad)):
            raise np.linalg.LinAlgError
        max_grad = float(np.max(np.minimum(np.abs(scgrad), np.abs(g))))
        if max_grad > tol:
            converged = False
            msgs.append(f"Model failed to converge with max|grad| = {max_grad:g} (tol = {tol:g}, "
                        "component 1)")
    except np.linalg.LinAlgError:
        converged = False
        max_grad = float(np.max(np.abs(g)))
        msgs.append("unable to evaluate scaled gradient")
    for Hs, kind in ((H[ntheta:, ntheta:], "fixed-effect"), (H, "")):
        if Hs.size == 0:
            continue
        try:
            ev = np.linalg.eigvalsh((Hs + Hs.T) / 2)
        except np.linalg.LinAlgError:
            msgs.append("Problem with Hessian check (infinite or missing values?)")
            converged = False
            continue
        neg = int(np.sum(ev < -hess_tol))
        label = f"degenerate {kind} Hessian" if kind else "degenerate  Hessian"
        if neg:
            msgs.append(f"Model failed to converge: {label} with {neg} negative eigenvalues")
            converged = False
        elif np.any(np.abs(ev) < hess_tol):
            msgs.append(f"{kind} Hessian is numerically singular: parameters are not uniquely determined")
            converged = False
        else:
            if ev.max() * hess_tol > 1:
                msgs.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
            if ev.min() / ev.max() < hess_tol:
                msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return converged, max_grad, msgs


def fit_glmm(problem: GlmmProblem, nAGQ: int = 1) -> tuple[GlmerFitInfo, PirlsState]:
    """lme4's two-stage optimisation; returns the fit record and the final PIRLS state."""
    t0 = time.perf_counter()
    nth = problem.ntheta
    theta0 = theta_start(problem.blocks)
    eta_init = problem.offset + problem.family.linkfun(problem.mustart())
    try:
        s0 = problem.pirls(theta0, None, eta0=eta_init)
    except PirlsError as e:
        raise ModelError(f"{e} at the starting values{_separation_hint(problem)}") from None
    lp0 = s0.eta - problem.offset
    dev0 = _Devfun(problem, 0, lp0)
    lower0 = problem.lower
    th1, f1, _ = _minimise(dev0, theta0, lower0, problem)
    if not np.isfinite(f1):
        raise ModelError("PIRLS failed at every value of theta tried (pwrssUpdate did not "
                         f"converge){_separation_hint(problem)}")
    if nAGQ == 0:
        th1, f1 = _check_boundary(dev0, th1, f1, lower0, nth)
        s1 = dev0.state(th1)
        f1 = dev0.value(s1)
        info = GlmerFitInfo(nAGQ=0, par=th1, deviance=f1, stage1_theta=th1, stage1_deviance=f1,
                            feval=dev0.neval, seconds=time.perf_counter() - t0, lp_start=lp0)
        bound = np.isfinite(lower0) & (lower0 == 0)
        if np.any(th1[bound] < 1e-4):
            info.messages.append(SINGULAR_MSG)
        return info, s1
    s1 = dev0.state(th1)
    dev = _Devfun(problem, nAGQ, s1.eta - problem.offset)
    lower = np.r_[lower0, np.full(problem.p, -np.inf)]
    x0 = np.r_[th1, s1.beta]
    par, fval, res = _minimise(dev, x0, lower, problem)
    par2, fval = _check_boundary(dev, par, fval, lower, nth)
    if (res is not None and res.hessian is not None and np.array_equal(par2, par)
            and np.max(np.abs(par - res.hessian_at) / (1.0 + np.abs(par))) < 1e-6):
        # Newton's last Hessian was taken (within 1e-6) at the optimum: only the gradient
        g, H = _central_gradient(dev, par), res.hessian
    else:
        g, H = deriv12(dev, par2, fx=fval)
    par = par2
    s = dev.state(par)
    fval = dev.value(s)
    info = GlmerFitInfo(nAGQ=nAGQ, par=par, deviance=fval, stage1_theta=th1, stage1_deviance=f1,
                        gradient=g, hessian=H, feval=dev0.neval + dev.neval, lp_start=lp0,
                        lp_stage1=dev.lp0)
    if np.all(np.isfinite(g)) and np.all(np.isfinite(H)):
        info.converged, info.max_grad, info.messages = conv_messages(g, H, par[:nth], lower, nth)
    else:
        info.converged, info.messages = False, ["Gradient contains NAs"]
    info.seconds = time.perf_counter() - t0
    return info, s


def _separation_hint(problem: GlmmProblem) -> str:
    if problem.family.family != "binomial":
        return ""
    return ("; fitted probabilities numerically 0 or 1 occurred: the fixed effects may separate "
            "the responses completely (complete separation), so some estimates are infinite")


# ------------------------------------------------------------------------------ glmer
def glmer(formula: str, data: pd.DataFrame, family="binomial", weights=None, nAGQ: int = 1,
          offset=None, data_name: str | None = None) -> "GlmerMod | LmerMod":
    """Fit a generalized linear mixed model by maximum likelihood, as ``lme4::glmer``.

    ``family``: ``"binomial"``, ``"poisson"``, R-style ``'binomial(link = "probit")'``, or
    a statsmodels family instance.  ``weights``: prior weights (a column name or one value
    per row; the number of trials for a proportion response).  ``nAGQ``: 1 is the Laplace
    approximation; ``> 1`` adaptive Gauss-Hermite quadrature (one scalar random-effects
    term only, as in lme4); 0 is lme4's fast first stage alone.  ``offset``: a column name
    or one value per row, added to ``offset(...)`` terms of the formula.  As in lme4,
    ``family="gaussian"`` (identity link) warns and fits ``lmer()``.
    """
    if _is_gaussian_identity(family):
        warnings.warn("calling glmer() with family=gaussian (identity link) as a shortcut to "
                      "lmer() is deprecated; please call lmer() directly", FutureWarning,
                      stacklevel=2)
        if weights is not None or offset is not None:
            raise NotImplementedError("lmer() takes no weights or offset yet")
        return lmer(formula, data, data_name=data_name)
    fam = as_family(family)
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= nAGQ <= 25:
        raise ValueError(f"nAGQ must be an integer from 0 to 25, not {nAGQ!r}")
    nAGQ = int(nAGQ)
    parsed = parse_formula(formula)
    if not isinstance(data, pd.DataFrame):
        data = _to_pandas(data)
    name = data_name or (getattr(data, "attrs", {}) or {}).get("name")
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
    hidden = _hidden_variables(fixed, parsed.random, work)
    ytext = f"I({_YCOL}{''.join(f' + 0 * {v}' for v in hidden)})" if hidden else _YCOL
    parsed2 = ParsedFormula(formula=parsed.formula, response=ytext, fixed=fixed,
                            random=parsed.random)
    try:
        design = build_design(parsed2, work, data_name=name, allow_n=True)  # lme4: allow.n
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
    model.weights_arg = weights if isinstance(weights, str) else None  # R: "Weights: size"
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


def _hidden_variables(fixed: str, random, data: pd.DataFrame) -> list[str]:
    """Numeric columns the model uses only inside stateful transforms (``scale(x)``,
    ``center(x)``, ``poly(x, 2)``): formulaic's ``required_variables`` does not list
    them, so build_design would leave them out of the model frame.  glmer names them in
    its (internal) response, ``I(y + 0 * x)``, which puts them in the frame (and drops
    their missing rows) without changing anything else."""
    from formulaic import Formula
    out: list[str] = []
    for text in [fixed] + [t.expr for t in random]:
        try:
            names = _all_vars(_parse(text))
            seen = {str(v) for v in Formula(f"~ {to_python_expr(text)}").required_variables}
        except Exception:  # build_design reports malformed parts in its own words
            continue
        for v in names:
            if (v in data.columns and v not in seen and v not in out
                    and pd.api.types.is_numeric_dtype(data[v].dtype)
                    and not pd.api.types.is_bool_dtype(data[v].dtype)
                    and v.isidentifier()):
                out.append(v)
    return out


def _near_01(mu: np.ndarray, wt: np.ndarray) -> bool:
    """glm.fit's check (``eps <- 10 * .Machine$double.eps``)."""
    e = 10 * np.finfo(float).eps
    return bool(np.any(((mu > 1 - e) | (mu < e)) & (wt > 0)))


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
        """1: binomial and poisson have no scale parameter."""
        return 1.0

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
            V = self._problem.unscaled_vcov(self._state)
        out = pd.DataFrame(V, index=names, columns=names)
        if use_hessian is None:
            self._vcov_cache = out.copy()
        return out

    def VarCorr(self) -> VarCorr:
        """Random-effects covariances; no residual row (binomial/poisson have no scale)."""
        groups = make_unique([t.name for t in self.design.terms])
        terms = [VarCorrTerm(g, list(td.cnames), T @ T.T)
                 for g, td, T in zip(groups, self.design.terms, self._problem.factors(self.theta))]
        return VarCorr(terms, 1.0, use_sc=False)

    # -- likelihood ----------------------------------------------------------------------
    def _npar(self) -> int:
        return len(self.design.xnames) + len(self.theta)

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
                             "z value": z.to_numpy(),
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
        return [f".sig{i + 1:02d}" for i in range(len(self.theta))]

    # -- printing hooks ------------------------------------------------------------------
