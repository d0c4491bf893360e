"""lme4's model frame and matrices one partition at a time (data larger than memory).

``lmer(formula, data=<dask frame | parquet>)`` never holds the data: it makes two passes
over the partitions (:mod:`mlm_wrap.models.outofcore` runs them).

1. :func:`scan_partition`: each partition's model-frame rows (``subset``, then ``na.omit``
   over every variable, weights and offset, as :func:`mlm_wrap.spec.design.build_design`
   drops them), and the distinct values of every column that becomes a factor and of every
   grouping factor (its distinct level tuples).  :func:`merge_scans` joins them.
2. :func:`chunked_design` builds the fit's design from those distinct values: a small
   *template* frame holding every level is given to :func:`build_design` (so factor levels,
   R's level order, contrasts, column names and the random terms' columns are exactly the
   in-memory path's), the grouping factors are built by :func:`group_factor` from the
   global level tuples, and then :func:`partition_rows` rebuilds each partition's rows with
   the fit's codings, as ``predict(newdata=)`` does (:func:`model_matrix` with ``codings``).

Functions that learn from the whole data (``poly``, ``scale``, ``ns``, ``bs``, ``cut`` with a
number of breaks, ``interaction``) would learn from one partition only: they are refused
(:func:`refuse_global_transforms`), never computed per chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlm_wrap.errors import DataError, OutOfCoreError, caught_warnings
from mlm_wrap.spec.design import (Design, GroupFactor, TermDesign, _lme4_order, _parse_part,
                                  _vector, build_design, group_factor, subset_mask)
from mlm_wrap.spec.evaluate import Evaluator, check_allowed, function_name
from mlm_wrap.spec.formula import ParsedFormula, all_vars
from mlm_wrap.spec.model_matrix import TermsInfo, expand_dot, model_matrix, r_terms
from mlm_wrap.spec.r_ast import _all_vars, _Call, _Const, _walk
from mlm_wrap.spec.model_matrix import deparse
from mlm_wrap.spec.rfunctions import FUNCTIONS
from mlm_wrap.spec.rvalues import Chr, Fct, Lgl, Num, RValue, as_strings, from_column

#: rows of the template frame per distinct value of its longest column (every level in it)
TEMPLATE_REPEAT = 3
TEMPLATE_MIN_ROWS = 200


# ------------------------------------------------------------------------ refusals
def refuse_global_transforms(parsed: ParsedFormula, arguments: dict[str, str | None]) -> None:
    """An :class:`OutOfCoreError` for every formula function whose result depends on all
    rows at once (the ``stateful`` ones of :mod:`mlm_wrap.spec.transforms`, and ``cut``
    given a number of breaks): computed per partition they would differ from chunk to chunk."""
    parts = [("the formula", parsed.formula)] + [(f"{k} = {v}", v) for k, v in arguments.items()
                                                   if isinstance(v, str)]
    for where, text in parts:
        for node in _walk(_parse_part(text, where)):
            if not isinstance(node, _Call):
                continue
            name = function_name(node) or ""
            spec = FUNCTIONS.get(name)
            breaks = [a for i, (k, a) in enumerate(node.args) if k == "breaks" or (k is None and i == 1)]
            counted = name == "cut" and breaks and isinstance(breaks[0], _Const)
            if (spec is not None and spec.stateful) or name == "interaction" or counted:
                raise OutOfCoreError(
                    f"'{deparse(node)}' in {where} learns from the whole data (R computes its "
                    f"{'breaks' if counted else 'parameters'} from every row); it is not available "
                    "out-of-core, where each partition would give other values: compute the "
                    "column beforehand, give cut() its breaks as a vector, or fit in memory")


# ------------------------------------------------------------------------ the nodes
@dataclass
class Nodes:
    """The model frame's variables: the fixed part's terms (response first), each random
    term's left side and grouping variables, and the weights/offset/subset arguments."""

    parsed: ParsedFormula
    fixed: TermsInfo
    random: list[TermsInfo]
    arguments: dict[str, str | None] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return self.parsed.formula


