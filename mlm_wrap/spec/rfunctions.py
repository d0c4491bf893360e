"""The R functions a model formula may call: the allow-list, and their R semantics.

Each function takes R values (:mod:`mlm_wrap.spec.rvalues`) and returns one; it is
registered with :func:`rfunction` under its R name.  Nothing else can be called from a
formula (:func:`mlm_wrap.spec.evaluate.check_allowed`).  Data-dependent functions
(``stateful=True``: ``poly``, ``scale``, ``ns``, ``bs``, ``cut`` with a number of breaks)
record in ``call.saved`` what they computed from the fit's data and reuse it for new data
(``call.predicting``), as R's ``makepredictcall`` does for ``predict()``.

R's argument matching is followed: named arguments by exact or unique partial name,
then the rest by position.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from mlm_wrap.errors import DataError, FormulaError
from mlm_wrap.rformat.rounding import r_round, signif
from mlm_wrap.spec.rvalues import Chr, Fct, Lgl, Num, RValue, as_factor, as_numeric, as_strings

#: ``pkg::fun`` is accepted for these packages
NAMESPACES = {"base", "stats", "splines"}


class RWarning(UserWarning):
    """A warning R gives while evaluating a formula's variables (``NaNs produced``)."""


@dataclass
class RCall:
    """One call being evaluated: its evaluated arguments and where it came from."""

    name: str
    text: str  # R's deparse of the call: the model-frame variable name
    args: list[Any]
    kwargs: dict[str, Any]
    n: int  # rows of the data
    saved: dict = field(default_factory=dict)  # what a data-dependent function keeps
    predicting: bool = False
    where: str = ""

    def error(self, msg: str) -> DataError:
        return DataError(f"{self.text}: {msg} (in {self.where!r})")

    def bind(self, formals: Sequence[str], required: int = 1) -> dict[str, Any]:
        """R's argument matching: exact names, unique partial names, then positions."""
        out: dict[str, Any] = {}
        for k, v in self.kwargs.items():
            if k in formals:
                target = k
            else:
                cands = [f for f in formals if f.startswith(k) and f not in self.kwargs]
                if len(cands) != 1:
                    raise FormulaError(f"unused argument '{k}' in '{self.text}' "
                                       f"({self.name}() takes {', '.join(formals)})")
                target = cands[0]
            if target in out:
                raise FormulaError(f"argument '{target}' given twice in '{self.text}'")
            out[target] = v
        free = [f for f in formals if f not in out]
        if len(self.args) > len(free):
            raise FormulaError(f"too many arguments in '{self.text}' "
                               f"({self.name}() takes {', '.join(formals)})")
        out.update(zip(free, self.args))
        missing = [f for f in formals[:required] if f not in out]
        if missing:
            raise FormulaError(f"argument '{missing[0]}' is missing in '{self.text}'")
        return out


@dataclass
class RFunction:
    fn: Callable[[RCall], RValue]
    stateful: bool = False
    quoted: frozenset = frozenset()  # argument names passed as R text, not evaluated
    quoted_positions: frozenset = frozenset()


FUNCTIONS: dict[str, RFunction] = {}


def rfunction(*names: str, stateful: bool = False, quoted: Sequence[str] = (),
              quoted_positions: Sequence[int] = ()):
    """Register an R function under its R name(s)."""
    def deco(fn: Callable[[RCall], RValue]):
        for nm in names:
            FUNCTIONS[nm] = RFunction(fn, stateful, frozenset(quoted), frozenset(quoted_positions))
        return fn
    return deco


# ------------------------------------------------------------------------------ scalars
def scalar_num(v: Any, what: str, call: RCall) -> float:
    if isinstance(v, (Num, Lgl)) and len(v) == 1 and not getattr(v, "is_matrix", False):
        return float(v.values[0])
    raise call.error(f"'{what}' must be a single number")


def scalar_bool(v: Any, what: str, call: RCall) -> bool:
    if isinstance(v, Lgl) and len(v) == 1 and not np.isnan(v.values[0]):
        return bool(v.values[0])
    if isinstance(v, Num) and len(v) == 1 and not np.isnan(v.values[0]):
        return bool(v.values[0])
    raise call.error(f"'{what}' must be TRUE or FALSE")


