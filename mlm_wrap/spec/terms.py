"""A model formula's structure, checked as lme4 checks it, and lme4's formula algorithms on the
tree (lme4 1.1-31): ``findbars`` with ``expandSlash``/``makeInteraction``, ``nobars``,
``expandDoubleVerts``, and R's ``terms()`` expansion of the fixed part into term labels."""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Optional, Union

from mlm_wrap.errors import FormulaError
from mlm_wrap.spec.r_ast import (
    Node,
    _all_vars,
    _any_bars,
    _Binary,
    _Call,
    _children,
    _Const,
    _is_bar,
    _Name,
    _Paren,
    _Unary,
    _walk,
)
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.r_parser import _parse, _Parser

# ---------------------------------------------------------------------------
# Formula structure and validation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Model:
    """A parsed formula: ``kind`` is "two" (y ~ x), "one" (~ x) or "rhs" (x)."""

    text: str
    kind: str
    lhs: Optional[Node]
    rhs: Node


def _frag(text: str, node: Node) -> str:
    """Source text of ``node`` (its deparse if it has no source span)."""
    if node.span is None:
        return _deparse(node)
    return text[node.span[0]:node.span[1]]


@functools.lru_cache(maxsize=512)
def _parse_model(text: str) -> _Model:
    """Parse and validate a formula, a one-sided formula, or a bare RHS."""
    tree = _parse(text)
    if isinstance(tree, _Binary) and tree.op == "~":
        kind, lhs, rhs = "two", tree.left, tree.right
    elif isinstance(tree, _Unary) and tree.op == "~":
        kind, lhs, rhs = "one", None, tree.operand
    else:
        kind, lhs, rhs = "rhs", None, tree
    for part in (lhs, rhs):
        if part is None:
            continue
        for n in _walk(part):
            if isinstance(n, (_Binary, _Unary)) and n.op == "~":
                raise FormulaError(
                    f"a formula may contain only one '~': '{_frag(text, n)}' "
                    f"in '{text.strip()}'")
    if lhs is not None and _any_bars(lhs):
        bar = next(n for n in _walk(lhs) if _is_bar(n))
        raise FormulaError(
            f"random-effects term '{_frag(text, bar)}' is not allowed in the "
            f"response '{_frag(text, lhs)}'")
    _check_rhs_bars(text, rhs)
    return _Model(text, kind, lhs, rhs)


def _check_rhs_bars(text: str, node: Node) -> None:
    """Accept bars only as ``(lhs | group)`` terms combined with ``+``
    (or as the left operand of ``-``); reject every other placement."""
    if not _any_bars(node):
        return
    if isinstance(node, _Paren):
        if _is_bar(node.inner):
            _check_bar_term(text, node.inner, node)
        else:
            _check_rhs_bars(text, node.inner)
        return
    if isinstance(node, _Binary) and node.op == "+":
        _check_rhs_bars(text, node.left)
        _check_rhs_bars(text, node.right)
        return
    if isinstance(node, _Binary) and node.op == "-" and not _any_bars(node.right):
        _check_rhs_bars(text, node.left)
        return
    if _is_bar(node):
        raise FormulaError(
            f"'{node.op}' outside parentheses: random-effects term "
            f"'{_frag(text, node)}' must be written as "
            f"'({_frag(text, node)})'")
    bar = next(n for n in _walk(node) if _is_bar(n))
    where = ("a function call" if isinstance(node, _Call)
             else f"operator '{node.op}'" if isinstance(node, (_Binary, _Unary))
             else "an expression")
    raise FormulaError(
        f"random-effects term '{_frag(text, bar)}' cannot be used inside "
        f"{where} in '{_frag(text, node)}'; combine random-effects terms "
        f"with '+'")


def _check_bar_term(text: str, bar: _Binary, paren: Node) -> None:
    """Validate one ``(lhs | group)`` term."""
    if _any_bars(bar.left) or _any_bars(bar.right):
        raise FormulaError(
            f"nested '|' in random-effects term '{_frag(text, paren)}'")
    _slash_terms(text, bar.right, paren)


