"""to_r(m, data_path): the R script of a fit.

Every run: the scripts of a few fits (every argument lmer/glmer takes, the families, a
negative binomial) are compared with reviewed golden files in ``tests/output/golden/``,
and names and paths R would misread (spaces, quotes, dots, non-ASCII, backslashes) are
checked to come out backquoted or escaped.  Where Rscript with lme4 and arm is installed,
each script is run and R's logLik compared with the fit's (skipped, with the reason,
elsewhere).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlm_wrap as mw
from mlm_wrap.datasets import load
from mlm_wrap.output.to_r import r_string

GOLDEN = Path(__file__).resolve().parent / "golden"
LOGLIK_TOL = 2e-4  # lme4's optimum against ours, absolute (the corpus agrees to ~1e-6)


def _sleep() -> pd.DataFrame:
    d = load("sleepstudy")
    d["w"] = 1.0 + d["Days"] / 10.0
    d["phase"] = pd.Categorical(np.where(d["Days"] > 4, "late", "early"), categories=["late", "early"])
    d.loc[[3, 50], "Reaction"] = np.nan
    return d


def _hostile() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    groups = ['g\u00e9 1', 'g"2', "g\\3", "g'4", "g 5", "g.6"]
    g = np.repeat(groups, 20)
    d = pd.DataFrame({"my var": rng.normal(size=120), "it's": rng.normal(size=120),
                      "a.b": rng.normal(size=120), "\u00e9\u540d": pd.Categorical(g, categories=groups)})
    d["y y"] = d["my var"] + np.repeat(np.arange(6.0), 20) + rng.normal(size=120)
    return d


def _fits() -> dict:
    """name -> (model, data, R's name of the data)."""
    fac, sleep, cbpp = load("faculty"), _sleep(), load("cbpp")
    rng = np.random.default_rng(3)
    pois = pd.DataFrame({"site": pd.Categorical(np.repeat([f"s{i}" for i in range(12)], 10)),
                         "x": rng.normal(size=120), "expo": rng.uniform(1, 3, 120)})
    pois["count"] = rng.poisson(pois["expo"] * np.exp(0.3 * pois["x"] + np.repeat(rng.normal(0, .4, 12), 10)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "faculty_m3": (mw.lmer("salary ~ experience + (1 + experience | department)", fac), fac),
            "sleep_every_argument": (mw.lmer(
                "Reaction ~ Days + phase + (Days | Subject)", sleep, REML=False, weights="w",
                subset="Days != 2", na_action="na.exclude", contrasts={"phase": "contr.sum"},
                control=mw.lmerControl(optimizer="bobyqa"), data_name="sleep"), sleep),
            "cbpp_probit_agq": (mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                        cbpp, family=mw.binomial(link="probit"), nAGQ=5), cbpp),
            "poisson_offset_array": (mw.glmer("count ~ x + (1 | site)", pois, family="poisson",
                                              offset=np.log(pois["expo"].to_numpy()),
                                              data_name="pois"), pois),
            "hostile_names": (mw.lmer("`y y` ~ `my var` + `it's` + a.b + (1 | \u00e9\u540d)",
                                      _hostile(), data_name="my data"), _hostile()),
        }


FITS = _fits()
HOSTILE_DIR = "d ir/it's \"q\" \u00e9\\x"


def _path(name: str) -> str:
    return f"{HOSTILE_DIR}/data file.csv" if name == "hostile_names" else f"{name}.csv"


def _script(name: str, where: Path, monkeypatch) -> str:
    """to_r() of a fit, run in ``where``: the data written to the script's own path."""
    m, data = FITS[name]
    monkeypatch.chdir(where)
    (where / HOSTILE_DIR).mkdir(parents=True, exist_ok=True)
    script = mw.to_r(m, _path(name), data=data)
    assert (where / _path(name)).is_file()
    return script


@pytest.mark.parametrize("name", sorted(FITS))
def test_script_matches_the_reviewed_golden_file(name, tmp_path, monkeypatch):
    script = _script(name, tmp_path, monkeypatch)
    golden = (GOLDEN / f"to_r_{name}.R").read_text(encoding="utf-8")
    assert script == golden, f"to_r({name}) changed: review it and update golden/to_r_{name}.R"
    m, _ = FITS[name]
    if name == "poisson_offset_array":  # an array argument: a column of the CSV to_r writes
        assert ".offset" in pd.read_csv(_path(name)).columns
        with pytest.raises(ValueError, match="as arrays"):
            mw.to_r(m, _path(name))
    else:  # without data=, the levels come from the model frame: the same lines
        assert sorted(mw.to_r(m, _path(name)).splitlines()) == sorted(script.splitlines())


def test_every_argument_is_in_the_call():
    call = next(ln for ln in (GOLDEN / "to_r_sleep_every_argument.R").read_text().splitlines()
                if ln.startswith("m <- "))
    for piece in ("lmer(Reaction ~ Days + phase + (Days | Subject), data = sleep",
                  "REML = FALSE", "weights = w", 'subset = Days != 2', "na.action = na.exclude",
                  'contrasts = list(phase = "contr.sum")',
                  'control = lmerControl(optimizer = "bobyqa")'):
        assert piece in call, piece
    glmm = (GOLDEN / "to_r_cbpp_probit_agq.R").read_text()
    assert 'family = binomial(link = "probit")' in glmm and "nAGQ = 5" in glmm
    assert 'levels = c("late", "early")' in (GOLDEN / "to_r_sleep_every_argument.R").read_text()


def test_hostile_names_and_paths_are_quoted():
    m, data = FITS["hostile_names"]
    script = mw.to_r(m, _path("hostile_names"), data=None)
    assert '`my data` <- read.csv("d ir/it\'s \\"q\\" \\u00e9\\\\x/data file.csv"' in script
    assert "m <- lmer(`y y` ~ `my var` + `it's` + a.b + (1 | \u00e9\u540d), data = `my data`)" in script
    assert '`my data`[["\\u00e9\\u540d"]] <- factor(' in script
    assert 'levels = c("g\\u00e9 1", "g\\"2", "g\\\\3", "g\'4", "g 5", "g.6")' in script
    assert r_string('a"b\\c\n\u00e9\U0001F600') == '"a\\"b\\\\c\\n\\u00e9\\U{01f600}"'
    assert mw.to_r(m, "x.csv", data_name="d d").count("`d d`") >= 3


def _r_ready() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(lme4); library(arm)"],
                           capture_output=True, text=True, timeout=120)
    return probe.returncode == 0


@pytest.mark.skipif(not _r_ready(), reason="Rscript with lme4 and arm is not installed")
@pytest.mark.parametrize("name", sorted(FITS))
def test_r_fits_the_same_model(name, tmp_path, monkeypatch):
    """The script, run by Rscript on the data to_r() wrote, gives our logLik."""
    m, _ = FITS[name]
    script = _script(name, tmp_path, monkeypatch)
    script += 'cat("LOGLIK", format(as.numeric(logLik(m)), digits = 15), "\\n")\n'
    (tmp_path / "fit.R").write_text(script, encoding="utf-8")
    proc = subprocess.run(["Rscript", "fit.R"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = re.search(r"LOGLIK (\S+)", proc.stdout)
    assert got, proc.stdout[-2000:]
    assert float(got.group(1)) == pytest.approx(float(m.logLik()), abs=LOGLIK_TOL)
    assert "Random effects:" in proc.stdout and "coef.est" in proc.stdout  # summary, display