def scalar_str(v: Any, what: str, call: RCall) -> str:
    if isinstance(v, (Chr, Fct)) and len(v) == 1:
        s = as_strings(v)[0]
        if s is not None:
            return s
    raise call.error(f"'{what}' must be a single string")


def vector_num(v: Any, what: str, call: RCall) -> np.ndarray:
    if isinstance(v, (Num, Lgl)) and not getattr(v, "is_matrix", False):
        return np.asarray(v.values, float)
    raise call.error(f"'{what}' must be numbers")


def numeric_arg(v: Any, call: RCall, what: str = "x") -> Num:
    if isinstance(v, Fct):
        raise call.error(f"'{what}' is a factor; {call.name}() needs numbers")
    if isinstance(v, Chr):
        raise call.error(f"'{what}' is character; {call.name}() needs numbers "
                         "(R: 'non-numeric argument to mathematical function')")
    if not isinstance(v, (Num, Lgl)):
        raise call.error(f"'{what}' must be numeric")
    return as_numeric(v)


def _nan_warning(x: np.ndarray, r: np.ndarray) -> None:
    if np.any(np.isnan(r) & ~np.isnan(x)):
        import warnings
        warnings.warn("NaNs produced")


# ------------------------------------------------------------------------------ math
def _math1(fn: Callable[[np.ndarray], np.ndarray]):
    def impl(call: RCall) -> Num:
        a = call.bind(["x"])
        x = numeric_arg(a["x"], call)
        r = fn(x.values)
        _nan_warning(x.values, r)
        return Num(np.asarray(r, float), x.colnames)
    return impl


for _name, _f in {"exp": np.exp, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs,
                  "sign": np.sign, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
                  "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin,
                  "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
                  "tanh": np.tanh, "floor": np.floor, "ceiling": np.ceil,
                  "trunc": np.trunc}.items():
    rfunction(_name)(_math1(_f))


@rfunction("log")
def _log(call: RCall) -> Num:
    a = call.bind(["x", "base"])
    x = numeric_arg(a["x"], call)
    r = np.log(x.values)
    if "base" in a:
        r = r / math.log(scalar_num(a["base"], "base", call))
    _nan_warning(x.values, r)
    return Num(r, x.colnames)


def _rounding(fn, default_digits: int):
    """R's ``round(x, digits = 0)`` / ``signif(x, digits = 6)`` (rformat's ports of fround/fprec)."""
    def impl(call: RCall) -> Num:
        a = call.bind(["x", "digits"])
        x = numeric_arg(a["x"], call)
        d = scalar_num(a["digits"], "digits", call) if "digits" in a else default_digits
        return Num(np.asarray(fn(x.values, d), float).reshape(x.values.shape), x.colnames)
    return impl


rfunction("round")(_rounding(r_round, 0))
rfunction("signif")(_rounding(signif, 6))


def _parallel(reduce):
    def impl(call: RCall) -> Num:
        vals = [numeric_arg(v, call, "...").values for v in call.args]
        na_rm = scalar_bool(call.kwargs["na.rm"], "na.rm", call) if "na.rm" in call.kwargs else False
        extra = set(call.kwargs) - {"na.rm"}
        if extra:
            raise FormulaError(f"unused argument '{sorted(extra)[0]}' in '{call.text}'")
        if not vals:
            raise call.error("needs at least one argument")
        stacked = np.vstack(np.broadcast_arrays(*vals))
        r = (np.nanmin if reduce == "min" else np.nanmax)(stacked, axis=0) if na_rm else \
            (np.min if reduce == "min" else np.max)(stacked, axis=0)
        return Num(np.asarray(r, float))
    return impl


rfunction("pmin")(_parallel("min"))
rfunction("pmax")(_parallel("max"))


# ------------------------------------------------------------------------------ identity, c()
@rfunction("I")
def _identity(call: RCall) -> RValue:
    """``I()``: the value as it is (R's AsIs); a logical stays logical (``I(x > 2)TRUE``)."""
    return call.bind(["x"])["x"]


