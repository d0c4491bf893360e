"""simr's power analysis of glmer fits: what :mod:`mlm_wrap.toolbox.power` needs for a GLMM.

* the simulation task (simr's ``doSim`` / ``doFit`` / ``doTest`` for a ``glmerMod``): a
  response drawn from the family at the simulation parameters (lme4's ``simulate``,
  :func:`mlm_wrap.inference.boot._simulate_glmm`), the glmer refit
  (:func:`mlm_wrap.models.glmer.refit_glmer`), then simr's ``"z"`` test (the refit's
  ``summary()`` ``Pr(>|z|)``, simr's default for a GLMM's numeric fixed effect) or ``"lr"``
  (the deviance difference of the refits with and without the term, ``drop1``'s chi-square:
  the reduced model is the fit's own problem without the term's columns);
* the model's data for :func:`~mlm_wrap.toolbox.power.extend` and
  :func:`~mlm_wrap.toolbox.power.power_curve`: ``data=`` (the user's frame), or rebuilt
  from the fit (the columns it used, the response as counts for ``cbind(s, f)`` and
  ``cbind(s, n - s)``, a proportion's ``weights=`` column); and the simulated response
  written back into the response's columns (the binomial size column kept).

Warnings of a refit are counted per simulation as simr counts them; lme4's messages (a
singular fit) are not warnings in R and are not counted.
"""
from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.glmm import fit_glmm
from mlm_wrap.engines.pirls import GlmmProblem
from mlm_wrap.errors import DataError, MixedModelMessage, ModelError, SingularFitWarning, caught_warnings
from mlm_wrap.inference.boot import _simulate_glmm
from mlm_wrap.models.glmer import GlmerMod, refit_glmer
from mlm_wrap.spec.formula import all_vars, parse_formula
from mlm_wrap.spec.r_ast import _Binary, _Call, _Name
from mlm_wrap.spec.r_parser import _parse

__all__ = ["simulation", "glmm_state", "glmm_task", "glmm_data", "glmm_refit_args", "write_response"]

_MESSAGES = (SingularFitWarning, MixedModelMessage)  # R's message(), not warning()


# ============================================================================= the test
def _reduced(m: GlmerMod, cols: list[int]) -> GlmerMod:
    """The fit without the columns ``cols`` of X (the term simr's ``drop1`` drops), fitted
    by glmer's two stages on the same response, weights and offset."""
    keep = [j for j in range(len(m.design.xnames)) if j not in cols]
    pb = m._problem
    red = GlmmProblem(pb.X[:, keep], pb.blocks, pb.y, pb.wt, pb.offset, pb.n_trials, pb.family)
    with single_threaded_blas(), caught_warnings("ignore"):
        info, state = fit_glmm(red, m.nAGQ)
    design = copy.copy(m.design)
    design.X = m.design.X[:, keep]
    design.xnames = [m.design.xnames[j] for j in keep]
    out = GlmerMod(design, red, info, state, m.family_object,
                   SimpleNamespace(kind=m.response_kind), data_name=m.data_name,
                   offset_exprs=m.offset_exprs, offset_arg=m.offset_arg)
    out.nAGQ = m.nAGQ
    return out


def glmm_state(m: GlmerMod, cols: list[int], method: str, params: dict) -> dict:
    """What every simulation needs (sent once per worker): the fit, the reduced fit for the
    likelihood ratio, the parameters; one trial draw refuses what cannot be simulated."""
    if m.nAGQ == 0:
        raise ModelError("power_sim(): a glmer fit with nAGQ = 0 has no likelihood to test; "
                         "refit with nAGQ = 1")
    with caught_warnings("ignore"):
        _simulate_glmm(m, 1, np.random.default_rng(0), params["beta"], params["theta"],
                       params["sigma"])
    st = {"full": m, "params": params, "method": method, "col": cols[0]}
    if method == "lrt":
        red = _reduced(m, cols)
        if red.optinfo.messages and not np.isfinite(float(red.logLik())):
            raise ModelError("power_sim(): the model without the term could not be fitted")
        st.update(reduced=red, df=len(cols))
    return st


def simulation(item, pvalue) -> tuple[float, list[str], str | None]:
    """One simulation's bookkeeping, as simr's ``maybe``: ``pvalue(rng)`` with the rng of
    the task's seed; (the p-value, NA after an error; the warnings, lme4's messages left
    out; the error)."""
    _, ss = item
    rng = np.random.default_rng(ss)
    with caught_warnings("always", record=True) as caught:
        try:
            p, err = float(pvalue(rng)), None
        except Exception as e:  # simr counts the errors; the p-value is NA
            p, err = math.nan, f"{type(e).__name__}: {e}"
    return p, [str(w.message) for w in caught if not issubclass(w.category, _MESSAGES)], err


def _glmm_pvalue(st: dict, rng: np.random.Generator) -> float:
    m, par = st["full"], st["params"]
    y = _simulate_glmm(m, 1, rng, par["beta"], par["theta"], par["sigma"])[:, 0]
    fit = refit_glmer(m, y)
    if st["method"] == "z":
        return float(fit.coefficients["Pr(>|z|)"].iloc[st["col"]])
    red = refit_glmer(st["reduced"], y)
    chisq = max(0.0, 2.0 * (float(fit.logLik()) - float(red.logLik())))
    return float(stats.chi2.sf(chisq, st["df"]))


