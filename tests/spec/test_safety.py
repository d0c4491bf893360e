"""A formula is data, not code: nothing in a formula, a subset/weights/offset expression or
new data is ever run as Python.

Each payload below would create a marker file if it were executed; the test checks that it
is refused with a named mlm_wrap error (before any evaluation) and that no marker exists.
A test-only function registered in the allow-list does write the marker, which proves the
harness would catch an execution.  Property-based tests generate formulas from R's grammar
over the allow-listed functions: each gives a fit or a named error, and most of them fit.
"""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlm_wrap as mw
from mlm_wrap.errors import DataError, FormulaError, ModelError
from mlm_wrap.spec import rfunctions
from mlm_wrap.spec.rvalues import Num

NAMED = (FormulaError, DataError, ModelError)


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    return pd.DataFrame({"y": rng.normal(10, 1, n), "x": rng.uniform(1, 5, n),
                         "s": rng.integers(1, 5, n).astype(float),
                         "f": rng.choice(["a", "b", "c"], n), "g": np.repeat(np.arange(12), 5)})


def payloads(marker: Path) -> dict[str, tuple[str, dict]]:
    """(formula, extra lmer/glmer arguments) per class of injection attempt."""
    m = str(marker)
    return {
        "builtins through I()": (f'y ~ I(np.__builtins__["exec"]("open({m!r}, \'w\')")) + (1 | g)', {}),
        "os.system through getattr": (
            f'y ~ x + getattr(getattr(np, "os"), "system")("touch {m}") + (1 | g)', {}),
        "import": (f'y ~ __import__("os").system("touch {m}") + (1 | g)', {}),
        "method of a data column": (f'y ~ x.to_csv("{m}") + (1 | g)', {}),
        "element access": (f'y ~ x$to_csv("{m}") + (1 | g)', {}),
        "subscript": (f'y ~ x[open("{m}", "w")] + (1 | g)', {}),
        "inside offset()": (f'y ~ x + offset(eval("open({m!r}, \'w\')")) + (1 | g)', {}),
        "inside the random-effects term": (f'y ~ x + (exec("open({m!r}, \'w\')") | g)', {}),
        "lambda": (f'y ~ (lambda: open("{m}", "w"))() + (1 | g)', {}),
        "subset argument": ("y ~ x + (1 | g)", {"subset": f'__import__("os").system("touch {m}")'}),
        "weights argument": ("y ~ x + (1 | g)", {"weights": f'exec("open({m!r}, \'w\')")'}),
    }


