"""Parse lme4 model formulas (``y ~ x + (1 + x | g)``) without touching data.

The package works on formula *text*.  A small tokenizer (:mod:`~mlm_wrap.spec.r_parser`) and Pratt parser turn
R formula syntax into an immutable AST (:mod:`~mlm_wrap.spec.r_ast`); a deparser (:mod:`~mlm_wrap.spec.r_deparse`) prints that AST the way
R's ``deparse()`` does; and ports of lme4's formula utilities (``findbars``,
``nobars``, ``expandDoubleVerts`` and ``findbars``' inner ``expandSlash`` /
``makeInteraction``, lme4 1.1-31; :mod:`~mlm_wrap.spec.terms`) operate on the AST;
this module is the public face.  The results are
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
from dataclasses import dataclass, replace
from typing import Callable, Iterable, TypeVar, Union

from mlm_wrap.errors import FormulaError
from mlm_wrap.spec.r_ast import (
    Node,
    _all_vars,
    _Call,
    _Const,
    _is_bar,
    _Paren,
    deep_enough,
)
from mlm_wrap.spec.r_deparse import _deparse
from mlm_wrap.spec.r_parser import _parse
from mlm_wrap.spec.terms import (
    RandomTerm,
    _bars_of,
    _expand_double_verts,
    _Model,
    _nobars,
    _parse_model,
    _random_term,
)

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
            with deep_enough(str(args[0]) if args else ""):
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


def call_arguments(text: str) -> list[str]:
    """The arguments of a call such as ``cbind(s, n - s)``, each as R deparses it
    (``["s", "n - s"]``); a FormulaError when ``text`` is not a call."""
    node = _parse(text)
    if not isinstance(node, _Call):
        raise FormulaError(f"{text!r} is not a call")
    return [_deparse(a) if name is None else f"{name} = {_deparse(a)}" for name, a in node.args]
