"""The package's shape: no import cycles but the model <-> checkpoints front door, and nothing
above the model reaching into its submodules."""

from __future__ import annotations

import ast
from pathlib import Path

import astaudio

SOURCE = Path(astaudio.__file__).parent
ALLOWED_CYCLE = {"astaudio.model", "astaudio.checkpoints", "astaudio.original"}
MODEL_INTERNALS = {"audio_spectrogram_transformer", "classifier"}  # ASTForAudioClassification's


def module_name(path: Path) -> str:
    parts = ("astaudio", *path.relative_to(SOURCE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SOURCE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _runtime_nodes(tree: ast.AST):
    """Every node, except those of `if TYPE_CHECKING:` blocks (no import at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """astaudio modules `name` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in known:  # from . import module
                    found.add(f"{target}.{alias.name}")
                elif target in known:
                    found.add(target)
    found.discard(name)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles_but_model_and_checkpoints():
    found = modules()
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    assert "astaudio.inference" in graph["astaudio.export"]  # the walk sees imports
    assert "astaudio.checkpoints" in graph["astaudio.model"]  # function-level ones too
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == [ALLOWED_CYCLE]


def test_only_the_model_and_checkpoints_touch_model_internals():
    offenders = []
    for name, path in modules().items():
        if name in ALLOWED_CYCLE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in MODEL_INTERNALS:
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_cli_modules_import_no_torch_at_module_level():
    for name, path in modules().items():
        if not name.startswith("astaudio.cli"):
            continue
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in top:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            assert not any((n or "").split(".")[0] == "torch" for n in names), (name, names)
