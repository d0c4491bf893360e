"""R's expression syntax, read: a tokenizer and a Pratt (precedence-climbing) parser that
follow R's grammar, and refuse what a model formula cannot contain, quoting the fragment."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mlm_wrap.errors import FormulaError
from mlm_wrap.spec.r_ast import (
    deep_enough,
    _BAR_OPS,
    _BINARY,
    _COMPARE_OPS,
    _CONSTANTS,
    _KEYWORDS,
    _P_NOT,
    _P_SIGN,
    _P_TILDE,
    Node,
    _Binary,
    _binary_info,
    _Call,
    _Const,
    _Index,
    _join,
    _Name,
    _Paren,
    _span,
    _Unary,
)
from mlm_wrap.spec.r_deparse import _deparse_string, _format_double

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


def _parse(text: str) -> Node:
    """Parse ``text`` into an AST, converting any failure to FormulaError."""
    if not isinstance(text, str):
        raise TypeError(f"a formula must be a string, not {type(text).__name__}")
    if not text.strip():
        raise FormulaError(f"empty formula: '{text}'")
    try:
        with deep_enough(text):
            return _Parser(text).parse_all()
    except RecursionError:
        raise FormulaError(
            f"formula is nested too deeply: '{text.strip()[:40]}...'") from None
