"""Tests for mlm_wrap.spec.formula: lme4 formula parsing, expansion and deparsing.

Expected strings follow lme4 1.1-31 (findbars, nobars, expandDoubleVerts,
expandSlash/makeInteraction) and R's deparse rules; cases taken from lme4's
help pages and its test suite are marked as such.
"""

from __future__ import annotations

import random

import pytest

from mlm_wrap.spec.formula import (
    ParsedFormula,
    expand_double_verts,
    expand_slash,
    find_bars,
    no_bars,
    parse_formula,
)
from mlm_wrap.spec.r_parser import FormulaError
from mlm_wrap.spec.terms import RandomTerm


def pairs(terms: list[RandomTerm] | tuple[RandomTerm, ...]) -> list[tuple[str, str]]:
    """(expr, group) of each term -- the structure lme4's findbars returns."""
    return [(t.expr, t.group) for t in terms]


# ---------------------------------------------------------------------------
# find_bars
# ---------------------------------------------------------------------------


def test_find_bars_doc_example_slope() -> None:
    """?findbars: findbars(Reaction ~ Days + (Days|Subject)) -> Days | Subject."""
    assert pairs(find_bars("Reaction ~ Days + (Days|Subject)")) == [("Days", "Subject")]


def test_find_bars_doc_example_two_terms() -> None:
    """?findbars: (1|Subject) + (0+Days|Subject) gives two terms, deparsed."""
    got = find_bars("y ~ Days + (1|Subject) + (0+Days|Subject)")
    assert pairs(got) == [("1", "Subject"), ("0 + Days", "Subject")]
    assert [str(t) for t in got] == ["(1 | Subject)", "(0 + Days | Subject)"]


def test_find_bars_doc_example_nested_one_sided() -> None:
    """?findbars: findbars(~ 1 + (1|batch/cask)) -> 1 | cask:batch, 1 | batch."""
    assert pairs(find_bars("~ 1 + (1|batch/cask)")) == [("1", "cask:batch"), ("1", "batch")]


def test_find_bars_accepts_bare_rhs() -> None:
    """A right-hand side without '~' is accepted, as lme4's findbars(term)."""
    assert pairs(find_bars("x + (1 + x | g)")) == [("1 + x", "g")]
    assert pairs(find_bars("(1|g)")) == [("1", "g")]


def test_find_bars_without_random_terms_is_empty() -> None:
    """A purely fixed formula has no bars (findbars returns NULL)."""
    assert find_bars("y ~ x * f") == []


def test_find_bars_crossed_in_order_of_appearance() -> None:
    """Crossed terms: one RandomTerm each, left to right."""
    got = find_bars("y ~ (1|b) + x + (1|a) + (x|c)")
    assert pairs(got) == [("1", "b"), ("1", "a"), ("x", "c")]


def test_find_bars_interaction_group_is_one_term() -> None:
    """(1 | a:b) is a single term whose group is the interaction a:b."""
    (term,) = find_bars("y ~ (1 | a:b)")
    assert term.group == "a:b"
    assert term.group_vars == ("a", "b")


def test_find_bars_deparses_lhs_like_r() -> None:
    """The left of the bar is printed as R deparses it."""
    (term,) = find_bars("y ~ (1+x+I(x^2)+log(z)|g)")
    assert term.expr == "1 + x + I(x^2) + log(z)"
    (term,) = find_bars("y ~ (x-1|g)")
    assert term.expr == "x - 1"


# ---------------------------------------------------------------------------
# expand_slash
# ---------------------------------------------------------------------------


def test_slash_two_levels() -> None:
    """(1 | a/b) -> (1 | b:a) then (1 | a), lme4's naming and order."""
    assert pairs(find_bars("y ~ (1 | a/b)")) == [("1", "b:a"), ("1", "a")]