def _slash_terms(text: str, group: Node, where: Node) -> Union[Node, list]:
    """lme4's slashTerms(): nested list of the '/'-separated factors.

    Also rejects what lme4 cannot handle: a '/' below another operator
    (lme4: "unparseable formula for grouping factor") and a compound
    outermost factor such as ``a:b/c`` (lme4's makeInteraction mangles it).
    """
    def rec(x: Node) -> Union[Node, list]:
        if not any(isinstance(n, _Binary) and n.op == "/" for n in _walk(x)):
            return x
        if not (isinstance(x, _Binary) and x.op == "/"):
            raise FormulaError(
                f"unparseable formula for grouping factor '{_frag(text, x)}' "
                f"in '{_frag(text, where)}'")
        return [rec(x.left), rec(x.right)]

    res = rec(group)
    leaf: Union[Node, list] = res
    while isinstance(leaf, list):
        if isinstance(leaf[1], list):  # only from `/`(a, b/c) call syntax
            raise FormulaError(
                f"unparseable formula for grouping factor "
                f"'{_frag(text, group)}' in '{_frag(text, where)}'")
        leaf = leaf[0]
    if isinstance(res, list) and not isinstance(leaf, (_Name, _Const)):
        raise FormulaError(
            f"the outermost grouping factor '{_frag(text, leaf)}' in "
            f"'{_frag(text, where)}' must be a single variable for "
            f"lme4's '/' expansion")
    return res


# ---------------------------------------------------------------------------
# lme4 algorithms
# ---------------------------------------------------------------------------


def _expand_double_verts(text: str, node: Node) -> Node:
    """lme4::expandDoubleVerts: replace each ``x || g`` by independent terms."""
    if isinstance(node, _Paren):
        return replace(node, inner=_expand_double_verts(text, node.inner))
    if _is_bar(node) and node.op == "||":
        return _expand_double_vert(text, node)
    if isinstance(node, _Binary):
        left = _expand_double_verts(text, node.left)
        right = _expand_double_verts(text, node.right)
        if left is node.left and right is node.right:
            return node
        return replace(node, left=left, right=right)
    if isinstance(node, _Unary):
        operand = _expand_double_verts(text, node.operand)
        return node if operand is node.operand else replace(node, operand=operand)
    return node


def _expand_double_vert(text: str, node: _Binary) -> Node:
    """One ``lhs || group`` -> ``(1 | g) + (0 + x | g) + ...`` as lme4 builds
    it: term labels of ``~lhs`` via R's terms() rules, then re-parsed."""
    labels, intercept = _term_labels(text, node.left, node)
    newtrms = (["1"] if intercept else []) + ["0+" + lab for lab in labels]
    if not newtrms:
        raise FormulaError(
            f"'||' term '{_frag(text, node)}' has neither an intercept nor "
            f"any effect on its left-hand side")
    group = _deparse(node.right)
    src = "(" + ")+(".join(f"{t}|{group}" for t in newtrms) + ")"
    expanded = _Parser(src).parse_all()
    return _mark_nocorr(_strip_spans(expanded))


def _strip_spans(node: Node) -> Node:
    """Copy of ``node`` without source positions (for re-parsed text)."""
    if isinstance(node, (_Name, _Const)):
        return replace(node, span=None)
    if isinstance(node, _Paren):
        return replace(node, inner=_strip_spans(node.inner), span=None)
    if isinstance(node, _Unary):
        return replace(node, operand=_strip_spans(node.operand), span=None)
    if isinstance(node, _Binary):
        return replace(node, left=_strip_spans(node.left),
                       right=_strip_spans(node.right), span=None)
    if isinstance(node, _Call):
        return replace(node, fn=_strip_spans(node.fn), span=None,
                       args=tuple((n, _strip_spans(v)) for n, v in node.args))
    return replace(node, obj=_strip_spans(node.obj), span=None,
                   args=tuple((n, None if v is None else _strip_spans(v))
                              for n, v in node.args))


def _mark_nocorr(node: Node) -> Node:
    """Flag every bar in ``node`` as coming from a '||' expansion."""
    if isinstance(node, _Paren):
        return replace(node, inner=_mark_nocorr(node.inner))
    if isinstance(node, _Binary):
        if _is_bar(node):
            return replace(node, nocorr=True)
        return replace(node, left=_mark_nocorr(node.left),
                       right=_mark_nocorr(node.right))
    return node


