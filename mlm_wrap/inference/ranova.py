"""lmerTest's ``ranova``: likelihood-ratio tests of the random-effect terms of one lmer fit.

Ported from R: lmerTest's ``ranova`` and ``get_newforms`` (a term with slopes is reduced by
dropping each term of its left side that R's ``drop.scope`` allows, e.g. ``(Days | Subject)``
-> ``(1 | Subject)``, row ``Days in (Days | Subject)``; an intercept-only term is removed),
``mk_LRtab`` (columns ``npar, logLik, AIC, LRT, Df, Pr(>Chisq)``), and, when no random term
is left, R's ``logLik.lm(fit, REML=)``.  Refits use the model's own criterion (REML or ML).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mlm_wrap.errors import ModelError
from mlm_wrap.inference.anova_table import AnovaTable
from mlm_wrap.inference.terms_anova import _formula, _is_glmer, _lm_loglik, _refit, _Terms
from mlm_wrap.spec.model_matrix import r_terms
from mlm_wrap.spec.r_parser import _parse

__all__ = ["ranova"]


def _lhs_scope(expr: str) -> tuple[list[str], bool]:
    """The terms of a random term's left side that ``drop.scope`` allows, and its intercept."""
    t = r_terms(_parse(expr), expr)
    labels = t.labels
    vs = [set(x) for x in t.terms]
    scope = [lab for a, lab in enumerate(labels)
             if not any(b != a and vs[a] < vs[b] for b in range(len(labels)))]
    return scope, bool(t.intercept), labels


def _new_forms(m) -> list[tuple[str, list[str]]]:
    """(row name, the random terms of the reduced model), as lmerTest's ``get_newforms``."""
    terms = list(m.design.parsed.random)
    out = []
    for i, rt in enumerate(terms):
        others = [str(r) for j, r in enumerate(terms) if j != i]
        form = f"{rt.expr} | {rt.group}"
        scope, icpt, labels = _lhs_scope(rt.expr)
        if not labels or not scope:
            out.append((f"({form})", others))
            continue
        for scp in scope:
            rest = [lab for lab in labels if lab != scp]
            if not rest:
                new_lhs = "1"
            else:
                new_lhs = " + ".join(rest) if icpt else "0 + " + " + ".join(rest)
            new = others[:i] + [f"({new_lhs} | {rt.group})"] + others[i:]
            # R's update() of the formula keeps one copy of a repeated term
            out.append((f"{scp} in ({form})", list(dict.fromkeys(new))))
    return out


def _full_formula(m) -> str:
    """lmerTest's ``full_form`` as R's ``update()`` prints it: first-order fixed terms, the
    random terms, then the higher-order fixed terms."""
    T = _Terms(m)
    order = T.order()
    first = [lab for lab, o in zip(T.labels, order) if o == 1]
    higher = sorted([(o, k) for k, o in enumerate(order) if o > 1])
    rhs = first + [str(r) for r in m.design.parsed.random] + [T.labels[k] for _, k in higher]
    t = m.design.fixed_terms
    rhs += [t.variables[i] for i in t.offsets]
    text = " + ".join(rhs) if rhs else "1"
    if not t.intercept:
        text += " - 1"
    return f"{m.design.parsed.response} ~ {text}"


def ranova(m, reduce_terms: bool = True) -> AnovaTable:
    """lmerTest's ``ranova(m)``: one row per reduced or removed random term."""
    if _is_glmer(m):
        raise TypeError("ranova() needs an lmer fit: 'model' should be an lmer-fit "
                        "(inherits(model, 'lmerMod') is not TRUE)")
    if not m.design.parsed.random:
        raise ModelError("Model should have at least one random-effects term")
    T = _Terms(m)
    if reduce_terms:
        forms = _new_forms(m)
    else:
        rand = [str(r) for r in m.design.parsed.random]
        forms = [(r, rand[:i] + rand[i + 1:]) for i, r in enumerate(rand)]
    ll0 = m.logLik()
    lls, dfs = [float(ll0)], [float(ll0.df)]
    for _, random in forms:
        if random:
            fit = _refit(m, _formula(m, T.labels, random))
            if fit.nobs() != m.nobs():
                raise ModelError("number of rows in use has changed: remove missing values?")
            ll = fit.logLik()
            lls.append(float(ll)); dfs.append(float(ll.df))
        else:
            y = np.asarray(m.design.y, float)
            off = m.design.offset
            v, df = _lm_loglik(T.X, y - (off if off is not None else 0), m.REML,
                               m.design.weights)
            lls.append(v); dfs.append(float(df))
    ll = np.array(lls)
    npar = np.array(dfs)
    aic = -2 * ll + 2 * npar
    lrt = np.r_[math.nan, -2 * (ll[1:] - ll[0])]
    df = np.r_[math.nan, np.abs(npar[1:] - npar[0])]
    with np.errstate(invalid="ignore"):
        p = stats.chi2.sf(lrt, df)
    tab = AnovaTable({"npar": npar, "logLik": ll, "AIC": aic, "LRT": lrt, "Df": df,
                      "Pr(>Chisq)": p}, index=["<none>"] + [name for name, _ in forms])
    tab.heading = ["ANOVA-like table for random-effects: Single term deletions", "", "Model:",
                   _full_formula(m)]
    return tab