def test_slash_three_levels_follows_make_interaction() -> None:
    """(1|a/b/c): lme4's recursion builds c:(b:a); R's deparse keeps the
    parentheses (as in summary() output 'eth3:(eth2:eth1)')."""
    got = find_bars("y ~ (1|a/b/c)")
    assert pairs(got) == [("1", "c:(b:a)"), ("1", "b:a"), ("1", "a")]
    assert got[0].group_vars == ("c", "b", "a")


def test_slash_keeps_left_side_for_every_term() -> None:
    """(x | a/b) -> (x | b:a), (x | a)."""
    assert pairs(find_bars("y ~ (x | a/b)")) == [("x", "b:a"), ("x", "a")]


def test_expand_slash_function_on_strings_and_terms() -> None:
    """expand_slash works on bar-term strings and on RandomTerm objects."""
    assert pairs(expand_slash("(1 | batch/cask)")) == [("1", "cask:batch"), ("1", "batch")]
    assert pairs(expand_slash("x | a/b")) == [("x", "b:a"), ("x", "a")]
    out = expand_slash([RandomTerm("1", "a/b", correlated=False), RandomTerm("1", "g")])
    assert out == [RandomTerm("1", "b:a", False), RandomTerm("1", "a", False),
                   RandomTerm("1", "g", True)]


def test_expand_slash_leaves_other_groups_alone() -> None:
    """No slash: the term comes back unchanged."""
    assert expand_slash(RandomTerm("1 + x", "a:b")) == [RandomTerm("1 + x", "a:b")]


def test_expand_slash_rejects_non_terms() -> None:
    """Only a single bar term is accepted."""
    with pytest.raises(FormulaError, match="x \\+ z"):
        expand_slash("x + z")


# ---------------------------------------------------------------------------
# expand_double_verts
# ---------------------------------------------------------------------------


def test_double_vert_doc_example() -> None:
    """?expandDoubleVerts: ~ x + (x || g) -> ~x + ((1 | g) + (0 + x | g))."""
    assert expand_double_verts("~ x + (x || g)") == "~x + ((1 | g) + (0 + x | g))"


def test_double_vert_several_slopes() -> None:
    """(1 + x + z || g) -> (1|g) + (0+x|g) + (0+z|g)."""
    assert (expand_double_verts("y ~ (1 + x + z || g)")
            == "y ~ ((1 | g) + (0 + x | g) + (0 + z | g))")
    assert pairs(find_bars("y ~ (1 + x + z || g)")) == [
        ("1", "g"), ("0 + x", "g"), ("0 + z", "g")]


@pytest.mark.parametrize("text", ["y ~ (0 + x || g)", "y ~ (x - 1 || g)", "y ~ (-1 + x || g)"])
def test_double_vert_without_intercept(text: str) -> None:
    """No intercept on the left: only the (0 + x | g) term is produced."""
    assert expand_double_verts(text) == "y ~ ((0 + x | g))"
    assert pairs(find_bars(text)) == [("0 + x", "g")]


def test_double_vert_intercept_only() -> None:
    """(1 || g) becomes (1 | g), still wrapped in the extra parentheses."""
    assert expand_double_verts("y ~ (1 || g)") == "y ~ ((1 | g))"


def test_double_vert_interaction_from_lme4_tests() -> None:
    """lme4 tests: (x1*x2 || id) == (1|id) + (0+x1|id) + (0+x2|id) + (0+x1:x2|id)."""
    assert pairs(find_bars("y ~ (x1*x2 || id)")) == pairs(find_bars(
        "y ~ (1 | id) + (0+x1 | id) + (0 + x2 | id) + (0 + x1:x2 | id)"))


def test_double_vert_nested_from_lme4_tests() -> None:
    """lme4 tests: (x || id/id2) == (1 | id/id2) + (0 + x | id/id2)."""
    assert pairs(find_bars("y ~ (x || id / id2)")) == pairs(find_bars(
        "y ~ (1 | id / id2) + (0 + x | id / id2)"))
    assert pairs(find_bars("y ~ (x || id/id2)")) == [
        ("1", "id2:id"), ("1", "id"), ("0 + x", "id2:id"), ("0 + x", "id")]


