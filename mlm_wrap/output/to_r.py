"""``to_r(m, data_path)``: the R script that fits the same model with lme4.

The script reads the data from a CSV file (``read.csv(check.names = FALSE)``: column
names as they are, spaces, dots and non-ASCII included), gives every factor column R's
levels in the order the fit used (a pandas Categorical's categories, sorted strings
otherwise; ordered factors stay ordered), then calls ``lmer``/``glmer``/``glmer.nb`` with
every argument the fit was given (``REML``, ``weights``, ``offset``, ``subset``,
``na.action``, ``contrasts``, ``control``, ``start``, ``family``, ``nAGQ``) and prints
``summary``, arm's ``display`` and ``coef``, so that a class can run both and compare.

Names R would misread are backquoted (:func:`mlm_wrap.rformat.names.deparse_name`), and
strings (the path, column names, levels) are R string literals with escapes, non-ASCII
characters as ``\\u`` escapes.  Names in R code stay UTF-8 (R accepts no escapes inside
backquotes): run the script in a UTF-8 locale, as Rscript does by default today.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlm_wrap.models.base import is_glmm
from mlm_wrap.output.deparse import family_call
from mlm_wrap.rformat.names import deparse_name

#: the columns to_r() adds to the CSV for arguments given as arrays rather than names
ARRAY_COLUMNS = {"weights": ".weights", "offset": ".offset", "subset": ".subset"}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def r_string(s: Any) -> str:
    """An R string literal for ``s``: double-quoted, with R's escapes; non-ASCII
    characters as ``\\uXXXX`` (``\\U{XXXXXX}`` beyond the BMP), control characters as
    ``\\xXX``."""
    out = []
    for ch in str(s):
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{{{code:06x}}}")
    return '"' + "".join(out) + '"'


def _r_vector(values) -> str:
    vals = [float(v) for v in np.asarray(values, dtype=float).ravel()]
    return "c(" + ", ".join(repr(v) for v in vals) + ")"


def _levels(col: pd.Series) -> tuple[list[str], bool] | None:
    """A factor column's levels in the fit's order and whether it is ordered; None for a
    column R reads as numbers or logicals."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in col.cat.categories], bool(col.cat.ordered)
    if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
        return None
    vals = col.dropna().unique()
    return sorted(str(v) for v in vals), False


def _frame_for(m, data: pd.DataFrame | None) -> pd.DataFrame:
    if data is not None:
        return data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    frame = m.design.frame
    return frame[[c for c in frame.columns if not str(c).startswith("mlmwrap_")]]


def _arg_code(m, arg: str, value, extra: dict) -> str | None:
    """The R code of a weights/offset/subset argument: the expression given as text, or
    the column to_r() adds to the CSV for an array."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    extra[ARRAY_COLUMNS[arg]] = np.asarray(value)
    return ARRAY_COLUMNS[arg]


def _call(m, dname: str, extra: dict) -> str:
    """The lmer/glmer/glmer.nb call with every argument the fit was given."""
    args = [m.design.parsed.deparse(), f"data = {dname}"]
    given = dict(getattr(m, "call_args", None) or {})
    glmm = is_glmm(m)
    nb = glmm and getattr(m.family_object, "theta", None) is not None
    if glmm and not nb:
        args.append(f"family = {family_call(m.family, m.link)}")
    if not glmm and not m.REML:
        args.append("REML = FALSE")
    for arg in ("weights", "offset", "subset"):
        code = _arg_code(m, arg, given.get(arg), extra)
        if code is not None:
            args.append(f"{arg} = {code}")
    na_action = given.get("na_action") or "na.omit"
    if na_action != "na.omit":
        args.append(f"na.action = {na_action}")
    contrasts = given.get("contrasts")
    if contrasts:
        bad = [k for k, v in contrasts.items() if not isinstance(v, str)]
        if bad:
            raise NotImplementedError(f"to_r(): contrasts for {bad} are not given by name "
                                      "(write them as 'contr.sum', 'contr.helmert', ...)")
        args.append("contrasts = list(" + ", ".join(f"{deparse_name(k)} = {r_string(v)}"
                                                    for k, v in contrasts.items()) + ")")
    if glmm and getattr(m, "nAGQ", 1) != 1:
        args.append(f"nAGQ = {int(m.nAGQ)}")
    control = given.get("control")
    if control is not None and control.given:
        args.append(f"control = {control.deparse()}")
    start = given.get("start")
    if start is not None:
        theta = start["theta"] if isinstance(start, dict) else start
        args.append(f"start = list(theta = {_r_vector(theta)})")
    if nb and m.link != "log":
        args.append(f"link = {r_string(m.link)}")
    fun = "glmer.nb" if nb else ("glmer" if glmm else "lmer")
    return f"m <- {fun}(" + ", ".join(args) + ")"


def write_csv(data: pd.DataFrame, path: str | Path) -> None:
    """The data as the script reads them: R's ``write.csv(row.names = FALSE, na = "")``
    layout, numbers at full precision (Python's shortest round-trip form), logicals as
    TRUE/FALSE, UTF-8."""
    out = data.copy()
    for c in out.columns:
        if pd.api.types.is_bool_dtype(out[c].dtype):
            out[c] = out[c].map({True: "TRUE", False: "FALSE"})
    out.to_csv(path, index=False, na_rep="", encoding="utf-8")


def to_r(m, data_path: str | Path, data: pd.DataFrame | None = None,
         data_name: str | None = None) -> str:
    """The R script that reproduces the fit ``m`` with lme4: read the data, give the
    factors R's levels, fit with every argument, print ``summary``, ``display``, ``coef``.

    ``data_path``: the CSV file the script reads.  ``data``: the data frame the model was
    fitted to; when given it is written to ``data_path`` (with a ``.weights`` /
    ``.offset`` / ``.subset`` column for those arguments given as arrays) and its factor
    levels are the script's; without it the script reads a file you wrote and the levels
    are those of the model frame.  ``data_name``: the R name of the data (default: the
    name the fit printed, else ``d``).
    """
    frame = _frame_for(m, data)
    name = data_name or getattr(m, "data_name", None) or "d"
    dname = deparse_name(str(name))
    extra: dict = {}
    call = _call(m, dname, extra)
    if extra:
        if data is None:
            raise ValueError(f"to_r(): the fit was given {', '.join(sorted(extra))} as arrays; "
                             "pass data= so that they are written as columns of the CSV")
        frame = frame.copy()
        for col, values in extra.items():
            if len(values) != len(frame):
                raise ValueError(f"to_r(): {col} has {len(values)} values for {len(frame)} rows")
            frame[col] = values
    if data is not None:
        write_csv(frame, data_path)
    lines = [
        "# The model fitted by mlm_wrap, fitted again by lme4 (written by mlm_wrap.to_r()).",
        "library(lme4)",
        "library(arm)",
        "",
        f"{dname} <- read.csv({r_string(data_path)}, check.names = FALSE, "
        'stringsAsFactors = FALSE, na.strings = "", fileEncoding = "UTF-8")',
    ]
    for col in frame.columns:
        lv = _levels(frame[col])
        if lv is None:
            continue
        levels, ordered = lv
        ref = f"{dname}[[{r_string(col)}]]"
        lines.append(f"{ref} <- factor(as.character({ref}), levels = c("
                     + ", ".join(r_string(v) for v in levels) + ")"
                     + (", ordered = TRUE" if ordered else "") + ")")
    lines += ["", call, "", "print(summary(m))", "display(m)", "print(coef(m))",
              "print(logLik(m))", ""]
    return "\n".join(lines)


__all__ = ["to_r", "r_string", "write_csv"]
