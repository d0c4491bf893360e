"""broom.mixed's ``tidy()``, ``glance()`` and ``augment()`` for lmer and glmer fits
(broom.mixed 0.2.9's methods for ``merMod``).

Results are :class:`~mlm_wrap.rformat.objects.RFrame` data frames with broom.mixed's
column names and row order; R's ``NA`` is ``NaN`` in numeric columns and ``None`` in
character columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.errors import ModelError, caught_warnings
from mlm_wrap.inference.boot import confint_boot
from mlm_wrap.inference.params import varpar_names
from mlm_wrap.inference.profile import confint_profile
from mlm_wrap.models.base import call_arg, is_glmm
from mlm_wrap.models.loglik import make_unique
from mlm_wrap.rformat.objects import RFrame
from mlm_wrap.spec.formula import call_arguments
from mlm_wrap.toolbox.diagnostics import cooks_distance, hatvalues

EFFECTS = ("ran_pars", "fixed", "ran_vals", "ran_coefs")
#: broom.mixed's reorder_cols(): the columns it keeps, in this order
ALL_COLS = ("response", "effect", "component", "group", "level", "term", "index", "estimate",
            "std.error", "statistic", "df", "p.value", "conf.low", "conf.high", "rhat", "ess")


# ---------------------------------------------------------------------------------- tidy
def _intervals(m, method: str, level: float, nsim: int, seed) -> pd.DataFrame:
    """confint(m, method=) for all parameters: rows var-params (theta order, then sigma
    for lmer) and the fixed effects, columns (low, high)."""
    method_l = method.lower()
    if method_l == "profile":
        ci = confint_profile(m, level=level)
    elif method_l == "boot":
        ci = confint_boot(m, nsim=nsim, level=level, seed=seed, progress=False)
    else:
        raise ValueError(f"conf_method must be 'Wald', 'profile' or 'boot', not {method!r}")
    return ci


def _wald(m, level: float) -> tuple[np.ndarray, np.ndarray]:
    z = stats.norm.ppf((1 + level) / 2)
    fe, se = np.asarray(m.fixef(), float), np.asarray(m.se_fixef(), float)
    return fe - z * se, fe + z * se


def _tidy_fixed(m, conf_int: bool, level: float, method: str, ci) -> pd.DataFrame:
    names = list(m.design.xnames)
    fe, se = np.asarray(m.fixef(), float), np.asarray(m.se_fixef(), float)
    out = pd.DataFrame({"effect": "fixed", "term": names, "estimate": fe, "std.error": se,
                        "statistic": fe / se})
    if is_glmm(m):
        out["p.value"] = 2.0 * stats.norm.sf(np.abs(fe / se))
    if conf_int:
        if method.lower() == "wald":
            lo, hi = _wald(m, level)
        else:
            sub = ci.loc[names]
            lo, hi = sub.iloc[:, 0].to_numpy(float), sub.iloc[:, 1].to_numpy(float)
        out["conf.low"], out["conf.high"] = lo, hi
    return out


def _ran_pars_rows(m) -> list[tuple[str, str, float]]:
    """as.data.frame(VarCorr(m), order = "lower.tri") with broom's term names."""
    groups = make_unique([t.name for t in m.design.terms])
    rows = []
    for g, td, T in zip(groups, m.design.terms, m._problem.factors(m.theta)):
        S = (T @ T.T) * m.sigma() ** 2
        sd = np.sqrt(np.clip(np.diag(S), 0.0, None))
        cn = list(td.cnames)
        for j in range(len(cn)):
            for i in range(j, len(cn)):
                if i == j:
                    rows.append((g, f"sd__{cn[i]}", float(sd[i])))
                else:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        r = S[i, j] / (sd[i] * sd[j])
                    rows.append((g, f"cor__{cn[j]}.{cn[i]}", float(r)))
    if not is_glmm(m) or m.family_object.has_scale:  # Gamma, inverse.gaussian, gaussian(link)
        rows.append(("Residual", "sd__Observation", float(m.sigma())))
    return rows


def _tidy_ran_pars(m, conf_int: bool, method: str, ci) -> pd.DataFrame:
    rows = _ran_pars_rows(m)
    out = pd.DataFrame(rows, columns=["group", "term", "estimate"])
    out.insert(0, "effect", "ran_pars")
    if conf_int:
        if method.lower() == "wald":
            lo = hi = np.full(len(rows), np.nan)
        else:
            nv = len(varpar_names(m))
            if nv != len(rows):
                raise ModelError("tidy(): the intervals' variance parameters do not match "
                                 "the random-effects table")
            lo, hi = ci.iloc[:nv, 0].to_numpy(float), ci.iloc[:nv, 1].to_numpy(float)
        out["conf.low"], out["conf.high"] = lo, hi
    return out