def test_double_vert_multiple_from_lme4_tests() -> None:
    """lme4 tests: mixing ||, | and nesting keeps findbars order."""
    assert pairs(find_bars("y ~ (x1 + x2 || id / id2) + (x3 | id3) + (x4 || id4)")) == pairs(
        find_bars("y ~ (1 | id / id2) + (0 + x1 | id / id2) + (0 + x2 | id / id2)"
                  " + (x3 | id3) + (1 | id4) + (0 + x4| id4)"))


def test_double_vert_uses_terms_labels() -> None:
    """The left side is expanded by R's terms() rules (order, then appearance)."""
    assert pairs(find_bars("y ~ (x:z + x + poly(w, 2) || g)")) == [
        ("1", "g"), ("0 + x", "g"), ("0 + poly(w, 2)", "g"), ("0 + x:z", "g")]
    assert pairs(find_bars("y ~ ((a + b)^2 - a || g)")) == [
        ("1", "g"), ("0 + b", "g"), ("0 + a:b", "g")]


def test_double_vert_marks_terms_uncorrelated() -> None:
    """Terms from '||' have correlated=False, ordinary bars True."""
    terms = find_bars("y ~ (x || g) + (x | h)")
    assert [t.correlated for t in terms] == [False, False, True]


def test_expand_double_verts_leaves_single_bars() -> None:
    """Formulas without '||' are just deparsed."""
    assert expand_double_verts("y~x+(1|g)") == "y ~ x + (1 | g)"
    assert expand_double_verts("x + (z || g)") == "x + ((1 | g) + (0 + z | g))"


# ---------------------------------------------------------------------------
# no_bars
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reaction ~ Days + (Days|Subject)", "Reaction ~ Days"),  # ?nobars example
        ("y ~ x + (1|g)", "y ~ x"),
        ("y ~ (1|g)", "y ~ 1"),
        ("y ~ 0 + x + (1|g)", "y ~ 0 + x"),
        ("y ~ (1|g) + x + (x||h)", "y ~ x"),
        ("y ~ x + (1|g) - 1", "y ~ x - 1"),
        ("log(y) ~ (1|g)", "log(y) ~ 1"),
        ("~ x + (1|g)", "~x"),
        ("~ (1|g)", "~1"),
        ("x + (1|g)", "x"),
        ("y ~ x", "y ~ x"),
    ],
)
def test_no_bars(text: str, expected: str) -> None:
    """lme4::nobars drops bar terms and falls back to an intercept."""
    assert no_bars(text) == expected


# ---------------------------------------------------------------------------
# parse_formula
# ---------------------------------------------------------------------------


def test_parse_formula_sleepstudy() -> None:
    """?lmer fm1: response, fixed part and one correlated slope term."""
    pf = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert pf == ParsedFormula(
        formula="Reaction ~ Days + (Days | Subject)", response="Reaction",
        fixed="Days", random=(RandomTerm("Days", "Subject", True),))
    assert pf.fixed_formula() == "Reaction ~ Days"