def test_the_marker_harness_sees_execution(tmp_path, data, monkeypatch):
    """A test-only allowed function that writes the marker: if the evaluator ran anything,
    the marker would exist (so the checks below can fail)."""
    marker = tmp_path / "ran"

    def touch(call):
        marker.write_text("executed")
        return Num(np.zeros(call.n))

    monkeypatch.setitem(rfunctions.FUNCTIONS, "touch_marker", rfunctions.RFunction(touch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mw.lmer("y ~ x + touch_marker(x) + (1 | g)", data)
    assert marker.read_text() == "executed"


@pytest.mark.parametrize("kind", list(payloads(Path("m"))))
def test_payload_is_refused_and_never_runs(kind, tmp_path, data):
    marker = tmp_path / "ran"
    formula, kw = payloads(marker)[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NAMED) as info:
            mw.lmer(formula, data, **kw)
    assert not marker.exists()
    assert "Traceback" not in str(info.value)


def test_glmer_response_and_offset_payloads_never_run(tmp_path, data):
    marker = tmp_path / "ran"
    d = data.assign(n=10.0)
    for formula, kw in [
        (f'cbind(s, __import__("os").system("touch {marker}")) ~ x + (1 | g)', {}),
        (f'cbind(s, n - s) ~ x + offset(exec("open({str(marker)!r}, \'w\')")) + (1 | g)', {}),
        ("cbind(s, n - s) ~ x + (1 | g)", {"offset": f'__import__("os").system("touch {marker}")'}),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(NAMED):
                mw.glmer(formula, d, family="binomial", **kw)
    assert not marker.exists()


def test_predict_newdata_evaluates_nothing_but_the_fit_formula(tmp_path, data):
    """New data is values only: strings that look like code stay strings (a new level)."""
    marker = tmp_path / "ran"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mw.lmer("y ~ log(x) + f + (1 | g)", data)
    nd = data.head(3).assign(f=[f'__import__("os").system("touch {marker}")'] * 3)
    with pytest.raises(DataError, match="new level"):
        mw.predict(m, newdata=nd)
    assert not marker.exists()


def test_messages_carry_no_data_read_from_elsewhere(tmp_path, data):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    with pytest.raises(FormulaError) as info:
        mw.lmer(f'y ~ I(open("{secret}").read()) + (1 | g)', data)
    assert "TOP-SECRET-CONTENT" not in str(info.value)
    assert "open" in str(info.value)  # the fragment is named


def test_the_command_line_refuses_payloads(tmp_path, data):
    marker = tmp_path / "ran"
    csv = tmp_path / "d.csv"
    data.to_csv(csv, index=False)
    proc = subprocess.run([sys.executable, "-m", "mlm_wrap", "fit",
                           f'y ~ __import__("os").system("touch {marker}") + (1 | g)', str(csv)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("mlm-wrap: error:")
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


# ------------------------------------------------------------------ generated formulas
COLUMNS = ["x", "s", "f"]
UNARY = ["log", "sqrt", "exp", "abs", "factor", "I", "scale", "poly", "as.numeric", "ns",
         "round", "log1p", "as.factor", "ordered", "cut", "floor"]


@st.composite
def terms(draw, depth: int = 0):
    leaf = st.sampled_from(COLUMNS)
    if depth >= 2:
        return draw(leaf)
    kind = draw(st.sampled_from(["leaf", "call", "arith", "inter", "compare"]))
    if kind == "leaf":
        return draw(leaf)
    if kind == "call":
        fn = draw(st.sampled_from(UNARY))
        arg = draw(terms(depth + 1))
        extra = {"poly": ", 2", "ns": ", df = 2", "cut": ", 3", "round": ", 1"}.get(fn, "")
        return f"{fn}({arg}{extra})"
    if kind == "arith":
        op = draw(st.sampled_from(["+", "-", "*", "/", "^", "%%", "%/%"]))
        return f"I({draw(terms(depth + 1))} {op} {draw(st.sampled_from(['x', 's', '2']))})"
    if kind == "compare":
        op = draw(st.sampled_from([">", "<", "==", "!=", ">=", "<="]))
        return f"I({draw(st.sampled_from(['x', 's']))} {op} {draw(st.sampled_from(['2', '3.5']))})"
    return f"{draw(terms(depth + 1))}:{draw(st.sampled_from(COLUMNS))}"


@st.composite
def formulas(draw):
    fixed = draw(st.lists(terms(), min_size=1, max_size=3))
    joiner = draw(st.sampled_from([" + ", " * "]))
    re_lhs = draw(st.sampled_from(["1", "1 + x", "0 + x", "x"]))
    return f"y ~ {joiner.join(fixed)} + ({re_lhs} | g)"


OUTCOMES: list[str] = []


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(formula=formulas())
def test_generated_formulas_fit_or_raise_a_named_error(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = mw.lmer(formula, data)
        except NAMED:
            OUTCOMES.append("error")
            return
    assert np.all(np.isfinite(mw.fixef(m)))
    OUTCOMES.append("fit")


def test_most_generated_formulas_fit():
    """The share stated for the grammar above (derandomized: 38 of 60 fit): at least half fit
    (the rest are refusals R gives too, such as log() of a factor or a rank-deficient design
    lme4 cannot drop its way out of)."""
    if len(OUTCOMES) < 20:
        pytest.skip("runs after the property test (same session)")
    assert OUTCOMES.count("fit") / len(OUTCOMES) >= 0.5, OUTCOMES
