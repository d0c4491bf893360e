"""R's ``deparse()`` of calls and formulas, and the model's call as lme4 stores it (``m@call``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.models.base import call_arg, is_glmm
from mlm_wrap.rformat.names import deparse_name
from mlm_wrap.spec.r_ast import (
    _P_SIGN,
    _TIGHT_OPS,
    _Binary,
    _binary_info,
    _Call,
    _Const,
    _Index,
    _Name,
    _Paren,
    _Unary,
)
from mlm_wrap.spec.r_deparse import _deparse, _needs_parens, _node_prec

DEPARSE_CUTOFF = 60  #: ``deparse()``'s ``width.cutoff`` (and ``print()`` of a call)


# ---------------------------------------------------------------------------- deparse
class _Deparser:
    """R's ``deparse()`` line breaking (deparse.c): a line is broken after a binary
    operator or an argument's ``", "`` once it is longer than the cutoff; continuation
    lines are indented by 4 blanks per level."""

    def __init__(self, cutoff: int) -> None:
        self.cutoff, self.lines, self.buf = cutoff, [], []
        self.len, self.indent, self.startline = 0, 0, True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                self.put("    " if i <= 4 else "  ")
        self.buf.append(s)
        self.len += len(s)

    def writeline(self) -> None:
        self.lines.append("".join(self.buf))
        self.buf, self.len, self.startline = [], 0, True

    def linebreak(self, broke: bool) -> bool:
        if self.len > self.cutoff:
            if not broke:
                broke = True
                self.indent += 1
            self.writeline()
        return broke

    def node(self, node: Any) -> None:
        if isinstance(node, _Name):
            self.put(deparse_name(node.name))
        elif isinstance(node, _Const):
            self.put(node.text)
        elif isinstance(node, _Paren):
            self.put("(")
            self.node(node.inner)
            self.put(")")
        elif isinstance(node, _Unary):
            prec = _node_prec(node)
            main = (_P_SIGN if node.op in "+-" else prec[0], False)
            self.put(node.op)
            self._operand(main, node.operand, left=False)
        elif isinstance(node, _Binary):
            main = _binary_info(node.op)
            plain = node.op in ("::", ":::", "$", "@")
            self._operand(main, node.left, left=True, plain=plain)
            if node.op in _TIGHT_OPS:
                self.put(node.op)
                self._operand(main, node.right, left=False, plain=plain)
            else:
                self.put(" ")
                self.put(node.op)
                self.put(" ")
                broke = self.linebreak(False)
                self._operand(main, node.right, left=False)
                if broke:
                    self.indent -= 1
        elif isinstance(node, _Call):
            self.node(node.fn)
            self.put("(")
            self.args(node.args)
            self.put(")")
        elif isinstance(node, _Index):
            self.node(node.obj)
            self.put("[[" if node.double else "[")
            self.args(node.args)
            self.put("]]" if node.double else "]")
        else:  # pragma: no cover
            self.put(_deparse(node))

    def _operand(self, main, child, left: bool, plain: bool = False) -> None:
        parens = not plain and _needs_parens(main, child, left=left)
        if parens:
            self.put("(")
        self.node(child)
        if parens:
            self.put(")")

    def args(self, args) -> None:
        broke = False
        for k, (name, value) in enumerate(args):
            if name is not None:
                self.put(deparse_name(name))
                self.put(" = ")
            if value is not None:
                self.node(value)
            if k < len(args) - 1:
                self.put(", ")
                broke = self.linebreak(broke)
        if broke:
            self.indent -= 1


def deparse_lines(expr: str, cutoff: int = DEPARSE_CUTOFF) -> list[str]:
    """R's ``deparse()`` of an expression given as R source text: its lines."""
    from mlm_wrap.spec.r_parser import _parse
    d = _Deparser(cutoff)
    d.node(_parse(expr))
    d.writeline()
    return d.lines


#: a family's canonical link: R's call shows ``family = binomial`` for it
CANONICAL_LINK = {"binomial": "logit", "poisson": "log", "gaussian": "identity",
                  "Gamma": "inverse", "inverse.gaussian": "1/mu^2"}


def family_call(family: str, link: str) -> str:
    """The ``family =`` argument as R deparses it: ``binomial``, or
    ``binomial(link = "probit")`` for a link other than the family's canonical one."""
    if CANONICAL_LINK.get(family) == link:
        return family
    return f'{family}(link = "{link}")'


def model_call(m: "LmerMod") -> str:
    """The R call that fits the model, as lme4 stores it (``m@call``): ``lmer(formula =,
    data =, REML = FALSE)`` or ``glmer(formula =, data =, family =, weights =, nAGQ =)``."""
    args = [f"formula = {m.design.parsed.deparse()}"]
    if isinstance(m.data_name, str) and m.data_name:
        args.append(f"data = {deparse_name(m.data_name)}")
    if is_glmm(m):
        args.append(f"family = {family_call(m.family, m.link)}")
        for name in ("weights", "offset"):
            expr = call_arg(m, name)
            if expr:
                args.append(f"{name} = {expr}")
        if getattr(m, "nAGQ", 1) != 1:
            args.append(f"nAGQ = {int(m.nAGQ)}")
        return f"glmer({', '.join(args)})"
    if not m.REML:
        args.append("REML = FALSE")
    return f"lmer({', '.join(args)})"