def test_parse_formula_keeps_user_text() -> None:
    """ParsedFormula.formula is exactly what the user passed."""
    text = "y~x+(1|g)   "
    assert parse_formula(text).formula == text


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("log(y) ~ x + (1|g)", "log(y)"),
        ("cbind(incidence, size - incidence) ~ period + (1 | herd)",  # ?glmer gm1
         "cbind(incidence, size - incidence)"),
        ("cbind(s,n-s) ~ (1|g)", "cbind(s, n - s)"),
        ("I(y/10) ~ (1|g)", "I(y/10)"),
    ],
)
def test_response_expressions_are_deparsed(text: str, response: str) -> None:
    """An expression response is kept as R-deparsed text."""
    assert parse_formula(text).response == response


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("y ~ x*f + (1|g)", "x * f"),
        ("y ~ x:f + (1|g)", "x:f"),
        ("y ~ age + I(age^2) + (1|g)", "age + I(age^2)"),
        ("y ~ log(z) + poly(x, 2) + (1|g)", "log(z) + poly(x, 2)"),
        ("y ~ 0 + x + (1|g)", "0 + x"),
        ("y ~ x - 1 + (1|g)", "x - 1"),
        ("y ~ . + (1|g)", "."),
        ("y ~ offset(log(n)) + x + (1|g)", "offset(log(n)) + x"),
        ("y ~ (1|g)", "1"),
        ("y ~ (1|g) + (1|h)", "1"),
        ("y ~ -1 + (1|g)", "-1"),
    ],
)
def test_fixed_part_passes_through(text: str, fixed: str) -> None:
    """The fixed part is deparsed text, never expanded."""
    assert parse_formula(text).fixed == fixed


def test_random_term_str_and_group_vars() -> None:
    """__str__ is R's deparse of the bar term; group_vars lists columns."""
    pf = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [str(t) for t in pf.random] == ["(1 | cask:batch)", "(1 | batch)"]
    assert [t.group_vars for t in pf.random] == [("cask", "batch"), ("batch",)]
    assert RandomTerm("1 + Days", "Subject").__str__() == "(1 + Days | Subject)"
    assert RandomTerm("1", "interaction(a, b)").group_vars == ("a", "b")


def test_groups_property_lists_distinct_groups() -> None:
    """ParsedFormula.groups: distinct grouping factors in order."""
    pf = parse_formula("y ~ (x || g) + (1 | h)")
    assert pf.groups == ("g", "h")


def test_backquoted_names() -> None:
    """Non-syntactic names keep backquotes in text but not in group_vars."""
    pf = parse_formula("`my y` ~ `a b` + (1 | `my group`)")
    assert pf.response == "`my y`"
    assert pf.fixed == "`a b`"
    assert pf.random[0].group == "`my group`"
    assert pf.random[0].group_vars == ("my group",)
    assert parse_formula("y ~ `x` + (1|`g`)").deparse() == "y ~ x + (1 | g)"


def test_whitespace_newlines_and_comments() -> None:
    """Spacing does not matter; newlines and # comments are ignored."""
    pf = parse_formula("y ~ x +  # fixed\n   (1 +\tx|g)")
    assert (pf.fixed, pairs(pf.random)) == ("x", [("1 + x", "g")])


# ---------------------------------------------------------------------------
# deparse
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days | Subject)"),
        ("Reaction ~ Days + (Days || Subject)",
         "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"),
        ("strength ~ 1 + (1 | batch/cask)", "strength ~ 1 + (1 | batch/cask)"),
        ("diameter ~ 1 + (1|plate) + (1|sample)",
         "diameter ~ 1 + (1 | plate) + (1 | sample)"),
        ("Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))",
         "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"),
        ("y~x*f+I(x^2)+(x-1|g)", "y ~ x * f + I(x^2) + (x - 1 | g)"),
        ("y ~ a/b + a%in%b + a%%b + d$x + stats::poly(x,2)",
         "y ~ a/b + a %in% b + a%%b + d$x + stats::poly(x, 2)"),
        ("y ~ f(x, ref='b', `n m`=2L) + x[, 1] + I(!z) + (x == 1)",
         'y ~ f(x, ref = "b", `n m` = 2L) + x[, 1] + I(!z) + (x == 1)'),
        ("y ~ 1.0 + 2.50 + 1e5 + 123456 + 0.0001 + 0.001 + .5 + 0x10",
         "y ~ 1 + 2.5 + 1e+05 + 123456 + 1e-04 + 0.001 + 0.5 + 16"),
        ("y ~ x ** 2 + -x + a^-1", "y ~ x^2 + -x + a^-1"),
    ],
)
def test_deparse_matches_r(text: str, expected: str) -> None:
    """deparse() prints what lme4's summary() shows on its Formula: line."""
    assert parse_formula(text).deparse() == expected


