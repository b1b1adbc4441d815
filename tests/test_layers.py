"""The package's layers import only downward: numerics < data < dynamics < claims < harness, with
testing (hypothesis strategies) beside the harness, below it; no module imports a layer above its
own, no import cycle, no module over ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import aligncheck

PACKAGE = Path(aligncheck.__file__).resolve().parent
# Each layer and the layers it may import from (errors.py is the base of all).
ALLOWED = {
    "numerics": {"numerics"},
    "data": {"numerics", "data"},
    "dynamics": {"numerics", "data", "dynamics"},
    "claims": {"numerics", "data", "dynamics", "claims"},
    "testing": {"numerics", "data", "dynamics", "testing"},
    "harness": {"numerics", "data", "dynamics", "claims", "testing", "harness"},
}
MAX_LINES = 420  # "about 400": a module past it has more than one idea in it


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE).parts


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The aligncheck modules ``path`` imports (absolute imports; the package uses no relative ones)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aligncheck"):
            subs = {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
            out.update(subs or {node.module})  # `from package import module` imports the module
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("aligncheck"))
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}: relative import"
    return out


def test_every_layer_imports_only_from_below():
    seen = set()
    for path, parts in _modules():
        if len(parts) == 1:  # aligncheck/__init__.py (the public API) and errors.py
            continue
        layer = parts[0]
        seen.add(layer)
        for mod in _imports(path):
            target = mod.split(".")
            if len(target) > 1 and target[1] in ALLOWED:
                assert target[1] in ALLOWED[layer], f"{'/'.join(parts)} ({layer}) imports {mod} ({target[1]})"
    assert seen == set(ALLOWED)


def test_no_module_is_too_long():
    long = {"/".join(parts): n for path, parts in _modules() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_no_import_cycle_between_modules():
    graph = {}
    for path, parts in _modules():
        name = ".".join(("aligncheck", *parts))[: -len(".py")].removesuffix(".__init__")
        graph[name] = {m for m in _imports(path) if m != name}
    names = set(graph)

    def visit(node, stack):
        for nxt in graph.get(node, ()):
            if nxt not in names:
                continue
            assert nxt not in stack, f"import cycle: {' -> '.join([*stack, nxt])}"
            if nxt not in done:
                visit(nxt, [*stack, nxt])
        done.add(node)

    done: set[str] = set()
    for n in sorted(names):
        # a package's __init__ importing its own sub-modules is registration, not a cycle
        if n not in done:
            visit(n, [n])
