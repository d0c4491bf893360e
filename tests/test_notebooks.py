"""The teaching notebooks run top to bottom in a fresh kernel and agree with R.

Each notebook in ``notebooks/`` is executed with nbclient in a new ``python3`` kernel
that runs this interpreter (``sys.executable``) and imports this tree's ``mlm_wrap``,
with the notebook's folder as working directory; a cell that raises fails its test.
The notebooks are run twice: as found (they locate R's reference corpus at
``<repository>/tests/r/refs/core``, or ``$MLM_WRAP_RREF``) and with the corpus
pointed at a missing folder, where they must still run and say that R's printout is not
available.  All runs start together, one kernel each, to keep the module at ~30 s.

``03-r-and-python-side-by-side.ipynb`` shows R's printouts that ``tests/r/notebook_refs.R``
stored in ``tests/r/refs/notebook/`` beside mlm_wrap's; its test checks each of them is shown.

After the first run of ``01-multilevel-models.ipynb`` an extra cell (added to the copy
in memory, never saved) writes the notebook's ``coef_m1``/``coef_m2``/``coef_m3`` tables
to JSON; they are compared with the ``coef`` tables R wrote into the corpus
(``faculty_m*.json``), value by value within 1e-4 relative.  R's numbers are read from
the JSON, never typed in here.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
from conftest import ROOT, load_case  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01-multilevel-models.ipynb", "02-from-r-to-python.ipynb",
         "03-r-and-python-side-by-side.ipynb"]
CELL_TIMEOUT = 120  # seconds per cell
REL_TOL = 1e-4  # coef tables vs R, relative to each value's magnitude
EXPORTED = ("coef_m1", "coef_m2", "coef_m3")  # tables 01 keeps in variables

# Added at the end of the notebook copy in memory: what the kernel ran on, and the tables.
EXPORT_CELL = '''\
import json as _json, os as _os, sys as _sys
import mlm_wrap as _mw
_export = {{"python": _sys.executable, "mlm_wrap": _mw.__file__, "cwd": _os.getcwd(), "tables": {{}}}}
for _name in {names!r}:
    if _name in globals():
        _t = globals()[_name]
        _export["tables"][_name] = {{"index": [str(i) for i in _t.index],
                                    "columns": [str(c) for c in _t.columns],
                                    "data": _t.to_numpy(dtype=float).tolist()}}
with open({path!r}, "w") as _fh:
    _json.dump(_export, _fh)
'''


@dataclass
class Run:
    name: str
    nb: object  # the executed notebook
    error: BaseException | None
    seconds: float
    export: dict | None


def _kernel_manager(spec_dir: Path) -> AsyncKernelManager:
    """A ``python3`` kernel on this interpreter, whatever kernelspecs are installed."""
    kdir = spec_dir / "kernels" / "python3"
    kdir.mkdir(parents=True, exist_ok=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir / "kernels")], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ksm)


async def _run(name: str, work: Path, env: dict, export: bool) -> Run:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    out = work / "export.json"
    if export:
        nb.cells.append(nbformat.v4.new_code_cell(EXPORT_CELL.format(names=EXPORTED, path=str(out))))
    client = nbclient.NotebookClient(
        nb, km=_kernel_manager(work / "kernelspec"), kernel_name="python3",
        timeout=CELL_TIMEOUT, startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}})  # cwd: the notebook's folder
    t0 = time.perf_counter()
    error = None
    try:
        await client.async_execute(env=env)
    except Exception as e:  # a failing cell (CellExecutionError), a dead kernel, a timeout
        error = e
    finally:  # nbclient leaves a kernel it did not create running: stop it
        if client.kc is not None:
            client.kc.stop_channels()
        if client.km is not None and client.km.has_kernel:
            await client.km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - t0
    data = json.loads(out.read_text()) if export and out.is_file() else None
    return Run(name, nb, error, seconds, data)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Every notebook, with and without R's corpus, executed concurrently (one kernel each)."""
    base = dict(os.environ)
    # this tree's mlm_wrap first, installed or not
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [base.get("PYTHONPATH")] if p])
    jobs = {}
    for name in NAMES:
        work = tmp_path_factory.mktemp(Path(name).stem)
        jobs[(name, True)] = _run(name, work, base, export=True)
        missing = tmp_path_factory.mktemp("no-corpus") / "r-reference"
        jobs[(name, False)] = _run(name, tmp_path_factory.mktemp(Path(name).stem + "-nor"),
                                   dict(base, MLM_WRAP_RREF=str(missing)), export=False)

    async def gather():
        return await asyncio.gather(*jobs.values())

    t0 = time.perf_counter()
    done = asyncio.run(gather())
    wall = time.perf_counter() - t0
    print(f"\nnotebooks executed in {wall:.1f} s wall: " +
          ", ".join(f"{r.name}{'' if k[1] else ' (no corpus)'} {r.seconds:.1f} s"
                    for k, r in zip(jobs, done)))
    return dict(zip(jobs, done))