class _Terms:
    """A port of the parts of R's terms.formula (model.c) that lme4's
    expandDoubleVert relies on: term labels and the intercept flag."""

    def __init__(self, text: str, where: Node) -> None:
        self.text = text
        self.where = where
        self.vars: list[str] = []
        self.var_nodes: list[Node] = []
        self._pos: dict[str, int] = {}
        self.intercept = True
        self.parity = True

    def error(self, msg: str, node: Node) -> FormulaError:
        return FormulaError(
            f"{msg}: '{_frag(self.text, node)}' in '{_frag(self.text, self.where)}'")

    def extract(self, node: Node) -> None:
        """ExtractVars: register variables in order of appearance."""
        if isinstance(node, _Const):
            if node.text not in ("0", "1"):
                raise self.error("invalid model formula term", node)
            return
        if isinstance(node, _Name):
            if node.name == ".":
                raise self.error("'.' needs a data frame and is not allowed "
                                 "on the left of '||'", node)
            self._install(node)
            return
        if isinstance(node, _Paren):
            self.extract(node.inner)
            return
        if isinstance(node, _Unary) and node.op in "+-":
            self.extract(node.operand)
            return
        if isinstance(node, _Binary) and node.op in ("+", "-", "*", "/", ":", "%in%"):
            self.extract(node.left)
            self.extract(node.right)
            return
        if isinstance(node, _Binary) and node.op == "^":
            self.extract(node.left)
            return
        self._install(node)

    def _install(self, node: Node) -> int:
        key = _deparse(node)
        if key not in self._pos:
            self._pos[key] = len(self.vars)
            self.vars.append(key)
            self.var_nodes.append(node)
        return self._pos[key]

    def encode(self, node: Node) -> list[frozenset[int]]:
        """EncodeVars: the ordered list of terms (bit sets of variables)."""
        if isinstance(node, _Const):
            if node.text == "1":
                self.intercept = self.parity
            else:  # "0"
                self.intercept = not self.parity
            return []
        if isinstance(node, _Paren):
            return self.encode(node.inner)
        if isinstance(node, _Unary) and node.op == "+":
            return self.encode(node.operand)
        if isinstance(node, _Unary) and node.op == "-":
            return self._delete([], node.operand)
        if isinstance(node, _Binary):
            op = node.op
            if op == "+":
                return _trim(self.encode(node.left) + self.encode(node.right))
            if op == "-":
                return self._delete(self.encode(node.left), node.right)
            if op == ":":
                left, right = self.encode(node.left), self.encode(node.right)
                return _trim([a | b for a in left for b in right])
            if op == "*":
                left, right = self.encode(node.left), self.encode(node.right)
                return _trim(left + right + [a | b for a in left for b in right])
            if op == "%in%":
                left, right = self.encode(node.left), self.encode(node.right)
                allr = frozenset().union(*right) if right else frozenset()
                return _trim([a | allr for a in left])
            if op == "/":
                left, right = self.encode(node.left), self.encode(node.right)
                alll = frozenset().union(*left) if left else frozenset()
                return _trim(left + [alll | b for b in right])
            if op == "^":
                power = node.right
                if isinstance(power, _Paren):
                    power = power.inner
                if not (isinstance(power, _Const) and power.kind == "num"):
                    raise self.error("invalid power in formula", node)
                try:
                    n = int(float(power.text.rstrip("L")))
                except ValueError:
                    raise self.error("invalid power in formula", node) from None
                if n < 1:
                    raise self.error("invalid power in formula", node)
                left = self.encode(node.left)
                result = left
                for _ in range(n - 1):
                    result = _trim([a | b for a in left for b in result])
                return result
        return [frozenset([self._pos[_deparse(node)]])]

    def _delete(self, left: list[frozenset[int]], right_node: Node
                ) -> list[frozenset[int]]:
        self.parity = not self.parity
        right = self.encode(right_node)
        self.parity = not self.parity
        return [t for t in left if t not in right]


def _trim(terms: list[frozenset[int]]) -> list[frozenset[int]]:
    """TrimRepeats: drop empty and duplicated terms, keeping first order."""
    return [t for t in dict.fromkeys(terms) if t]  # ordered set: linear in the number of terms


def _term_labels(text: str, lhs: Node, where: Node) -> tuple[list[str], bool]:
    """``attr(terms(~lhs), "term.labels")`` and ``"intercept"``."""
    tb = _Terms(text, where)
    tb.extract(lhs)
    terms = tb.encode(lhs)
    terms = sorted(terms, key=len)  # stable: by order, then appearance
    labels = []
    for t in terms:
        names = [tb.vars[i] for i in sorted(t)]
        if any(n.startswith("offset(") for n in names):
            continue  # terms() moves offsets out of term.labels
        labels.append(":".join(names))
    return labels, tb.intercept


