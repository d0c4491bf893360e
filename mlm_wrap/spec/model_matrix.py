"""R's ``terms()`` and ``model.matrix()``: the columns of a formula's fixed part, named as R
names them, from variables the safe evaluator computed.

Ports of R's ``termsform`` (term expansion, order by degree, the factor-coding pattern of
``TermCode``) and ``modelmatrix`` (src/library/stats/src/model.c, R 4.2): a factor in a term
is coded by contrasts when the term without it is already in the model, by indicators
otherwise (and the first factor of a model without intercept by indicators); the columns
of an interaction vary fastest in its first variable; names are the variable's deparsed
expression followed by the level, the contrast's column name or the matrix column.
Contrasts: ``contr.treatment`` (unordered factors), ``contr.poly`` (ordered factors),
``contr.sum``, ``contr.helmert``, ``contr.SAS``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlm_wrap.errors import DataError, FormulaError
from mlm_wrap.spec.checks import check_dense_size
from mlm_wrap.spec.r_ast import Node, _Binary, _Call, _Name, _Paren, _Unary
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.rvalues import Chr, Fct, Lgl, Num, RValue, as_factor
from mlm_wrap.spec.terms import _Terms

DEFAULT_CONTRASTS = ("contr.treatment", "contr.poly")  # R's options("contrasts")


@dataclass
class TermsInfo:
    """What R's ``terms`` object records: the variables (deparsed, the response first),
    the terms as sets of variable indices in R's order, the labels, intercept, offsets."""

    variables: list[str]
    nodes: list[Node]
    response: int | None
    terms: list[tuple[int, ...]]
    intercept: bool
    offsets: list[int] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [":".join(self.variables[i] for i in t) for t in self.terms]

    def used(self) -> list[int]:
        """Variables that enter the model matrix (not the response, not offsets)."""
        out = sorted({i for t in self.terms for i in t})
        return out


def _is_offset(node: Node) -> bool:
    return isinstance(node, _Call) and isinstance(node.fn, _Name) and node.fn.name == "offset"


def expand_dot(rhs: Node, columns: list[str], exclude: set[str]) -> Node:
    """``.`` in a formula: every column of the data not on the left-hand side (R's
    ``terms(formula, data = d)``)."""
    others = [c for c in columns if c not in exclude]

    def sub(node: Node) -> Node:
        if isinstance(node, _Name) and node.name == ".":
            if not others:
                raise FormulaError("'.' in the formula, but the data has no other columns")
            out: Node = _Name(others[0])
            for c in others[1:]:
                out = _Binary("+", out, _Name(c))
            return _Paren(out) if len(others) > 1 else out
        if isinstance(node, _Binary):
            return _Binary(node.op, sub(node.left), sub(node.right), node.span, node.nocorr)
        if isinstance(node, _Paren):
            return _Paren(sub(node.inner), node.span)
        if isinstance(node, _Unary):
            return _Unary(node.op, sub(node.operand), node.span)
        return node

    return sub(rhs)


def r_terms(rhs: Node, text: str, response: Node | None = None) -> TermsInfo:
    """R's ``terms(response ~ rhs)`` (keep.order = FALSE)."""
    where = _Binary("~", response, rhs) if response is not None else _Unary("~", rhs)
    tb = _Terms(text, where)
    if response is not None:
        tb._install(response)
    tb.extract(rhs)
    encoded = tb.encode(rhs)
    encoded = sorted(encoded, key=len)  # stable: by degree, then appearance
    offsets = [i for i, n in enumerate(tb.var_nodes) if _is_offset(n)]
    kept = [tuple(sorted(t)) for t in encoded if not any(i in offsets for i in t)]
    return TermsInfo(list(tb.vars), list(tb.var_nodes), 0 if response is not None else None,
                     kept, tb.intercept, offsets)


