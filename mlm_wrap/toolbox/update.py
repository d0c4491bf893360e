"""R's ``update(m, ...)`` for lmer/glmer fits, and lme4's ``allFit(m)``.

The formula is updated on its text as R's ``update.formula`` does: ``.`` on each side of
the new formula stands for the old side, then the right side is simplified as
``terms.formula(simplify = TRUE)`` simplifies it (``- x`` removes the term; the terms come
back in R's order; random terms keep their parentheses).  Only the R parser and deparser
of :mod:`mlm_wrap.spec` are used: nothing is evaluated as Python.

The model keeps the data columns it used (``m.design.frame``, the rows it kept), not the
user's data frame.  ``update`` refits on those when they suffice (the new formula uses
only those columns, no row was dropped for missing values); otherwise pass ``data=``.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from mlm_wrap.engines.optimize import AVAILABLE
from mlm_wrap.errors import DataError, caught_warnings
from mlm_wrap.inference.parallel import run_tasks
from mlm_wrap.models.glmer import glmer
from mlm_wrap.models.lmer import LmerMod, lmer, lmerControl, refit_control
from mlm_wrap.rformat.objects import RFrame, RList, RSeries
from mlm_wrap.spec.formula import all_vars, parse_formula
from mlm_wrap.spec.model_matrix import r_terms
from mlm_wrap.spec.r_ast import _Binary, _Name, _Paren, _Unary
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.r_parser import _parse

# allFit's names for mlm_wrap's optimizers (lme4 names nloptwrap by its algorithm)
ALLFIT_NAMES = {"bobyqa": "bobyqa", "Nelder_Mead": "Nelder_Mead",
                "nloptwrap": "nloptwrap.NLOPT_LN_BOBYQA"}


# ------------------------------------------------------------------------------ formula
def _substitute_dot(node, repl):
    """``node`` with every ``.`` replaced by ``repl`` (parenthesised, as R's substitution
    of a call keeps it one operand)."""
    if isinstance(node, _Name) and node.name == ".":
        return repl
    if dataclasses.is_dataclass(node):
        changes = {}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if dataclasses.is_dataclass(v):
                changes[f.name] = _substitute_dot(v, repl)
            elif isinstance(v, tuple) and v and all(isinstance(a, tuple) for a in v):
                changes[f.name] = tuple((k, _substitute_dot(a, repl) if a is not None else None)
                                        for k, a in v)
        return dataclasses.replace(node, **changes) if changes else node
    return node


def _simplify_rhs(rhs) -> str:
    """R's ``formula(terms.formula(rhs, simplify = TRUE))`` right side."""
    text = _deparse(rhs)
    ti = r_terms(rhs, text)
    labels = [f"({lab})" if "|" in lab else lab for lab in ti.labels]
    if ti.offsets:
        labels += [ti.variables[i] for i in ti.offsets]
    if not labels:
        return "1" if ti.intercept else "-1"
    return " + ".join(labels) + ("" if ti.intercept else " - 1")


def update_formula(old: str, new: str) -> str:
    """R's ``update.formula(old, new)`` on formula text: ``". ~ . - Days"``,
    ``"log(.) ~ ."``, ``". ~ . + (1 | g2)"``."""
    o, n = _parse(old), _parse(new)
    if not (isinstance(o, _Binary) and o.op == "~"):
        raise ValueError(f"the model's formula {old!r} has no response")
    if isinstance(n, _Binary) and n.op == "~" and n.left is not None:
        lhs_new, rhs_new = n.left, n.right
    elif isinstance(n, _Unary) and n.op == "~":
        lhs_new, rhs_new = _Name("."), n.operand
    else:
        raise ValueError(f"update: the new formula {new!r} must have a '~'")
    lhs = _substitute_dot(lhs_new, o.left)
    rhs = _substitute_dot(rhs_new, _Paren(o.right))
    return f"{_deparse(lhs)} ~ {_simplify_rhs(rhs)}"


