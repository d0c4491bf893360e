"""Many models at once: ``fit_many(formula, data, by="col")`` and ``fit_many([formulas], data)``.

One fit per subgroup of ``data`` (``by=``: a column or a list of columns), per formula,
or per (formula, subgroup); every fit is a task of
:func:`mlm_wrap.inference.parallel.run_tasks` (``parallel=``, ``ncpus=``, ``cl=``,
``progress=`` as ``bootMer``'s: the data go to each worker once).  The answer is a tidy
table, one row per fit: the subgroup and formula, ``nobs``, ``REML``, ``logLik``,
``AIC``, ``BIC``, ``converged``, ``singular``, the fixed effects, the sds / correlations
and sigma (named as ``confint``'s rows), the fit's warnings and, for a fit that failed,
its error (the estimates NaN): a failed fit is a row, never dropped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlm_wrap.errors import caught_warnings
from mlm_wrap.inference.parallel import run_tasks
from mlm_wrap.inference.params import _sdcor, varpar_names
from mlm_wrap.models.base import is_glmm
from mlm_wrap.models.glmer import glmer
from mlm_wrap.models.lmer import lmer

__all__ = ["fit_many"]


def _row(m) -> dict:
    """A fit's one-row summary."""
    glmm = is_glmm(m)
    vn = varpar_names(m)
    vals = _sdcor(m._problem.blocks, m.theta, m.sigma())
    if glmm and not m.family_object.has_scale:
        vn, vals = vn[:-1], vals[:-1]
    ll = m.logLik()
    row = {"nobs": int(m.nobs()), "REML": bool(getattr(m, "REML", False)), "logLik": float(ll),
           "df": int(ll.df), "AIC": float(m.AIC()), "BIC": float(m.BIC()),
           "converged": bool(getattr(m.optinfo, "converged", True)),
           "singular": bool(m.isSingular())}
    row.update(dict(zip(m.design.xnames, np.asarray(m.fixef(), float))))
    row.update(dict(zip(vn, np.asarray(vals, float))))
    return row


def _fit_task(st: dict, item) -> dict:
    """One fit (a worker's task): the subgroup's rows, the formula, the one-row summary."""
    f_idx, key = item
    formula = st["formulas"][f_idx]
    data = st["data"] if key is None else st["groups"][key]
    with caught_warnings("always", record=True) as caught:
        try:
            if st["family"] is None:
                m = lmer(formula, data=data, **st["kwargs"])
            else:
                m = glmer(formula, data=data, family=st["family"], **st["kwargs"])
            row, err = _row(m), None
        except Exception as e:  # a failed fit is a row with its error
            row, err = {"converged": False}, f"{type(e).__name__}: {e}"
    row["messages"] = "; ".join(dict.fromkeys(str(w.message) for w in caught)) or None
    row["error"] = err
    return row


def fit_many(formula, data, by=None, family=None, parallel: str = "no",
             ncpus: int | None = None, cl=None, progress: bool = True, **kwargs) -> pd.DataFrame:
    """Fit one formula per subgroup (``by="col"`` or a list of columns), several formulas
    (``formula=[f1, f2, ...]``), or both; ``family=`` fits by ``glmer``, other keyword
    arguments go to ``lmer``/``glmer`` (``REML=False``, ``control=``, ...).

    Returns a pandas DataFrame, one row per fit in the order of the formulas, then the
    subgroups (in order of first appearance): ``by``'s column(s), ``formula``, ``nobs``,
    ``REML``, ``logLik``, ``df``, ``AIC``, ``BIC``, ``converged``, ``singular``, one column
    per fixed effect and variance parameter (NaN where a fit lacks it), ``messages``
    and ``error``."""
    formulas = [formula] if isinstance(formula, str) else list(formula)
    if not formulas:
        raise ValueError("fit_many() needs at least one formula")
    data = pd.DataFrame(data) if not isinstance(data, pd.DataFrame) else data
    bys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    missing = [b for b in bys if b not in data.columns]
    if missing:
        raise KeyError(f"fit_many(): by= names {missing}, not columns of the data")
    if bys:
        grouped = data.groupby(bys if len(bys) > 1 else bys[0], sort=False, observed=True,
                               dropna=False)
        groups = {k: g for k, g in grouped}
        keys = list(groups)
    else:
        groups, keys = {}, [None]
    state = {"data": None if bys else data, "groups": groups, "formulas": formulas,
             "family": family, "kwargs": kwargs}
    items = [(i, k) for i in range(len(formulas)) for k in keys]
    rows = run_tasks(_fit_task, state, items, parallel=parallel, ncpus=ncpus, cl=cl,
                     progress=progress, desc="fits")
    lead = []
    for i, k in items:
        d = {}
        if bys:
            kk = k if isinstance(k, tuple) else (k,)
            d.update(dict(zip(bys, kk)))
        d["formula"] = formulas[i]
        lead.append(d)
    out = pd.concat([pd.DataFrame(lead), pd.DataFrame(rows)], axis=1)
    tail = ["messages", "error"]
    return out[[c for c in out.columns if c not in tail] + tail]