@pytest.mark.parametrize(
    "text",
    [
        "Reaction ~ Days + (Days | Subject)",
        "Reaction ~ Days + (Days || Subject)",
        "strength ~ 1 + (1 | batch/cask)",
        "diameter ~ 1 + (1|plate) + (1|sample)",
        "y ~ (1|a/b/c) + (x*z || g) + (0 + x | h:k)",
        "cbind(s, n - s) ~ 0 + poly(x, 2) + offset(log(n)) + (1 | g) - 1",
        "log(y) ~ x + ((1|g)) + (x + (1|h))",
        "`y y` ~ `a b`:c + (`a b` | `g g`/h)",
    ],
)
def test_round_trip(text: str) -> None:
    """parse(deparse(x)) has the same structure, and deparse is a fixed point.

    ('correlated' is not compared: like R, the deparsed text of an expanded
    '||' term no longer says it came from '||'.)
    """
    pf = parse_formula(text)
    again = parse_formula(pf.deparse())
    assert (again.response, again.fixed) == (pf.response, pf.fixed)
    assert pairs(again.random) == pairs(pf.random)
    assert again.deparse() == pf.deparse()
    assert no_bars(pf.deparse()) == pf.fixed_formula()


def test_round_trip_of_random_term_strings() -> None:
    """str(RandomTerm) parses back to the same term."""
    for term in parse_formula("y ~ (1 + x | g) + (0 + z | a:b) + (x - 1 | h)").random:
        assert find_bars(str(term)) == [term]


# ---------------------------------------------------------------------------
# malformed input
# ---------------------------------------------------------------------------


MALFORMED = [
    # (input, fragment the message must quote)
    ("y ~ (x + (1|g)", "(x + (1|g)"),           # unclosed parenthesis
    ("y ~ x + 1|g)", "1|g)"),                    # unmatched ')'
    ("y ~ f(x]", "(x]"),                         # mismatched brackets
    ("y x", "y x"),                              # no '~'
    ("y ~ x + 1 | g", "x + 1 | g"),              # '|' outside parentheses
    ("y ~ 1 | g", "1 | g"),                      # '|' outside parentheses
    ("y ~ x + (|g)", "(|g)"),                    # empty left side of bar
    ("y ~ x + (1|)", "(1|)"),                    # empty right side of bar
    ("y ~ x + (x||)", "(x||)"),                  # empty right side of '||'
    ("y ~ x + (1|||g)", "|||"),                  # '|||'
    ("y ~ x + (1 || | g)", "(1 || | g)"),        # '|| |'
    ("y ~ x +", "y ~ x +"),                      # trailing operator
    ("y ~ + ", "y ~ +"),                         # stray operator only
    ("y ~ x + * z", "y ~ x + * z"),              # two operators in a row
    ("~ x + (1|g)", "~ x + (1|g)"),              # empty response
    ("(1|g) ~ x", "(1|g)"),                      # random term in response
    ("y ~", "y ~"),                              # empty right-hand side
    ("y ~ x ~ z", "y ~ x ~ z"),                  # two '~'
    ("y ~ x y", "y ~ x y"),                      # missing operator
    ("y ~ 1 + ()", "()"),                        # empty parentheses
    ("y ~ x + (1 | g | h)", "(1 | g | h)"),      # nested bars
    ("y ~ x * (1|g)", "x * (1|g)"),              # bar term not added with '+'
    ("y ~ log((1|g))", "log((1|g))"),            # bar term inside a call
    ("y ~ x - (1|g)", "x - (1|g)"),              # subtracting a bar term
    ("y ~ x + (1 | a:(b/c))", "a:(b/c)"),        # lme4: unparseable grouping factor
    ("y ~ x + (1 | a:b/c)", "a:b"),              # compound outer factor for '/'
    ("y ~ x + (1 | a/)", "(1 | a/)"),            # trailing '/'
    ("y ~ x + (0 || g)", "0 || g"),              # '||' with nothing to expand
    ("y ~ x + (2 || g)", "2"),                   # invalid term for terms()
    ("y ~ x + 'abc", "'abc"),                    # unterminated string
    ("y ~ `x", "`x"),                            # unterminated backquote
    ("y ~ x + 1e", "1e"),                        # malformed number
    ("y ~ f(x, )", "f(x, )"),                    # empty argument
    ("y ~ x + ∆", "∆"),                          # illegal character
    ("y ~ x <- z", "<-"),                        # assignment
    ("y ~ x; z", ";"),                           # statement separator
    ("y ~ x + if", "if"),                        # keyword
    ("y ~ a < b < c", "<"),                      # chained comparison
    ("", "''"),                                  # empty
    ("y ~ x %in z", "%in z"),                    # unterminated %op%
]


