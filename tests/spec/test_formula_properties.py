"""Property tests for the lme4 formula parser (hypothesis, bounded for speed)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.spec.r_parser import FormulaError

names = st.sampled_from(["x", "z", "Days", "age", "x1", "dose.mg", "w_2"])
fixed_terms = st.one_of(
    names,
    names.map(lambda n: f"log({n})"),
    names.map(lambda n: f"I({n}^2)"),
    st.tuples(names, names).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(names, names).map(lambda t: f"{t[0]} * {t[1]}"),
)
lhs = st.one_of(st.just("1"), names, names.map(lambda n: f"1 + {n}"), names.map(lambda n: f"0 + {n}"),
                names.map(lambda n: f"{n} - 1"))
groups = st.one_of(st.sampled_from(["g", "Subject", "plate", "batch"]),
                   st.tuples(st.sampled_from(["a", "batch"]), st.sampled_from(["b", "cask"])).map(
                       lambda t: f"{t[0]}/{t[1]}"),
                   st.tuples(st.sampled_from(["a", "batch"]), st.sampled_from(["b", "cask"])).map(
                       lambda t: f"{t[0]}:{t[1]}"))
random_terms = st.tuples(lhs, st.sampled_from(["|", "||"]), groups).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
responses = st.one_of(st.sampled_from(["y", "Reaction", "log(y)", "sqrt(count)"]))


@st.composite
def formulas(draw):
    resp = draw(responses)
    fixed = draw(st.lists(fixed_terms, max_size=3))
    rand = draw(st.lists(random_terms, min_size=1, max_size=3))
    lead = draw(st.sampled_from(["", "1 + ", "0 + "]))
    parts = fixed + rand
    order = draw(st.permutations(parts))
    return f"{resp} ~ {lead}{' + '.join(order)}"


def structure(p):
    return (p.response, p.fixed.replace(" ", ""), tuple((t.expr.replace(" ", ""), t.group) for t in p.random))


@settings(max_examples=150, deadline=None)
@given(formulas())
def test_valid_formulas_parse_and_round_trip(text):
    p = parse_formula(text)
    assert p.random, text
    q = parse_formula(p.deparse())
    assert structure(q) == structure(p)
    # deparsing is a fixed point after one round
    assert parse_formula(q.deparse()).deparse() == q.deparse()


alphabet = st.sampled_from(list("yx~+-*/:^|()01 ,.gIlog_abc") + ["||", "(1|g)", "~", "log("])


@settings(max_examples=300, deadline=None)
@given(st.lists(alphabet, max_size=14).map("".join))
def test_garbage_raises_formula_error_and_nothing_else(text):
    try:
        parse_formula(text)
    except FormulaError as e:
        assert str(e)  # a message, never empty
