"""The layering written in docs/architecture.md, checked against the imports of every
module (read with `ast`: imports inside functions and under TYPE_CHECKING included): no module imports a module
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


def imports(name: str, path: Path | None = None) -> set[str]:
    """The deepnet modules that module `name` (its file: `path`, default the package's)
    imports anywhere in its file."""
    path = path or MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
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


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for name, targets in graph.items():
        rank, layer = layer_of(name)
        for t in sorted(targets):
            t_rank, t_layer = layer_of(t)
            if t_rank > rank or (t_rank == rank and t_layer != layer):
                wrong.append(f"{name} ({layer}, {rank}) imports {t} ({t_layer}, {t_rank})")
    return wrong


def test_no_module_imports_a_higher_or_sibling_layer():
    wrong = wrong_imports(GRAPH)
    assert not wrong, "imports against the layering of docs/architecture.md:\n" + \
        "\n".join(wrong)


def circles(graph: dict[str, set[str]]) -> list[str]:
    """Every import circle found by a depth-first walk, as 'a -> b -> a'."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []
    found = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                found.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_no_import_circle():
    found = circles(GRAPH)
    assert not found, "import circles:\n" + "\n".join(found)
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]


def test_the_checker_finds_wrong_imports(tmp_path):
    """The rule cannot rot silently: upward and sibling imports, at the top, inside a
    function, relative or for type checkers only, are all found."""
    module = tmp_path / "checks.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from deepnet.core.errors import DataError\n"
        "from .build import build_model\n"            # nn: its own layer
        "def f():\n"
        "    from deepnet.app.train import train\n"     # app: higher
        "    import deepnet.data.sources\n"             # data: a sibling of nn
        "if TYPE_CHECKING:\n"
        "    from deepnet.runs.run import Run\n")
    found = imports("deepnet.nn.checks", module)
    assert found == {"deepnet.core.errors", "deepnet.nn.build", "deepnet.app.train",
                     "deepnet.data.sources", "deepnet.runs.run"}
    assert wrong_imports({"deepnet.nn.checks": found}) == [
        "deepnet.nn.checks (nn, 2) imports deepnet.app.train (app, 8)",
        "deepnet.nn.checks (nn, 2) imports deepnet.data.sources (data, 2)",
        "deepnet.nn.checks (nn, 2) imports deepnet.runs.run (runs, 5)"]


def test_help_imports_no_heavy_library():
    """`deepnet --help` and `deepnet COMMAND --help` stay fast: no torch, pandas, optuna or
    matplotlib is imported to print them (timings belong in bench/, this is the cause)."""
    import subprocess
    import sys

    from deepnet.cli import COMMANDS

    probe = ("import sys, contextlib, io\n"
             "from deepnet.cli import main\n"
             "for argv in [['--help']] + [[c, '--help'] for c in sys.argv[1:]]:\n"
             "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
             "        main(argv)\n"
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
             "{'torch', 'pandas', 'optuna', 'matplotlib', 'sklearn', 'numpy'})\n"
             "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", probe, *COMMANDS], capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "", f"--help imported {out.stdout.strip()}"