@rfunction("c")
def _c(call: RCall) -> RValue:
    """``c(...)``: literal vectors, for ``%in%`` and arguments such as ``knots = c(1, 2)``."""
    vals = list(call.args) + list(call.kwargs.values())
    if not vals:
        return Lgl(np.array([], float))
    if any(isinstance(v, (Chr, Fct)) for v in vals):
        return Chr(np.concatenate([as_strings(v) for v in vals]))
    if all(isinstance(v, Lgl) for v in vals):
        return Lgl(np.concatenate([v.values for v in vals]))
    return Num(np.concatenate([as_numeric(v).values.ravel() for v in vals]),
               integer=all(getattr(v, "integer", False) for v in vals))


@rfunction("as.numeric", "as.double")
def _as_numeric(call: RCall) -> Num:
    v = call.bind(["x"])["x"]
    if isinstance(v, Chr):
        out = []
        for s in v.values:
            try:
                out.append(float(s) if s is not None else np.nan)
            except ValueError:
                out.append(np.nan)
        return Num(np.array(out, float))
    r = as_numeric(v)
    return Num(r.values, integer=False)


@rfunction("as.integer")
def _as_integer(call: RCall) -> Num:
    v = as_numeric(call.bind(["x"])["x"])
    return Num(np.trunc(v.values), integer=True)


@rfunction("as.character")
def _as_character(call: RCall) -> Chr:
    return Chr(as_strings(call.bind(["x"])["x"]))


@rfunction("as.logical")
def _as_logical(call: RCall) -> Lgl:
    v = call.bind(["x"])["x"]
    if isinstance(v, Lgl):
        return v
    if isinstance(v, Num):
        return Lgl(np.where(np.isnan(v.values), np.nan, (v.values != 0).astype(float)))
    s = as_strings(v)
    m = {"TRUE": 1.0, "true": 1.0, "T": 1.0, "True": 1.0,
         "FALSE": 0.0, "false": 0.0, "F": 0.0, "False": 0.0}
    return Lgl(np.array([m.get(x, np.nan) if x is not None else np.nan for x in s], float))