def model_nodes(parsed: ParsedFormula, columns: list[str], arguments: dict) -> Nodes:
    """R's ``terms()`` of the formula's parts, checked against the allow-list (the same
    parse as :func:`build_design`'s, without the data)."""
    resp = _parse_part(parsed.response, "the response")
    fixed = expand_dot(_parse_part(parsed.fixed, "the fixed effects"), columns,
                       set(all_vars(parsed.response)))
    check_allowed(resp, parsed.formula)
    check_allowed(fixed, parsed.formula)
    rterms = []
    for t in parsed.random:
        node = _parse_part(t.expr, f"the random-effects term {t}")
        check_allowed(node, parsed.formula)
        rterms.append(r_terms(node, f"~ {t.expr}"))
    return Nodes(parsed, r_terms(fixed, parsed.fixed_formula(), resp), rterms, arguments)


def _argument(text: str | None, part: pd.DataFrame, what: str, state: dict) -> RValue | None:
    if text is None:
        return None
    node = _parse_part(text, what)
    check_allowed(node, f"{what} = {text}")
    return Evaluator(part, state=state, predicting=True, where=f"{what} = {text}").eval(node)


@dataclass
class Evaluated:
    """One partition's variables (all its rows) and which rows form the model frame."""

    fixed: dict[int, RValue]
    random: list[dict[int, RValue]]
    weights: RValue | None
    offset: RValue | None
    keep: np.ndarray  # rows in the subset
    ok: np.ndarray  # rows in the subset with no missing value (the model frame's rows)


def evaluate_partition(nodes: Nodes, part: pd.DataFrame, state: dict | None = None) -> Evaluated:
    """Every variable of the model on one partition, and its model-frame rows (subset, then
    na.omit over the variables, grouping factors, weights and offset)."""
    state = {} if state is None else state
    ev = Evaluator(part, state=state, predicting=True, where=nodes.where)
    fixed = {i: ev.eval(n) for i, n in enumerate(nodes.fixed.nodes)}
    random = [{i: ev.eval(n) for i, n in enumerate(rt.nodes)} for rt in nodes.random]
    groups = [from_column(part[v], v) for t in nodes.parsed.random for v in t.group_vars]
    args = nodes.arguments
    w = _argument(args.get("weights"), part, "weights", state)
    o = _argument(args.get("offset"), part, "offset", state)
    n = len(part)
    keep = np.ones(n, dtype=bool) if args.get("subset") is None else \
        subset_mask(args["subset"], part, state)
    bad = np.zeros(n, dtype=bool)
    for v in list(fixed.values()) + [v for d in random for v in d.values()] + groups + \
            [v for v in (w, o) if v is not None]:
        if len(v) == n:
            bad |= v.na()
    return Evaluated(fixed, random, w, o, keep, keep & ~bad)


# ------------------------------------------------------------------------ pass 1
def scan_partition(nodes: Nodes, part: pd.DataFrame) -> dict:
    """Pass 1 on one partition: row counts, the distinct values (model-frame rows only) of
    every column that enters as a factor or a string, and each term's distinct grouping
    tuples."""
    e = evaluate_partition(nodes, part)
    rows = part[e.ok]
    factorish = set()
    allnodes = list(enumerate(nodes.fixed.nodes)) + [x for rt in nodes.random for x in enumerate(rt.nodes)]
    values = list(e.fixed.values()) + [v for d in e.random for v in d.values()]
    for (_, node), v in zip(allnodes, values):
        names = [c for c in _all_vars(node) if c in part.columns]
        if isinstance(v, (Fct, Chr, Lgl)):
            factorish.update(names)
        factorish.update(c for c in names if not pd.api.types.is_numeric_dtype(part[c].dtype)
                         or pd.api.types.is_bool_dtype(part[c].dtype))
    groups = {str(t): rows[list(t.group_vars)].drop_duplicates().reset_index(drop=True)
              for t in nodes.parsed.random}
    return {"n_rows": len(part), "n_subset_dropped": int((~e.keep).sum()),
            "n_na": int((e.keep & ~e.ok).sum()), "n": int(e.ok.sum()),
            "uniques": {c: rows[c].drop_duplicates().reset_index(drop=True) for c in sorted(factorish)},
            "groups": groups}


def merge_scans(a: dict, b: dict) -> dict:
    """Two partitions' scans as one (distinct values joined as pandas' concat joins them)."""
    def join(x: dict, y: dict) -> dict:
        out = dict(x)
        for k, v in y.items():
            out[k] = v if k not in out else \
                pd.concat([out[k], v], ignore_index=True).drop_duplicates().reset_index(drop=True)
        return out
    out = {k: a[k] + b[k] for k in ("n_rows", "n_subset_dropped", "n_na", "n")}
    out["uniques"], out["groups"] = join(a["uniques"], b["uniques"]), join(a["groups"], b["groups"])
    return out


