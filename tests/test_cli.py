"""The mlm-wrap command line: fit, demo, and one-line errors with exit code 2."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlm_wrap.cli import main

DATA = Path(__file__).resolve().parents[1] / "mlm_wrap" / "datasets" / "data"
SLEEP = str(DATA / "sleepstudy.csv")


def test_fit_json_has_r_names_and_numbers(capsys):
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", SLEEP, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["fixef"]) == ["(Intercept)", "Days"]
    assert out["ngrps"] == {"Subject": 18} and out["REML"] is True
    assert [r["grp"] for r in out["varcorr"]] == ["Subject", "Subject", "Subject", "Residual"]


def test_fit_ml_prints_summary(capsys):
    assert main(["fit", "Reaction ~ Days + (1 | Subject)", SLEEP, "--ml"]) == 0
    out = capsys.readouterr().out
    assert "maximum likelihood" in out and "Fixed effects:" in out


@pytest.mark.parametrize("argv,fragment", [
    (["fit", "Reaction ~ Days + (Days | Subjet)", SLEEP], "'Subjet'"),
    (["fit", "Reaction ~ Days + (Days | Subject", SLEEP], "never closed"),
    (["fit", "Reaction ~ Days + (1 | Subject)", "/no/such/file.csv"], "cannot read"),
    (["fit", "Reaction ~ Days + (1 | Subject)"], "data"),
    (["bogus"], "invalid choice"),
    ([], "choose a command"),
])
def test_bad_arguments_one_line_exit_2(argv, fragment, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors exit directly
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def _console_script() -> str | None:
    here = Path(sys.executable).parent / "mlm-wrap"
    return str(here) if here.exists() else shutil.which("mlm-wrap")


@pytest.mark.skipif(_console_script() is None, reason="the package is not installed (pip install -e .)")
def test_installed_console_script_demo_and_fit():
    exe = _console_script()
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    demo = subprocess.run([exe, "demo"], capture_output=True, text=True, timeout=300, env=env)
    assert demo.returncode == 0, demo.stderr
    assert "coef(m3)$department" in demo.stdout and "statistics" in demo.stdout
    bad = subprocess.run([exe, "fit", "y ~ (1 | g", SLEEP], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
