"""Import every `studioloop` module as the first of its package to be imported, each in a
process of its own; print those that fail, with why, and exit 1 if any did.

Run by tests/test_imports.py, or by hand: `.venv/bin/python tests/import_each.py`
(`--thorough`: each module from nothing, slower).

An import circle fails only for the module a process happens to import first, so each
module gets a process where none of the modules that need it was imported before it. The
processes are forked from one that has already imported the third-party libraries (then
forgotten every `studioloop` module), so each pays only for `studioloop` itself. And they
are forked as a tree along the imports: a module is imported in a copy of the process that
has just imported the one of its own imports that brings the most with it (a copy made
before the module itself was ever imported), so each module's code runs about once per
module importing it first rather than once per module importing it at all. When the
imports form no cycle (tests/test_imports.py checks that statically) that is what a fresh
interpreter would do; when they do, every module is imported from nothing instead.
"""

from __future__ import annotations

import ast
import gc
import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "studioloop"


def parse_modules(source: Path = SOURCE) -> dict[str, ast.Module]:
    found = {}
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def _studioloop_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith("studioloop")]
    if node.level or not (node.module or "").startswith("studioloop"):
        return []
    return [f"{node.module}.{alias.name}" for alias in node.names]


def imports_of(tree: ast.Module) -> tuple[list[str], list[tuple[int, str]]]:
    """(what the module imports as it loads, [(line, what) imported inside a function])."""
    loading: list[str] = []
    inside: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # for the type checker only: never imported at run time
            if isinstance(child, ast.Import | ast.ImportFrom):
                for name in _studioloop_names(child):
                    if in_function:
                        inside.append((child.lineno, name))
                    else:
                        loading.append(name)
            function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, in_function or function)

    visit(tree, False)
    return loading, inside


def import_graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Module -> the modules it imports as it loads (with the packages those run first,
    but not its own packages: a package importing its modules is no circle)."""
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        targets: set[str] = set()
        for imported in imports_of(tree)[0]:
            while imported not in modules:  # `from studioloop.a import f`: the module a
                imported = imported.rpartition(".")[0]
            while imported and not name.startswith(imported + "."):
                if imported in modules:
                    targets.add(imported)
                imported = imported.rpartition(".")[0]
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _closure(graph: dict[str, set[str]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(graph.get(current, ()))
    return seen


def _tree(graph: dict[str, set[str]], thorough: bool) -> dict[str | None, list[str]]:
    """Which module each module is imported after (None: from nothing)."""
    size = {name: len(_closure(graph, name)) for name in graph}
    children: dict[str | None, list[str]] = {}
    for name in sorted(graph):
        deps = graph[name]
        parent = None if thorough or not deps else max(deps, key=lambda d: (size[d], d))
        children.setdefault(parent, []).append(name)
    return children


def _forget_studioloop() -> None:
    for name in [n for n in sys.modules if n == "studioloop" or n.startswith("studioloop.")]:
        del sys.modules[name]
    gc.collect()


def _explore(children: dict[str | None, list[str]], node: str | None, out: Path) -> None:
    """In a process that has imported `node` (and nothing of studioloop it does not import),
    import each module of `node`'s in a copy of it, then go on from there."""
    for name in children.get(node, []):
        pid = os.fork()
        if pid == 0:
            try:
                importlib.import_module(name)
            except BaseException:
                (out / f"failed-{name}").write_text(traceback.format_exc(limit=-4))
                os._exit(1)
            (out / f"ok-{name}").touch()
            _explore(children, name, out)
            os._exit(0)
        os.waitpid(pid, 0)


def _preload(names: list[str]) -> None:
    """Import everything once, for the third-party libraries; then forget studioloop."""
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: S112  (reported by its own import later)
            continue
    _forget_studioloop()


def main(argv: list[str]) -> int:
    modules = parse_modules()
    graph = import_graph(modules)
    thorough = "--thorough" in argv or bool(cycles(graph))
    _preload(sorted(modules))
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        _explore(_tree(graph, thorough), None, out)
        failures = {p.name.removeprefix("failed-"): p.read_text() for p in out.glob("failed-*")}
        passed = {p.name.removeprefix("ok-") for p in out.glob("ok-*")}
    untried = sorted(set(modules) - passed - set(failures))
    for name, report in sorted(failures.items()):
        print(f"--- {name}\n{report}")
    if untried:
        print(f"--- not tried, as a module they import failed: {', '.join(untried)}")
    print(f"{len(modules)} modules imported one by one, {len(failures)} failed")
    return 1 if failures or untried else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
