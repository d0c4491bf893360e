"""Parse lme4 model formulas (``y ~ x + (1 + x | g)``) without touching data.

The module works on formula *text*.  A small tokenizer and Pratt parser turn
R formula syntax into an immutable AST; a deparser prints that AST the way
R's ``deparse()`` does; and ports of lme4's formula utilities (``findbars``,
``nobars``, ``expandDoubleVerts`` and ``findbars``' inner ``expandSlash`` /
``makeInteraction``, lme4 1.1-31) operate on the AST.  The results are
returned as strings so that callers never see the AST:

>>> pf = parse_formula("Reaction ~ Days + (Days || Subject)")
>>> pf.fixed, [str(t) for t in pf.random]
('Days', ['(1 | Subject)', '(0 + Days | Subject)'])
>>> pf.deparse()
'Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))'

Anything malformed raises :class:`FormulaError` (a ``ValueError``) whose
message quotes the offending part of the text.

Known simplification: R's ``deparse`` breaks output longer than 60 bytes into
several strings; the deparsed strings here are always a single line.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Optional, TypeVar, Union

from mlm_wrap.errors import FormulaError
from mlm_wrap.rformat.names import _RESERVED
from mlm_wrap.rformat.names import deparse_name as _deparse_name

__all__ = [
    "FormulaError",
    "RandomTerm",
    "ParsedFormula",
    "parse_formula",
    "find_bars",
    "no_bars",
    "expand_double_verts",
    "expand_slash",
    "deparse_formula",
]


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


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # "name", "num", "str", "const", "op", "eof"
    value: str  # name / deparsed literal / operator text
    start: int
    end: int


_OPERATORS = sorted(
    ["|||", "||", "|>", "|", "&&", "&", ":::", "::", ":", "<<-", "<-", "<=",
     "<", "->>", "->", ">=", ">", "==", "=", "!=", "!", "**", "+", "-", "*",
     "/", "^", "~", "$", "@", "?", "(", ")", "[", "]", ",", ";", "\\"],
    key=len, reverse=True,
)
_FORBIDDEN_OPS = {
    "<-": "assignment '<-'", "<<-": "assignment '<<-'", "->": "assignment '->'",
    "->>": "assignment '->>'", "?": "'?'", ";": "';'", "|>": "the pipe '|>'",
    "\\": "a lambda '\\'",
}
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\",
                   '"': '"', "'": "'", "`": "`", "a": "\a", "b": "\b",
                   "f": "\f", "v": "\v", " ": " "}


def _snippet(text: str, start: int, end: Optional[int] = None) -> str:
    """The source text from ``start`` to ``end`` (default: end of text)."""
    frag = text[start:end].strip()
    return frag if frag else text.strip()


def _tokenize(text: str) -> list[_Tok]:
    """Split formula text into tokens, raising FormulaError on bad input."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":  # comment to end of line
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            i = _read_number(text, i, toks)
            continue
        if c.isalpha() or c in "._":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "._"):
                j += 1
            word = text[i:j]
            if word in _KEYWORDS:
                raise FormulaError(
                    f"unexpected R keyword '{word}' in '{_snippet(text, 0)}'")
            kind = "const" if word in _CONSTANTS else "name"
            toks.append(_Tok(kind, word, i, j))
            i = j
            continue
        if c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise FormulaError(
                    f"unterminated backquoted name '{_snippet(text, i)}'")
            if j == i + 1:
                raise FormulaError(
                    f"empty backquoted name '``' in '{_snippet(text, 0)}'")
            toks.append(_Tok("name", text[i + 1:j], i, j + 1))
            i = j + 1
            continue
        if c in "'\"":
            i = _read_string(text, i, toks)
            continue
        if c == "%":
            j = i + 1
            while j < n and text[j] not in "%\n":
                j += 1
            if j >= n or text[j] != "%":
                raise FormulaError(
                    f"unterminated %-operator '{_snippet(text, i, j)}'")
            toks.append(_Tok("op", text[i:j + 1], i, j + 1))
            i = j + 1
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                if op == "|||":
                    raise FormulaError(
                        f"invalid operator '|||' in "
                        f"'{_snippet(text, *_around(text, i, i + 3))}'")
                if op in _FORBIDDEN_OPS:
                    raise FormulaError(
                        f"{_FORBIDDEN_OPS[op]} is not allowed in a model "
                        f"formula: '{_snippet(text, *_around(text, i, i + len(op)))}'")
                toks.append(_Tok("op", "^" if op == "**" else op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise FormulaError(
                f"unexpected character {c!r} in "
                f"'{_snippet(text, *_around(text, i, i + 1))}'")
    toks.append(_Tok("eof", "", n, n))
    return toks


def _around(text: str, start: int, end: int, width: int = 12) -> tuple[int, int]:
    """A window of source text around ``[start, end)`` for error messages."""
    return max(0, start - width), min(len(text), end + width)


def _read_number(text: str, i: int, toks: list[_Tok]) -> int:
    """Read an R numeric literal starting at ``i``; append it; return new i."""
    n = len(text)
    j = i
    if text.startswith(("0x", "0X"), i):
        j = i + 2
        while j < n and text[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            raise FormulaError(f"malformed number '{text[i:j + 1]}'")
        value: float = float(int(text[i + 2:j], 16))
    else:
        while j < n and text[j].isdigit():
            j += 1
        if j < n and text[j] == ".":
            j += 1
            while j < n and text[j].isdigit():
                j += 1
        if j < n and text[j] in "eE":
            k = j + 1
            if k < n and text[k] in "+-":
                k += 1
            if k >= n or not text[k].isdigit():
                raise FormulaError(
                    f"malformed number '{text[i:k + 1].strip()}' in "
                    f"'{_snippet(text, *_around(text, i, k))}'")
            while k < n and text[k].isdigit():
                k += 1
            j = k
        value = float(text[i:j])
    suffix = text[j] if j < n and text[j] in "Li" else ""
    if suffix == "L" and value.is_integer() and abs(value) < 2**31:
        shown = f"{int(value)}L"
    elif suffix == "i":
        shown = f"0+{_format_double(value)}i"
    else:
        shown = _format_double(value)
    end = j + (1 if suffix else 0)
    toks.append(_Tok("num", shown, i, end))
    return end


def _read_string(text: str, i: int, toks: list[_Tok]) -> int:
    """Read a quoted string literal starting at ``i``; return new i."""
    quote, j, n = text[i], i + 1, len(text)
    chars: list[str] = []
    while j < n and text[j] != quote:
        if text[j] == "\\":
            if j + 1 >= n:
                break
            esc = text[j + 1]
            if esc not in _STRING_ESCAPES:
                raise FormulaError(
                    f"unrecognised escape '\\{esc}' in string "
                    f"'{_snippet(text, i, j + 2)}'")
            chars.append(_STRING_ESCAPES[esc])
            j += 2
            continue
        chars.append(text[j])
        j += 1
    if j >= n:
        raise FormulaError(f"unterminated string '{_snippet(text, i)}'")
    toks.append(_Tok("str", _deparse_string("".join(chars)), i, j + 1))
    return j + 1


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


# ---------------------------------------------------------------------------
# Parser (Pratt / precedence climbing, following R's grammar)
# ---------------------------------------------------------------------------

_CLOSERS = {")", "]", ",", "eof"}


class _Parser:
    """Recursive-descent parser for one R expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.pos = 0
        self.groups = self._match_brackets()

    # -- helpers -----------------------------------------------------------
    def _match_brackets(self) -> list[tuple[int, int]]:
        """Check (), [] balance; return spans of all bracket groups."""
        stack: list[_Tok] = []
        starts: list[int] = []
        groups: list[tuple[int, int]] = []
        pairs = {")": "(", "]": "["}
        for k, tok in enumerate(self.toks):
            if tok.kind != "op":
                continue
            if tok.value in ("(", "["):
                stack.append(tok)
                before = self.toks[k - 1] if k else None
                # quote a call together with its function name: "f(x, )"
                call = before is not None and before.kind == "name" and \
                    before.end == tok.start
                starts.append(before.start if call and before else tok.start)
            elif tok.value in pairs:
                if not stack:
                    raise FormulaError(
                        f"unbalanced parentheses: unmatched '{tok.value}' in "
                        f"'{_snippet(self.text, 0, tok.end)}'")
                opener = stack.pop()
                group_start = starts.pop()
                if opener.value != pairs[tok.value]:
                    raise FormulaError(
                        f"unbalanced parentheses: '{opener.value}' closed by "
                        f"'{tok.value}' in "
                        f"'{_snippet(self.text, opener.start, tok.end)}'")
                groups.append((group_start, tok.end))
        if stack:
            opener = stack[-1]
            raise FormulaError(
                f"unbalanced parentheses: '{opener.value}' is never closed in "
                f"'{_snippet(self.text, opener.start)}'")
        return groups

    def _context(self, pos: int) -> str:
        """Innermost bracket group around ``pos`` (or the whole text)."""
        best: Optional[tuple[int, int]] = None
        for start, end in self.groups:
            if start < pos < end and (best is None or start > best[0]):
                best = (start, end)
        if best is None:
            return self.text.strip()
        return self.text[best[0]:best[1]]

    def fail(self, msg: str, tok: _Tok) -> FormulaError:
        return FormulaError(f"{msg} in '{self._context(tok.start)}'")

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def advance(self) -> _Tok:
        tok = self.toks[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def prev(self) -> Optional[_Tok]:
        return self.toks[self.pos - 1] if self.pos > 0 else None

    def is_op(self, tok: _Tok, *values: str) -> bool:
        return tok.kind == "op" and tok.value in values

    def expect(self, value: str) -> _Tok:
        tok = self.peek()
        if not self.is_op(tok, value):
            raise self.fail(f"expected '{value}' but found {_describe(tok)}", tok)
        return self.advance()

    # -- grammar -----------------------------------------------------------
    def parse_all(self) -> Node:
        node = self.parse_expr(0)
        tok = self.peek()
        if tok.kind != "eof":
            raise self._unexpected(tok)
        return node

    def _unexpected(self, tok: _Tok) -> FormulaError:
        if tok.kind in ("name", "num", "str", "const"):
            return self.fail(
                f"unexpected {_describe(tok)} (missing operator before it?)", tok)
        return self.fail(f"unexpected {_describe(tok)}", tok)

    def parse_expr(self, limit: int) -> Node:
        """Parse operators binding tighter than precedence ``limit``."""
        left = self.parse_prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op":
                return left
            op = tok.value
            if op == "=" or op not in _BINARY and not op.startswith("%"):
                return left
            if op in ("$", "@", "::", ":::"):
                return left  # handled as postfix; reaching here is an error
            prec, right_assoc = _binary_info(op)
            if prec <= limit:
                return left
            self.advance()
            self._require_operand(tok)
            right = self.parse_expr(prec - 1 if right_assoc else prec)
            node = _Binary(op, left, right, _join(left, right))
            if op in _COMPARE_OPS:
                nxt = self.peek()
                if self.is_op(nxt, *_COMPARE_OPS):
                    raise self.fail(
                        f"unexpected '{nxt.value}' (comparisons cannot be "
                        f"chained)", nxt)
            left = node

    def parse_prefix(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("-", "+", "!", "~"):
            self.advance()
            prec = {"-": _P_SIGN, "+": _P_SIGN, "!": _P_NOT, "~": _P_TILDE}[tok.value]
            self._require_operand(tok)
            operand = self.parse_expr(prec)
            return _Unary(tok.value, operand, (tok.start, _span(operand)[1]))
        return self.parse_postfix()

    def _require_operand(self, op_tok: _Tok) -> None:
        """Raise a precise error when an operator has no right operand."""
        nxt = self.peek()
        if nxt.kind == "eof":
            raise self.fail(
                f"missing operand after '{op_tok.value}' (trailing operator)",
                nxt)
        if self.is_op(nxt, ")", "]", ","):
            if op_tok.value in _BAR_OPS:
                raise self.fail(
                    f"random-effects term has an empty right-hand side "
                    f"(no grouping factor after '{op_tok.value}')", nxt)
            raise self.fail(f"missing operand after '{op_tok.value}'", nxt)

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while True:
            tok = self.peek()
            if self.is_op(tok, "("):
                node = self.parse_call(node)
            elif self.is_op(tok, "["):
                node = self.parse_index(node)
            elif self.is_op(tok, "$", "@"):
                self.advance()
                rhs = self.peek()
                if rhs.kind not in ("name", "str"):
                    raise self.fail(
                        f"expected a name after '{tok.value}' but found "
                        f"{_describe(rhs)}", rhs)
                self.advance()
                right: Node = (_Name(rhs.value, (rhs.start, rhs.end))
                               if rhs.kind == "name"
                               else _Const(rhs.value, "str", (rhs.start, rhs.end)))
                node = _Binary(tok.value, node, right, _join(node, right))
            else:
                return node

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "name":
            self.advance()
            node: Node = _Name(tok.value, (tok.start, tok.end))
            if self.is_op(self.peek(), "::", ":::"):
                op = self.advance()
                rhs = self.peek()
                if rhs.kind not in ("name", "str"):
                    raise self.fail(
                        f"expected a name after '{op.value}' but found "
                        f"{_describe(rhs)}", rhs)
                self.advance()
                node = _Binary(op.value, node, _Name(rhs.value.strip('"'),
                                                     (rhs.start, rhs.end)),
                               (tok.start, rhs.end))
            return node
        if tok.kind in ("num", "str", "const"):
            self.advance()
            return _Const(tok.value, tok.kind, (tok.start, tok.end))
        if self.is_op(tok, "("):
            self.advance()
            if self.is_op(self.peek(), ")"):
                raise FormulaError(
                    f"empty parentheses '()' in '{self._context(tok.start)}'")
            inner = self.parse_expr(0)
            close = self.peek()
            if not self.is_op(close, ")"):
                raise self._unexpected(close)
            self.advance()
            return _Paren(inner, (tok.start, close.end))
        raise self._no_operand(tok)

    def _no_operand(self, tok: _Tok) -> FormulaError:
        """Error for a token that cannot start an expression."""
        prev = self.prev()
        if tok.kind == "eof":
            if prev is None:
                return FormulaError("empty formula: ''")
            return self.fail(
                f"missing operand after '{prev.value}' (trailing operator)", tok)
        if self.is_op(tok, *_BAR_OPS) and (prev is None or self.is_op(prev, "(")):
            return self.fail(
                f"random-effects term has an empty left-hand side before "
                f"'{tok.value}'", tok)
        if prev is not None and prev.kind == "op" and prev.value not in (
                "(", "[", ",", ")", "]"):
            return self.fail(
                f"missing operand between '{prev.value}' and "
                f"{_describe(tok)}", tok)
        return self.fail(f"unexpected {_describe(tok)}", tok)

    def _parse_args(self, closer: str, allow_empty: bool
                    ) -> tuple[tuple[Optional[str], Optional[Node]], ...]:
        """Parse a comma-separated argument list up to ``closer``."""
        args: list[tuple[Optional[str], Optional[Node]]] = []
        if self.is_op(self.peek(), closer):
            return ()
        while True:
            tok = self.peek()
            name: Optional[str] = None
            if (tok.kind in ("name", "str") and self.is_op(self.peek(1), "=")):
                name = tok.value if tok.kind == "name" else tok.value[1:-1]
                self.advance()
                self.advance()
            nxt = self.peek()
            if self.is_op(nxt, ",", closer):
                if not allow_empty:
                    what = f"value for argument '{name}'" if name else "argument"
                    raise self.fail(f"empty {what}", nxt)
                args.append((name, None))
            else:
                args.append((name, self.parse_expr(0)))
            sep = self.peek()
            if self.is_op(sep, closer):
                return tuple(args)
            if not self.is_op(sep, ","):
                raise self._unexpected(sep)
            self.advance()

    def parse_call(self, fn: Node) -> Node:
        self.expect("(")
        args = self._parse_args(")", allow_empty=False)
        close = self.expect(")")
        span = (_span(fn)[0], close.end)
        # `+`(a, b) is the same call as a + b in R
        if isinstance(fn, _Name) and all(n is None for n, _ in args):
            vals = [v for _, v in args if v is not None]
            if fn.name == "(" and len(vals) == 1:
                return _Paren(vals[0], span)
            if fn.name in ("-", "+", "!", "~") and len(vals) == 1:
                return _Unary(fn.name, vals[0], span)
            if (fn.name in _BINARY or (fn.name.startswith("%") and fn.name.endswith("%")
                                        and len(fn.name) > 1)) and len(vals) == 2:
                return _Binary(fn.name, vals[0], vals[1], span)
        return _Call(fn, tuple((n, v) for n, v in args if v is not None), span)

    def parse_index(self, obj: Node) -> Node:
        open1 = self.expect("[")
        double = self.is_op(self.peek(), "[") and self.peek().start == open1.end
        if double:
            self.advance()
        args = self._parse_args("]", allow_empty=True)
        close = self.expect("]")
        if double:
            close2 = self.peek()
            if not (self.is_op(close2, "]") and close2.start == close.end):
                raise self.fail("expected ']]'", close2)
            close = self.advance()
        return _Index(obj, args, double, (_span(obj)[0], close.end))


def _describe(tok: _Tok) -> str:
    if tok.kind == "eof":
        return "end of input"
    if tok.kind == "name":
        return f"name '{tok.value}'"
    if tok.kind in ("num", "const"):
        return f"constant '{tok.value}'"
    if tok.kind == "str":
        return f"string {tok.value}"
    return f"'{tok.value}'"


def _span(node: Node) -> tuple[int, int]:
    return node.span if node.span is not None else (0, 0)


def _join(a: Node, b: Node) -> Span:
    if a.span is None or b.span is None:
        return None
    return (a.span[0], b.span[1])


def _parse(text: str) -> Node:
    """Parse ``text`` into an AST, converting any failure to FormulaError."""
    if not isinstance(text, str):
        raise TypeError(f"a formula must be a string, not {type(text).__name__}")
    if not text.strip():
        raise FormulaError(f"empty formula: '{text}'")
    try:
        return _Parser(text).parse_all()
    except RecursionError:
        raise FormulaError(
            f"formula is nested too deeply: '{text.strip()[:40]}...'") from None


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
    yield node
    for child in _children(node):
        yield from _walk(child)


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
        if key not in self.vars:
            self.vars.append(key)
            self.var_nodes.append(node)
        return self.vars.index(key)

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
        return [frozenset([self.vars.index(_deparse(node))])]

    def _delete(self, left: list[frozenset[int]], right_node: Node
                ) -> list[frozenset[int]]:
        self.parity = not self.parity
        right = self.encode(right_node)
        self.parity = not self.parity
        return [t for t in left if t not in right]


def _trim(terms: list[frozenset[int]]) -> list[frozenset[int]]:
    """TrimRepeats: drop empty and duplicated terms, keeping first order."""
    out: list[frozenset[int]] = []
    for t in terms:
        if t and t not in out:
            out.append(t)
    return out


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


def _random_term(bar: _Binary) -> "RandomTerm":
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


@dataclass(frozen=True)
class ParsedFormula:
    """A two-sided lme4 formula split into response, fixed and random parts."""

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]

    def fixed_formula(self) -> str:
        """The fixed-effects formula ``"response ~ fixed"`` (lme4's nobars)."""
        return f"{self.response} ~ {self.fixed}"

    def deparse(self) -> str:
        """The formula as lme4 stores and prints it (summary()'s "Formula:"
        line): deparsed by R's rules after expandDoubleVerts; '/' is not
        expanded there."""
        return deparse_formula(self.formula)

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct grouping-factor names, in order of first appearance."""
        return tuple(dict.fromkeys(t.group for t in self.random))


_F = TypeVar("_F", bound=Callable[..., object])


def _guard(func: _F) -> _F:
    """Turn RecursionError on absurdly nested input into FormulaError."""
    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except RecursionError:
            raise FormulaError("formula is nested too deeply: "
                               f"'{str(args[0]).strip()[:40]}...'") from None
    return wrapper  # type: ignore[return-value]


@_guard
def deparse_formula(text: str) -> str:
    """R's deparse of ``text`` after lme4's expandDoubleVerts (alias of
    :func:`expand_double_verts`)."""
    return expand_double_verts(text)


def _render(model: _Model, rhs: Node) -> str:
    body = _deparse(rhs)
    if model.kind == "two":
        assert model.lhs is not None
        return f"{_deparse(model.lhs)} ~ {body}"
    if model.kind == "one":
        return "~" + body
    return body


@_guard
def parse_formula(text: str) -> ParsedFormula:
    """Parse a two-sided lme4 formula such as ``"y ~ x + (1 + x | g)"``.

    Raises FormulaError for anything malformed, including a missing or
    empty response.
    """
    if isinstance(text, str) and text.strip() and "~" not in text:
        raise FormulaError(f"formula has no '~': '{text.strip()}'")
    model = _parse_model(text)
    if model.kind != "two":
        raise FormulaError(
            f"formula has an empty response (nothing left of '~'): "
            f"'{text.strip()}'")
    assert model.lhs is not None
    fixed = _nobars(model.rhs)
    random = tuple(_random_term(b) for b in _bars_of(model))
    return ParsedFormula(
        formula=text,
        response=_deparse(model.lhs),
        fixed="1" if fixed is None else _deparse(fixed),
        random=random,
    )


@_guard
def find_bars(rhs_or_formula: str) -> list[RandomTerm]:
    """lme4::findbars: the random-effects terms of a formula (or of a bare
    right-hand side), with ``||`` and ``/`` expanded, in lme4's order."""
    model = _parse_model(rhs_or_formula)
    return [_random_term(b) for b in _bars_of(model)]


@_guard
def no_bars(formula: str) -> str:
    """lme4::nobars: the formula with all random-effects terms removed.

    ``"y ~ x + (1|g)"`` -> ``"y ~ x"``; ``"y ~ (1|g)"`` -> ``"y ~ 1"``.
    A one-sided formula gives ``"~x"`` and a bare right-hand side ``"x"``.
    (For ``log(y) ~ (1|g)`` lme4's nobars returns just ``log(y)``; this
    returns ``"log(y) ~ 1"``, which is what lmer() itself uses.)
    """
    model = _parse_model(formula)
    nb = _nobars(model.rhs)
    return _render(model, _Const("1", "num") if nb is None else nb)


@_guard
def expand_double_verts(formula: str) -> str:
    """lme4::expandDoubleVerts: rewrite ``(x || g)`` as ``(1 | g) + (0 + x | g)``.

    Returns the deparsed formula (or right-hand side), e.g.
    ``"y ~ x + ((1 | g) + (0 + x | g))"`` -- including the extra parentheses
    R keeps around the expansion.
    """
    model = _parse_model(formula)
    return _render(model, _expand_double_verts(formula, model.rhs))


@_guard
def expand_slash(
    terms: Union[RandomTerm, str, Iterable[Union[RandomTerm, str]]],
) -> list[RandomTerm]:
    """lme4's expandSlash: ``(x | a/b)`` -> ``(x | b:a)``, ``(x | a)``.

    Accepts RandomTerm objects or bar-term strings such as ``"(1 | a/b/c)"``
    (``"1 | a/b"`` also works); ``||`` strings are expanded first.
    """
    items: Iterable[Union[RandomTerm, str]]
    if isinstance(terms, (RandomTerm, str)):
        items = [terms]
    else:
        items = terms
    out: list[RandomTerm] = []
    for item in items:
        if isinstance(item, RandomTerm):
            text, keep_corr = f"{item.expr} | {item.group}", item.correlated
        elif isinstance(item, str):
            text, keep_corr = item, True
        else:
            raise TypeError(
                f"expected RandomTerm or str, not {type(item).__name__}")
        model = _parse_model("(" + text + ")")
        core = model.rhs
        while isinstance(core, _Paren):
            core = core.inner
        if model.kind != "rhs" or not _is_bar(core):
            raise FormulaError(
                f"expected a single random-effects term like '(1 | g)', "
                f"got '{text.strip()}'")
        for bar in _bars_of(model):
            term = _random_term(bar)
            out.append(term if keep_corr else replace(term, correlated=False))
    return out


def all_vars(text: str) -> tuple[str, ...]:
    """R's ``all.vars``: the variable names in a formula or formula part, in order."""
    return _all_vars(_parse(text))