def _find_bar_nodes(node: Node) -> list[_Binary]:
    """lme4's fb(): bar terms in left-to-right order (no expansion)."""
    if _is_bar(node):
        assert isinstance(node, _Binary)
        return [node]
    out: list[_Binary] = []
    if isinstance(node, (_Name, _Const)):
        return out
    for child in _children(node):
        out.extend(_find_bar_nodes(child))
    return out


def _expand_slash_node(text: str, bar: _Binary) -> list[_Binary]:
    """lme4's expandSlash() for one bar: ``(x | a/b)`` -> ``x | b:a``, ``x | a``."""
    trms = _slash_terms(text, bar.right, bar)
    if not isinstance(trms, list):
        return [bar]
    groups = _flatten(_make_interaction(trms))
    return [_Binary("|", bar.left, g, None, bar.nocorr) for g in groups]


def _make_interaction(x: Union[Node, list]) -> Union[Node, list]:
    """lme4's makeInteraction(): ``list(list(a, b), c)`` ->
    ``list(c:(b:a), list(b:a, a))``."""
    if not isinstance(x, list):
        return x
    trm1 = _make_interaction(x[0])
    trm11 = trm1[0] if isinstance(trm1, list) else trm1
    return [_Binary(":", x[1], trm11), trm1]


def _flatten(x: Union[Node, list]) -> list[Node]:
    if isinstance(x, list):
        out: list[Node] = []
        for item in x:
            out.extend(_flatten(item))
        return out
    return [x]


def _nobars(node: Node) -> Optional[Node]:
    """lme4's nobars_(): the expression with bar terms removed (None if
    nothing is left)."""
    if not _any_bars(node):
        return node
    if _is_bar(node):
        return None
    if isinstance(node, _Call) and any(_is_bar(v) for _, v in node.args):
        return None  # isAnyArgBar
    if isinstance(node, _Paren):
        nb = _nobars(node.inner)
        return None if nb is None else replace(node, inner=nb)
    if isinstance(node, _Unary):
        nb = _nobars(node.operand)
        return None if nb is None else replace(node, operand=nb)
    if isinstance(node, _Binary):
        nb2, nb3 = _nobars(node.left), _nobars(node.right)
        if nb2 is None:
            return nb3
        if nb3 is None:
            return nb2
        return replace(node, left=nb2, right=nb3)
    return node  # pragma: no cover - validation rejects bars elsewhere


def _grouping_ok(node: Node) -> bool:
    """lme4 takes a factor name, or an interaction ``a:b`` of names, as grouping factor."""
    if isinstance(node, _Paren):
        return _grouping_ok(node.inner)
    if isinstance(node, _Binary) and node.op == ":":
        return _grouping_ok(node.left) and _grouping_ok(node.right)
    return isinstance(node, _Name)


def _random_term(bar: _Binary) -> "RandomTerm":
    if not _grouping_ok(bar.right):
        raise FormulaError(f"Invalid grouping factor specification, {_deparse(bar.right)} "
                           f"(in '{_deparse(bar)}': a grouping factor is a column name, or "
                           "a:b, a/b)")
    return RandomTerm(_deparse(bar.left), _deparse(bar.right),
                      correlated=not bar.nocorr)


def _bars_of(model: _Model) -> list[_Binary]:
    """findbars(): expandDoubleVerts, fb, then expandSlash."""
    expanded = _expand_double_verts(model.text, model.rhs)
    out: list[_Binary] = []
    for bar in _find_bar_nodes(expanded):
        out.extend(_expand_slash_node(model.text, bar))
    return out


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | group)`` after lme4's expansions.

    ``expr`` and ``group`` are R-deparsed text, e.g. ``"1 + Days"`` and
    ``"cask:batch"``; ``correlated`` is False for terms produced by ``||``.
    """

    expr: str
    group: str
    correlated: bool = True

    @property
    def group_vars(self) -> tuple[str, ...]:
        """Column names used by the grouping expression, in order of
        appearance: ``("cask", "batch")`` for ``"cask:batch"``."""
        return _group_vars(self.group)

    def __str__(self) -> str:
        """The term as R deparses it: ``"(1 + Days | Subject)"``."""
        return f"({self.expr} | {self.group})"


@functools.lru_cache(maxsize=512)
def _group_vars(group: str) -> tuple[str, ...]:
    return _all_vars(_parse(group))
