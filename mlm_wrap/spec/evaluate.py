"""The safe evaluator: an R expression from a formula, computed on the data's columns.

A formula is data, not code.  The expression is parsed by :mod:`mlm_wrap.spec.r_parser`
(never by Python), checked against an allow-list before anything is evaluated
(:func:`check_allowed`: R's operators, the functions registered in
:mod:`mlm_wrap.spec.rfunctions`, column names and literals; no subscripts, no ``$`` or ``@``,
no other calls), and then evaluated over :mod:`~mlm_wrap.spec.rvalues` values: numpy arrays
with R's types.  Nothing reaches Python's ``eval``, attribute access, builtins or a data
column's methods.  The same evaluator runs at fit time and for ``predict(newdata=)``; the
data-dependent functions (``poly()``, ``scale()``, ``ns()``...) record their parameters at fit
time in ``state`` and reuse them for new data, as R's ``predvars`` do.
"""
from __future__ import annotations

import difflib
import warnings
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from mlm_wrap.errors import DataError, FormulaError, UnknownColumnError, caught_warnings
from mlm_wrap.spec.r_ast import Node, _Binary, _Call, _Const, _Index, _Name, _Paren, _Unary, _walk
from mlm_wrap.spec.r_deparse import _deparse, string_value
from mlm_wrap.spec import transforms  # noqa: F401  (registers poly, scale, ns, bs, cut, ...)
from mlm_wrap.spec.rfunctions import FUNCTIONS, NAMESPACES, RCall, RWarning, colon
from mlm_wrap.spec.rvalues import Chr, Fct, Lgl, Num, RValue, as_numeric, as_strings, from_column

#: Names that are R constants, not columns (a column of the same name wins, as in R's data).
CONSTANTS: dict[str, Callable[[], RValue]] = {
    "pi": lambda: Num(np.array([np.pi])),
    "T": lambda: Lgl(np.array([1.0])),
    "F": lambda: Lgl(np.array([0.0])),
}
ARITH = {"+", "-", "*", "/", "^", "%%", "%/%"}
COMPARE = {"==", "!=", "<", ">", "<=", ">="}
LOGIC = {"&", "|"}


def _fragment(node: Node) -> str:
    return _deparse(node)


def check_allowed(node: Node, where: str) -> None:
    """Refuse, before anything is evaluated, every part of ``node`` that is not R's
    operators, allow-listed functions, names and literals.  ``where`` is the formula text
    the message quotes."""
    for n in _walk(node):
        if isinstance(n, _Index):
            raise FormulaError(f"subscripts are not allowed in a model formula: "
                               f"'{_fragment(n)}' in '{where}'")
        if isinstance(n, _Binary) and n.op in ("$", "@"):
            raise FormulaError(f"'{n.op}' (element access) is not allowed in a model formula: "
                               f"'{_fragment(n)}' in '{where}'")
        if isinstance(n, _Binary) and n.op in ("::", ":::"):
            if not (isinstance(n.left, _Name) and n.left.name in NAMESPACES and n.op == "::"
                    and isinstance(n.right, _Name) and n.right.name in FUNCTIONS):
                raise FormulaError(f"'{_fragment(n)}' is not a function a model formula can use "
                                   f"(in '{where}')")
        if isinstance(n, _Call):
            name = function_name(n)
            if name is None or name not in FUNCTIONS:
                shown = name if name is not None else _fragment(n.fn)
                raise FormulaError(
                    f"unknown function {shown!r} in '{where}': a model formula may use R's "
                    f"operators and these functions: {', '.join(sorted(FUNCTIONS))}")


def function_name(call: _Call) -> str | None:
    """The R function a call names (``ns``, or ``splines::ns``), None for anything else."""
    fn = call.fn
    if isinstance(fn, _Name):
        return fn.name
    if isinstance(fn, _Binary) and fn.op == "::" and isinstance(fn.left, _Name) \
            and fn.left.name in NAMESPACES and isinstance(fn.right, _Name):
        return fn.right.name
    return None