def _tidy_ran_vals(m, conf_int: bool, level: float, method: str) -> pd.DataFrame:
    if conf_int and method.lower() != "wald":
        raise ModelError("only Wald CIs available for conditional modes")
    re = m.ranef()
    cv = m.condvar()
    # condVar per factor, columns in ranef's order
    sds: dict[tuple[str, str], np.ndarray] = {}
    for td, c in zip(m.design.terms, cv):
        for k, cname in enumerate(td.cnames):
            sds[(td.name, cname)] = np.sqrt(np.clip(c[:, k, k], 0.0, None))
    parts = []
    for g in re.keys():
        tab = re[g]
        for cname in tab.columns:
            parts.append(pd.DataFrame({
                "effect": "ran_vals", "group": g, "level": [str(x) for x in tab.index],
                "term": cname, "estimate": tab[cname].to_numpy(float),
                "std.error": sds.get((g, cname), np.full(len(tab), np.nan))}))
    out = pd.concat(parts, ignore_index=True)
    if conf_int:
        z = stats.norm.ppf((1 + level) / 2)
        out["conf.low"] = out["estimate"] - z * out["std.error"]
        out["conf.high"] = out["estimate"] + z * out["std.error"]
    return out


def _tidy_ran_coefs(m, conf_int: bool) -> pd.DataFrame:
    cf = m.coef()
    parts = []
    for g in cf.keys():
        tab = cf[g]
        for cname in tab.columns:
            parts.append(pd.DataFrame({"effect": "ran_coefs", "group": g,
                                       "level": [str(x) for x in tab.index], "term": cname,
                                       "estimate": tab[cname].to_numpy(float)}))
    out = pd.concat(parts, ignore_index=True)
    if conf_int:  # broom.mixed warns and returns NA
        out["conf.low"] = np.nan
        out["conf.high"] = np.nan
    return out


def tidy(m, effects=("ran_pars", "fixed"), conf_int: bool = False, conf_level: float = 0.95,
         conf_method: str = "Wald", nsim: int = 500, seed=None) -> RFrame:
    """broom.mixed's ``tidy(m, effects =, conf.int =, conf.level =, conf.method =)``.

    ``effects``: any of ``"fixed"``, ``"ran_pars"``, ``"ran_vals"``, ``"ran_coefs"``
    (default both ``ran_pars`` and ``fixed``; rows come fixed, ran_pars, ran_vals,
    ran_coefs, as broom.mixed binds them).  ``conf_method``: ``"Wald"`` (normal quantiles),
    ``"profile"`` or ``"boot"`` (parametric bootstrap, ``nsim`` runs, ``seed``); Wald
    intervals of variance parameters are NA, as lme4's.
    """
    effs = [effects] if isinstance(effects, str) else list(effects)
    bad = [e for e in effs if e not in EFFECTS]
    if bad:
        raise ValueError(f"unknown effect type {bad[0]}")
    ci = None
    if conf_int and conf_method.lower() != "wald" and ("fixed" in effs or "ran_pars" in effs):
        ci = _intervals(m, conf_method, conf_level, nsim, seed)
    parts = []
    if "fixed" in effs:
        parts.append(_tidy_fixed(m, conf_int, conf_level, conf_method, ci))
    if "ran_pars" in effs:
        parts.append(_tidy_ran_pars(m, conf_int, conf_method, ci))
    if "ran_vals" in effs:
        parts.append(_tidy_ran_vals(m, conf_int, conf_level, conf_method))
    if "ran_coefs" in effs:
        parts.append(_tidy_ran_coefs(m, conf_int))
    out = pd.concat(parts, ignore_index=True)
    for col in ("group", "level"):
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return RFrame(out[[c for c in ALL_COLS if c in out.columns]])


# -------------------------------------------------------------------------------- glance
def glance(m) -> RFrame:
    """broom.mixed's ``glance(m)``: ``nobs, sigma, logLik, AIC, BIC``, ``REMLcrit`` (REML
    fits) or ``deviance``, ``df.residual``."""
    row = {"nobs": int(m.nobs()), "sigma": float(m.sigma()), "logLik": float(m.logLik()),
           "AIC": float(m.AIC()), "BIC": float(m.BIC())}
    if getattr(m, "REML", False) and not is_glmm(m):
        row["REMLcrit"] = float(m.REMLcrit())
    else:
        row["deviance"] = float(m.deviance())
    row["df.residual"] = int(m.df_residual())
    return RFrame([row])