# ------------------------------------------------------------------------------ factors
def _factor(call: RCall, ordered: bool) -> Fct:
    a = call.bind(["x", "levels", "labels", "exclude", "ordered"])
    x = a["x"]
    if "ordered" in a:
        ordered = scalar_bool(a["ordered"], "ordered", call)
    base = as_factor(x, call.text)
    if "levels" in a:
        want = [s for s in as_strings(a["levels"]).tolist()]
        labels = as_strings(x)
        pos = {lv: i for i, lv in enumerate(want)}
        codes = np.array([pos.get(s, -1) if s is not None else -1 for s in labels], dtype=np.int64)
        levels = [str(w) for w in want]
    else:
        levels = list(base.levels)
        codes = base.codes.copy()
        if isinstance(x, Fct):  # factor(f) drops unused levels
            used = np.unique(codes[codes >= 0])
            remap = np.full(len(levels), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
            levels = [levels[i] for i in used]
    if "labels" in a:
        labs = [str(s) for s in as_strings(a["labels"]).tolist()]
        if len(labs) == 1 and len(levels) > 1:
            labs = [f"{labs[0]}{i + 1}" for i in range(len(levels))]
        if len(labs) != len(levels):
            raise call.error(f"invalid 'labels'; length {len(labs)} should be 1 or {len(levels)}")
        levels = labs
    if len(set(levels)) != len(levels):
        raise call.error("factor level is duplicated")
    return Fct(codes, levels, ordered=ordered)


@rfunction("factor")
def _factor_fn(call: RCall) -> Fct:
    return _factor(call, ordered=False)


@rfunction("ordered")
def _ordered_fn(call: RCall) -> Fct:
    return _factor(call, ordered=True)


@rfunction("as.factor")
def _as_factor_fn(call: RCall) -> Fct:
    return as_factor(call.bind(["x"])["x"], call.text)


@rfunction("as.ordered")
def _as_ordered_fn(call: RCall) -> Fct:
    f = as_factor(call.bind(["x"])["x"], call.text)
    return Fct(f.codes, f.levels, ordered=True)


@rfunction("relevel")
def _relevel(call: RCall) -> Fct:
    a = call.bind(["x", "ref"], required=2)
    f = a["x"]
    if not isinstance(f, Fct):
        raise call.error("'relevel' only for (unordered) factors")
    if f.ordered:
        raise call.error("'relevel' only for unordered factors")
    ref = a["ref"]
    if isinstance(ref, (Chr, Fct)):
        r = scalar_str(ref, "ref", call)
        if r not in f.levels:
            raise call.error(f"'ref' must be an existing level (levels: {', '.join(f.levels)})")
        k = f.levels.index(r)
    else:
        k = int(scalar_num(ref, "ref", call)) - 1
        if not 0 <= k < len(f.levels):
            raise call.error(f"ref = {k + 1} must be in 1:{len(f.levels)}")
    order = [k] + [i for i in range(len(f.levels)) if i != k]
    inv = np.empty(len(order), dtype=np.int64)
    inv[order] = np.arange(len(order))
    codes = np.where(f.codes >= 0, inv[np.maximum(f.codes, 0)], -1)
    return Fct(codes, [f.levels[i] for i in order], False, f.contrasts)


CONTRASTS = ("contr.treatment", "contr.sum", "contr.helmert", "contr.poly", "contr.SAS")


@rfunction("C", quoted=("contr", "how.many"), quoted_positions=(1, 2))
def _C(call: RCall) -> Fct:
    """``C(f, contr.sum)``: a factor carrying the contrasts the model matrix will use."""
    a = call.bind(["object", "contr", "how.many"], required=2)
    if not isinstance(a["object"], Fct):
        raise call.error("object not interpretable as a factor (R's C() takes a factor: "
                         "wrap the column in factor())")
    f = a["object"]
    contr = str(a["contr"]).strip()
    if contr.startswith('"') and contr.endswith('"'):
        contr = contr[1:-1]
    name = contr if contr.startswith("contr.") else f"contr.{contr}"
    if name not in CONTRASTS:
        raise FormulaError(f"unknown contrasts {contr!r} in '{call.text}' "
                           f"(use one of {', '.join(CONTRASTS)})")
    if "how.many" in a:
        raise FormulaError(f"C(how.many =) is not supported in '{call.text}'")
    return Fct(f.codes, f.levels, f.ordered, "C:" + name)  # C() names columns 1, 2, ... as R


@rfunction("ifelse")
def _ifelse(call: RCall) -> RValue:
    """``ifelse(test, yes, no)`` (NA where the test is NA)."""
    a = call.bind(["test", "yes", "no"], required=3)
    t = a["test"]
    if isinstance(t, (Fct, Chr)):
        raise call.error("'test' must be a logical condition")
    tv = as_numeric(t).values
    yes, no = a["yes"], a["no"]
    if isinstance(yes, (Fct, Chr)) or isinstance(no, (Fct, Chr)):
        ys, ns = np.broadcast_to(as_strings(yes), tv.shape), np.broadcast_to(as_strings(no), tv.shape)
        return Chr(np.array([None if np.isnan(c) else (y if c else n)
                             for c, y, n in zip(tv, ys, ns)], dtype=object))
    yv, nv = np.broadcast_to(as_numeric(yes).values, tv.shape), np.broadcast_to(as_numeric(no).values, tv.shape)
    out = np.where(np.isnan(tv), np.nan, np.where(tv != 0, yv, nv))
    if isinstance(yes, Lgl) and isinstance(no, Lgl):
        return Lgl(out)
    return Num(out)


def colon(a: RValue, b: RValue, text: str) -> Fct:
    """R's ``a:b`` of two factors: their interaction, first factor slowest, unused
    combinations dropped (the grouping factor of ``(1 | a:b)``)."""
    fa, fb = as_factor(a, text), as_factor(b, text)
    nb = len(fb.levels)
    na = (fa.codes < 0) | (fb.codes < 0)
    codes = np.where(na, -1, fa.codes * nb + fb.codes)
    used = np.unique(codes[codes >= 0])
    remap = np.full(len(fa.levels) * nb, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    levels = [f"{fa.levels[c // nb]}:{fb.levels[c % nb]}" for c in used]
    return Fct(np.where(na, -1, remap[np.maximum(codes, 0)]), levels)



@rfunction("offset")
def _offset(call: RCall) -> Num:
    """``offset(x)``: a known part of the linear predictor (never a model-matrix column)."""
    return numeric_arg(call.bind(["object"])["object"], call, "object")
