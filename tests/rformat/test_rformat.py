"""Tests for mlm_wrap.rformat: every expected value was produced by R 4.2.2.

Each case carries the R expression that produced it (``# R: ...``).  Floats
from R were printed with ``sprintf("%.17g", ...)``; the lme4 / lmerTest blocks
come from ``print(summary(fit))`` with lme4 1.1-31 and lmerTest (Debian
packages r-cran-lme4 / r-cran-lmertest).  R is not needed to run these tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlm_wrap.rformat import (
    NA_REAL,
    SIGNIF_LEGEND,
    abbreviate,
    format1,
    format_coefmat,
    format_info,
    format_num,
    format_pval,
    formatC,
    is_na,
    print_matrix,
    r_round,
    signif,
    signif_stars,
    zapsmall,
)

# ---------------------------------------------------------------- format()
FORMAT_CASES = [
    # R: format(c(251.405100, 10.467286), digits = 4)
    (lambda: format_num([251.405100, 10.467286], digits=4), ['251.41', ' 10.47']),
    # R: format(c(6.824597, 1.545790), digits = 4)
    (lambda: format_num([6.824597, 1.545790], digits=4), ['6.825', '1.546']),
    # R: format(c(59492.3817018064, 1124.57355054958), digits = 4)
    (lambda: format_num([59492.3817018064, 1124.57355054958], digits=4), ['59492', ' 1125']),
    # R: format(c(251.405100, 10.467286))
    (lambda: format_num([251.405100, 10.467286]), ['251.40510', ' 10.46729']),
    # R: format(c(612.100158, 35.071740, 24.740449, 0.065551, 0.031443), digits = 4)
    (lambda: format_num([612.100158, 35.071740, 24.740449, 0.065551, 0.031443], digits=4), ['612.10016', ' 35.07174', ' 24.74045', '  0.06555', '  0.03144']),
    # R: format(c(-1.5, 0, 2.25))
    (lambda: format_num([-1.5, 0, 2.25]), ['-1.50', ' 0.00', ' 2.25']),
    # R: format(c(0, 0))
    (lambda: format_num([0.0, 0.0]), ['0', '0']),
    # R: format(-0.0)
    (lambda: format_num(-0.0), ['0']),
    # R: format(123456789)
    (lambda: format_num(123456789.0), ['123456789']),
    # R: format(1234567890123)
    (lambda: format_num(1234567890123.0), ['1.234568e+12']),
    # R: format(100000)
    (lambda: format_num(100000.0), ['1e+05']),
    # R: format(123456)
    (lambda: format_num(123456.0), ['123456']),
    # R: format(c(1e-10, 1))
    (lambda: format_num([1e-10, 1.0]), ['1e-10', '1e+00']),
    # R: format(c(1e-300, 1.234e300), digits = 4)
    (lambda: format_num([1e-300, 1.234e300], digits=4), ['1.000e-300', '1.234e+300']),
    # R: format(c(1e100, 1))
    (lambda: format_num([1e100, 1.0]), ['1e+100', ' 1e+00']),
    # R: format(1e-320)
    (lambda: format_num(1e-320), ['9.999889e-321']),
    # R: format(c(0.00001234, 0.5))
    (lambda: format_num([0.00001234, 0.5]), ['1.234e-05', '5.000e-01']),
    # R: format(c(0.0001234, 0.5))
    (lambda: format_num([0.0001234, 0.5]), ['0.0001234', '0.5000000']),
    # R: format(c(-3.3e-7, 2.1e-5, 0.042), digits = 3)
    (lambda: format_num([-3.3e-7, 2.1e-5, 0.042], digits=3), ['-3.3e-07', ' 2.1e-05', ' 4.2e-02']),
    # R: format(c(NA, 1.5, NaN, Inf, -Inf))
    (lambda: format_num([None, 1.5, float("nan"), float("inf"), float("-inf")]), ['  NA', ' 1.5', ' NaN', ' Inf', '-Inf']),
    # R: format(c(1.5, NA))
    (lambda: format_num([1.5, NA_REAL]), ['1.5', ' NA']),
    # R: format(NA_real_)
    (lambda: format_num(None), ['NA']),
    # R: format(3.14159, nsmall = 2)
    (lambda: format_num(3.14159, nsmall=2), ['3.14159']),
    # R: format(2, nsmall = 2)
    (lambda: format_num(2.0, nsmall=2), ['2.00']),
    # R: format(c(-0.138, 0.5, 1), nsmall = 3)
    (lambda: format_num([-0.138, 0.5, 1.0], nsmall=3), ['-0.138', ' 0.500', ' 1.000']),
    # R: format(c(0.001234, 123.4), digits = 3)
    (lambda: format_num([0.001234, 123.4], digits=3), ['1.23e-03', '1.23e+02']),
    # R: format(9.9996, digits = 4)
    (lambda: format_num(9.9996, digits=4), ['10']),
    # R: format(9996, digits = 3)
    (lambda: format_num(9996.0, digits=3), ['9996']),
    # R: format(c(99999.5, 0.1), digits = 5)
    (lambda: format_num([99999.5, 0.1], digits=5), ['1e+05', '1e-01']),
    # R: format(0.1 + 0.2, digits = 17)
    (lambda: format_num(0.1 + 0.2, digits=17), ['0.30000000000000004']),
    # R: format(1/3, digits = 16)
    (lambda: format_num(1 / 3, digits=16), ['0.3333333333333333']),
    # R: format(c(0.15, 0.25, 0.35), digits = 1)
    (lambda: format_num([0.15, 0.25, 0.35], digits=1), ['0.1', '0.2', '0.3']),
    # R: format(1e5, scientific = FALSE)
    (lambda: format_num(1e5, scientific=False), ['100000']),
    # R: format(123, scientific = TRUE)
    (lambda: format_num(123.0, scientific=True), ['1.23e+02']),
    # R: format(c(1L, 100L, NA))
    (lambda: format_num([1, 100, None]), ['  1', '100', ' NA']),
    # R: format(100000L)
    (lambda: format_num(np.int64(100000)), ['100000']),
    # R: format(1.5, width = 6)
    (lambda: format_num(1.5, width=6), ['   1.5']),
]


@pytest.mark.parametrize("call, expected", FORMAT_CASES)
def test_format_num(call, expected):
    assert call() == expected


FORMAT1_CASES = [
    # R: format(-1786.3, digits = 4)
    (lambda: format1(-1786.3, digits=4), '-1786'),
    # R: format(1743.628, digits = 4)
    (lambda: format1(1743.628, digits=4), '1744'),
    # R: format(0.000031443, digits = 4)
    (lambda: format1(0.000031443, digits=4), '3.144e-05'),
]


@pytest.mark.parametrize("call, expected", FORMAT1_CASES)
def test_format1(call, expected):
    assert call() == expected


def test_format_info():
    # R: format.info(c(251.405100, 10.467286), digits = 4)  -> 6 2 0
    assert format_info([251.405100, 10.467286], digits=4) == (6, 2, 0)
    # R: format.info(1e-10)  -> 5 0 1
    assert format_info(1e-10) == (5, 0, 1)


# ---------------------------------------------------------------- formatC()
FORMATC_CASES = [
    # R: formatC(3.14159, digits = 3, format = "f")
    (lambda: formatC(3.14159, digits=3, format="f"), ['3.142']),
    # R: formatC(pi)
    (lambda: formatC(math.pi), ['3.142']),
    # R: formatC(5, digits = 3)
    (lambda: formatC(5.0, digits=3), ['   5']),
    # R: formatC(c(1, 10, 100), width = 6, format = "d", flag = "0")
    (lambda: formatC([1.0, 10.0, 100.0], width=6, format="d", flag="0"), ['000001', '000010', '000100']),
    # R: formatC(0.000012345, format = "e", digits = 2)
    (lambda: formatC(0.000012345, format="e", digits=2), ['1.23e-05']),
    # R: formatC(123.456, format = "g")
    (lambda: formatC(123.456, format="g"), ['123.5']),
    # R: formatC(c(-1, NA, Inf), format = "f", digits = 1, width = 6)
    (lambda: formatC([-1.0, None, float("inf")], format="f", digits=1, width=6), ['  -1.0', '    NA', '   Inf']),
    # R: formatC(3.14159, width = -10, format = "f")
    (lambda: formatC(3.14159, width=-10, format="f"), ['3.1416    ']),
    # R: formatC(c(1e6, 0.000123, 12.3456), format = "fg", digits = 3)
    (lambda: formatC([1e6, 0.000123, 12.3456], format="fg", digits=3), ['1000000', '0.000123', '12.3']),
    # R: formatC(1:3)
    (lambda: formatC([1, 2, 3]), ['1', '2', '3']),
    # R: formatC(c(-2.5, 1234.5678), format = "f", digits = 2, width = 10, flag = "+")
    (lambda: formatC([-2.5, 1234.5678], format="f", digits=2, width=10, flag="+"), ['     -2.50', '  +1234.57']),
    # R: formatC(2.0, format = "g", digits = 4, flag = "#")
    (lambda: formatC(2.0, format="g", digits=4, flag="#"), ['2.000']),
]


@pytest.mark.parametrize("call, expected", FORMATC_CASES)
def test_formatC(call, expected):
    assert call() == expected


def test_formatC_width_zero_is_an_error():
    # R: formatC(1, format = "d", digits = 0, width = 0)  -> Error: width cannot be zero
    with pytest.raises(ValueError):
        formatC(1.0, format="d", digits=0, width=0)


# ---------------------------------------------------------------- format.pval()
PVAL_CASES = [
    # R: format.pval(c(0.05, 1e-20, 0.5), digits = 3)
    (lambda: format_pval([0.05, 1e-20, 0.5], digits=3), ['0.05', '<2e-16', '0.50']),
    # R: format.pval(1e-20)
    (lambda: format_pval(1e-20), ['< 2.22e-16']),
    # R: format.pval(c(0.0123, 0.000001))
    (lambda: format_pval([0.0123, 0.000001]), ['0.0123', '1e-06']),
    # R: format.pval(c(0.1, NA))
    (lambda: format_pval([0.1, None]), ['0.1', 'NA']),
    # R: format.pval(2e-17, digits = 1)
    (lambda: format_pval(2e-17, digits=1), ['<2e-16']),
    # R: format.pval(c(3.4e-5, 0.2, 1e-17), digits = 3)
    (lambda: format_pval([3.4e-5, 0.2, 1e-17], digits=3), ['3.4e-05', '0.2', '< 2e-16']),
    # R: format.pval(c(0.00042, 0.7), digits = 1)
    (lambda: format_pval([0.00042, 0.7], digits=1), ['4e-04', '0.7']),
]


@pytest.mark.parametrize("call, expected", PVAL_CASES)
def test_format_pval(call, expected):
    assert call() == expected


# ---------------------------------------------------------------- signif() / round()
NUM_CASES = [
    # R: sprintf("%.17g", signif(123456, 2))
    (lambda: signif(123456.0, 2), [120000.0]),
    # R: sprintf("%.17g", signif(-0.000123456, 3))
    (lambda: signif(-0.000123456, 3), [-0.000123]),
    # R: sprintf("%.17g", signif(c(1.5, 2.5, -2.5, 0.15), 1))
    (lambda: signif([1.5, 2.5, -2.5, 0.15], 1), [2.0, 2.0, -2.0, 0.2]),
    # R: sprintf("%.17g", signif(251.405100, 6))
    (lambda: signif(251.405100, 6), [251.405]),
    # R: sprintf("%.17g", signif(1.23456789e-310, 3))
    (lambda: signif(1.23456789e-310, 3), [1.23e-310]),
    # R: sprintf("%.17g", signif(9.87654321e305, 2))
    (lambda: signif(9.87654321e305, 2), [9.900000000000005e+305]),
    # R: sprintf("%.17g", round(0.15, 1))
    (lambda: r_round(0.15, 1), [0.1]),
    # R: sprintf("%.17g", round(2.675, 2))
    (lambda: r_round(2.675, 2), [2.67]),
    # R: sprintf("%.17g", round(0.125, 2))
    (lambda: r_round(0.125, 2), [0.12]),
    # R: sprintf("%.17g", round(c(0.5, 1.5, 2.5, -0.5, -1.5)))
    (lambda: r_round([0.5, 1.5, 2.5, -0.5, -1.5]), [0.0, 2.0, 2.0, -0.0, -2.0]),
    # R: sprintf("%.17g", round(1234.5678, -2))
    (lambda: r_round(1234.5678, -2), [1200.0]),
    # R: sprintf("%.17g", round(0.285, 2))
    (lambda: r_round(0.285, 2), [0.28]),
    # R: sprintf("%.17g", round(10.467286, 3))
    (lambda: r_round(10.467286, 3), [10.467]),
    # R: sprintf("%.17g", round(-0.1383, 3))
    (lambda: r_round(-0.1383, 3), [-0.138]),
    # R: sprintf("%.17g", round(5.5e-300, 300))
    (lambda: r_round(5.5e-300, 300), [5.999999999999997e-300]),
    # R: sprintf("%.17g", round(123456789.123456789, 5))
    (lambda: r_round(123456789.123456789, 5), [123456789.12346]),
    # R: sprintf("%.17g", zapsmall(c(1, 1e-20, 3.3333333)))
    (lambda: zapsmall([1, 1e-20, 3.3333333]), [1.0, 0.0, 3.333333]),
]


@pytest.mark.parametrize("call, expected", NUM_CASES)
def test_signif_round(call, expected):
    got = np.atleast_1d(np.asarray(call(), dtype=float)).tolist()
    assert got == expected


def test_round_scalar_and_na():
    assert isinstance(r_round(2.5), float)
    # R: round(NA_real_, 2)  -> NA
    assert is_na(r_round(NA_REAL, 2))
    assert is_na(signif(None, 2))
    assert math.isnan(r_round(float("nan"), 1)) and not is_na(r_round(float("nan"), 1))


# ---------------------------------------------------------------- abbreviate()
ABBREV_NAMES = ['(Intercept)', 'experience', 'Days', 'period2', 'period3', 'period4', 'service1', 'Reaction', 'Subject', 'age', 'sexMale', 'sex1', 'treatmentB', 'treatmentC', 'log(dose)', 'I(age^2)', 'poly(x, 2)1', 'poly(x, 2)2', 'Days:sexMale', 'conditionHigh', 'conditionLow', 'studage', 'studage:service1', 'lectage.L', 'lectage.Q', 'lectage^4', 'deptID2', 'Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Species versicolor', 'nitro0.2cwt', 'VarietyMarvellous', 'VarietyVictory', 'heightCent', 'GENDERM', 'IQ_verb', 'xy:z', 'CamelCaseName', 'abcdefghij', 'abcdefghik', 'treatment:time', 'treatment:time2']
# R: abbreviate(ABBREV_NAMES, 6)
ABBREV_6 = ['(Intr)', 'exprnc', 'Days', 'perid2', 'perid3', 'perid4', 'servc1', 'Reactn', 'Subjct', 'age', 'sexMal', 'sex1', 'trtmnB', 'trtmnC', 'lg(ds)', 'I(g^2)', 'p(,2)1', 'p(,2)2', 'Dys:sM', 'cndtnH', 'cndtnL', 'studag', 'stdg:1', 'lctg.L', 'lctg.Q', 'lctg^4', 'dptID2', 'Spl.Ln', 'Spl.Wd', 'Ptl.Ln', 'Spcsvr', 'ntr0.2', 'VrtyMr', 'VrtyVc', 'hghtCn', 'GENDER', 'IQ_vrb', 'xy:z', 'CmlCsN', 'abcdfghj', 'abcdfghk', 'trtmn:', 'trtm:2']
# R: abbreviate(ABBREV_NAMES, 11)
ABBREV_11 = ['(Intercept)', 'experience', 'Days', 'period2', 'period3', 'period4', 'service1', 'Reaction', 'Subject', 'age', 'sexMale', 'sex1', 'treatmentB', 'treatmentC', 'log(dose)', 'I(age^2)', 'poly(x, 2)1', 'poly(x, 2)2', 'Days:sexMal', 'conditinHgh', 'conditionLw', 'studage', 'studg:srvc1', 'lectage.L', 'lectage.Q', 'lectage^4', 'deptID2', 'Sepal.Lngth', 'Sepal.Width', 'Petal.Lngth', 'Specsvrsclr', 'nitro0.2cwt', 'VartyMrvlls', 'VarityVctry', 'heightCent', 'GENDERM', 'IQ_verb', 'xy:z', 'CamelCaseNm', 'abcdefghij', 'abcdefghik', 'treatmnt:tm', 'tretmnt:tm2']
# R: abbreviate(ABBREV_NAMES, 4)
ABBREV_4 = ['(In)', 'expr', 'Days', 'prd2', 'prd3', 'prd4', 'srv1', 'Rctn', 'Sbjc', 'age', 'sxMl', 'sex1', 'trtB', 'trtC', 'lg()', 'I(^2', 'p(,2)1', 'p(,2)2', 'Dy:M', 'cndH', 'cndL', 'stdg', 'st:1', 'lc.L', 'lc.Q', 'lc^4', 'dID2', 'Sp.L', 'Sp.W', 'Pt.L', 'Spcv', 'n0.2', 'VrtM', 'VrtV', 'hghC', 'GEND', 'IQ_v', 'xy:z', 'CmCN', 'abcdfghj', 'abcdfghk', 'trt:', 'tr:2']


@pytest.mark.parametrize("minlength, expected", [(6, ABBREV_6), (11, ABBREV_11), (4, ABBREV_4)])
def test_abbreviate(minlength, expected):
    assert abbreviate(ABBREV_NAMES, minlength) == expected


def test_abbreviate_lme4_headers():
    # R: abbreviate(c("(Intercept)", "Days"), minlength = 6)
    assert abbreviate(["(Intercept)", "Days"]) == ["(Intr)", "Days"]
    # R: abbreviate(c("(Intercept)", "period2", "period3", "period4"), minlength = 11)
    assert abbreviate(["(Intercept)", "period2", "period3", "period4"], 11) == [
        "(Intercept)", "period2", "period3", "period4"]
    # R: abbreviate(c("aa", "aa", "ab"), 1)  -> "aa" "aa" "ab"
    assert abbreviate(["aa", "aa", "ab"], 1) == ["aa", "aa", "ab"]


# ---------------------------------------------------------------- printCoefmat()
# R: fm1 <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
# R: sprintf("%.17g", coef(summary(fm1)))
SLEEP_ROWNAMES = ['(Intercept)', 'Days']
SLEEP_COLNAMES = ['Estimate', 'Std. Error', 't value']
SLEEP_COEF = [
    [251.40510484848497, 6.824596694954906, 36.83808964628439],
    [10.467285959595987, 1.545789643905981, 6.771481488999181],
]
# R: print(summary(fm1))  -- the lines after "Fixed effects:"
SLEEP_FIXEF = (
    '            Estimate Std. Error t value\n'
    '(Intercept)  251.405      6.825  36.838\n'
    'Days          10.467      1.546   6.771\n'
)

# R: gm1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
# R: sprintf("%.17g", coef(summary(gm1)))
CBPP_ROWNAMES = ['(Intercept)', 'period2', 'period3', 'period4']
CBPP_COLNAMES = ['Estimate', 'Std. Error', 'z value', 'Pr(>|z|)']
CBPP_COEF = [
    [-1.3983428644711453, 0.23121404809946314, -6.047828304401337, 1.4681128841144743e-09],
    [-0.9919249749757388, 0.30315064454127666, -3.27205299687456, 0.0010676956003794692],
    [-1.1282162159433398, 0.3228301532258397, -3.494767154399244, 0.0004744754937143693],
    [-1.579745413649192, 0.42204915942631677, -3.743036512136428, 0.00018180979851898743],
]
# R: print(summary(gm1))  -- the lines after "Fixed effects:"
CBPP_FIXEF = (
    '            Estimate Std. Error z value Pr(>|z|)    \n'
    '(Intercept)  -1.3983     0.2312  -6.048 1.47e-09 ***\n'
    'period2      -0.9919     0.3032  -3.272 0.001068 ** \n'
    'period3      -1.1282     0.3228  -3.495 0.000474 ***\n'
    'period4      -1.5797     0.4220  -3.743 0.000182 ***\n'
    '---\n'
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
)

# R: fm3 <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
# R: sprintf("%.17g", coef(summary(fm3)))
LMERTEST_ROWNAMES = ['(Intercept)', 'Days']
LMERTEST_COLNAMES = ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)']
LMERTEST_COEF = [
    [251.40510484848497, 6.824596694954906, 16.99972628849272, 36.83808964628439, 1.1715581112082594e-17],
    [10.467285959595987, 1.545789643905981, 16.999983725591733, 6.771481488999181, 3.2638244699273775e-06],
]
# R: print(summary(fm3))  -- the lines after "Fixed effects:"
LMERTEST_FIXEF = (
    '            Estimate Std. Error      df t value Pr(>|t|)    \n'
    '(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***\n'
    'Days          10.467      1.546  17.000   6.771 3.26e-06 ***\n'
    '---\n'
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
)

# R: m <- cbind(Estimate = c(0, 1.5e-8, 2), `Std. Error` = c(0.1, 1e-9, NA),
# R:            `t value` = c(0, 15, NA), `Pr(>|t|)` = c(1, 1e-40, NA)); rownames(m) <- c("a", "b", "c")
# R: printCoefmat(m, digits = 4)
NA_TABLE_OUT = (
    '  Estimate Std. Error t value Pr(>|t|)    \n'
    'a  0.0e+00    1.0e-01       0        1    \n'
    'b  1.5e-08    1.0e-09      15   <2e-16 ***\n'
    'c  2.0e+00         NA      NA       NA    \n'
    '---\n'
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
)
# R: m2 <- cbind(Estimate = c(1.23456e-12, 3.5, -200.25), `Std. Error` = c(0.5, 0.25, 10),
# R:             `z value` = c(2.469e-12, 14, -20.025), `Pr(>|z|)` = c(0.99999, 0.0123, 0.0712))
# R: rownames(m2) <- c("(Intercept)", "x", "I(x^2)")
# R: printCoefmat(m2, digits = 4, zap.ind = 1)
ZAP_OUT = (
    '            Estimate Std. Error z value Pr(>|z|)  \n'
    '(Intercept)     0.00       0.50    0.00   1.0000  \n'
    'x               3.50       0.25   14.00   0.0123 *\n'
    'I(x^2)       -200.25      10.00  -20.02   0.0712 .\n'
    '---\n'
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
)
# R: printCoefmat(m2, digits = 4, signif.stars = FALSE)
NOSTARS_OUT = (
    '              Estimate Std. Error z value Pr(>|z|)\n'
    '(Intercept)  1.235e-12  5.000e-01    0.00   1.0000\n'
    'x            3.500e+00  2.500e-01   14.00   0.0123\n'
    'I(x^2)      -2.002e+02  1.000e+01  -20.02   0.0712\n'
)
# R: printCoefmat(m2[, 1:3], digits = 5)
NOPVAL_OUT = (
    '               Estimate  Std. Error z value\n'
    '(Intercept)  1.2346e-12  5.0000e-01   0.000\n'
    'x            3.5000e+00  2.5000e-01  14.000\n'
    'I(x^2)      -2.0025e+02  1.0000e+01 -20.025\n'
)


@pytest.mark.parametrize(
    "rownames, colnames, coef, expected",
    [
        (SLEEP_ROWNAMES, SLEEP_COLNAMES, SLEEP_COEF, SLEEP_FIXEF),
        (CBPP_ROWNAMES, CBPP_COLNAMES, CBPP_COEF, CBPP_FIXEF),
        (LMERTEST_ROWNAMES, LMERTEST_COLNAMES, LMERTEST_COEF, LMERTEST_FIXEF),
    ],
    ids=["lmer", "glmer", "lmerTest"],
)
def test_coefmat_lme4_summaries(rownames, colnames, coef, expected):
    # lme4's print.summary.merMod: printCoefmat(coefs, digits = max(3, getOption("digits") - 3))
    tab = format_coefmat(np.array(coef), rownames, colnames, digits=4)
    assert tab.render() == expected


def test_coefmat_cells_and_header():
    tab = format_coefmat(np.array(CBPP_COEF), CBPP_ROWNAMES, CBPP_COLNAMES, digits=4)
    assert tab.colnames == ["Estimate", "Std. Error", "z value", "Pr(>|z|)", ""]
    # R: format(round(cbind(est, se), 4), digits = 4)[1:2, ]  (estimates and SEs share one format)
    assert tab.cells[0] == ["-1.3983", " 0.2312", "-6.048", "1.47e-09", "***"]
    assert tab.cells[1] == ["-0.9919", " 0.3032", "-3.272", "0.001068", "** "]
    assert tab.legend == SIGNIF_LEGEND
    sleep = format_coefmat(np.array(SLEEP_COEF), SLEEP_ROWNAMES, SLEEP_COLNAMES, digits=4)
    # R: format(round(cbind(est, se), 3), digits = 4)[, 2]; format(round(tval, 3), digits = 4)
    assert [r[1:] for r in sleep.cells] == [["  6.825", "36.838"], ["  1.546", " 6.771"]]
    assert sleep.legend is None


M2 = [[1.23456e-12, 0.5, 2.469e-12, 0.99999], [3.5, 0.25, 14.0, 0.0123], [-200.25, 10.0, -20.025, 0.0712]]
M2_ROWS = ["(Intercept)", "x", "I(x^2)"]
M2_COLS = ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]


def test_coefmat_na_and_zero():
    m = [[0.0, 0.1, 0.0, 1.0], [1.5e-8, 1e-9, 15.0, 1e-40], [2.0, None, None, None]]
    tab = format_coefmat(m, ["a", "b", "c"], ["Estimate", "Std. Error", "t value", "Pr(>|t|)"], digits=4)
    assert tab.render() == NA_TABLE_OUT


def test_coefmat_zap_ind():
    tab = format_coefmat(M2, M2_ROWS, M2_COLS, digits=4, zap_ind=[0])  # R's zap.ind = 1
    assert tab.render() == ZAP_OUT


def test_coefmat_no_stars():
    tab = format_coefmat(M2, M2_ROWS, M2_COLS, digits=4, signif_stars=False)
    assert tab.render() == NOSTARS_OUT


def test_coefmat_without_pvalues():
    tab = format_coefmat([r[:3] for r in M2], M2_ROWS, M2_COLS[:3], digits=5)
    assert tab.render() == NOPVAL_OUT


def test_signif_stars():
    # R: unclass(symnum(c(0.0005, 0.001, 0.0011, 0.05, 0.2, NA), corr = FALSE, na = FALSE,
    #      cutpoints = c(0, 0.001, 0.01, 0.05, 0.1, 1), symbols = c("***", "**", "*", ".", " ")))
    assert signif_stars([0.0005, 0.001, 0.0011, 0.05, 0.2, None]) == ["***", "***", "**", "*", " ", ""]
    # R: attr(symnum(...), "legend")  (printed after "Signif. codes:  ")
    assert SIGNIF_LEGEND == "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


def test_zapsmall():
    # R: sprintf("%.17g", zapsmall(c(1, 1e-20, 3.3333333)))
    assert zapsmall([1, 1e-20, 3.3333333]).tolist() == [1.0, 0.0, 3.3333330000000001]


# ---------------------------------------------------------------- print(<character matrix>)
# R: cf <- as.matrix(summary(gm1)$vcov@factors$correlation); sprintf("%.17g", cf)
CBPP_CORR = [
    [1.0000000000000002, -0.3628713602287445, -0.33960263127159568, -0.26039404414082407],
    [-0.3628713602287445, 0.99999999999999978, 0.28005697852783673, 0.21347796268457703],
    [-0.33960263127159568, 0.28005697852783673, 1, 0.19783539906519332],
    [-0.26039404414082407, 0.21347796268457703, 0.19783539906519332, 0.99999999999999978],
]
# R: corf <- matrix(format(round(cf, 3), nsmall = 3), ncol = p,
# R:                dimnames = list(abbreviate(rn, minlength = 11), abbreviate(rn, minlength = 6)))
# R: corf[!lower.tri(corf)] <- ""; print(corf[-1, -p, drop = FALSE], quote = FALSE)
CBPP_CORR_OUT = (
    "        (Intr) perid2 perid3\n"
    "period2 -0.363              \n"
    "period3 -0.340  0.280       \n"
    "period4 -0.260  0.213  0.198\n"
)


def test_print_matrix_lme4_correlation():
    p = len(CBPP_ROWNAMES)
    flat = format_num(r_round(np.array(CBPP_CORR).T.ravel(), 3), nsmall=3)  # R is column-major
    # R: format(round(cf, 3), nsmall = 3)[1, ] -> " 1.000" "-0.363" "-0.340" "-0.260"
    assert flat[:4] == [" 1.000", "-0.363", "-0.340", "-0.260"]
    cell = [[flat[j * p + i] if i > j else "" for j in range(p)] for i in range(p)]
    out = print_matrix(abbreviate(CBPP_ROWNAMES, 11)[1:], abbreviate(CBPP_ROWNAMES, 6)[:-1],
                       [row[:-1] for row in cell[1:]], right=False)
    assert out == CBPP_CORR_OUT
    # R: the sleepstudy summary's "Correlation of Fixed Effects:" block
    assert print_matrix(["Days"], ["(Intr)"], [["-0.138"]], right=False) == "     (Intr)\nDays -0.138\n"


def test_print_matrix_no_dimnames_and_na():
    cells = [["a", None], ["bb", "dddd"]]
    # R: m <- matrix(c("a", "bb", NA, "dddd"), 2); print(m, quote = FALSE)
    assert print_matrix(None, None, cells, right=False) == (
        "     [,1] [,2]\n"
        "[1,] a    <NA>\n"
        "[2,] bb   dddd\n"
    )
    # R: print(m, quote = FALSE, right = TRUE)
    assert print_matrix(None, None, cells, right=True) == (
        "     [,1] [,2]\n"
        "[1,]    a <NA>\n"
        "[2,]   bb dddd\n"
    )
    # R: print(matrix(as.character(1:9), 9))  (quoted; 9 rows get a leading blank)
    out = print_matrix(None, None, [[str(i)] for i in range(1, 10)], right=False, quote=True)
    assert out.splitlines()[:2] == ["      [,1]", ' [1,] "1" ']


def test_print_matrix_wraps_at_width_80():
    # R: m2 <- matrix(formatC(1:30 * 1000.123, format = "f", digits = 2), 1, 30,
    # R:              dimnames = list("row", paste0("column", 1:30)))
    # R: print(m2, quote = FALSE, right = TRUE)
    cells = [formatC([i * 1000.123 for i in range(1, 31)], format="f", digits=2)]
    out = print_matrix(["row"], ["column%d" % i for i in range(1, 31)], cells, right=True)
    assert out == (
        "    column1 column2 column3 column4 column5 column6 column7 column8 column9\n"
        "row 1000.12 2000.25 3000.37 4000.49 5000.61 6000.74 7000.86 8000.98 9001.11\n"
        "    column10 column11 column12 column13 column14 column15 column16 column17\n"
        "row 10001.23 11001.35 12001.48 13001.60 14001.72 15001.85 16001.97 17002.09\n"
        "    column18 column19 column20 column21 column22 column23 column24 column25\n"
        "row 18002.21 19002.34 20002.46 21002.58 22002.71 23002.83 24002.95 25003.08\n"
        "    column26 column27 column28 column29 column30\n"
        "row 26003.20 27003.32 28003.44 29003.57 30003.69\n"
    )


def test_coefmat_accepts_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(SLEEP_COEF, index=SLEEP_ROWNAMES, columns=SLEEP_COLNAMES)
    assert format_coefmat(df, digits=4).render() == SLEEP_FIXEF
