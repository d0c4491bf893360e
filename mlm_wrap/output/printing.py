"""R's and lme4's printouts, built from :mod:`mlm_wrap.rformat`'s primitives.

Each ``prt_*`` helper is one section of a printout, named after lme4's ``.prt.*``
function it ports (lme4 1.1-31, R 4.2, ``options(width = 80, digits = 7)``);
``format_summary``, ``format_model`` and ``format_varcorr`` assemble them as
``print(summary(m))``, ``print(m)`` and ``print(VarCorr(m))`` do.  The R layout
primitives they need beyond rformat's (``cat(..., fill = TRUE)``, the printing of
named vectors, lists and data frames, ``deparse()``'s line breaking) are here too,
as are the thin pandas/dict subclasses the accessors return so that tables print
as R prints them and render as HTML tables in notebooks.

Every function returns text; nothing here computes a statistic.
"""
from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd

from mlm_wrap.rformat import abbreviate, format1, format_coefmat, format_num, print_matrix, r_round, zapsmall

if TYPE_CHECKING:  # pragma: no cover
    from mlm_wrap.models.lmer import LmerMod, VarCorr
    from mlm_wrap.models.summary import Summary

WIDTH = 80  #: ``getOption("width")``
DEPARSE_CUTOFF = 60  #: ``deparse()``'s ``width.cutoff`` (and ``print()`` of a call)
DIGITS = 7  #: ``getOption("digits")``


# ======================================================================================
# R layout primitives
# ======================================================================================

def cat_fill(*items: str | Sequence[str], width: int = WIDTH, sep: str = " ") -> str:
    """R's ``cat(..., fill = TRUE)`` (builtin.c ``do_cat``): items joined by ``sep``,
    a new line before an item that would pass ``width``, and a final newline.

    An item may be a sequence of strings (an R character vector, e.g. ``deparse()``'s
    lines).  The separator is written before the line break, as R writes it.
    """
    out: list[str] = []
    col = 0
    sepw = len(sep)
    first = True
    for obj in items:
        vec = [obj] if isinstance(obj, str) else list(obj)
        if not first:
            out.append(sep)
        if not vec:
            first = False
            continue
        for i, p in enumerate(vec):
            if i == 0 and not first and col + len(p) + sepw > width:
                out.append("\n")
                col = 0
            out.append(p)
            col += len(p) + sepw
            if i < len(vec) - 1:
                out.append(sep)
                if col + len(vec[i + 1]) + sepw > width:
                    out.append("\n")
                    col = 0
        first = False
    out.append("\n")
    return "".join(out)


