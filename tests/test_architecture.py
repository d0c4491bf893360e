"""The package's import graph: no cycles, and imports run one way down the pipeline.

Every ``import`` in ``mlm_wrap`` is read from the source (module level and inside
functions alike, ``TYPE_CHECKING`` blocks included) and resolved to the module it names.
The layers, bottom to top, are listed in ``LAYERS``; a module may import only from its
own layer or a lower one.  ARCHITECTURE.md draws the same picture.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mlm_wrap"

# bottom -> top; a module's layer is the first prefix that matches it
LAYERS = [
    ("base", ["mlm_wrap.errors", "mlm_wrap.rformat"]),
    ("spec", ["mlm_wrap.spec"]),
    ("engines", ["mlm_wrap.engines"]),
    ("models", ["mlm_wrap.models"]),
    ("inference", ["mlm_wrap.inference"]),
    ("toolbox", ["mlm_wrap.toolbox"]),
    ("output", ["mlm_wrap.output"]),
    ("facade", ["mlm_wrap.arm", "mlm_wrap.plots", "mlm_wrap.datasets", "mlm_wrap.api",
                "mlm_wrap.cli", "mlm_wrap.__main__", "mlm_wrap"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The mlm_wrap module an import names (a package's __init__ for a package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(mod: str) -> set[str]:
    path = MODULES[mod]
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            names = [src] + [f"{src}.{a.name}" for a in node.names]  # `from pkg import module`
        else:
            continue
        for n in names:
            if n == "mlm_wrap" or n.startswith("mlm_wrap."):
                target = _resolve(n)
                if target and target != mod:
                    out.add(target)
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def layer(mod: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if mod == p or mod.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    assert best is not None, f"{mod} belongs to no layer: add it to LAYERS and ARCHITECTURE.md"
    return best[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_no_import_cycles():
    # a package's __init__ importing its own submodules is how packages re-export: not a cycle
    graph = {m: {n for n in deps if not (m.startswith(n + ".") and n == _resolve(n))}
             for m, deps in GRAPH.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_run_down_the_pipeline(mod):
    up = sorted(n for n in GRAPH[mod] if layer(n) > layer(mod))
    assert not up, f"{mod} ({LAYERS[layer(mod)][0]}) imports from a higher layer: {up}"


def test_the_checker_sees_cycles_and_function_level_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    # a function-level import is counted: mlm_wrap.models.lmer's functions import the spec
    assert any(n.startswith("mlm_wrap.spec") for n in GRAPH["mlm_wrap.models.lmer"])


def test_modules_are_a_few_hundred_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 700}
    assert not long, f"split these modules by what they hold: {long}"


def test_architecture_md_names_every_module():
    """ARCHITECTURE.md keeps the map current: one line per module."""
    text = (PKG.parent / "ARCHITECTURE.md").read_text()
    missing = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                     if (p.name != "__init__.py" or p.parent.name == "rformat")
                     and p.parent.name != "datasets"  # one line for the datasets/ package
                     and f"`{p.relative_to(PKG)}`" not in text)
    assert not missing, f"add a line for each to ARCHITECTURE.md: {missing}"