# ------------------------------------------------------------------------ the design
@dataclass
class ChunkedDesign:
    """What the out-of-core fit knows of its data: the design's codings, names and terms
    (as :class:`~mlm_wrap.spec.design.Design` has them, for ``predict(newdata=)``) and the
    counts; no rows.  Per-row attributes raise :class:`OutOfCoreError`."""

    parsed: ParsedFormula
    nodes: Nodes
    xnames: list[str]
    all_xnames: list[str]  # before lme4's rank check dropped columns
    x_index: list[int]  # the kept columns among all_xnames
    terms: list[TermDesign]
    fixed_terms: TermsInfo
    fixed_codings: dict
    state: dict
    n: int
    n_na_dropped: int
    n_subset_dropped: int
    dropped_columns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    data_name: str | None = None
    na_action: str = "na.omit"
    weights: None = None  # per-row weights stay with the data (plan: the sparse engine)
    offset: None = None
    has_weights: bool = False
    key: tuple = ()  # identifies the data and rows (anova's same-data check)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise OutOfCoreError(f"design.{name} needs every row of the data in memory; an "
                             "out-of-core fit (lmer(data=<dask frame | parquet>)) keeps only "
                             "cross-products: fit the model in memory for this")

    def na_omitted(self) -> pd.Index:
        raise OutOfCoreError("na_action(m): the labels of the rows dropped for missing values "
                             f"are not kept by an out-of-core fit ({self.n_na_dropped} rows were "
                             "dropped)")


def _template(nodes: Nodes, dtypes: pd.Series, scan: dict, seed: int = 0) -> pd.DataFrame:
    """A small frame with every distinct value of the factor columns (shuffled, repeated),
    two levels of each grouping-only column, and random numbers elsewhere."""
    rng = np.random.default_rng(seed)
    uniq, groups = scan["uniques"], scan["groups"]
    longest = max([len(v) for v in uniq.values()] + [1])
    L = max(TEMPLATE_REPEAT * longest, TEMPLATE_MIN_ROWS)
    gvals: dict[str, pd.Series] = {}
    for g in groups.values():
        for c in g.columns:
            gvals[c] = pd.concat([gvals.get(c, g[c][:0]), g[c]]).drop_duplicates()
    used = set(all_vars(nodes.parsed.formula)) | set(gvals)
    for a in nodes.arguments.values():
        if isinstance(a, str):
            used |= set(all_vars(a))
    if "." in all_vars(nodes.parsed.fixed):
        used |= {str(c) for c in dtypes.index}
    cols = {}
    for c, dt in dtypes.items():
        c = str(c)
        if c not in used:
            continue
        src = uniq.get(c)
        if src is None and c in gvals:
            src = gvals[c][:2].reset_index(drop=True)
        if src is not None and len(src):
            idx = rng.permutation(np.resize(np.arange(len(src)), L))
            cols[c] = src.iloc[idx].reset_index(drop=True)
        elif pd.api.types.is_integer_dtype(dt):
            cols[c] = pd.Series(rng.integers(1, 1000, L)).astype(dt)
        elif pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
            cols[c] = pd.Series(rng.uniform(1.0, 2.0, L)).astype(dt)
    return pd.DataFrame(cols)


def chunked_design(nodes: Nodes, dtypes: pd.Series, scan: dict, contrasts: dict | None,
                   data_name: str | None, na_action: str) -> tuple[ChunkedDesign, Design]:
    """The fit's design from pass 1: codings from the template (the in-memory builder's),
    grouping factors from the global level tuples, lme4's term order; the full fixed-effect
    names (the rank check runs later, on ``X'X``)."""
    template = _template(nodes, dtypes, scan)
    with caught_warnings():
        d0 = build_design(nodes.parsed, template, data_name=data_name, allow_n=True,
                          contrasts=contrasts)
    terms, taken = [], set()
    for t in nodes.parsed.random:
        td = next(x for x in d0.terms if x.term == t and id(x) not in taken)
        taken.add(id(td))
        tup = scan["groups"][str(t)]
        gf = group_factor([from_column(tup[v], v) for v in t.group_vars], t)
        terms.append(TermDesign(t, GroupFactor(gf.name, gf.levels, np.zeros(0, np.int64), gf.keys),
                                np.zeros((0, td.Xt.shape[1])), td.cnames, td.tinfo, td.codings))
    terms = _lme4_order(terms)
    ev = evaluate_partition(Nodes(nodes.parsed, d0.fixed_terms, [], {}), template.iloc[:2], d0.state)
    _, names, _, _ = model_matrix(d0.fixed_terms, ev.fixed, 2, codings=d0.fixed_codings)
    cd = ChunkedDesign(parsed=nodes.parsed, nodes=Nodes(nodes.parsed, d0.fixed_terms,
                                                        [td.tinfo for td in terms], nodes.arguments),
                       xnames=list(names), all_xnames=list(names), x_index=list(range(len(names))),
                       terms=terms, fixed_terms=d0.fixed_terms, fixed_codings=d0.fixed_codings,
                       state=d0.state, n=scan["n"], n_na_dropped=scan["n_na"],
                       n_subset_dropped=scan["n_subset_dropped"], data_name=data_name,
                       na_action=na_action, has_weights=nodes.arguments.get("weights") is not None)
    return cd, d0


