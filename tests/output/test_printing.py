"""R's printouts: VarCorr(m), print(m), the accessors' tables, and the layout primitives.

Model printouts are compared with R's text from the corpora's JSON (``varcorr_text``,
``summary_text``) by the printout rule of tests/printouts.py.  The unit tests of the primitives use
fixed inputs; their expected strings are R 4.2's output of the R expression in the
comment above each.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from printouts import CASES, R_SHORT, fit_named, printout_mismatches, with_known

import mlm_wrap as mw
from mlm_wrap.output.deparse import deparse_lines
from mlm_wrap.output.summary import r_quantile
from mlm_wrap.rformat.layout import (
    cat_fill,
    format_frame,
    format_list,
    format_vector,
    named_vector_text,
)
from mlm_wrap.rformat.objects import RFrame, RList, RSeries

# ------------------------------------------------------------------ VarCorr and print(m)

VARCORR_KNOWN = dict(R_SHORT, **{
    # R's nloptwrap stops 3e-9 above the REML optimum on this flat likelihood; the SDs
    # at the optimum (14844.9, 732.71) need one more decimal than R's (14844.69, 732.70)
    # at 5 significant digits.  summary() and display() print them the same as R.
    "faculty_m3": "R's nloptwrap stops short of the optimum; the optimum's SDs format with "
                  "one more decimal"})


@pytest.mark.parametrize("cid", with_known(CASES, VARCORR_KNOWN))
def test_varcorr_printout_is_rs(cid):
    case, m = fit_named(cid)
    bad = printout_mismatches(str(mw.VarCorr(m)), case["varcorr_text"])
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cid", CASES)
def test_varcorr_header_and_groups_exactly(cid):
    case, m = fit_named(cid)
    got = [line[:24] for line in str(mw.VarCorr(m)).split("\n")]
    ref = [line[:24] for line in case["varcorr_text"].rstrip("\n").split("\n")]
    assert got[0] == ref[0] and [g.split()[:1] for g in got] == [r.split()[:1] for r in ref]


def test_varcorr_html():
    _, m = fit_named("sleepstudy_slope")
    h = mw.VarCorr(m)._repr_html_()
    assert h.startswith("<table") and "<th>Corr</th>" in h and "Residual" in h


@pytest.mark.parametrize("cid", CASES)
def test_print_model_shares_summary_lines(cid):
    """print(m) (lme4's print.merMod) opens with summary's title, Formula and Data lines
    and has its ``Number of obs`` line."""
    case, m = fit_named(cid)
    got = str(m).split("\n")
    ref = case["summary_text"].split("\n")
    n = 3 if ref[2].startswith("   Data:") else 2
    assert got[:n] == ref[:n]
    assert [x for x in got if x.startswith("Number of obs")] == [x for x in ref if x.startswith("Number of obs")]
    assert "Fixed Effects:" in got


def test_print_model_layout():
    """print(m): the REML criterion to 4 decimals and the fixed effects with print.gap = 2."""
    case, m = fit_named("sleepstudy_slope")
    lines = str(m).split("\n")
    head, _, value = lines[3].rpartition(" ")
    assert head == "REML criterion at convergence:"  # round(, 4), then cat()'s 7 digits
    assert abs(float(value) - case["REMLcrit"]) < 2e-3 and len(value.replace(".", "")) == 7
    assert lines[4:6] == ["Random effects:", " Groups   Name        Std.Dev. Corr"]
    assert lines[-3] == "Fixed Effects:"
    assert lines[-2].split() == list(case["fixef"]) and lines[-2].endswith("  ")
    case, m = fit_named("sleepstudy_slope_ml")
    assert str(m).split("\n")[3].split() == ["AIC", "BIC", "logLik", "deviance", "df.resid"]


# ------------------------------------------------------------------ accessors' tables

def test_accessor_types_and_printing():
    case, m = fit_named("sleepstudy_slope")
    fe, ce, re, se = mw.fixef(m), mw.coef(m), mw.ranef(m), mw.se_ranef(m)
    assert isinstance(fe, RSeries) and isinstance(fe, pd.Series)
    assert isinstance(mw.se_fixef(m), RSeries)
    for tab in (ce, re, se):
        assert isinstance(tab, RList) and isinstance(tab, dict) and list(tab) == ["Subject"]
        assert isinstance(tab["Subject"], RFrame) and isinstance(tab["Subject"], pd.DataFrame)
    assert str(fe) == format_vector(fe)[:-1]
    # print(coef(m)): the list, then the class attribute R shows for coef.mer
    assert str(ce).startswith("$Subject\n    (Intercept)       Days\n308 ")
    assert str(ce).endswith('\n\nattr(,"class")\n[1] "coef.mer"')
    # print(ranef(m)): lme4's print.ranef.mer note
    assert str(re).endswith("\n\nwith conditional variances for \u201cSubject\u201d ")
    assert str(se).startswith("$Subject\n") and str(se).endswith("\n")  # R's blank line
    assert len(str(ce["Subject"]).split("\n")) == 1 + len(case["coef"]["Subject"]["index"])


def test_tables_stay_pandas():
    _, m = fit_named("sleepstudy_slope")
    ce = mw.coef(m)["Subject"]
    assert ce.loc["308", "Days"] == ce["Days"].iloc[0]
    doubled = 2 * ce
    assert isinstance(doubled, RFrame) and np.allclose(doubled.to_numpy(), 2 * ce.to_numpy())
    assert isinstance(ce["Days"], RSeries) and isinstance(ce.iloc[0], RSeries)
    assert float(ce["Days"].mean()) == pytest.approx(float(mw.fixef(m)["Days"]), rel=1e-6)
    assert ce.describe().shape == (8, 2)
    assert "<table" in ce._repr_html_() and "<table" in mw.fixef(m)._repr_html_()
    assert mw.coef(m)._repr_html_().startswith("<p><b>$Subject</b></p><table")


def test_interval_example_from_the_seed():
    """The teaching notebooks' interval: each department's intercept +/- 2 SE."""
    from mlm_wrap.datasets import load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = mw.lmer("salary ~ experience + (1 | department)", data=load("faculty"))
    est = mw.coef(m1)["department"]["(Intercept)"]
    se = mw.se_ranef(m1)["department"]["(Intercept)"]
    lower, upper = est - 2 * se, mw.coef(m1)["department"]["(Intercept)"] + 2 * se
    table = pd.DataFrame({"lower": lower, "upper": upper})
    assert list(table.index) == list(mw.ranef(m1)["department"].index) and len(table) == 5
    assert (table["lower"] < est).all() and (est < table["upper"]).all()
    np.testing.assert_allclose(table["upper"] - table["lower"], 4 * se)
    np.testing.assert_allclose(est, mw.fixef(m1)["(Intercept)"] + mw.ranef(m1)["department"]["(Intercept)"])
    text = str(upper).split("\n")
    assert text[0].split() == list(table.index) and len(text) == 2  # a named vector, R's way


# ------------------------------------------------------------------ primitives vs R

def test_named_vector():
    # print(c(`(Intercept)` = 251.405104848485, Days = 10.467285959596))
    x = RSeries([251.405104848485, 10.467285959596], index=["(Intercept)", "Days"])
    assert str(x) == "(Intercept)        Days \n  251.40510    10.46729 "


def test_named_vector_wraps_at_80_columns():
    # print(setNames(c(1.5, -2.25, 1000, 3, 4.125, 6, 7, 8, 9, 10, 11, 12.5), paste0("coefficient", 1:12)))
    x = pd.Series([1.5, -2.25, 1000, 3, 4.125, 6, 7, 8, 9, 10, 11, 12.5],
                  index=[f"coefficient{i}" for i in range(1, 13)])
    assert format_vector(x) == (
        " coefficient1  coefficient2  coefficient3  coefficient4  coefficient5 \n"
        "        1.500        -2.250      1000.000         3.000         4.125 \n"
        " coefficient6  coefficient7  coefficient8  coefficient9 coefficient10 \n"
        "        6.000         7.000         8.000         9.000        10.000 \n"
        "coefficient11 coefficient12 \n"
        "       11.000        12.500 \n")


def test_named_vector_missing_and_infinite():
    # print(c(a = 1, b = NA, d = -Inf))
    assert format_vector(pd.Series([1, np.nan, -np.inf], index=["a", "b", "d"])) == (
        "   a    b    d \n   1   NA -Inf \n")


def test_named_character_vector():
    # print(c(AIC = "1802.1", BIC = "1814.9", logLik = "-897.0", deviance = "1794.1", df.resid = "176"), quote = FALSE)
    assert named_vector_text(["AIC", "BIC", "logLik", "deviance", "df.resid"],
                             ["1802.1", "1814.9", "-897.0", "1794.1", "176"]) == (
        "     AIC      BIC   logLik deviance df.resid \n"
        "  1802.1   1814.9   -897.0   1794.1      176 \n")


DF = {"(Intercept)": [253.663656, 211.006367, 212.4447], "Days": [19.6662617, -0.2848792, 5.0184295]}
# df <- data.frame(`(Intercept)` = c(253.663656, 211.006367, 212.4447),
#                  Days = c(19.6662617, -0.2848792, 5.0184295), check.names = FALSE,
#                  row.names = c("308", "309", "310"))
DF_R = ("    (Intercept)       Days\n"
        "308    253.6637 19.6662617\n"
        "309    211.0064 -0.2848792\n"
        "310    212.4447  5.0184295\n")


def test_data_frame():
    # print(df)
    assert format_frame(pd.DataFrame(DF, index=["308", "309", "310"])) == DF_R
    assert str(RFrame(DF, index=["308", "309", "310"])) == DF_R[:-1]


def test_data_frame_na_and_scientific():
    # print(data.frame(x = c(1.5, NA, -2), y = c(0.001234, 123.4, NA), row.names = c("A", "B", "C")))
    df = pd.DataFrame({"x": [1.5, np.nan, -2], "y": [0.001234, 123.4, np.nan]}, index=list("ABC"))
    assert format_frame(df) == ("     x         y\n"
                                "A  1.5 1.234e-03\n"
                                "B   NA 1.234e+02\n"
                                "C -2.0        NA\n")


def test_data_frame_large_values():
    # print(data.frame(`(Intercept)` = c(59096.73, 71234.5), experience = c(1179.4233, 1179.4233),
    #                  check.names = FALSE, row.names = c("Biology", "Chemistry")))
    df = pd.DataFrame({"(Intercept)": [59096.73, 71234.5], "experience": [1179.4233, 1179.4233]},
                      index=["Biology", "Chemistry"])
    assert format_frame(df) == ("          (Intercept) experience\n"
                                "Biology      59096.73   1179.423\n"
                                "Chemistry    71234.50   1179.423\n")


def test_list_of_data_frames():
    # print(list(Subject = df))
    assert format_list({"Subject": pd.DataFrame(DF, index=["308", "309", "310"])}) == (
        "$Subject\n" + DF_R + "\n")
    # print(list(`cask:batch` = data.frame(`(Intercept)` = c(1.7746863, 0.8836559), check.names = FALSE,
    #            row.names = c("a:A", "a:B")), batch = data.frame(`(Intercept)` = c(0.800645, -0.2725087),
    #            check.names = FALSE, row.names = c("A", "B"))))
    lst = RList({"cask:batch": RFrame({"(Intercept)": [1.7746863, 0.8836559]}, index=["a:A", "a:B"]),
                 "batch": RFrame({"(Intercept)": [0.800645, -0.2725087]}, index=["A", "B"])})
    assert str(lst) + "\n" == ("$`cask:batch`\n    (Intercept)\na:A   1.7746863\na:B   0.8836559\n\n"
                               "$batch\n  (Intercept)\nA   0.8006450\nB  -0.2725087\n\n")


def test_cat_fill():
    # cat("Number of obs: 73421, groups: ", paste(paste(paste0("grouping_factor_", 1:4),
    #     c(2972, 1128, 5, 6), sep = ", "), collapse = "; "), fill = TRUE)
    groups = "; ".join(f"grouping_factor_{i}, {n}" for i, n in zip(range(1, 5), (2972, 1128, 5, 6)))
    assert cat_fill("Number of obs: 73421, groups: ", groups) == (
        "Number of obs: 73421, groups:  \n" + groups + "\n")
    # cat("Number of obs: 180, groups: ", "Subject, 18", fill = TRUE)
    assert cat_fill("Number of obs: 180, groups: ", "Subject, 18") == "Number of obs: 180, groups:  Subject, 18\n"


LONG = ("y ~ a_long_variable_name + another_long_variable_name * third_variable_name + "
        "(1 + a_long_variable_name | group_factor_name)")
MANY = " + ".join(["y ~ x1"] + [f"x{i}" for i in range(2, 23)] + ["(1 | g)"])


def test_deparse_breaks_lines_as_r():
    # print(call("lmer", formula = FORMULA, data = as.name("some_data_set_name"), REML = FALSE))
    call = lambda f: f"lmer(formula = {f}, data = some_data_set_name, REML = FALSE)"
    assert deparse_lines(call("Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))")) == [
        "lmer(formula = Reaction ~ Days + ((1 | Subject) + (0 + Days | ",
        "    Subject)), data = some_data_set_name, REML = FALSE)"]
    assert deparse_lines(call(LONG)) == [
        "lmer(formula = y ~ a_long_variable_name + another_long_variable_name * ",
        "    third_variable_name + (1 + a_long_variable_name | group_factor_name), ",
        "    data = some_data_set_name, REML = FALSE)"]
    assert deparse_lines(call(MANY)) == [
        "lmer(formula = y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + ",
        "    x10 + x11 + x12 + x13 + x14 + x15 + x16 + x17 + x18 + x19 + ",
        "    x20 + x21 + x22 + (1 | g), data = some_data_set_name, REML = FALSE)"]
    # deparse(FORMULA)
    assert deparse_lines(LONG) == [
        "y ~ a_long_variable_name + another_long_variable_name * third_variable_name + ",
        "    (1 + a_long_variable_name | group_factor_name)"]


def test_formula_line_of_a_long_formula():
    # cat("Formula:", deparse(FORMULA), fill = TRUE)  -- lme4's .prt.call
    from mlm_wrap.output.summary import prt_call
    assert prt_call(LONG, None) == (
        "Formula: \n"
        "y ~ a_long_variable_name + another_long_variable_name * third_variable_name +  \n"
        "    (1 + a_long_variable_name | group_factor_name)\n")
    assert prt_call(MANY, "d") == (
        "Formula: y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 +  \n"
        "    x12 + x13 + x14 + x15 + x16 + x17 + x18 + x19 + x20 + x21 +  \n"
        "    x22 + (1 | g)\n"
        "   Data: d\n")


def test_quantile_type_7():
    # quantile(c(3, 1, 4, 1, 5, 9, 2, 6))  ->  1.00 1.75 3.50 5.25 9.00
    np.testing.assert_array_equal(r_quantile([3, 1, 4, 1, 5, 9, 2, 6]), [1.0, 1.75, 3.5, 5.25, 9.0])