def glmm_task(st: dict, item) -> tuple[float, list[str], str | None]:
    """One simulation of a glmer fit: draw, refit, test (a worker's task)."""
    return simulation(item, lambda rng: _glmm_pvalue(st, rng))


# ============================================================================= the data
def _cbind_names(resp: str) -> tuple[str, str | None, str | None] | None:
    """``cbind(s, f)`` -> (s, f, None); ``cbind(s, n - s)`` -> (s, None, n); else None."""
    node = _parse(resp)
    if not (isinstance(node, _Call) and isinstance(node.fn, _Name) and node.fn.name == "cbind"):
        return None
    args = [a for _, a in node.args]
    if len(args) != 2 or not isinstance(args[0], _Name):
        raise DataError(f"the response {resp!r}: the simulated counts are written to the first "
                        "column of cbind(), which must be a column name")
    s, b = args[0].name, args[1]
    if isinstance(b, _Name):
        return s, b.name, None
    if (isinstance(b, _Binary) and b.op == "-" and isinstance(b.left, _Name)
            and isinstance(b.right, _Name) and b.right.name == s):
        return s, None, b.left.name
    raise DataError(f"the response {resp!r}: the second column of cbind() must be a column "
                    "name or 'n - successes'")


def glmm_refit_args(m: GlmerMod, who: str) -> dict:
    """``weights=`` / ``offset=`` of the fit for a refit on new rows (column names carry
    over; values given for the old rows do not)."""
    out = {}
    for arg in ("weights", "offset"):
        v = (getattr(m, "call_args", None) or {}).get(arg)
        if v is None:
            continue
        if not isinstance(v, str):
            raise DataError(f"{who}: the model's {arg}= were given as values, one per row of the "
                            f"old data, which do not carry over to new rows; fit it with "
                            f"{arg}= a column name")
        out[arg] = v
    return out


def glmm_data(m: GlmerMod, who: str) -> pd.DataFrame:
    """The fit's data rebuilt from what it keeps: its columns, the response (counts of a
    ``cbind()``, the size column), a ``weights=`` column; a :class:`DataError` naming what
    is missing (an offset's variables, a response expression) when ``data=`` is needed."""
    d, pb = m.design, m._problem
    frame = d.frame.drop(columns=[c for c in d.frame.columns if c.startswith("mlmwrap_")])
    resp = parse_formula(m.formula).response
    cb = _cbind_names(resp)
    if cb is not None:
        s, f, n = cb
        k, size = np.rint(pb.y * pb.n_trials).astype(np.int64), pb.n_trials.astype(np.int64)
        frame[s] = k
        frame[f if f is not None else n] = size - k if f is not None else size
    elif resp.isidentifier() and resp not in frame.columns:
        frame[resp] = pb.y
    w = glmm_refit_args(m, who).get("weights")
    if w is not None and w.isidentifier() and w not in frame.columns:
        frame[w] = pb.wt / pb.n_trials
    need = set(all_vars(m.formula)) | {v for a in glmm_refit_args(m, who).values() for v in all_vars(a)}
    missing = sorted(v for v in need if v not in frame.columns)
    if missing:
        raise DataError(f"{who}: the model uses {', '.join(map(repr, missing))}, which it does "
                        "not keep; pass data=, the data frame it was fitted to")
    return frame


def _put(new: pd.DataFrame, rows, col: str, vals: np.ndarray) -> None:
    """``new[col]`` at ``rows`` set to ``vals`` (integer columns stay integer when whole)."""
    kind = new[col].dtype.kind
    if kind in "iu" and len(rows) == len(new) and np.all(vals == np.rint(vals)):
        new[col] = vals.astype(new[col].dtype)
        return
    if kind not in "f":
        new[col] = new[col].astype(float)
    new.loc[rows, col] = vals


def write_response(m, new: pd.DataFrame, y: np.ndarray) -> None:
    """The simulated response of ``m`` (fitted to ``new``; glm's scale: proportions for a
    binomial fit) written into ``new``'s response columns at the model's rows: a
    ``cbind()``'s counts (its failures, or the size column kept), a proportion, counts, or a
    two-level factor's levels (the first is failure)."""
    resp = parse_formula(m.formula).response
    rows = m.design.index
    cb = _cbind_names(resp)
    if cb is not None:
        s, f, _ = cb
        k = np.rint(y * m._problem.n_trials)
        if f is not None:
            _put(new, rows, f, m._problem.n_trials - k)
        _put(new, rows, s, k)
        return
    node = _parse(resp)
    if (isinstance(node, _Binary) and node.op == "/" and isinstance(node.left, _Name)
            and isinstance(node.right, _Name)):  # successes / trials
        _put(new, rows, node.left.name, np.rint(y * new.loc[rows, node.right.name].to_numpy(float)))
        return
    if resp not in new.columns:
        raise DataError(f"the response {resp!r} must be a column of the data, 'cbind(s, f)', "
                        "'cbind(s, n - s)' or 's / n' to hold the simulated values")
    col = new[resp]
    if col.dtype == bool:
        new.loc[rows, resp] = y > 0.5
    elif isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object:
        levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                  else sorted(pd.unique(col.dropna())))
        new.loc[rows, resp] = np.where(y > 0.5, levels[1], levels[0])
    else:
        _put(new, rows, resp, y)