# ------------------------------------------------------------------------ pass 2
@dataclass
class PartitionRows:
    """One partition's model-frame rows as the fit codes them."""

    rows: np.ndarray  # positions of the model frame's rows in the partition
    keep: np.ndarray  # the subset's rows (na.exclude pads these)
    index: pd.Index
    X: np.ndarray  # all_xnames columns
    y: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None
    terms: list[tuple[np.ndarray, np.ndarray]]  # (codes, Xt) per term, lme4's order


def group_codes(td: TermDesign, frame: pd.DataFrame) -> np.ndarray:
    """Each row's level of a grouping factor (by its level tuple), vectorised over the
    partition's distinct values; -1 for a level the fit has not seen."""
    gvars = list(td.term.group_vars)
    raw = [pd.factorize(frame[v], use_na_sentinel=True) for v in gvars]
    labels = [as_strings(from_column(pd.Series(u), v)) for (_, u), v in zip(raw, gvars)]
    pos = {k: i for i, k in enumerate(td.factor.keys)}
    if len(gvars) == 1:
        look = np.array([pos.get((s,), -1) for s in labels[0]] + [-1], dtype=np.int64)
        return look[raw[0][0]]
    combo, inv = np.unique(np.column_stack([c for c, _ in raw]), axis=0, return_inverse=True)
    look = np.array([pos.get(tuple(lab[j] for lab, j in zip(labels, row)), -1) if min(row) >= 0
                     else -1 for row in combo], dtype=np.int64)
    return look[inv.ravel()]


def partition_rows(cd: ChunkedDesign, part: pd.DataFrame) -> PartitionRows:
    """Pass 2 on one partition: its model-frame rows coded with the fit's levels and
    contrasts (R's ``model.frame(terms, newdata, xlev =)`` then ``model.matrix``)."""
    e = evaluate_partition(cd.nodes, part, cd.state)
    rows = np.flatnonzero(e.ok)
    n = len(rows)
    ft = cd.fixed_terms
    fx = {i: (v.take(rows) if len(v) == len(part) else v) for i, v in e.fixed.items()}
    X, _, _, _ = model_matrix(ft, fx, n, codings=cd.fixed_codings)
    yv = fx[ft.response]
    if isinstance(yv, (Fct, Chr)) or (isinstance(yv, Num) and yv.is_matrix):
        raise DataError(f"the response {cd.parsed.response.strip()!r} must be one numeric column")
    y = _vector(yv, n, "the response")
    off = None if e.offset is None else _vector(e.offset, len(part), "offset")[rows]
    for i in ft.offsets:
        o = _vector(fx[i], n, "offset")
        off = o if off is None else off + o
    w = None if e.weights is None else _vector(e.weights, len(part), "weights")[rows]
    if w is not None and (np.any(w < 0) or not np.all(np.isfinite(w))):
        raise DataError("weights must be finite and non-negative")
    sub = part.iloc[rows]
    terms = []
    for td, vals in zip(cd.terms, e.random):
        Xt, _, _, _ = model_matrix(td.tinfo, {i: (v.take(rows) if len(v) == len(part) else v)
                                              for i, v in vals.items()}, n, codings=td.codings)
        codes = group_codes(td, sub)
        if np.any(codes < 0):
            raise DataError(f"a level of grouping factor {td.name!r} in the data was not seen "
                            "by the first pass (did the data change between passes?)")
        terms.append((codes, Xt))
    return PartitionRows(rows, e.keep, part.index[rows], X, y, w, off, terms)
