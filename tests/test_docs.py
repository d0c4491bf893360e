"""The documentation site (mkdocs.yml, docs/): the cheat sheet and the API page cover the
public API, the cheat sheet's Python column names real objects, and the site builds.

Public names: ``mlm_wrap.__all__`` (or, without it, every public attribute of ``mlm_wrap``
that is not a module and whose object is defined in ``mlm_wrap``), plus the public
functions of the two user-facing submodules ``mlm_wrap.datasets`` and ``mlm_wrap.plots``.
In the cheat sheet a package name is written ``mw.NAME`` inside backticks, a submodule
function ``NAME(...)``.
"""
from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlm_wrap

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHEATSHEET = DOCS / "cheatsheet.md"
API = DOCS / "api.md"
SUBMODULES = ("mlm_wrap.datasets", "mlm_wrap.plots")
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")


def public_names() -> list[str]:
    """The package's public names: ``__all__``, else the non-module public attributes
    whose object comes from ``mlm_wrap`` (not re-exported third-party objects)."""
    names = getattr(mlm_wrap, "__all__", None)
    if names is None:
        names = []
        for n in dir(mlm_wrap):
            obj = getattr(mlm_wrap, n)
            if n.startswith("_") or inspect.ismodule(obj):
                continue
            if (getattr(obj, "__module__", None) or "").startswith("mlm_wrap"):
                names.append(n)
    return sorted(set(names))


def submodule_functions(modname: str) -> list[str]:
    """A submodule's public functions: its ``__all__``, else the functions defined in it."""
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(mod).items()
                 if not n.startswith("_") and inspect.isfunction(obj) and obj.__module__ == modname]
    return sorted(names)


def code_spans(text: str) -> list[str]:
    """The inline code spans and fenced code blocks of a Markdown text."""
    fences = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return fences + re.findall(r"`([^`\n]+)`", rest)


def split_row(line: str) -> list[str]:
    """The cells of a Markdown table row; a ``|`` inside backticks is not a separator."""
    cells, cur, in_code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
    cells.append(cur.strip())
    return cells


def python_cells(text: str) -> list[str]:
    """Every cell of the "Python" column of every table in the page."""
    cells, col = [], None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            col = None
            continue
        row = split_row(line)
        if col is None:  # a header row: find the column, skip the |---| line after it
            col = row.index("Python") if "Python" in row else -1
            continue
        if col < 0 or set(line) <= set("|-: "):
            continue
        cells.append(row[col])
    return cells


def test_cheatsheet_names_every_public_name():
    spans = "\n".join(code_spans(CHEATSHEET.read_text(encoding="utf-8")))
    missing = [n for n in public_names() if not re.search(rf"\bmw\.{re.escape(n)}\b", spans)]
    assert not missing, (f"docs/cheatsheet.md does not show these public names of mlm_wrap "
                         f"(as `mw.NAME` in backticks): {', '.join(missing)}")
    for modname in SUBMODULES:
        missing = [n for n in submodule_functions(modname)
                   if not re.search(rf"(?<![\w.]){re.escape(n)}\(", spans)]
        assert not missing, (f"docs/cheatsheet.md does not show these functions of {modname} "
                             f"(as `NAME(...)` in backticks): {', '.join(missing)}")


def test_cheatsheet_python_column_names_real_objects():
    cells = python_cells(CHEATSHEET.read_text(encoding="utf-8"))
    assert len(cells) > 50, f"found only {len(cells)} cells in the Python column; is the table format intact?"
    sub = {n: m for m in SUBMODULES for n in submodule_functions(m)}
    problems = []
    for cell in cells:
        for code in re.findall(r"`([^`]+)`", cell):
            for name in re.findall(r"(?<![\w.])mw\.(\w+)", code):
                if not hasattr(mlm_wrap, name):
                    problems.append(f"mw.{name} (in {code!r})")
            for path in re.findall(r"(?<![\w.])mlm_wrap((?:\.\w+)+)", code):
                obj, parts = mlm_wrap, path.strip(".").split(".")
                for k, part in enumerate(parts):
                    if not hasattr(obj, part):
                        try:
                            obj = importlib.import_module("mlm_wrap." + ".".join(parts[:k + 1]))
                            continue
                        except ImportError:
                            problems.append(f"mlm_wrap{path} (in {code!r})")
                            break
                    obj = getattr(obj, part)
            bare = re.sub(r"\"[^\"]*\"|'[^']*'", "''", code)  # formulas are strings, not calls
            for name in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", bare):
                if name not in sub and not hasattr(builtins, name):
                    problems.append(f"{name}(...) (in {code!r}): not a function of "
                                    f"{' or '.join(SUBMODULES)} nor a Python builtin")
    assert not problems, "docs/cheatsheet.md names objects that do not exist: " + "; ".join(problems)


def test_api_page_covers_every_public_name():
    text = API.read_text(encoding="utf-8")
    spans = "\n".join(code_spans(text))
    missing = [n for n in public_names()
               if not re.search(rf"^::: mlm_wrap\.{re.escape(n)}\s*$", text, flags=re.M)
               and not re.search(rf"\bmw\.{re.escape(n)}\b", spans)]
    assert not missing, (f"docs/api.md documents neither `::: mlm_wrap.NAME` nor `mw.NAME` for: "
                         f"{', '.join(missing)}")
    for ref in re.findall(r"^::: (\S+)", text, flags=re.M):
        top = ref.split(".")[1]
        assert top in public_names() or f"mlm_wrap.{top}" in SUBMODULES, \
            f"docs/api.md references {ref}: only top-level names and {SUBMODULES} (module paths move)"


@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in DOCS_PACKAGES),
                    reason="mkdocs not installed (pip install .[docs])")
def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner on stderr
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    warnings = [line for line in log.splitlines() if line.startswith("WARNING")]
    assert not warnings, "\n".join(warnings)
    for page in ("index.html", "getting-started/index.html", "cheatsheet/index.html",
                 "api/index.html", "engines/index.html"):
        assert (site / page).is_file(), f"the build wrote no {page}"
    assert (site / "faculty_m3_predictions.png").is_file()
