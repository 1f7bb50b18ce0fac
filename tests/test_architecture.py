"""The package's shape: no import cycles, arrows only downwards, small modules.

embedreg's import graph is read from the source (``ast``): every ``import``
and ``from … import``, at module level and inside functions, except those
under ``if TYPE_CHECKING:`` (annotations only, never executed).  Lazy imports
exist for heavy dependencies (torch, transformers, faiss), never to dodge a
cycle, so they count like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import embedreg

PACKAGE = Path(embedreg.__file__).resolve().parent

#: The subpackages of the library, lowest first. A module may import its own
#: subpackage and the subpackages listed before it, never one listed after it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version", "errors", "constants", "util"),
    ("plugins", "devices"),
    ("registry",),
    ("data",),
    ("models",),
    ("adapters",),
    ("evaluation",),
    ("training", "routing"),
    ("gallery",),
    ("upgrade", "reports"),
    ("hub",),
    ("export",),
)
#: Library modules over 500 lines are split into modules with one job each.
MAX_LINES = 500


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports_in(child)
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def edges(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The embedreg modules that module ``name`` imports."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            targets = [
                f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix
                for a in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: edges(name, path, known) for name, path in known.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``g`` as a list of nodes (first = last), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(g):
        if node not in state and (found := visit(node)):
            return found
    return None


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(facade)"


def test_reader_sees_lazy_and_relative_imports() -> None:
    g = graph()
    assert "embedreg.errors" in g["embedreg.plugins"]  # a relative import
    # an import inside a function (torch stays lazy) is still an arrow
    assert g["embedreg.models.encoder"] >= {"embedreg.devices"}


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycle_between_subpackages() -> None:
    subpackages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        subpackages.setdefault(subpackage(module), set()).update(
            subpackage(t) for t in targets if subpackage(t) != subpackage(module)
        )
    cycle = find_cycle(subpackages)
    assert cycle is None, "subpackages import each other: " + " -> ".join(cycle or [])


def test_imports_run_downwards() -> None:
    level = {name: i for i, names in enumerate(LAYERS) for name in names}
    upward = []
    for module, targets in graph().items():
        if module == "embedreg":
            continue  # the façade sits on top of everything
        here = level.get(subpackage(module))
        assert here is not None, f"{module} is in no layer of LAYERS: place its subpackage"
        for target in targets:
            there = level.get(subpackage(target))
            if target == "embedreg" or (there is not None and there > here):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that run upwards: " + ", ".join(sorted(upward))


def test_library_modules_are_small() -> None:
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"
