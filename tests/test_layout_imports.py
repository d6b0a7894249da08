"""The import direction drawn in CONTRIBUTING.md ("Which package may import which"), read from the source
with ``ast``: the core never imports the packages built on it, symmetry detection never imports the tracer,
the tracer's core never imports its op handlers, and the core's modules import each other without cycles."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: import root of each installed folder (pyproject.toml's package-dir)
FOLDERS = {"netgraph": "netgraph", "metanets": "netgraph.metanets", "datasets": "netgraph.datasets"}
FOLDERS |= {"tasks": "netgraph.tasks", "hub": "netgraph.hub"}
HIGHER = ("netgraph.metanets", "netgraph.datasets", "netgraph.tasks", "netgraph.hub")
TRACER_CORE = ("netgraph.trace.ir", "netgraph.trace.layout", "netgraph.trace.builder", "netgraph.trace.synthesize")


def module_files() -> dict[str, Path]:
    """Module name -> file, for every installed Python file."""
    found = {}
    for folder, root in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((root, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = module_files()


def imports_of(name: str, module_level_only: bool = False) -> set[str]:
    """The netgraph modules ``name`` imports (relative imports resolved; ``from X import y`` counts as
    ``X.y`` when that is a module, else ``X``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m.split(".")[0] == "netgraph"}


def in_package(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


CORE = sorted(m for m in MODULES if m != "netgraph" and not in_package(m, HIGHER))


def test_the_modules_are_found():
    assert {"netgraph.trace.builder", "netgraph.trace.ops.linear", "netgraph.symmetry.detect"} <= set(CORE)
    assert imports_of("netgraph.trace.ops.linear") >= {"netgraph.trace.builder", "netgraph.trace.ir"}


@pytest.mark.parametrize("module", CORE)
def test_the_core_never_imports_the_packages_built_on_it(module):
    assert not {m for m in imports_of(module) if in_package(m, HIGHER)}


@pytest.mark.parametrize("module", [m for m in CORE if in_package(m, ("netgraph.symmetry",))])
def test_symmetry_never_imports_the_tracer(module):
    assert not {m for m in imports_of(module) if in_package(m, ("netgraph.trace", "netgraph.convert"))}


@pytest.mark.parametrize("module", TRACER_CORE)
def test_the_tracer_core_never_imports_the_op_handlers(module):
    assert not {m for m in imports_of(module) if in_package(m, ("netgraph.trace.ops",))}


@pytest.mark.parametrize("module", [m for m in CORE if in_package(m, ("netgraph.trace.ops",))])
def test_op_handlers_import_only_the_tracer_core(module):
    tracer = {m for m in imports_of(module) if in_package(m, ("netgraph.trace",))}
    assert not {m for m in tracer if not in_package(m, ("netgraph.trace.ops", *TRACER_CORE))}


def test_the_core_has_no_import_cycle():
    graph = {m: {i for i in imports_of(m, module_level_only=True) if i in MODULES and i != m} for m in CORE}
    graph = {m: {i for i in edges if i in graph} for m, edges in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            if state.get(nxt) == 1:
                return path + [module, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [module])):
                return cycle
        state[module] = 2
        return None

    for module in CORE:
        if module not in state:
            assert visit(module, []) is None, "import cycle"