def named_vector_text(names: Sequence[str], values: Sequence[str], gap: int = 1,
                      width: int = WIDTH) -> str:
    """R's ``printNamedVector``: names over values, all right-justified to one common
    width, each followed by ``gap`` blanks, as many per line as fit ``width``.

    ``values`` are already formatted (``format()``'s common-width strings, or the
    strings of a character vector printed with ``quote = FALSE``).
    """
    n = len(values)
    if n == 0:
        return "named numeric(0)\n"
    w = max([len(v) for v in values] + [len(s) for s in names])
    per_line = max(1, width // (w + gap))
    lines = []
    for start in range(0, n, per_line):
        idx = range(start, min(n, start + per_line))
        lines.append("".join(names[k].rjust(w) + " " * gap for k in idx))
        lines.append("".join(values[k].rjust(w) + " " * gap for k in idx))
    return "\n".join(lines) + "\n"


def format_vector(x: Any, digits: int = DIGITS) -> str:
    """``print(x)`` of a named numeric vector (a Series: index = names)."""
    s = pd.Series(x)
    vals = _numeric_cells(s.to_numpy(), digits)
    return named_vector_text([str(i) for i in s.index], vals)


def _numeric_cells(values: np.ndarray, digits: int = DIGITS) -> list[str]:
    """``format()`` of one numeric column / vector, NaN shown as R's NA."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return format_num(arr, digits=digits)
    if arr.dtype.kind == "b":
        strs = ["TRUE" if v else "FALSE" for v in arr]
        w = max([len(s) for s in strs] + [0])
        return [s.rjust(w) for s in strs]
    vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
            for v in arr.astype(object)]
    return format_num(vals, digits=digits)


def _column_cells(col: pd.Series, digits: int) -> list[str]:
    """``format.data.frame``'s formatting of one column (right-justified later)."""
    if pd.api.types.is_bool_dtype(col.dtype) and not col.isna().any():
        return ["TRUE" if v else "FALSE" for v in col]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        arr = col.to_numpy()
        if arr.dtype.kind in "iu":
            return [str(int(v)) for v in arr]
        return _numeric_cells(arr.astype(float), digits)
    out = []
    for v in col.astype(object):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append("<NA>" if not pd.api.types.is_bool_dtype(col.dtype) else "NA")
        elif isinstance(v, (bool, np.bool_)):
            out.append("TRUE" if v else "FALSE")
        else:
            out.append(str(v))
    return out


def format_frame(df: pd.DataFrame, digits: int = DIGITS) -> str:
    """``print()`` of a data frame (or numeric matrix): columns formatted one by one
    with ``digits`` significant digits, row names left-, cells right-justified."""
    cols = [str(c) for c in df.columns]
    if len(df) == 0:
        return f"[1] {' '.join(cols)}\n<0 rows> (or 0-length row.names)\n"
    cells_by_col = [_column_cells(df.iloc[:, j], digits) for j in range(df.shape[1])]
    cells = [[cells_by_col[j][i] for j in range(len(cols))] for i in range(len(df))]
    return print_matrix([str(i) for i in df.index], cols, cells, right=True)


def _list_name(name: str) -> str:
    """How R prints a list element's tag: ``$Subject``, ``$`cask:batch```."""
    from mlm_wrap.spec.formula import _deparse_name
    return "$" + _deparse_name(str(name))


def format_list(items: dict, digits: int = DIGITS, footer: str = "") -> str:
    """``print()`` of a named list of tables (``$name``, the table, a blank line)."""
    out = []
    for k, v in items.items():
        body = format_frame(v, digits) if isinstance(v, pd.DataFrame) else format_vector(v, digits)
        out.append(f"{_list_name(k)}\n{body}\n")
    return "".join(out) + footer


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
        from mlm_wrap.spec import formula as F
        if isinstance(node, F._Name):
            self.put(F._deparse_name(node.name))
        elif isinstance(node, F._Const):
            self.put(node.text)
        elif isinstance(node, F._Paren):
            self.put("(")
            self.node(node.inner)
            self.put(")")
        elif isinstance(node, F._Unary):
            prec = F._node_prec(node)
            main = (F._P_SIGN if node.op in "+-" else prec[0], False)
            self.put(node.op)
            self._operand(main, node.operand, left=False)
        elif isinstance(node, F._Binary):
            main = F._binary_info(node.op)
            plain = node.op in ("::", ":::", "$", "@")
            self._operand(main, node.left, left=True, plain=plain)
            if node.op in F._TIGHT_OPS:
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
        elif isinstance(node, F._Call):
            self.node(node.fn)
            self.put("(")
            self.args(node.args)
            self.put(")")
        elif isinstance(node, F._Index):
            self.node(node.obj)
            self.put("[[" if node.double else "[")
            self.args(node.args)
            self.put("]]" if node.double else "]")
        else:  # pragma: no cover
            self.put(F._deparse(node))

    def _operand(self, main, child, left: bool, plain: bool = False) -> None:
        from mlm_wrap.spec import formula as F
        parens = not plain and F._needs_parens(main, child, left=left)
        if parens:
            self.put("(")
        self.node(child)
        if parens:
            self.put(")")

    def args(self, args) -> None:
        from mlm_wrap.spec import formula as F
        broke = False
        for k, (name, value) in enumerate(args):
            if name is not None:
                self.put(F._deparse_name(name))
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
    from mlm_wrap.spec.formula import _parse
    d = _Deparser(cutoff)
    d.node(_parse(expr))
    d.writeline()
    return d.lines


#: a family's canonical link: R's call shows ``family = binomial`` for it
CANONICAL_LINK = {"binomial": "logit", "poisson": "log", "gaussian": "identity",
                  "Gamma": "inverse", "inverse.gaussian": "1/mu^2"}


def is_glmm(m: Any) -> bool:
    """A glmer fit (lme4's ``isGLMM``): it carries a GLM family."""
    return getattr(m, "family_object", None) is not None


def family_call(family: str, link: str) -> str:
    """The ``family =`` argument as R deparses it: ``binomial``, or
    ``binomial(link = "probit")`` for a link other than the family's canonical one."""
    if CANONICAL_LINK.get(family) == link:
        return family
    return f'{family}(link = "{link}")'


def call_arg(m: Any, name: str) -> str | None:
    """The R expression given as glmer's ``weights =`` / ``offset =`` argument, when the
    fit recorded it as text (``m.weights_arg = "size"``); None otherwise (R prints a
    ``Weights:`` line only for an argument it can deparse)."""
    v = getattr(m, f"{name}_arg", None)
    return v if isinstance(v, str) and v else None


def model_call(m: "LmerMod") -> str:
    """The R call that fits the model, as lme4 stores it (``m@call``): ``lmer(formula =,
    data =, REML = FALSE)`` or ``glmer(formula =, data =, family =, weights =, nAGQ =)``."""
    from mlm_wrap.spec.formula import _deparse_name
    args = [f"formula = {m.design.parsed.deparse()}"]
    if m.data_name:
        args.append(f"data = {_deparse_name(m.data_name)}")
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


# ---------------------------------------------------------------------------- HTML
def html_table(colnames: Sequence[str], cells: Sequence[Sequence[str]],
               rownames: Sequence[str] | None = None, caption: str | None = None,
               align: str | Sequence[str] = "right") -> str:
    """A plain HTML table of already formatted (R) cells (``align``: one for all
    columns, or one per column)."""
    al = [align] * len(colnames) if isinstance(align, str) else list(align)
    esc = lambda s: html.escape(str(s).strip())
    head = "".join(f"<th>{esc(c)}</th>" for c in (([""] if rownames is not None else []) + list(colnames)))
    rows = []
    for i, r in enumerate(cells):
        lab = f"<th>{esc(rownames[i])}</th>" if rownames is not None else ""
        rows.append("<tr>" + lab + "".join(f'<td style="text-align:{a}">{esc(c)}</td>'
                                           for c, a in zip(r, al)) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="mlm-wrap">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def frame_html(df: pd.DataFrame, digits: int = DIGITS, caption: str | None = None) -> str:
    """A data frame as an HTML table with R's number formatting."""
    cols = [_column_cells(df.iloc[:, j], digits) for j in range(df.shape[1])]
    cells = [[cols[j][i] for j in range(df.shape[1])] for i in range(len(df))]
    return html_table([str(c) for c in df.columns], cells, [str(i) for i in df.index], caption)


def vector_html(x: pd.Series, digits: int = DIGITS) -> str:
    """A named vector as a one-row HTML table."""
    vals = _numeric_cells(x.to_numpy(), digits)
    return html_table([str(i) for i in x.index], [vals])


def _chomp(text: str) -> str:
    """R's console text without its final newline (``print()`` adds it back)."""
    return text[:-1] if text.endswith("\n") else text


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


# ======================================================================================
# Tables the accessors return
# ======================================================================================

class RSeries(pd.Series):
    """A pandas Series that prints as R prints a named numeric vector (``fixef(m)``)."""

    @property
    def _constructor(self):
        return RSeries

    @property
    def _constructor_expanddim(self):
        return RFrame

    def __str__(self) -> str:
        if not pd.api.types.is_numeric_dtype(self.dtype):
            return super().__repr__()
        return _chomp(format_vector(self))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not pd.api.types.is_numeric_dtype(self.dtype):
            return _pre(super().__repr__())
        return vector_html(self)


class RFrame(pd.DataFrame):
    """A pandas DataFrame that prints as R prints a data frame (``coef(m)$g``)."""

    @property
    def _constructor(self):
        return RFrame

    @property
    def _constructor_sliced(self):
        return RSeries

    def __str__(self) -> str:
        return _chomp(format_frame(self))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return frame_html(self)


class RList(dict):
    """A dict of tables (grouping factor -> RFrame) that prints as R prints a list.

    ``footer`` is what R prints after the list (lme4's ``ranef`` note on conditional
    variances, the class attribute of ``coef.mer``).
    """

    def __init__(self, *args, footer: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.footer = footer

    def __str__(self) -> str:
        return _chomp(format_list(self, footer=self.footer))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = []
        for k, v in self.items():
            parts.append(f"<p><b>{html.escape(_list_name(k))}</b></p>")
            parts.append(v._repr_html_() if hasattr(v, "_repr_html_") else _pre(str(v)))
        if self.footer:
            parts.append(f"<p>{html.escape(self.footer.strip())}</p>")
        return "".join(parts)


def ranef_footer(groups: Iterable[str]) -> str:
    """lme4's ``print.ranef.mer`` trailer (``ranef()`` keeps conditional variances)."""
    return "with conditional variances for " + " ".join(f"\u201c{g}\u201d" for g in groups) + " \n"


COEF_FOOTER = 'attr(,"class")\n[1] "coef.mer"\n'  # R has no print method for coef.mer


# ======================================================================================
# Random effects (lme4's formatVC)
# ======================================================================================

def vc_rows(vc: "VarCorr", residual: float | None = None
            ) -> tuple[list[float], list[str], list[str], list[int]]:
    """One row per random-effect column (and a ``Residual`` row when ``residual`` is given):
    its SD, its group (on a term's first row only), its name; and each term's size."""
    sds: list[float] = []
    groups: list[str] = []
    names: list[str] = []
    lens: list[int] = []
    for t in vc.terms:
        sd = list(t.stddev)
        sds += sd
        groups += [t.group] + [""] * (len(sd) - 1)
        names += list(t.names)
        lens.append(len(sd))
    if residual is not None:
        sds.append(float(residual))
        groups.append("Residual")
        names.append("")
        lens.append(1)
    return sds, groups, names, lens


def format_vc(vc: "VarCorr", digits: int, comp: Sequence[str] = ("Std.Dev.",)
              ) -> tuple[list[str], list[list[str]]]:
    """lme4's ``formatVC``: the Groups/Name/Variance/Std.Dev./Corr character matrix."""
    use = [c for c in ("Variance", "Std.Dev.") if c in comp]
    if not use:
        raise ValueError("Must *either* show variances or standard deviations")
    colnames = ["Groups", "Name"] + use
    sds, groups, names, lens = vc_rows(vc, residual=vc.sigma if vc.use_sc else None)
    cols: list[list[str]] = [groups, names]
    if "Variance" in use:
        cols.append(format_num([s * s for s in sds], digits=digits))
    if "Std.Dev." in use:
        cols.append(format_num(sds, digits=digits))
    nr = len(sds)
    if any(n > 1 for n in lens):
        maxlen = max(lens)
        dig = max(2, digits - 2)
        corr_rows: list[list[str]] = []
        for t in vc.terms:
            corr_rows += _corr_block(t.correlation, dig, maxlen)
        corr_rows += [[""] * maxlen for _ in range(nr - len(corr_rows))]
        corr_rows = [r[:maxlen - 1] for r in corr_rows]  # [, -maxlen]
        colnames += ["Corr"] + [""] * (maxlen - 2)
        for j in range(maxlen - 1):
            cols.append([r[j] for r in corr_rows])
    cells = [[c[i] for c in cols] for i in range(nr)]
    return colnames, cells


def _corr_block(cor: np.ndarray, dig: int, maxlen: int) -> list[list[str]]:
    """One term's correlations, ``format(round(x, dig), nsmall = dig)``, lower triangle."""
    n = cor.shape[0]
    flat = format_num(r_round(cor.ravel(order="F"), dig), nsmall=dig)
    mat = [[flat[j * n + i] for j in range(n)] for i in range(n)]
    rows = [[mat[i][j] if i > j else "" for j in range(n)] + [""] * (maxlen - n) for i in range(n)]
    return rows


def prt_vc(vc: "VarCorr", digits: int, comp: Sequence[str] = ("Variance", "Std.Dev.")) -> str:
    """lme4's ``.prt.VC``: ``Random effects:`` and the formatVC table."""
    colnames, cells = format_vc(vc, digits, comp)
    return "Random effects:\n" + print_matrix([""] * len(cells), colnames, cells, right=False)


def format_varcorr(vc: "VarCorr", digits: int = 5, comp: Sequence[str] = ("Std.Dev.",)) -> str:
    """``print(VarCorr(m))``: lme4's ``print.VarCorr.merMod`` (digits = max(3, 7 - 2)),
    without the final newline (``str(VarCorr(m))``)."""
    colnames, cells = format_vc(vc, digits, comp)
    return _chomp(print_matrix([""] * len(cells), colnames, cells, right=False))


def varcorr_html(vc: "VarCorr", digits: int = 5, comp: Sequence[str] = ("Std.Dev.",)) -> str:
    """``VarCorr(m)`` as an HTML table (the cells of its printout)."""
    colnames, cells = format_vc(vc, digits, comp)
    return html_table(colnames, cells, align=_vc_align(colnames))


def _vc_align(colnames: Sequence[str]) -> list[str]:
    """Groups and Name left-aligned, the numbers right-aligned."""
    return ["left", "left"] + ["right"] * (len(colnames) - 2)


# ======================================================================================
# summary(m) sections (lme4's .prt.* helpers)
# ======================================================================================

def strwrap(text: str, width: int, exdent: int = 0) -> list[str]:
    """R's ``strwrap(text, width, exdent = )`` for one paragraph of plain words: greedy
    filling, every line (its indent included) shorter than ``width``."""
    lines: list[str] = []
    cur = ""
    for w in text.split():
        if not cur:
            cur = (" " * exdent if lines else "") + w
        elif len(cur) + 1 + len(w) < width:
            cur += " " + w
        else:
            lines.append(cur)
            cur = " " * exdent + w
    if cur or not lines:
        lines.append(cur)
    return lines


def prt_meth_title(title: str, cls: str) -> str:
    """lme4's ``.prt.methTit``: ``Linear mixed model fit by REML ['lmerMod']``; a title
    too long for the console (glmer's) is wrapped and its class shown without quotes:
    ``...(Laplace`` / ``  Approximation) [glmerMod]``."""
    if len(title) + 5 + len(cls) > WIDTH:
        return cat_fill(strwrap(title, WIDTH - 2, exdent=2), " [", cls, "]", sep="")
    return f"{title} ['{cls}']\n"


def prt_family(family: str | None, link: str | None) -> str:
    """lme4's ``.prt.family``: `` Family: binomial  ( logit )`` (nothing for an LMM)."""
    if not family:
        return ""
    return cat_fill(" Family:", family, *([f" ( {link} )"] if link else []))


def prt_call(formula: str, data_name: str | None, weights: str | None = None,
             offset: str | None = None) -> str:
    """lme4's ``.prt.call``: the ``Formula:``, ``Data:``, ``Weights:`` and ``Offset:``
    lines.

    R prints no ``Data:`` line when the call has no ``data`` argument; a data set
    of unknown name is shown the same way (there is no expression to deparse).
    ``weights`` / ``offset`` are the R expressions of glmer's arguments (an
    ``offset()`` term of the formula is not one).
    """
    from mlm_wrap.spec.formula import _deparse_name
    out = cat_fill("Formula:", deparse_lines(formula))
    if data_name:
        out += cat_fill("   Data:", _deparse_name(data_name))
    if weights:
        out += cat_fill("Weights:", deparse_lines(weights))
    if offset:
        out += cat_fill(" Offset:", deparse_lines(offset))
    return out


def prt_aictab(aictab: dict[str, float], digits: int = 1) -> str:
    """lme4's ``.prt.aictab``: the REML criterion, or AIC/BIC/logLik/deviance/df.resid."""
    if list(aictab) == ["REML"]:
        return cat_fill("REML criterion at convergence:", format1(r_round(aictab["REML"], digits)))
    vals = [float(r_round(float(v), digits)) for v in aictab.values()]
    strs = format_num(vals, digits=DIGITS)
    names = list(aictab)
    if "df.resid" in names:
        k = names.index("df.resid")
        strs[k] = format_num([vals[k]], digits=DIGITS)[0]
    return named_vector_text(names, strs)


def r_quantile(x: np.ndarray, probs: Sequence[float] = (0, 0.25, 0.5, 0.75, 1)) -> np.ndarray:
    """R's ``quantile(x, probs, type = 7)``, computed as R computes it."""
    x = np.sort(np.asarray(x, float)[~np.isnan(np.asarray(x, float))])
    n = len(x)
    out = []
    for p in probs:
        index = 1 + max(n - 1, 0) * p
        lo, hi = math.floor(index), math.ceil(index)
        q = x[lo - 1]
        h = index - lo
        if index > lo and x[hi - 1] != q:
            q = (1 - h) * q + h * x[hi - 1]
        out.append(q)
    return np.asarray(out)


def prt_resids(resids: np.ndarray, digits: int, title: str = "Scaled residuals:") -> str:
    """lme4's ``.prt.resids``: the quantiles of the scaled residuals."""
    rq = zapsmall(r_quantile(resids), digits + 1)
    vals = format_num(rq, digits=digits)
    return f"{title} \n" + named_vector_text(["Min", "1Q", "Median", "3Q", "Max"], vals) + "\n"


def prt_grps(ngrps: dict[str, int], nobs: int) -> str:
    """lme4's ``.prt.grps``: ``Number of obs: 180, groups:  Subject, 18``."""
    return cat_fill(f"Number of obs: {nobs}, groups: ",
                    "; ".join(f"{k}, {v}" for k, v in ngrps.items()))


def prt_fixef(coefficients: pd.DataFrame, digits: int) -> str:
    """``printCoefmat`` of the fixed-effects table (no stars without p-values)."""
    return format_coefmat(coefficients, digits=digits, signif_stars=True).render()


def prt_corr(corr: pd.DataFrame) -> str:
    """The ``Correlation of Fixed Effects:`` block of ``print.summary.merMod``."""
    rn = [str(i) for i in corr.index]
    p = len(rn)
    if p <= 1:
        return ""
    rns = abbreviate(rn, minlength=11)
    cns = abbreviate(rn, minlength=6)
    flat = format_num(r_round(corr.to_numpy().ravel(order="F"), 3), nsmall=3)
    mat = [[flat[j * p + i] if i > j else "" for j in range(p)] for i in range(p)]
    cells = [row[:p - 1] for row in mat[1:]]
    return "\nCorrelation of Fixed Effects:\n" + print_matrix(rns[1:], cns[:p - 1], cells, right=False)


def prt_warn(s: "Summary", summary: bool = False) -> str:
    """lme4's ``.prt.warn``: the optimizer's code and lme4's convergence messages."""
    msgs = list(s.conv_messages)
    if s.conv_code == 0 and not msgs:
        return ""
    m = "(OK)" if s.conv_code == 0 else ""
    conv = f"optimizer ({s.optimizer}) convergence code: {s.conv_code} {m}"
    if summary:
        return f"{conv} ; 0 optimizer warnings; {len(msgs)} lme4 warnings \n"
    return "\n".join([conv] + msgs) + "\n\n"


def prt_fit_msgs(msgs: Sequence[str]) -> str:
    """``fit warnings:`` (the fixed-effects matrix's rank / scale messages)."""
    msgs = [x for x in msgs if x]
    return ("fit warnings:\n" + "".join(x + "\n" for x in msgs)) if msgs else ""


def format_summary(s: "Summary", digits: int = 4, correlation: bool | None = None,
                   show_resids: bool = True,
                   ranef_comp: Sequence[str] = ("Variance", "Std.Dev.")) -> str:
    """``print(summary(m))``: lme4's ``print.summary.merMod`` (its console text)."""
    out = [prt_meth_title(s.methTitle, s.objClass), prt_family(s.family, s.link),
           prt_call(s.formula, s.data_name, s.weights, s.offset), "\n",
           prt_aictab(s.AICtab), "\n"]
    if show_resids:
        out.append(prt_resids(s.residuals, digits))
    out.append(prt_vc(s.varcor, digits, ranef_comp))
    out.append(prt_grps(s.ngrps, s.nobs))
    p = len(s.coefficients)
    if p > 0:
        out.append("\nFixed effects:\n")
        out.append(prt_fixef(s.coefficients, digits))
        if correlation is None:  # above cor_max lme4 message()s (stderr) that it is omitted
            correlation = p <= s.cor_max
        if correlation:
            out.append(prt_corr(s.correlation))
    out.append(prt_fit_msgs(s.fitMsgs))
    out.append(prt_warn(s, summary=False))
    return "".join(out)


def summary_html(s: "Summary", digits: int = 4) -> str:
    """``summary(m)`` for notebooks: the same sections, tables as HTML tables."""
    title = prt_meth_title(s.methTitle, s.objClass).strip().replace("\n  ", " ")
    parts = [f"<p><b>{html.escape(title)}</b></p>",
             _pre(prt_family(s.family, s.link) + prt_call(s.formula, s.data_name, s.weights, s.offset)
                  + "\n" + prt_aictab(s.AICtab)),
             _pre(prt_resids(s.residuals, digits))]
    colnames, cells = format_vc(s.varcor, digits, ("Variance", "Std.Dev."))
    parts.append(html_table(colnames, cells, caption="Random effects", align=_vc_align(colnames)))
    parts.append(_pre(prt_grps(s.ngrps, s.nobs)))
    if len(s.coefficients):
        ct = format_coefmat(s.coefficients, digits=digits)
        parts.append(html_table(ct.colnames, ct.cells, ct.rownames, caption="Fixed effects"))
        corr = prt_corr(s.correlation) if len(s.coefficients) <= s.cor_max else ""
        if corr:
            parts.append(_pre(corr.lstrip("\n")))
    tail = prt_fit_msgs(s.fitMsgs) + prt_warn(s)
    if tail:
        parts.append(_pre(tail))
    return '<div class="mlm-wrap-summary">' + "".join(parts) + "</div>"


# ======================================================================================
# print(m) (lme4's print.merMod)
# ======================================================================================

def format_model(m: "LmerMod", digits: int = 4) -> str:
    """``print(m)``: lme4's ``print.merMod`` (a short summary)."""
    s = m.summary()
    out = [prt_meth_title(s.methTitle, s.objClass), prt_family(s.family, s.link),
           prt_call(s.formula, s.data_name, s.weights, s.offset),
           prt_aictab(s.AICtab, 4), prt_vc(s.varcor, digits, ("Std.Dev.",)),
           prt_grps(s.ngrps, s.nobs)]
    fe = s.coefficients["Estimate"]
    if len(fe):
        out.append("Fixed Effects:\n")
        vals = format_num(fe.to_numpy(), digits=digits)
        out.append(named_vector_text([str(i) for i in fe.index], vals, gap=2))
    else:
        out.append("No fixed effect coefficients\n")
    out.append(prt_fit_msgs(s.fitMsgs))
    out.append(prt_warn(s, summary=True))
    return _chomp("".join(out))