# ------------------------------------------------------------------------------ refit
def _default_data(m, formula: str) -> pd.DataFrame:
    d = m.design
    frame = d.frame.copy()
    if hasattr(m, "family_object"):  # glmer keeps its response under an internal name
        internal = [c for c in frame.columns if c.startswith("mlmwrap_")]
        resp = parse_formula(m.formula).response
        if internal and resp.isidentifier() and resp not in frame.columns:
            frame[resp] = m._problem.y  # the counts, 0/1 or proportions glmer fitted
        frame = frame.drop(columns=internal)
    if d.n_na_dropped:
        raise DataError(f"update(): the model dropped {d.n_na_dropped} row(s) with missing "
                        "values and does not keep the original data; pass data= (R refits on "
                        "the whole data set)")
    missing = [v for v in all_vars(formula) if v not in frame.columns]
    if missing:
        raise DataError(f"update(): the new formula uses {', '.join(map(repr, missing))}, "
                        "which the model's data (the columns it used: "
                        f"{', '.join(map(str, frame.columns))}) lacks; pass data=")
    return frame


def update(m, formula: str | None = None, *, data: pd.DataFrame | None = None, **changes):
    """R's ``update(m, formula., ...)``: refit with the formula updated (``". ~ . - x"``,
    ``"log(.) ~ ."``) and any argument changed (``REML=False``, ``data=``, ``weights=``,
    ``subset=``, ``control=``, ``family=``, ``nAGQ=``...).  Without ``data=`` the model's
    own data columns are used when they suffice (see the module's note)."""
    glmm = hasattr(m, "family_object")
    if (not glmm and formula is None and data is None and set(changes) == {"control"}
            and type(m) is LmerMod):
        return refit_control(m, changes["control"])  # same rows: only the optimisation reruns
    new_formula = m.formula if formula is None else update_formula(m.formula, formula)
    kw: dict = {}
    if glmm:
        kw["family"] = m.family_object
        kw["nAGQ"] = m.nAGQ
    else:
        kw["REML"] = bool(m.REML)
        if getattr(m, "control", None) is not None:
            kw["control"] = m.control
    if data is None:
        if getattr(m, "data_name", None):
            kw["data_name"] = m.data_name
        data = _default_data(m, new_formula)
        for extra in ("weights", "subset", "offset"):
            v = changes.get(extra)
            if isinstance(v, str):
                lack = [c for c in all_vars(v) if c not in data.columns]
                if lack:
                    raise DataError(f"update(): {extra}={v!r} uses {', '.join(map(repr, lack))}, "
                                    "not among the model's data columns; pass data=")
        if "subset" in changes and m.design.n_subset_dropped:
            raise DataError("update(): the model was fitted to a subset and does not keep the "
                            "other rows; pass data= with the new subset=")
        if "weights" not in changes and m.design.weights is not None and not glmm:
            kw["weights"] = np.asarray(m.design.weights)
        if "weights" not in changes and glmm and not np.all(m._problem.wt == 1.0):
            kw["weights"] = np.asarray(m._problem.wt)  # prior weights (proportion's trials)
        if "offset" not in changes:
            if getattr(m, "offset_arg", None) not in (None, False):
                raise DataError("update(): the model has an offset= argument the model does "
                                "not keep; pass data= and offset=")
            if not glmm and m.design.offset is not None and "offset(" not in m.formula:
                kw["offset"] = np.asarray(m.design.offset)  # lmer's offset= given as values
    else:
        given = getattr(m, "call_args", None) or {}
        for arg in ("weights", "subset", "offset"):  # R re-evaluates the call's expressions
            if arg in changes:
                continue
            v = given.get(arg, getattr(m, f"{arg}_arg", None))
            if isinstance(v, str):
                kw[arg] = v
            elif v is not None and v is not False:
                raise DataError(f"update(): the model's {arg} were given as values, which do "
                                f"not carry over to new data; pass {arg}= too")
            elif arg == "weights" and not glmm and m.design.weights is not None:
                raise DataError("update(): the model's weights were given as values, which "
                                "do not carry over to new data; pass weights= too")
    kw.update(changes)
    fit = glmer if glmm else lmer
    return fit(new_formula, data, **kw)


# ------------------------------------------------------------------------------ allFit
class AllFitSummary(RList):
    """``summary(allFit(m))``: which.OK, msgs, fixef, llik, sdcor, theta, times, feval."""


