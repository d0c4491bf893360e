"""R's ``deparse()`` of a syntax tree: R's spacing, parentheses and number/string formats."""
from __future__ import annotations

import math
from typing import Optional

from mlm_wrap.rformat.names import deparse_name as _deparse_name
from mlm_wrap.spec.r_ast import (
    _P_COMPARE,
    _P_NOT,
    _P_SIGN,
    _P_SUM,
    _P_TILDE,
    _TIGHT_OPS,
    Node,
    _Binary,
    _binary_info,
    _Call,
    _Const,
    _Index,
    _Name,
    _Paren,
    _Unary,
)


def _format_double(x: float) -> str:
    """Format a double as R's deparse does (15 significant digits, R's
    fixed-versus-scientific width rule with ``scipen = 0``)."""
    if math.isinf(x):
        return "Inf"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mant, exp_s = f"{abs(x):.14e}".split("e")
    digits = mant.replace(".", "").rstrip("0") or "0"
    e10 = int(exp_s)
    nsig = len(digits)
    # fixed notation
    if e10 >= 0:
        ip = digits[:e10 + 1].ljust(e10 + 1, "0")
        fp = digits[e10 + 1:]
    else:
        ip = "0"
        fp = "0" * (-e10 - 1) + digits
    fixed = ip + ("." + fp if fp else "")
    # scientific notation
    sci = digits[0] + ("." + digits[1:] if nsig > 1 else "")
    sci += "e" + ("-" if e10 < 0 else "+") + f"{abs(e10):02d}"
    return sign + (fixed if len(fixed) <= len(sci) else sci)


def _deparse_string(s: str) -> str:
    """Quote a string the way R's deparse does."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def string_value(deparsed: str) -> str:
    """The string a deparsed literal stands for (the inverse of :func:`_deparse_string`)."""
    body, out, i = deparsed[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_UNESCAPE.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------
# Deparser (R's deparse rules)
# ---------------------------------------------------------------------------


def _node_prec(node: Node) -> Optional[tuple[int, bool, int]]:
    """(precedence, right-assoc, n-args) of an operator node, else None."""
    if isinstance(node, _Binary):
        prec, rassoc = _binary_info(node.op)
        return prec, rassoc, 2
    if isinstance(node, _Unary):
        prec = {"-": _P_SUM, "+": _P_SUM, "!": _P_NOT, "~": _P_TILDE}[node.op]
        return prec, False, 1
    return None


def _needs_parens(parent: tuple[int, bool], child: Node, left: bool) -> bool:
    """Port of deparse.c:needsparens() for operator children."""
    info = _node_prec(child)
    if info is None:
        return False
    main_prec, main_rassoc = parent
    prec, _, nargs = info
    if isinstance(child, _Unary) and child.op != "!":
        if not left:
            return False
        if prec == _P_SUM:
            prec = _P_SIGN
    if nargs == 2 and main_prec == _P_COMPARE and prec == _P_COMPARE:
        return True
    return main_prec > prec or (main_prec == prec and left == main_rassoc)


def _deparse(node: Node) -> str:
    """Print an AST as R's deparse() would (single line)."""
    if isinstance(node, _Name):
        return _deparse_name(node.name)
    if isinstance(node, _Const):
        return node.text
    if isinstance(node, _Paren):
        return "(" + _deparse(node.inner) + ")"
    if isinstance(node, _Unary):
        prec = _node_prec(node)
        assert prec is not None
        main = (_P_SIGN if node.op in "+-" else prec[0], False)
        inner = _deparse(node.operand)
        if _needs_parens(main, node.operand, left=False):
            inner = "(" + inner + ")"
        return node.op + inner
    if isinstance(node, _Binary):
        main = _binary_info(node.op)
        lhs, rhs = _deparse(node.left), _deparse(node.right)
        if node.op not in ("::", ":::", "$", "@"):
            if _needs_parens(main, node.left, left=True):
                lhs = "(" + lhs + ")"
            if _needs_parens(main, node.right, left=False):
                rhs = "(" + rhs + ")"
        if node.op in _TIGHT_OPS:
            return lhs + node.op + rhs
        return f"{lhs} {node.op} {rhs}"
    if isinstance(node, _Call):
        fn = _deparse(node.fn)
        return fn + "(" + ", ".join(_deparse_arg(n, v) for n, v in node.args) + ")"
    if isinstance(node, _Index):
        obj = _deparse(node.obj)
        o, c = ("[[", "]]") if node.double else ("[", "]")
        return obj + o + ", ".join(_deparse_arg(n, v) for n, v in node.args) + c
    raise TypeError(f"not a formula node: {node!r}")  # pragma: no cover


def _deparse_arg(name: Optional[str], value: Optional[Node]) -> str:
    val = "" if value is None else _deparse(value)
    if name is None:
        return val
    return f"{_deparse_name(name)} = {val}"
