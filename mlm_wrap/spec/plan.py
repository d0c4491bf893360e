"""Translate lme4 random-effects terms into statsmodels MixedLM arguments.

MixedLM has one ``groups`` factor, a free (or patterned) covariance for the columns
of ``exog_re`` within each group, and independent variance components
(``exog_vc``), each a single variance shared by its columns.  lme4's terms map onto
that as follows:

* every term on one grouping factor ``g``: ``groups=g``, the terms' columns in
  ``exog_re``; several terms on ``g`` (``(1|g) + (0+x|g)``, i.e. ``(x||g)``) get a
  block-diagonal covariance through ``free=``;
* factors nested in ``g`` (``(1|a/b)`` = ``(1|a) + (1|b:a)``): ``groups=a``, the nested
  scalar terms as variance components, with one column per level present in a group;
* crossed factors (``(1|a) + (1|b)``): one group holding every row, each scalar term a
  variance component;
* anything MixedLM cannot express (correlated vector terms on crossed factors) runs
  on the ``sparse`` engine, which minimises lme4's profiled criterion directly.

Which engine runs (``engine=``): ``"statsmodels"`` (MixedLM, then checked and if needed
polished against lme4's criterion), ``"sparse"`` (lme4's profiled criterion minimised as
lme4 does, nlopt's BOBYQA from lme4's start, :mod:`mlm_wrap.engines.lmm`), or ``"auto"``,
which is the sparse engine: measured, it reaches lme4's optimum faster than MixedLM on every
size (``benchmarks/RESULTS.md``), and it follows lme4's own optimiser.  The process-wide
default is ``"auto"``, or the ``MLM_WRAP_ENGINE`` environment variable, or
:func:`set_default_engine`.

The plan is frozen data; :meth:`Plan.explain` prints the statsmodels call a user
would have typed, as a teaching aid.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

import numpy as np

from mlm_wrap.spec.design import Design

ENGINES = ("auto", "statsmodels", "sparse")
_default_engine: str | None = None


def set_default_engine(engine: str | None) -> None:
    """Set the process-wide engine (None: back to ``MLM_WRAP_ENGINE`` or ``"auto"``)."""
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    global _default_engine
    _default_engine = engine


def default_engine() -> str:
    """The engine used when ``lmer(engine=None)``."""
    eng = _default_engine or os.environ.get("MLM_WRAP_ENGINE", "auto") or "auto"
    if eng not in ENGINES:
        raise ValueError(f"MLM_WRAP_ENGINE must be one of {ENGINES}, not {eng!r}")
    return eng


@dataclass(frozen=True)
class Plan:
    """Which MixedLM arguments carry which lme4 term (indices into ``design.terms``)."""

    formula: str
    REML: bool
    engine: str
    groups: str | None  # name of the MixedLM groups factor; None = one group of all rows
    re_terms: tuple[int, ...]
    vc_terms: tuple[int, ...]
    reason: str
    fixed_formula: str = ""
    requested: str = ""  # the engine asked for ("auto", ...); ``engine`` is the one that runs
    re_columns: tuple[str, ...] = ()
    re_exprs: tuple[str, ...] = ()  # left sides of the lme4 terms in exog_re
    vc_names: tuple[str, ...] = ()
    term_labels: tuple[str, ...] = ()

    @property
    def block_diagonal(self) -> bool:
        """Several lme4 terms share MixedLM's ``exog_re`` (needs ``free=``)."""
        return len(self.re_terms) > 1

    def explain(self) -> str:
        """The equivalent raw statsmodels code, as a string."""
        lines = ["import numpy as np",
                 "import statsmodels.formula.api as smf"]
        args = [repr(self.fixed_formula), "data"]
        if self.groups is None:
            lines.append("data = data.assign(one_group=1)  # crossed factors: one group of all rows")
            args.append('groups="one_group"')
            args.append('re_formula="0"')
        else:
            args.append(f"groups={self.groups!r}")
            args.append(f"re_formula={_re_formula(self.re_exprs)!r}")
        if self.vc_terms:
            vc = ", ".join(f"{n!r}: {f!r}" for n, f in self.vc_names)
            args.append("vc_formula={" + vc + "}")
        call = "md = smf.mixedlm(" + ", ".join(args) + ")"
        lines.append(call)
        fit = f"mdf = md.fit(reml={self.REML}"
        if self.block_diagonal:
            lines.append("# uncorrelated terms on one factor: a diagonal covariance via `free`")
            lines.append("from statsmodels.regression.mixed_linear_model import MixedLMParams")
            k = len(self.re_columns)
            lines.append(f"free = MixedLMParams.from_components(np.ones(md.k_fe), np.eye({k}))")
            fit += ", free=free"
        lines.append(fit + ")")
        if self.engine != "statsmodels" and not self.vc_terms and not self.re_terms:
            lines.insert(0, f"# MixedLM cannot express this model ({self.reason});")
            lines.insert(1, "# mlm_wrap fits it with its sparse engine (lme4's profiled criterion).")
        elif self.engine != "statsmodels":
            lines.insert(0, "# mlm_wrap ran its sparse engine here (engine='auto' picks it: lme4's optimiser, "
                            "faster);")
            lines.insert(1, "# this MixedLM call fits the same model, more slowly.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()


def _split_top(text: str, sep: str = "+") -> list[str]:
    """Split at ``sep`` outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return parts + [cur.strip()]


def _re_formula(exprs: tuple[str, ...]) -> str:
    """statsmodels' ``re_formula`` for lme4 left sides (several for ``||``): one intercept
    if any term has it, ``0 +`` when none does (patsy adds an intercept otherwise)."""
    has_int, vars_ = False, []
    for e in exprs:
        e = " ".join(e.split())
        minus_one = re.search(r"\s*-\s*1\s*$", e)
        no_int = bool(minus_one) or e.replace(" ", "").startswith("0+") or e == "0"
        if minus_one:
            e = e[:minus_one.start()]
        for part in _split_top(e):
            if part in ("0", "1", ""):
                continue
            if part not in vars_:
                vars_.append(part)
        has_int = has_int or not no_int
    if not vars_:
        return "1" if has_int else "0"
    return "~" + ("" if has_int else "0 + ") + " + ".join(vars_)


def _nested(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Every level of ``inner`` occurs within exactly one level of ``outer``."""
    inner, outer = np.asarray(inner, np.int64), np.asarray(outer, np.int64)
    if not len(inner):
        return True
    # one integer per (inner, outer) pair: a 1-d unique (a 2-d unique(axis=0) sorts rows, 0.1 s at 1e5)
    pairs = np.unique(inner * (int(outer.max()) + 1) + outer)
    return len(pairs) == len(np.unique(inner))


def _vc_label(design: Design, i: int) -> tuple[str, str]:
    td = design.terms[i]
    inner = [v for v in td.term.group_vars]
    lhs = td.term.expr.strip()
    fac = ":".join(f"C({v})" for v in inner)
    if lhs in ("1", "1 + 1"):
        return td.name, f"0 + {fac}"
    col = lhs.replace("0 +", "").replace("- 1", "").strip()
    return td.name, f"0 + {fac}:{col}"


def make_plan(design: Design, REML: bool = True, engine: str | None = None) -> Plan:
    """Choose MixedLM's ``groups``, ``exog_re`` and variance components for the terms,
    and the engine that runs (see the module docstring for ``auto``)."""
    requested = default_engine() if engine is None else engine
    if requested not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {requested!r}")
    plan = _mixedlm_plan(design, REML, requested)
    if design.weights is not None or design.offset is not None:
        plan = replace(plan, engine="sparse",
                       reason="prior weights or an offset: MixedLM takes neither")
    if plan.engine == "auto":
        plan = replace(plan, engine="sparse")
    return plan


def _mixedlm_plan(design: Design, REML: bool, engine: str) -> Plan:
    terms = design.terms
    names = [t.name for t in terms]
    fixed = design.parsed.fixed_formula()
    labels = tuple(str(t.term) for t in terms)
    base = dict(formula=design.parsed.formula, REML=REML, fixed_formula=fixed, term_labels=labels,
                requested=engine)
    codes = {t.name: t.factor.codes for t in terms}
    uniq = list(dict.fromkeys(names))
    candidates = []
    for g in uniq:
        others = [i for i, t in enumerate(terms) if t.name != g]
        if all(terms[i].Xt.shape[1] == 1 and _nested(codes[terms[i].name], codes[g]) for i in others):
            candidates.append(g)
    if candidates:
        # prefer the factor that carries vector terms, then the coarsest
        def rank(g):
            pmax = max(t.Xt.shape[1] for t in terms if t.name == g)
            return (-pmax, max(t.factor.nlevels for t in terms if t.name == g))
        g = sorted(candidates, key=rank)[0]
        re_terms = tuple(i for i, t in enumerate(terms) if t.name == g)
        vc_terms = tuple(i for i, t in enumerate(terms) if t.name != g)
        cols = tuple(c for i in re_terms for c in terms[i].cnames)
        exprs = tuple(terms[i].term.expr for i in re_terms)
        reason = (f"one grouping factor {g!r}" if not vc_terms else
                  f"groups {g!r}; nested factor(s) {', '.join(terms[i].name for i in vc_terms)} "
                  "as variance components")
        return Plan(engine=engine, groups=g, re_terms=re_terms, vc_terms=vc_terms, reason=reason,
                    re_columns=cols, re_exprs=exprs, vc_names=tuple(_vc_label(design, i) for i in vc_terms), **base)
    if all(t.Xt.shape[1] == 1 for t in terms):
        return Plan(engine=engine, groups=None, re_terms=(), vc_terms=tuple(range(len(terms))),
                    reason="crossed factors as variance components of one group",
                    vc_names=tuple(_vc_label(design, i) for i in range(len(terms))), **base)
    return Plan(engine="sparse", groups=None, re_terms=(), vc_terms=(),
                reason="correlated random effects on crossed grouping factors", **base)