def _sdcor(m) -> RSeries:
    """allFit's ``sdcor`` as lme4 makes it: the values of ``as.data.frame(VarCorr(m))``
    (per term the standard deviations, then the correlations below the diagonal, column by
    column; then sigma) under the names of ``getME(m, "theta")`` (so in R, and here,
    ``Subject.Days.(Intercept)`` labels the SD of Days and ``Subject.Days`` the
    correlation)."""
    from mlm_wrap.toolbox.accessors import theta_names
    vals = []
    for t in m.VarCorr().terms:
        sd = np.sqrt(np.diag(t.cov))
        vals += list(sd)
        k = len(sd)
        for j in range(k):
            for i in range(j + 1, k):
                vals.append(t.cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan)
    names = theta_names(m)
    if not hasattr(m, "family_object"):
        names.append("sigma")
        vals.append(m.sigma())
    return RSeries(vals, index=names)


def _allfit_task(st: dict, opt: str) -> dict:
    """One optimizer's refit (a worker's task)."""
    from mlm_wrap.toolbox.accessors import getME
    m, data = st["model"], st["data"]
    t0 = time.perf_counter()
    with caught_warnings("always", record=True) as w:
        try:
            fit = update(m, data=data, control=lmerControl(optimizer=opt))
        except Exception as e:  # noqa: BLE001  (allFit records each optimizer's failure)
            return {"ok": False, "msgs": [f"{type(e).__name__}: {e}"]}
    return {"ok": True, "msgs": [str(x.message) for x in w] or None,
            "time": time.perf_counter() - t0, "fixef": fit.fixef(), "llik": float(fit.logLik()),
            "sdcor": _sdcor(fit), "theta": getME(fit, "theta"),
            "feval": getattr(fit.optinfo, "feval", np.nan)}  # not recorded by the engines: NaN


def allFit(m, optimizers=None, data: pd.DataFrame | None = None, parallel: str = "no",
           ncpus: int | None = None, cl=None, progress: bool = True) -> AllFitSummary:
    """lme4's ``summary(allFit(m))`` over mlm_wrap's optimizers (``AVAILABLE``: nloptwrap,
    bobyqa, Nelder_Mead; rows named as allFit names them): a dict-like summary with
    ``which.OK``, ``msgs``, ``fixef`` (a table, optimizers by coefficients), ``llik``,
    ``sdcor``, ``theta``, ``times``, ``feval``.  An lmer model only.  The refits run on the
    ``parallel=`` back end (lme4's ``allFit(parallel=, ncpus=)``; see ``bootMer``)."""
    if hasattr(m, "family_object"):
        raise NotImplementedError("allFit() for glmer fits is not available yet (glmer takes "
                                  "no control= optimizer here)")
    names = list(optimizers or ("bobyqa", "Nelder_Mead", "nloptwrap"))
    todo = [opt for opt in names if opt in AVAILABLE]
    res = dict(zip(todo, run_tasks(_allfit_task, {"model": m, "data": data}, todo,
                                   parallel=parallel, ncpus=ncpus, cl=cl, progress=progress,
                                   desc="allFit")))
    ok, msgs, fx, ll, sdc, th, times, fev = {}, {}, [], {}, [], [], {}, {}
    for opt in names:
        label = ALLFIT_NAMES.get(opt, opt)
        r = res.get(opt, {"ok": False, "msgs": [f"optimizer {opt!r} is not available"]})
        ok[label], msgs[label] = r["ok"], r["msgs"]
        if not r["ok"]:
            continue
        times[label] = r["time"]
        fx.append(r["fixef"].rename(label))
        ll[label] = r["llik"]
        sdc.append(r["sdcor"].rename(label))
        th.append(r["theta"].rename(label))
        fev[label] = r["feval"]
    out = AllFitSummary()
    out["which.OK"] = RSeries(ok, dtype=bool)
    out["msgs"] = msgs
    out["fixef"] = RFrame(pd.DataFrame(fx))
    out["llik"] = RSeries(ll)
    out["sdcor"] = RFrame(pd.DataFrame(sdc))
    out["theta"] = RFrame(pd.DataFrame(th))
    out["times"] = RSeries(times)
    out["feval"] = RSeries(fev)
    return out


__all__ = ["ALLFIT_NAMES", "AllFitSummary", "allFit", "update", "update_formula"]
