"""The shape of the package: no import cycles between modules; the seams the README names exist."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules(src: Path = SRC) -> dict[str, Path]:
    out = {}
    for path in (src / "smallext").rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph(src: Path = SRC, *, type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the smallext modules it imports anywhere in its code: at module level and inside functions,
    methods and classes (every node of the tree is visited); imports for type checkers only (under ``if
    TYPE_CHECKING:``) with ``type_checking``."""
    modules = _modules(src)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set() if type_checking else _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_modules():
    """Defects: ``datasets`` and ``io`` imported each other (inside functions); ``teachers.base`` and
    ``teachers.store`` did, the second for type checkers only. Arrows go one way: the data model and io at the
    bottom, teachers/students in the middle, scale, serve, pipeline and cli on top; no circle either for the
    type checkers."""
    graph = import_graph()
    assert "smallext.io.formats" in graph["smallext.datasets"]  # the checker sees real edges
    assert "smallext.scale.extract" in graph["smallext.pipeline.stages"]  # one inside a method
    assert cycles(graph) == []
    assert cycles(import_graph(type_checking=True)) == []


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_checker_sees_imports_in_functions_and_for_type_checkers(tmp_path):
    pkg = tmp_path / "smallext"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "top.py").write_text("")
    (pkg / "mid.py").write_text("")
    (pkg / "hint.py").write_text("")
    (pkg / "sub" / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from smallext.hint import X\n"
        "def f():\n    from smallext import top\n"
        "class C:\n    def m(self):\n        def inner():\n            from .. import mid\n"
    )
    assert import_graph(tmp_path)["smallext.sub.low"] == {"smallext.top", "smallext.mid"}
    assert import_graph(tmp_path, type_checking=True)["smallext.sub.low"] == {"smallext.top", "smallext.mid",
                                                                               "smallext.hint"}


UPPER = [("smallext.scale", "smallext.serve"), ("smallext.pipeline",), ("smallext.cli",)]
"""The upper layers, from below: each module imports no layer above its own, and the rest of the package none."""


def test_lower_layers_never_import_upper_ones():
    """Defect: ``teachers.annotate`` imported ``smallext.scale.annotate`` (inside ``annotate``, for
    ``engine="ray"``); the layers above now construct the Ray engine and pass it."""
    graph = import_graph(type_checking=True)
    for name, targets in graph.items():
        level = next((i for i, layer in enumerate(UPPER) if name.startswith(layer)), -1)
        above = tuple(p for layer in UPPER[level + 1:] for p in layer)
        assert not [t for t in targets if t.startswith(above)], name
    for low in ("smallext.doc", "smallext.errors", "smallext.io"):
        for name in (n for n in graph if n == low or n.startswith(low + ".")):
            assert not [t for t in graph[name] if t.startswith(("smallext.teachers", "smallext.students",
                                                                "smallext.datasets"))], name