# ------------------------------------------------------------------------------- augment
def _weight_offset_columns(m, fr: pd.DataFrame) -> pd.DataFrame:
    """model.frame's ``(weights)`` and ``(offset)`` columns, present when the fit was given
    ``weights=`` / ``offset=`` arguments (an ``offset()`` term of the formula is a column of
    R's model frame not reproduced here: no ``(offset)`` column is added then either)."""
    pb = m._problem
    if call_arg(m, "weights") is not None or (not is_glmm(m) and m.design.weights is not None):
        if is_glmm(m):
            w = pb.wt / pb.n_trials if getattr(m, "response_kind", "") == "cbind" else pb.wt
        else:
            w = m.design.weights
        fr["(weights)"] = np.asarray(w, float)
    has_arg = bool(getattr(m, "offset_arg", False)) or call_arg(m, "offset") is not None
    if has_arg and "offset(" not in m.formula.replace(" ", ""):
        fr["(offset)"] = np.asarray(pb.offset, float)
    return fr


def _data_columns(m) -> pd.DataFrame:
    """model.frame(m)'s columns as a data frame shows them.  glmer keeps its response in an
    internal column: it gets the formula's response text; a ``cbind(s, f)`` response is
    the two count columns, named as R's ``as.data.frame(model.frame(m))`` names them
    (``cbind(s, f).s``, ``cbind(s, f).V2``).  A factor response is shown as glm codes it (0/1)."""
    import re

    fr = m.design.frame.copy()
    fr.index = m.design.index
    fr = _weight_offset_columns(m, fr)
    cols = list(fr.columns)
    if not is_glmm(m) or not cols:
        return fr
    resp = m.formula.split("~", 1)[0].strip()
    first = cols[0]
    if getattr(m, "response_kind", "") == "cbind" and resp.startswith("cbind("):
        pb = m._problem
        succ = np.asarray(pb.y * pb.wt, float)
        mats = {}
        for i, (arg, val) in enumerate(zip(call_arguments(resp), [succ, pb.wt - succ])):
            nm = arg if re.fullmatch(r"[A-Za-z.][A-Za-z0-9._]*", arg) else f"V{i + 1}"
            mats[f"{resp}.{nm}"] = np.round(val, 10)
        rest = fr.drop(columns=[first])
        return pd.concat([pd.DataFrame(mats, index=fr.index), rest], axis=1)
    return fr.rename(columns={first: resp})


def _resp_columns(m) -> dict[str, np.ndarray]:
    """lme4's ``m@resp`` fields broom.mixed appends: mu, offset, sqrtXwt, sqrtrwt,
    weights, wtres (and eta for glmer)."""
    if is_glmm(m):
        s, pb = m._state, m._problem
        var = pb.family.variance(s.mu)
        mu_eta = pb.family.mu_eta(s.eta)
        sqrtrwt = np.sqrt(pb.wt / var)
        return {".mu": s.mu, ".offset": pb.offset, ".sqrtXwt": sqrtrwt * mu_eta,
                ".sqrtrwt": sqrtrwt, ".weights": pb.wt, ".wtres": sqrtrwt * (pb.y - s.mu),
                ".eta": s.eta}
    pb = m._problem
    mu = m._sol.fitted
    w = np.ones(pb.n) if pb.weights is None else pb.weights
    return {".mu": mu, ".offset": pb.offset, ".sqrtXwt": np.sqrt(w), ".sqrtrwt": np.sqrt(w),
            ".weights": w, ".wtres": np.sqrt(w) * (np.asarray(m.design.y, float) - mu)}


def augment(m, newdata: pd.DataFrame | None = None) -> RFrame:
    """broom.mixed's ``augment(m)``: the model frame with ``.fitted`` (link scale),
    ``.resid`` (lme4's default residuals: response for lmer, deviance for glmer), ``.hat``,
    ``.cooksd``, ``.fixed`` (``predict(m, re.form = NA)``) and the response-module fields
    ``.mu .offset .sqrtXwt .sqrtrwt .weights .wtres`` (``.eta`` for glmer).

    With ``newdata``: ``newdata`` and ``.fitted`` (``predict(m, newdata)``) only; broom.mixed
    also pastes the fit's per-observation fields there, which do not belong to the new rows.
    """
    if newdata is not None:
        nd = pd.DataFrame(newdata).copy()
        nd[".fitted"] = np.asarray(m.predict(newdata=nd), float)
        return RFrame(nd)
    out = _data_columns(m)
    rows = m.design.unpad  # the model frame's rows of padded (na.exclude) values, by position
    out[".fitted"] = np.asarray(m.predict(), float) if is_glmm(m) else rows(m.fitted())
    out[".resid"] = rows(m.residuals())
    with caught_warnings():
        out[".hat"] = rows(hatvalues(m))
        out[".cooksd"] = rows(cooks_distance(m))
    out[".fixed"] = rows(m.predict(re_form="~0"))
    for k, v in _resp_columns(m).items():
        out[k] = np.asarray(v, float)
    return RFrame(out.reset_index(drop=True))


__all__ = ["augment", "glance", "tidy"]
