"""The syntax tree of an R expression (immutable nodes with source spans), R's operator
precedences (src/main/names.c), and walks over the tree (variables, bars)."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

from mlm_wrap.rformat.names import _RESERVED

# ---------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------

Span = Optional[tuple[int, int]]


@dataclass(frozen=True)
class _Name:
    """A symbol (variable or function name), stored without backquotes."""

    name: str
    span: Span = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Const:
    """A literal already in R's deparsed form: number, string, TRUE, NULL..."""

    text: str
    kind: str  # "num", "str" or "const"
    span: Span = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Paren:
    """An explicit ``( ... )`` -- R keeps these as calls to ``(``."""

    inner: "Node"
    span: Span = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: "Node"
    span: Span = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Binary:
    op: str
    left: "Node"
    right: "Node"
    span: Span = field(default=None, compare=False, repr=False)
    #: set on ``|`` nodes produced by expanding ``||``
    nocorr: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True)
class _Call:
    fn: "Node"
    args: tuple[tuple[Optional[str], "Node"], ...]
    span: Span = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Index:
    """``x[i, j]`` (``double=False``) or ``x[[i]]`` (``double=True``)."""

    obj: "Node"
    args: tuple[tuple[Optional[str], Optional["Node"]], ...]
    double: bool
    span: Span = field(default=None, compare=False, repr=False)


Node = Union[_Name, _Const, _Paren, _Unary, _Binary, _Call, _Index]

# R operator precedences (src/main/names.c, PREC_*).
_P_TILDE, _P_OR, _P_AND, _P_NOT, _P_COMPARE = 4, 5, 6, 7, 8
_P_SUM, _P_PROD, _P_PERCENT, _P_COLON, _P_SIGN = 9, 10, 11, 12, 13
_P_POWER, _P_DOLLAR, _P_NS = 14, 15, 16

_COMPARE_OPS = ("==", "!=", "<", ">", "<=", ">=")
# op -> (precedence, right-associative)
_BINARY: dict[str, tuple[int, bool]] = {
    "~": (_P_TILDE, False),
    "|": (_P_OR, False),
    "||": (_P_OR, False),
    "&": (_P_AND, False),
    "&&": (_P_AND, False),
    **{op: (_P_COMPARE, False) for op in _COMPARE_OPS},
    "+": (_P_SUM, False),
    "-": (_P_SUM, False),
    "*": (_P_PROD, False),
    "/": (_P_PROD, False),
    ":": (_P_COLON, False),
    "^": (_P_POWER, True),
    "$": (_P_DOLLAR, False),
    "@": (_P_DOLLAR, False),
    "::": (_P_NS, False),
    ":::": (_P_NS, False),
}
# Binary operators R's deparse prints without surrounding spaces (PP_BINARY2,
# PP_DOLLAR, namespace access).
_TIGHT_OPS = {"/", "^", ":", "%%", "%/%", "$", "@", "::", ":::"}
_BAR_OPS = ("|", "||")

_CONSTANTS = _RESERVED - {"if", "else", "repeat", "while", "function", "for",
                          "next", "break", "in"}
_KEYWORDS = _RESERVED - _CONSTANTS


def _binary_info(op: str) -> tuple[int, bool]:
    """Precedence and associativity of a binary operator (``%op%`` included)."""
    if op.startswith("%"):
        return _P_PERCENT, False
    return _BINARY[op]


def _span(node: Node) -> tuple[int, int]:
    return node.span if node.span is not None else (0, 0)


def _join(a: Node, b: Node) -> Span:
    if a.span is None or b.span is None:
        return None
    return (a.span[0], b.span[1])


def _children(node: Node) -> list[Node]:
    """Sub-expressions in R's argument order."""
    if isinstance(node, _Paren):
        return [node.inner]
    if isinstance(node, _Unary):
        return [node.operand]
    if isinstance(node, _Binary):
        return [node.left, node.right]
    if isinstance(node, _Call):
        return [node.fn] + [v for _, v in node.args]
    if isinstance(node, _Index):
        return [node.obj] + [v for _, v in node.args if v is not None]
    return []


def _walk(node: Node) -> Iterable[Node]:
    """Every node, parents before children, left to right (iterative: a formula of
    thousands of terms is a tree thousands of levels deep)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(_children(n)))


@contextlib.contextmanager
def deep_enough(text: str):
    """Room on Python's stack for the recursive walks over the tree of ``text``: a flat
    formula of n terms is n levels deep (R's own parser takes such formulas)."""
    ops = sum(text.count(c) for c in "+-*/:^|~%") + text.count("(")
    need = min(1000 + 8 * ops, 100_000)  # beyond that: FormulaError "nested too deeply"
    old = sys.getrecursionlimit()
    if need > old:
        sys.setrecursionlimit(need)
    try:
        yield
    finally:
        if need > old:
            sys.setrecursionlimit(old)


def _is_bar(node: Node) -> bool:
    return isinstance(node, _Binary) and node.op in _BAR_OPS


def _any_bars(node: Node) -> bool:
    return any(_is_bar(n) for n in _walk(node))


def _all_vars(node: Node) -> tuple[str, ...]:
    """Variable names in ``node`` (like R's all.vars, function names excluded)."""
    out: list[str] = []

    def visit(n: Node) -> None:
        if isinstance(n, _Name):
            if n.name not in out:
                out.append(n.name)
        elif isinstance(n, _Call):
            for _, v in n.args:
                visit(v)
        elif isinstance(n, _Binary) and n.op in ("::", ":::"):
            return
        else:
            for child in _children(n):
                visit(child)

    visit(node)
    return tuple(out)
