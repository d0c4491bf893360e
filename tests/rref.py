"""How the tests compare mlm_wrap with R: tolerances and the printout rule.

The expected numbers are R's, read from the JSON that ``tests/r/make_refs.R`` writes
under ``tests/r/refs/`` (never typed in here).  The tolerances are the project's bar
(the same as the developers' parity checker's): relative unless the name says ``_abs``.
R users compare digits, so they are deliberately tight.
"""
from __future__ import annotations

import re

import numpy as np

TOL = {
    "fixef": 1e-4, "se_fixef": 1e-3, "vcov_re": 2e-3, "sigma": 1e-3,
    "loglik_abs": 2e-3, "ic_abs": 5e-3, "ranef_sd": 2e-3, "condsd": 5e-3,
    "fitted_sd": 1e-3, "satt_df": 2e-2, "satt_p": 5e-2, "confint": 1e-3,
    "anova": 2e-3,
}
# GLMMs: Laplace/AGQ optimum reached by a different optimizer path than lme4's
GLMM_TOL = {"fixef": 2e-3, "se_fixef": 1e-2, "vcov_re": 1e-2, "loglik_abs": 1e-2,
            "ic_abs": 2e-2, "ranef_sd": 1e-2, "condsd": 2e-2, "fitted_sd": 1e-2,
            "confint": 5e-3}  # profile limits, relative to the interval's width

# A number as R prints it, not part of a name (`x1`, `b.2`)
NUM = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
# Lines whose numbers belong to the call or to convergence notes, not to the results
SKIP_LINE = re.compile(r"^\s*(Formula:|Data:|Models:|Signif\. codes|g?lmer\(|lme4::|\S+\(formula|[\w.]+: .*~"
                       r"|optimizer \(|Model failed to converge|Model is nearly unidentifiable)")


def relerr(got, ref) -> float:
    """Largest relative error, with R's zeros compared absolutely (scale floor 1e-8)."""
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    return float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-8))) if ref.size else 0.0


def numbers(text: str, skip_call: bool = False) -> list[str]:
    """The numbers of a printout in reading order, skipping the call/formula/data lines."""
    out, in_call = [], skip_call
    for line in text.splitlines():
        if in_call:  # a display() call may wrap over several lines before the table header
            if "coef.est" in line:
                in_call = False
            else:
                continue
        if SKIP_LINE.match(line):
            continue
        out += NUM.findall(line)
    return out


def shape(tok: str) -> tuple[bool, int, bool]:
    """(has a point, decimals, has an exponent): R's format of a printed number."""
    mant, _, exp = tok.lower().partition("e")
    return ("." in mant, len(mant.split(".")[1]) if "." in mant else 0, bool(exp))


def number_close(got: str, ref: str) -> bool:
    """Same format as R's, and within one unit of R's last digit or 5e-4 relative
    (R's own optimizer stops about that close on flat likelihoods)."""
    if shape(got) != shape(ref):
        return False
    _, digits, has_exp = shape(ref)
    exp = int(re.split("[eE]", ref)[1]) if has_exp else 0
    diff = abs(float(got) - float(ref))
    return diff <= 1.01 * 10.0 ** (exp - digits) or diff <= 5e-4 * abs(float(ref))


def same_printout(got: str, ref: str, skip_call: bool = False) -> tuple[bool, str]:
    """R's numbers, in R's order and format, each close by :func:`number_close`."""
    g, r = numbers(got, skip_call), numbers(ref, skip_call)
    if len(g) != len(r):
        return False, f"{len(g)} numbers printed, R prints {len(r)}"
    bad = [f"{a} vs R {b}" for a, b in zip(g, r) if not number_close(a, b)]
    return not bad, f"{len(bad)}/{len(r)} printed numbers differ from R's" + (f": {', '.join(bad[:4])}" if bad else "")


# Where R's default optimizer (nloptwrap) stops short of the optimum, measured in R (lme4
# 1.1-31): refitted with lmerControl(optimizer = "bobyqa") or "Nelder_Mead", R reaches the
# REML criterion mlm_wrap reaches; the difference shows in R's printed digits.
R_STOPS_SHORT = {
    "extra:orthodont_sex": "R's nloptwrap stops short of the optimum on Orthodont",
    "idioms:pub_orthodont": "R's nloptwrap stops at REML 432.581667065; bobyqa and Nelder_Mead "
                            "in R reach 432.581661503, as mlm_wrap",
    "idioms:pub_bodyweight": "R's nloptwrap stops at REML 1151.990680490 and warns max|grad| "
                             "0.0041; bobyqa and Nelder_Mead in R reach 1151.990627646, as mlm_wrap",
    "idioms:pub_hsb82": "R's nloptwrap stops at REML 46503.662868991; bobyqa in R reaches "
                        "46503.662868126, as mlm_wrap (the cses variance prints 0.101 vs 0.1012)",
}
