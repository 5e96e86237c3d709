"""No import cycles among seqfast's Python modules.

Reads every module under ``python/seqfast`` with ``ast`` and collects every import, at module
level and inside functions alike (a function-level import is still a dependency, only a later
one). An import of a submodule counts as an edge to that submodule, not to its parent packages
(a package's ``__init__`` importing its own submodules is how packages are built). The graph
must be acyclic: families depend on shared pieces (``_args``, ``_errors``, ``_batch``), never
on each other in both directions.
"""

import ast
import pathlib

from _paths import ROOT as _REPO

ROOT = _REPO / "python" / "seqfast"


def modules() -> dict:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("seqfast",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: pathlib.Path, known: set) -> set:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:  # `from pkg import submodule` imports the submodule
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict:
    mods = modules()
    known = set(mods) | {"seqfast._core"}  # the compiled extension: imports nothing of ours
    g = {name: imports(name, path, known) for name, path in mods.items()}
    g["seqfast._core"] = set()
    return g


def cycles(g: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_the_modules_and_their_imports():
    g = graph()
    assert {"seqfast.cli", "seqfast.cli._io", "seqfast.cli._lm", "seqfast.ngram", "seqfast._lm", "seqfast._args"} <= set(g)
    assert "seqfast._args" in g["seqfast.tokenizer"]
    assert "seqfast.cli._io" in g["seqfast.cli._lm"]
    assert "seqfast._counts" in g["seqfast._lm"]
    # and it would see a cycle
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    g = graph()
    assert cycles(g) == [], {m: sorted(d) for m, d in g.items()}
