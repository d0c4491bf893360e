"""``equation(m)``: the fitted model in Gelman & Hill's notation, as LaTeX.

Level 1 is the response's distribution for observation ``i`` (for glmer fits, its family
and the link of the mean); the linear predictor has one term per fixed-effect column and
per random-effect column, with the group subscripts ``j[i]``, ``k[i]``, ...  A
random-effect column that is also a fixed column and occurs in one random term only is
the group's own coefficient (``alpha_{j[i]}``, ``beta_{1j[i]}``), distributed around the
fixed effect (``mu_alpha``); any other random column is a group deviation ``gamma`` with
mean 0 (crossed and nested factors: ``gamma_{1j[i]} + gamma_{2k[i]}``).  Each random term
then has its (multivariate) normal distribution with its covariance matrix, and an lmer
fit its residual variance ``sigma^2`` (``sigma^2 / w_i`` with prior weights).

``equation(m, estimates=True)`` writes the estimates in place of the symbols: the fixed
effects (``fixef``), the standard deviations and correlations (``VarCorr``), sigma.  The
object keeps them by name (``.estimates``) beside the LaTeX; its ``_repr_latex_`` shows it
in notebooks.  ``options.equation_in_summary`` (default True) adds the equation under the
HTML summary of a model.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

from mlm_wrap.models.base import is_glmm

GROUP_LETTERS = "jklmpqrstuvwxyz"  # i is the observation, n its count


@dataclass
class Options:
    """Display settings: ``mlm_wrap.options.equation_in_summary = False`` leaves the model's
    equation out of the notebook summary (``_repr_html_`` of ``summary(m)`` and of ``m``)."""

    equation_in_summary: bool = True


options = Options()


@dataclass
class RandomCoef:
    """One random-effect column of one random term."""

    group: str  # the grouping factor (VarCorr's unique name: Subject, Subject.1)
    column: str  # the column name (R's: (Intercept), Days)
    symbol: str  # LaTeX, without the group subscript: \alpha, \beta_{1}, \gamma_{2}
    letter: str  # the group index: j, k, ...
    merged: bool  # the group's own coefficient (mean: the fixed effect) or a deviation (mean 0)


@dataclass
class Equation:
    """The model's equation: ``latex`` (an ``aligned`` block), the symbol of each fixed
    column (``fixed``), each random column (``random``), the linear predictor's terms
    (``terms``: one per fixed column and per random column not merged with one) and, with
    ``estimates=True``, the numbers written in (``estimates``: ``("fixef", col)``,
    ``("sd", group, col)``, ``("cor", group, col1, col2)``, ``("sigma",)``,
    ``("theta",)`` for glmer.nb)."""

    latex: str
    fixed: dict[str, str]
    random: list[RandomCoef]
    terms: list[str]
    estimates: dict[tuple, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.latex

    def _repr_latex_(self) -> str:
        return "$$\n" + self.latex + "\n$$"


def equation_html(eq: Equation) -> str:
    """The equation as notebooks' HTML shows it (typeset by the notebook's MathJax)."""
    return '<div class="mlm-wrap-equation">' + html.escape(eq._repr_latex_()) + "</div>"


# ------------------------------------------------------------------------------ helpers
_TEX_ESCAPES = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%",
                "#": r"\#", "&": r"\&", "$": r"\$", "^": r"\hat{}", "~": r"\sim ", " ": r"\ "}
_TEXT_SAFE = set(" .,:;()+-*/=<>|!?@'\"[]0123456789")


def tex_text(s: str) -> str:
    """A name as upright text in math mode: ``\\text{experience}``; a name with LaTeX's
    special characters (``_``, ``{``, ``%``, ...) as ``\\mathrm{}`` with them escaped,
    which MathJax and LaTeX read alike (MathJax's ``\\text`` takes no escapes)."""
    s = str(s)
    if all(ch.isalnum() or ch in _TEXT_SAFE for ch in s):
        return r"\text{" + s + "}"
    return r"\mathrm{" + "".join(_TEX_ESCAPES.get(ch, ch) for ch in s) + "}"


def tex_number(v: float) -> str:
    """An estimate as the equation shows it: at least 4 significant digits, no more
    decimals than that needs (40525, 369.1, 2.503, 0.0123), scientific when tiny/huge."""
    if not math.isfinite(v):
        return r"\text{NA}"
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e9):
        mant, exp = f"{v:.3e}".split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    digits = 0 if a == 0 else max(0, 3 - int(math.floor(math.log10(a))))
    return f"{v:.{digits}f}"


def _split_args(call: str) -> list[str]:
    """The top-level arguments of ``f(a, b)``."""
    inner = call[call.index("(") + 1: call.rindex(")")]
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur += ch
    return out + [cur.strip()]


def _sub(symbol: str, index: str) -> str:
    r"""``\beta_{1}`` with group index j -> ``\beta_{1j}``; ``\alpha`` -> ``\alpha_{j}``."""
    if symbol.endswith("}") and "_{" in symbol:
        return symbol[:-1] + index + "}"
    return f"{symbol}_{{{index}}}"


def _var(expr: str) -> str:
    """An R expression as observation i's value: ``\text{x}_{i}``, ``(\text{a - b})_{i}``."""
    simple = all(ch.isalnum() or ch in "._" for ch in expr)
    return tex_text(expr) + "_{i}" if simple else rf"\left({tex_text(expr)}\right)_{{i}}"


def _times(symbol: str, column: str) -> str:
    return symbol if column == "(Intercept)" else rf"{symbol}\,{tex_text(column)}_{{i}}"


# ------------------------------------------------------------------------------ pieces
def _coefficients(m) -> tuple[dict[str, str], list[RandomCoef]]:
    xnames = list(m.design.xnames)
    fixed, k = {}, 0
    for c in xnames:
        if c == "(Intercept)":
            fixed[c] = r"\alpha"
        else:
            k += 1
            fixed[c] = rf"\beta_{{{k}}}"
    counts: dict[str, int] = {}
    for td in m.design.terms:
        for c in td.cnames:
            counts[c] = counts.get(c, 0) + 1
    letters: dict[str, str] = {}
    groups = [t.group for t in m.VarCorr().terms]
    random, g = [], 0
    for td, group in zip(m.design.terms, groups):
        letter = letters.setdefault(td.name, GROUP_LETTERS[len(letters) % len(GROUP_LETTERS)])
        for c in td.cnames:
            if c in fixed and counts[c] == 1:
                random.append(RandomCoef(group, c, fixed[c], letter, True))
            else:
                g += 1
                random.append(RandomCoef(group, c, rf"\gamma_{{{g}}}", letter, False))
    return fixed, random


def _level1(m, predictor: str, est: dict, estimates: bool) -> list[str]:
    """The response's distribution (and the link of a glmer fit)."""
    from mlm_wrap.spec.formula import parse_formula
    response = parse_formula(m.formula).response
    y = tex_text(response) + "_{i}"
    obs = r"i = 1, \dots, " + (str(m.nobs()) if estimates else "n")
    if not is_glmm(m):
        sigma = tex_number(est[("sigma",)]) if estimates else r"\sigma"
        var = f"{sigma}^{{2}}" + (r" / w_{i}" if m.design.weights is not None else "")
        return [rf"{y} &\sim N\left({predictor},\ {var}\right), && {obs}"]
    fam, link = m.family, m.link
    mu = r"\mu_{i}"
    lines = []
    if fam == "binomial":
        if getattr(m, "response_kind", "") == "cbind" and response.startswith("cbind("):
            s, f = _split_args(response)
            y = tex_text(s) + "_{i}"
            dist = rf"\operatorname{{Binomial}}\left(n_{{i}}, {mu}\right), \quad n_{{i}} = " \
                   f"{_var(s)} + {_var(f)}"
        elif getattr(m, "weights_arg", None) or m._problem.wt.max() != 1:
            y = rf"n_{{i}}\,{y}"
            dist = rf"\operatorname{{Binomial}}\left(n_{{i}}, {mu}\right), \quad n_{{i}} = w_{{i}}"
        else:
            dist = rf"\operatorname{{Bernoulli}}\left({mu}\right)"
    elif fam == "poisson":
        dist = rf"\operatorname{{Poisson}}\left({mu}\right)"
    elif getattr(m.family_object, "theta", None) is not None:
        theta = tex_number(est[("theta",)]) if estimates else r"\theta"
        dist = rf"\operatorname{{NegBin}}\left({mu},\ {theta}\right)"
    else:
        name = {"Gamma": r"\operatorname{Gamma}", "inverse.gaussian": r"\operatorname{IG}",
                "gaussian": "N"}.get(fam, rf"\operatorname{{{fam}}}")
        disp = f"{tex_number(est[('sigma',)])}^{{2}}" if estimates else r"\sigma^{2}"
        dist = rf"{name}\left({mu},\ {disp}\right)"
    lines.append(rf"{y} &\sim {dist}, && {obs}")
    eta = _LINKS.get(link) or rf"\operatorname{{{link}}}\left({mu}\right)"
    lines.append(rf"{eta} &= {predictor}")
    return lines


_LINKS = {"logit": r"\operatorname{logit}\left(\mu_{i}\right)", "probit": r"\Phi^{-1}\left(\mu_{i}\right)",
          "cloglog": r"\log\left(-\log\left(1 - \mu_{i}\right)\right)", "log": r"\log\left(\mu_{i}\right)",
          "identity": r"\mu_{i}", "inverse": r"1 / \mu_{i}", "sqrt": r"\sqrt{\mu_{i}}",
          "1/mu^2": r"1 / \mu_{i}^{2}", "cauchit": r"\operatorname{cauchit}\left(\mu_{i}\right)"}


def _group_lines(m, random: list[RandomCoef], fixed: dict[str, str], est: dict,
                 estimates: bool) -> list[str]:
    """One (multivariate) normal per random term, with its covariance matrix."""
    vc = m.VarCorr()
    ngrps = {td.name: td.factor.nlevels for td in m.design.terms}
    names = {t.group: td.name for t, td in zip(vc.terms, m.design.terms)}
    lines = []
    for t in vc.terms:
        coefs = [r for r in random if r.group == t.group]
        L = coefs[0].letter
        syms = [_sub(r.symbol, L) for r in coefs]

        def mean(r: RandomCoef) -> str:
            if not r.merged:
                return "0"
            if estimates:
                return tex_number(est[("fixef", r.column)])
            return rf"\mu_{{{r.symbol}}}"

        def sd(r: RandomCoef) -> str:
            return tex_number(est[("sd", t.group, r.column)]) if estimates else rf"\sigma_{{{r.symbol}}}"

        def cov(a: RandomCoef, b: RandomCoef) -> str:
            if coefs.index(a) > coefs.index(b):  # the lower triangle mirrors the upper
                a, b = b, a
            if a is b:
                return f"{sd(a)}^{{2}}"
            if estimates:
                cor = est[("cor", t.group) + tuple(sorted((a.column, b.column)))]
                return rf"{tex_number(cor)} \times {sd(a)} \times {sd(b)}"
            return rf"\rho_{{{a.symbol}{b.symbol}}}\sigma_{{{a.symbol}}}\sigma_{{{b.symbol}}}"

        count = str(ngrps[names[t.group]]) if estimates else L.upper()
        where = rf"\text{{for }} {tex_text(names[t.group])}\ {L} = 1, \dots, {count}"
        if len(coefs) == 1:
            lines.append(rf"{syms[0]} &\sim N\left({mean(coefs[0])},\ {cov(coefs[0], coefs[0])}\right), && {where}")
            continue
        col = lambda xs: r"\begin{pmatrix}" + r" \\ ".join(xs) + r"\end{pmatrix}"
        matrix = r"\begin{pmatrix}" + r" \\ ".join(
            " & ".join(cov(a, b) for b in coefs) for a in coefs) + r"\end{pmatrix}"
        lines.append(rf"{col(syms)} &\sim N\left({col([mean(r) for r in coefs])},\ {matrix}\right), && {where}")
    return lines


def _offsets(m) -> list[str]:
    """The offset's terms: each ``offset()`` of the formula and the ``offset =`` argument."""
    exprs = list(getattr(m, "offset_exprs", None) or [])
    given = (getattr(m, "call_args", None) or {}).get("offset")
    if isinstance(given, str):
        exprs.append(given)
    out = [_var(e) for e in exprs]
    has = (m.design.offset is not None) if not is_glmm(m) else \
        bool(exprs or getattr(m, "offset_arg", False))
    if (given is not None and not isinstance(given, str)) or (has and not out):
        out.append(r"\text{offset}_{i}")  # an array, or offset() terms of an lmer formula
    return out


def _estimates(m) -> dict[tuple, float]:
    est: dict[tuple, float] = {("fixef", c): float(v) for c, v in m.fixef().items()}
    for t in m.VarCorr().terms:
        sd, cor = t.stddev, t.correlation
        for a, ca in enumerate(t.names):
            est[("sd", t.group, ca)] = float(sd[a])
            for b, cb in enumerate(t.names):
                if a < b:
                    est[("cor", t.group) + tuple(sorted((ca, cb)))] = float(cor[a, b])
    if not is_glmm(m) or m.family_object.has_scale:
        est[("sigma",)] = float(m.sigma())
    theta = getattr(getattr(m, "family_object", None), "theta", None)
    if theta is not None:
        est[("theta",)] = float(theta)
    return est


def equation(m, estimates: bool = False) -> Equation:
    """The model in Gelman & Hill's notation (LaTeX, an ``aligned`` block): the response's
    distribution with the linear predictor (varying coefficients with subscripts
    ``j[i]``), the link for glmer families, the (multivariate) normal of each random
    term with its covariance matrix, and the residual variance.  ``estimates=True``
    writes in the fitted values (``fixef``, ``VarCorr``'s SDs and correlations,
    ``sigma``).  In a notebook the result shows as the typeset equation."""
    fixed, random = _coefficients(m)
    est = _estimates(m)
    terms = []
    for c, sym in fixed.items():
        own = [r for r in random if r.merged and r.column == c]
        terms.append(_times(_sub(sym, own[0].letter + "[i]") if own else
                            (tex_number(est[("fixef", c)]) if estimates else sym), c))
    for r in random:
        if not r.merged:
            terms.append(_times(_sub(r.symbol, r.letter + "[i]"), r.column))
    predictor = " + ".join(terms + _offsets(m)) or "0"
    predictor = predictor.replace("+ -", "- ")
    lines = _level1(m, predictor, est, estimates) + _group_lines(m, random, fixed, est, estimates)
    latex = "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
    return Equation(latex, fixed, random, terms, est if estimates else {})


__all__ = ["equation", "Equation", "options", "Options", "tex_number", "tex_text"]
