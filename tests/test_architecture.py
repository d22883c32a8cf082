"""The layout tells the pipeline (docs/ARCHITECTURE.md): these tests keep it that way.

Each semplan module belongs to one layer; a module may import from its own layer and the ones
before it, never after (imports inside functions and under TYPE_CHECKING included). Sizes stay
small enough to read, plumbing exists once, and every exception lives in errors.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "semplan"

# Pipeline order: data flows down this list; imports may only point up it.
LAYERS = [
    ("semplan.errors", "semplan._faults", "semplan.data"),
    ("semplan._fs", "semplan._sqlite", "semplan._csv", "semplan._frames", "semplan._progress"),
    ("semplan.read",),
    ("semplan.normalize", "semplan.metadata"),
    ("semplan.mask",),
    ("semplan.segment",),
    ("semplan.models",),
    ("semplan.backends",),
    ("semplan.encode",),
    ("semplan.store",),
    ("semplan.ingest",),
    ("semplan.scale",),
    ("semplan.verdict", "semplan.shared_terms"),
    ("semplan.search",),
    ("semplan.compare",),
    ("semplan.cluster",),
    ("semplan.report",),
    ("semplan.evaluation",),
    ("semplan.cli", "semplan.__main__"),
]
MAX_MODULE_LINES = 600
MAX_CLI_MODULE_LINES = 150
MAX_CLASS_LINES = 300
# Each mechanism's one home, and the calls that betray a second implementation.
PLUMBING = {
    "tempfile.mkstemp": ("semplan/_fs.py",),
    "tempfile.mkdtemp": ("semplan/_fs.py",),
    "os.rename": ("semplan/_fs.py",),
    "flock": ("semplan/_fs.py",),  # filelock, lock_descriptor
    "fcntl": (),  # POSIX-only: semplan must import on Windows
    "msvcrt": (),
    "PRAGMA user_version": ("semplan/_sqlite.py",),
    "os.replace": ("semplan/_fs.py", "semplan/_faults.py"),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer_of(module: str) -> int | None:
    for number, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return number
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """Every semplan module `path` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    known = modules()
    return {name for name in names if name in known and name != module}


def test_every_module_has_a_layer():
    assert [name for name in modules() if name != "semplan" and layer_of(name) is None] == []


def test_imports_point_up_the_pipeline():
    wrong = []
    for module, path in modules().items():
        if module == "semplan":
            continue  # the package's lazy exports
        for imported in imported_modules(path, module):
            if imported == "semplan":
                wrong.append(f"{module} imports the package root")
            elif (layer_of(imported) or 0) > (layer_of(module) or 0):
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_no_import_cycles():
    graph = {module: imported_modules(path, module) for module, path in modules().items() if module != "semplan"}
    # A package's __init__ re-exporting its own submodules is not a cycle of the pipeline.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" → ".join([*trail[trail.index(nxt):], nxt]) if nxt in trail else f"{node} → {nxt}")
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_sizes():
    too_long = []
    for module, path in modules().items():
        lines = path.read_text(encoding="utf-8").count("\n")
        limit = MAX_CLI_MODULE_LINES if module.startswith("semplan.cli") else MAX_MODULE_LINES
        if lines > limit:
            too_long.append(f"{module}: {lines} lines > {limit}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                too_long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines > {MAX_CLASS_LINES}")
    assert too_long == []


@pytest.mark.parametrize("needle", sorted(PLUMBING))
def test_plumbing_written_once(needle):
    homes = PLUMBING[needle]
    found = sorted(
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if needle in path.read_text(encoding="utf-8")
    )
    assert [where for where in found if where not in homes] == []


def test_every_exception_lives_in_errors_py():
    outside = []
    for module, path in modules().items():
        if module == "semplan.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
                if any(base.endswith(("Error", "Exception", "Mismatch", "NotFound")) or base == "Warning" for base in bases):
                    outside.append(f"{module}.{node.name}")
    assert outside == []


def test_library_code_logs_and_never_prints():
    printing = []
    for module, path in modules().items():
        if module.startswith("semplan.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{module}:{node.lineno}")
    assert printing == []