@pytest.mark.parametrize(("text", "fragment"), MALFORMED)
def test_malformed_raises_formula_error_quoting_fragment(text: str, fragment: str) -> None:
    """Every malformed input raises FormulaError naming the offending text."""
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("func", [find_bars, no_bars, expand_double_verts])
@pytest.mark.parametrize("text", ["y ~ x + (1|)", "x + 1 | g", "y ~ (x", "(|g)"])
def test_other_functions_reject_malformed_input(func, text: str) -> None:
    """The lme4-named helpers validate just like parse_formula."""
    with pytest.raises(FormulaError):
        func(text)


def test_formula_error_is_value_error() -> None:
    """FormulaError can be caught as ValueError."""
    assert issubclass(FormulaError, ValueError)


def test_non_string_is_type_error() -> None:
    """A non-string formula is a programming error, not a formula error."""
    with pytest.raises(TypeError):
        parse_formula(None)  # type: ignore[arg-type]


def test_deep_nesting_is_formula_error() -> None:
    """Pathological nesting raises FormulaError, not RecursionError; deep but sane nesting
    parses, as in R."""
    with pytest.raises(FormulaError, match="nested too deeply"):
        parse_formula("y ~ " + "(" * 50000 + "x" + ")" * 50000)
    assert parse_formula("y ~ " + "(" * 3000 + "x" + ")" * 3000 + " + (1 | g)").fixed.strip("()") == "x"


def test_a_flat_formula_of_thousands_of_terms_parses_and_builds() -> None:
    """lme4 takes y ~ x1 + ... + x5000; the tree is 5000 levels deep, the parser loops."""
    import numpy as np
    import pandas as pd
    from mlm_wrap.spec.design import build_design
    n = 5000
    names = [f"x{i}" for i in range(n)]
    pf = parse_formula("y ~ " + " + ".join(names) + " + (1 | g)")
    assert pf.fixed.count("+") == n - 1
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(30, n)), columns=names).assign(
        y=rng.normal(size=30), g=np.repeat(np.arange(6), 5))
    d = build_design(parse_formula("y ~ " + " + ".join(names[:2000]) + " + (1 | g)"), df)
    assert d.X.shape[0] == 30


def test_garbage_only_ever_raises_formula_error() -> None:
    """Random token soup never leaks SyntaxError/IndexError/etc."""
    rng = random.Random(20240601)
    atoms = ["y", "x", "g", "1", "0", "(", ")", "|", "||", "+", "-", "*", "/",
             ":", "^", "~", " ", "log(", ",", "`a b`", "'s'", ".", "%in%", "$",
             "[", "]", "==", "!", "2L", "=", "@", "::"]
    for _ in range(1500):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.5:
            text = "y ~ " + text
        try:
            pf = parse_formula(text)
        except FormulaError:
            continue
        assert parse_formula(pf.deparse()).deparse() == pf.deparse()