def _text(nb) -> str:
    """All text the notebook's cells printed or displayed."""
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif "data" in o:
                parts.append(o["data"].get("text/plain", ""))
    return "\n".join(parts)


def _check_ran(run: Run) -> None:
    if run.error is not None:
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(run.error))  # the traceback without colours
        pytest.fail(f"{run.name}: {type(run.error).__name__}:\n{message}", pytrace=False)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_saved_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    for c in code:
        assert c.outputs == [] and c.execution_count is None, \
            f"{name}: cell saved with outputs (clear them): {c.source[:60]!r}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(runs, name):
    run = runs[(name, True)]
    _check_ran(run)
    for cell in run.nb.cells:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", f"{name}: {o.get('ename')}: {o.get('evalue')}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_r_corpus(runs, name):
    run = runs[(name, False)]
    _check_ran(run)
    text = _text(run.nb)
    assert "R reference corpus not found" in text
    assert "not available" in text


def test_notebook_shows_r_printouts(runs):
    """With the corpus beside the repository, the R cells print R's own text."""
    run = runs[(NAMES[0], True)]
    _check_ran(run)
    text = _text(run.nb)
    for case_id in ("faculty_m1", "faculty_m2", "faculty_m3"):
        assert load_case(case_id)["summary_text"] in text, f"R's summary of {case_id} not shown"
    assert "not available" not in text


def test_kernel_is_this_python(runs):
    run = runs[(NAMES[0], True)]
    _check_ran(run)
    assert run.export is not None, "the export cell did not run"
    assert Path(run.export["python"]).resolve() == Path(sys.executable).resolve()
    assert Path(run.export["mlm_wrap"]).resolve().is_relative_to(ROOT.resolve())
    assert Path(run.export["cwd"]).resolve() == NOTEBOOKS.resolve()


@pytest.mark.parametrize("model", ["m1", "m2", "m3"])
def test_coef_tables_equal_r(runs, model):
    """coef(m)$department as the notebook computed it, against R's table."""
    run = runs[(NAMES[0], True)]
    _check_ran(run)
    got = run.export["tables"].get(f"coef_{model}")
    assert got is not None, f"the notebook no longer defines coef_{model}"
    ref = load_case(f"faculty_{model}")["coef"]["department"]
    assert got["index"] == [str(i) for i in ref["index"]]
    assert got["columns"] == ref["columns"]
    g, r = np.asarray(got["data"], float), np.asarray(ref["data"], float)
    err = np.abs(g - r) / np.maximum(np.abs(r), 1e-8)
    assert err.max() <= REL_TOL, f"coef_{model}: max rel err {err.max():.2e}"


def test_side_by_side_notebook_shows_every_stored_r_printout(runs):
    """03: each step's R printout (made by tests/r/notebook_refs.R) beside mlm_wrap's, the
    equations, and the p-value table with R's Satterthwaite and Kenward-Roger p-values."""
    run = runs[(NAMES[2], True)]
    _check_ran(run)
    text = _text(run.nb)
    ref = json.loads((ROOT / "tests" / "r" / "refs" / "notebook" / "faculty_walkthrough.json")
                     .read_text(encoding="utf-8"))
    for step in ref["steps"]:
        assert f"> {step['expr']}\n{step['text']}" in text, f"R's {step['id']} not shown"
    assert "not available" not in text
    latex = [o["data"]["text/latex"] for c in run.nb.cells for o in c.get("outputs", [])
             if "text/latex" in o.get("data", {})]
    assert len(latex) >= 5 and any(r"\begin{pmatrix}" in t for t in latex)
    assert "p Satterthwaite (R)" in text and "p Kenward-Roger (R)" in text
    assert "m <- lmer(salary ~ experience + (1 + experience | department), data = faculty)" in text