# ------------------------------------------------------------------------------ contrasts
def contrast_matrix(kind: str, levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.*(levels)``: the matrix and its column names as model.matrix uses them.
    ``"C:contr.x"`` is what ``C(f, contr.x)`` set: R evaluated ``contr.x(nlevels)`` there, so
    the columns are named by level number (``C(f, contr.treatment)2``)."""
    n = len(levels)
    if kind.startswith("C:"):
        return contrast_matrix(kind[2:], [str(i + 1) for i in range(n)])
    if kind == "contr.treatment":
        return np.eye(n)[:, 1:], list(levels[1:])
    if kind == "contr.SAS":
        return np.eye(n)[:, :-1], list(levels[:-1])
    if kind == "contr.sum":
        m = np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])
        return m, [str(j + 1) for j in range(n - 1)]
    if kind == "contr.helmert":
        m = np.zeros((n, n - 1))
        for j in range(n - 1):
            m[: j + 1, j] = -1.0
            m[j + 1, j] = j + 1.0
        return m, [str(j + 1) for j in range(n - 1)]
    if kind == "contr.poly":
        return _contr_poly(n)
    raise DataError(f"unknown contrasts {kind!r}")


def _contr_poly(n: int) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.poly(n)`` (``make.poly`` on scores 1..n): orthonormal polynomials."""
    y = np.arange(1, n + 1, dtype=float)
    y = y - y.mean()
    X = np.vander(y, n, increasing=True)
    q, r = np.linalg.qr(X)
    raw = q * np.diag(r)  # monic orthogonal polynomials: independent of the QR's signs
    Z = raw / np.sqrt((raw ** 2).sum(axis=0))
    names = [".L", ".Q", ".C"] + [f"^{k}" for k in range(4, n)]
    return Z[:, 1:], names[: n - 1]


# ------------------------------------------------------------------------------ model matrix
@dataclass
class Coding:
    """How one variable entered the matrix: its kind and, for factors, levels and contrasts."""

    kind: str  # "numeric", "factor"
    levels: list[str] | None = None
    contrasts: str | None = None
    ncol: int = 1


def factor_of(v: RValue, name: str) -> Fct | None:
    """The variable as model.matrix treats it: factors, logicals (FALSE/TRUE) and character
    vectors are factors; numbers are not."""
    if isinstance(v, Fct):
        return v
    if isinstance(v, Lgl):
        codes = np.where(np.isnan(v.values), -1, v.values).astype(np.int64)
        return Fct(codes, ["FALSE", "TRUE"])
    if isinstance(v, Chr):
        return as_factor(v, name)
    return None


def _codes(tinfo: TermsInfo, is_factor: dict[int, bool]) -> dict[tuple[int, int], int]:
    """R's factor pattern: 1 = contrasts, 2 = indicators (TermCode, then model.matrix's
    adjustment of the first factor when there is no intercept)."""
    sets = [frozenset(t) for t in tinfo.terms]
    codes: dict[tuple[int, int], int] = {}
    for k, t in enumerate(sets):
        for i in t:
            margin = t - {i}
            codes[(k, i)] = 1 if not margin or any(margin <= p for p in sets[:k]) else 2
    if not tinfo.intercept:
        for k, t in enumerate(tinfo.terms):
            hit = next((i for i in t if is_factor.get(i)), None)
            if hit is not None:
                codes[(k, hit)] = 2
                break
    return codes


def model_matrix(tinfo: TermsInfo, values: dict[int, RValue], n: int,
                 contrasts: dict[str, str] | None = None,
                 codings: dict[int, Coding] | None = None
                 ) -> tuple[np.ndarray, list[str], list[int], dict[int, Coding]]:
    """R's ``model.matrix``: (X, column names, R's ``assign``, how each variable was coded).

    ``values`` are the evaluated variables (rows already those of the model frame).  Given
    ``codings`` (from the fit), factors are coded with the fit's levels and contrasts: the
    columns for new data.
    """
    contrasts = contrasts or {}
    fixed = codings is not None
    codings = dict(codings) if codings else {}
    factors: dict[int, Fct] = {}
    for i in tinfo.used():
        name = tinfo.variables[i]
        f = factor_of(values[i], name)
        if f is not None:
            if fixed:
                f = _recode(f, codings[i].levels or [], name)
            factors[i] = f
    codes = _codes(tinfo, {i: True for i in factors})
    cols: list[np.ndarray] = []
    names: list[str] = []
    assign: list[int] = []
    if tinfo.intercept:
        cols.append(np.ones(n))
        names.append("(Intercept)")
        assign.append(0)
    for k, term in enumerate(tinfo.terms):
        block = [np.ones(n)]
        bnames = [""]
        for i in term:
            name = tinfo.variables[i]
            if i in factors:
                f = factors[i]
                if fixed:
                    kind = codings[i].contrasts
                else:
                    if len(f.levels) < 2:
                        raise DataError(f"the factor {name!r} has {len(f.levels)} level"
                                        f"{'' if len(f.levels) == 1 else 's'} in the data used; "
                                        "contrasts need 2 or more (R: 'contrasts can be applied "
                                        "only to factors with 2 or more levels')")
                    kind = f.contrasts or contrasts.get(name) or \
                        DEFAULT_CONTRASTS[1 if f.ordered else 0]
                    if not kind.startswith(("contr.", "C:")):
                        kind = "contr." + kind
                    codings[i] = Coding("factor", list(f.levels), kind)
                if codes[(k, i)] == 1:
                    cm, cn = contrast_matrix(kind, list(f.levels))
                else:
                    cm, cn = np.eye(len(f.levels)), list(f.levels)
                # refuse a matrix that cannot fit before allocating any of it
                check_dense_size(n, len(cols) + len(block) * cm.shape[1],
                                 ":".join(tinfo.variables[t] for t in term))
                vals = np.where(f.codes[:, None] >= 0, cm[np.maximum(f.codes, 0)], np.nan)
                vnames = [f"{name}{c}" for c in cn]
            else:
                v = values[i]
                if not isinstance(v, Num):
                    raise DataError(f"variable {name!r} cannot enter the model matrix")
                vals = v.values if v.is_matrix else v.values[:, None]
                if vals.shape[1] == 1:
                    vnames = [name]
                else:
                    cn = v.colnames or [str(j + 1) for j in range(vals.shape[1])]
                    vnames = [f"{name}{c}" for c in cn]
                if not fixed:
                    codings[i] = Coding("numeric", ncol=vals.shape[1])
                elif codings[i].ncol != vals.shape[1]:
                    raise DataError(f"variable {name!r} has {vals.shape[1]} columns in the new "
                                    f"data, {codings[i].ncol} in the fit")
            block = [b * vals[:, j] for j in range(vals.shape[1]) for b in block]
            bnames = [f"{p}:{q}" if p else q for q in vnames for p in bnames]
        cols.extend(block)
        names.extend(bnames)
        assign.extend([k + 1] * len(block))
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    return X, names, assign, codings


def _recode(f: Fct, levels: list[str], name: str) -> Fct:
    """New data's factor on the fit's levels (R's ``xlev``); a new level is an error."""
    labels = f.labels()
    pos = {lv: i for i, lv in enumerate(levels)}
    bad = sorted({s for s in labels if s is not None and s not in pos})
    if bad:
        raise DataError(f"factor {name!r} has new level(s) {', '.join(map(repr, bad[:5]))} "
                        "not seen in the fit")
    codes = np.array([pos[s] if s is not None else -1 for s in labels], dtype=np.int64)
    return Fct(codes, list(levels), f.ordered, f.contrasts)


def drop_unused(v: RValue) -> RValue:
    """``drop.unused.levels = TRUE`` (lme4's model frame) for one variable."""
    if not isinstance(v, Fct):
        return v
    used = np.unique(v.codes[v.codes >= 0])
    if len(used) == len(v.levels):
        return v
    remap = np.full(len(v.levels), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    codes = np.where(v.codes >= 0, remap[np.maximum(v.codes, 0)], -1)
    return Fct(codes, [v.levels[i] for i in used], v.ordered, v.contrasts)


def deparse(node: Node) -> str:
    return _deparse(node)