class Evaluator:
    """Evaluates checked R expressions over the columns of ``data``.

    ``state`` maps a data-dependent call's deparsed text to the parameters it used at fit
    time; ``predicting=True`` reuses them (new data), otherwise they are recorded.
    """

    def __init__(self, data: pd.DataFrame, state: dict[str, dict] | None = None,
                 predicting: bool = False, where: str = "") -> None:
        self.data = data
        self.n = len(data)
        self.state = {} if state is None else state
        self.predicting = predicting
        self.where = where
        self._columns: dict[str, RValue] = {}

    # -------------------------------------------------------------------- names
    def column(self, name: str) -> RValue:
        if name not in self._columns:
            if name not in self.data.columns:
                if name in CONSTANTS:
                    return CONSTANTS[name]()
                raise UnknownColumnError(unknown_column_message(name, self.data, self.where))
            self._columns[name] = from_column(self.data[name], name)
        return self._columns[name]

    # -------------------------------------------------------------------- evaluation
    def eval(self, node: Node) -> RValue:
        if isinstance(node, _Name):
            return self.column(node.name)
        if isinstance(node, _Const):
            return self._const(node)
        if isinstance(node, _Paren):
            return self.eval(node.inner)
        if isinstance(node, _Unary):
            return self._unary(node)
        if isinstance(node, _Binary):
            return self._binary(node)
        if isinstance(node, _Call):
            return self._call(node)
        raise FormulaError(f"'{_fragment(node)}' cannot be evaluated in a model formula "
                           f"(in '{self.where}')")

    def _const(self, node: _Const) -> RValue:
        t = node.text
        if node.kind == "str":
            return Chr(np.array([string_value(t)], dtype=object))
        if node.kind == "num":
            txt = t.rstrip("L")
            try:
                return Num(np.array([float(txt) if not txt.startswith("0x") else float(int(txt, 16))]),
                           integer=t.endswith("L"))
            except ValueError:
                raise FormulaError(f"cannot read the number {t!r} in '{self.where}'") from None
        if t in ("TRUE", "FALSE"):
            return Lgl(np.array([1.0 if t == "TRUE" else 0.0]))
        if t in ("NA", "NA_real_", "NA_integer_"):
            return Lgl(np.array([np.nan])) if t == "NA" else Num(np.array([np.nan]))
        if t == "Inf":
            return Num(np.array([np.inf]))
        if t == "NaN":
            return Num(np.array([np.nan]))
        raise FormulaError(f"'{t}' cannot be used in a model formula (in '{self.where}')")

    def _unary(self, node: _Unary) -> RValue:
        v = self.eval(node.operand)
        if node.op == "!":
            x = _logical(v, node)
            return Lgl(np.where(np.isnan(x), np.nan, 1.0 - x))
        if node.op in "+-":
            x = _numeric(v, node)
            return Num(-x.values if node.op == "-" else x.values, x.colnames, x.integer)
        raise FormulaError(f"'{_fragment(node)}' is not allowed here (in '{self.where}')")

    def _binary(self, node: _Binary) -> RValue:
        op = node.op
        if op == "%in%":
            return _match(self.eval(node.left), self.eval(node.right))
        if op in ARITH:
            a, b = _numeric(self.eval(node.left), node), _numeric(self.eval(node.right), node)
            return _arith(op, a, b, node)
        if op in COMPARE:
            return _compare(op, self.eval(node.left), self.eval(node.right), node)
        if op in LOGIC:
            a, b = _logical(self.eval(node.left), node), _logical(self.eval(node.right), node)
            return _logic(op, a, b)
        if op == ":":
            return colon(self.eval(node.left), self.eval(node.right), _fragment(node))
        raise FormulaError(f"the operator '{op}' cannot be evaluated inside a term: "
                           f"'{_fragment(node)}' in '{self.where}' (wrap arithmetic in I())")

    def _call(self, node: _Call) -> RValue:
        name = function_name(node)
        spec = FUNCTIONS.get(name or "")
        if spec is None:
            raise FormulaError(f"unknown function {name!r} in '{self.where}'")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for i, (argname, arg) in enumerate(node.args):
            quoted = (argname in spec.quoted) if argname else (i in spec.quoted_positions)
            val = _deparse(arg) if quoted else self.eval(arg)
            if argname:
                kwargs[argname] = val
            else:
                args.append(val)
        text = _deparse(node)
        saved = self.state.setdefault(text, {}) if spec.stateful else {}
        call = RCall(name=name, text=text, args=args, kwargs=kwargs, n=self.n, saved=saved,
                     predicting=self.predicting, where=self.where)
        with caught_warnings("always", record=True) as caught:
            with np.errstate(all="ignore"):
                out = spec.fn(call)
        for w in caught:  # R's warnings, in R's words: "In log(x) : NaNs produced"
            warnings.warn(f"In {text} : {w.message}", RWarning, stacklevel=4)
        return out


# ------------------------------------------------------------------------------ helpers
def unknown_column_message(name: str, data: pd.DataFrame, where: str) -> str:
    """R's "object 'x' not found", with the nearest column names (case-insensitively)."""
    cols = [str(c) for c in data.columns]
    lower = {c.lower(): c for c in cols}
    close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)]
    if name.lower() in lower and lower[name.lower()] not in close:
        close.insert(0, lower[name.lower()])
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"column {name!r} (used in {where!r}) is not in the data{hint}"


def _numeric(v: RValue, node: Node) -> Num:
    if isinstance(v, Fct):
        raise DataError(f"'{_fragment(node)}': arithmetic on a factor is not meaningful "
                        "(R: 'not meaningful for factors')")
    if isinstance(v, Chr):
        raise DataError(f"'{_fragment(node)}': arithmetic on a character column "
                        "(R: 'non-numeric argument to binary operator')")
    return as_numeric(v)


def _logical(v: RValue, node: Node) -> np.ndarray:
    if isinstance(v, Lgl):
        return v.values
    if isinstance(v, Num) and not v.is_matrix:
        return np.where(np.isnan(v.values), np.nan, (v.values != 0).astype(float))
    raise DataError(f"'{_fragment(node)}': a logical operation needs logical or numeric values")


def _recycle(a: np.ndarray, b: np.ndarray, node: Node) -> tuple[np.ndarray, np.ndarray]:
    if len(a) == len(b) or len(a) == 1 or len(b) == 1:
        return a, b
    raise DataError(f"'{_fragment(node)}': lengths {len(a)} and {len(b)} do not match")


def _arith(op: str, a: Num, b: Num, node: Node) -> Num:
    x, y = _recycle(a.values, b.values, node)
    if x.ndim == 2 and y.ndim == 1 and len(y) == len(x):
        y = y[:, None]
    elif y.ndim == 2 and x.ndim == 1 and len(x) == len(y):
        x = x[:, None]
    with np.errstate(all="ignore"):
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            r = x / y
        elif op == "^":
            r = np.power(x, y)
            r = np.where((x == 1) | (y == 0), 1.0, r)  # R: 1^NA and NA^0 are 1
        elif op == "%%":  # R: the result has the sign of the divisor
            r = np.where(y == 0, np.nan, x - np.floor(x / y) * y)
        else:  # %/%
            r = np.floor(x / y)
    integer = a.integer and b.integer and op in ("+", "-", "*", "%%", "%/%")
    cols = a.colnames if a.is_matrix else b.colnames if b.is_matrix else None
    return Num(np.asarray(r, float), cols, integer)


def _compare(op: str, a: RValue, b: RValue, node: Node) -> Lgl:
    if isinstance(a, (Fct, Chr)) or isinstance(b, (Fct, Chr)):
        if op not in ("==", "!=") and (isinstance(a, Fct) and not a.ordered or
                                        isinstance(b, Fct) and not b.ordered):
            raise DataError(f"'{_fragment(node)}': '{op}' is not meaningful for factors")
        if isinstance(a, Fct) and a.ordered and isinstance(b, (Chr,)) and op not in ("==", "!="):
            pos = {lv: i for i, lv in enumerate(a.levels)}
            bv = [pos.get(s, np.nan) if s is not None else np.nan for s in b.values]
            return _compare(op, Num(np.where(a.codes < 0, np.nan, a.codes.astype(float))),
                            Num(np.array(bv, float)), node)
        x, y = as_strings(a), as_strings(b)
        x, y = _recycle(x, y, node)
        xx, yy = np.broadcast_arrays(x, y)
        out = np.empty(len(xx), float)
        for i, (p, q) in enumerate(zip(xx, yy)):
            if p is None or q is None:
                out[i] = np.nan
            else:
                out[i] = {"==": p == q, "!=": p != q, "<": p < q, ">": p > q,
                          "<=": p <= q, ">=": p >= q}[op]
        return Lgl(out)
    x, y = _recycle(as_numeric(a).values, as_numeric(b).values, node)
    with np.errstate(invalid="ignore"):
        r = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater,
             "<=": np.less_equal, ">=": np.greater_equal}[op](x, y).astype(float)
    return Lgl(np.where(np.isnan(x) | np.isnan(y), np.nan, r))


def _logic(op: str, a: np.ndarray, b: np.ndarray) -> Lgl:
    """R's three-valued & and |."""
    a, b = np.broadcast_arrays(a, b)
    if op == "&":
        r = np.where((a == 0) | (b == 0), 0.0, np.where(np.isnan(a) | np.isnan(b), np.nan, 1.0))
    else:
        r = np.where((a == 1) | (b == 1), 1.0, np.where(np.isnan(a) | np.isnan(b), np.nan, 0.0))
    return Lgl(r)


def _match(a: RValue, b: RValue) -> Lgl:
    """R's ``%in%``: never NA; factors and strings compare as their labels."""
    if isinstance(a, (Fct, Chr)) or isinstance(b, (Fct, Chr)):
        x, table = as_strings(a), set(as_strings(b).tolist())
        return Lgl(np.array([1.0 if v in table else 0.0 for v in x]))
    x, y = as_numeric(a).values, as_numeric(b).values
    r = np.isin(x, y[~np.isnan(y)]).astype(float)
    if np.isnan(y).any():
        r[np.isnan(x)] = 1.0
    return Lgl(r)


def evaluate(expr: Node, data: pd.DataFrame, where: str, state: Mapping | None = None,
             predicting: bool = False) -> RValue:
    """Check, then evaluate one expression (the convenience form of :class:`Evaluator`)."""
    check_allowed(expr, where)
    return Evaluator(data, dict(state) if state is not None else None, predicting, where).eval(expr)
