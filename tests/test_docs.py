"""The documentation: the README's links resolve, and the API pages' rewriting of the docstrings'
reStructuredText into Markdown (docs/hooks/griffe_rst.py) does what its docstring says. The site itself is built
with ``mkdocs build --strict`` by ``make docs`` and ``make test``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text()
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)
             if not link.startswith(("http://", "https://", "#"))]
    assert len(links) > 10
    assert [link for link in links if not (ROOT / link).exists()] == []
    assert "make test" in text and "make test" in (ROOT / ".ci" / "run").read_text()


def _extension():
    pytest.importorskip("griffe", reason="needs the docs extra")
    spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "docs" / "hooks" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rst_simple_tables_become_markdown_tables():
    ext = _extension()
    with_header = "\n".join([
        "Intro.", "",
        "======  ==============",
        "name    what",
        "======  ==============",
        "``a``   first line",
        "        continued",
        "b       x | y",
        "======  ==============",
        "", "After.",
    ])
    out = ext._tables(with_header)
    assert "| name | what |" in out
    assert "| ``a`` | first line continued |" in out
    assert "| b | x \\| y |" in out
    assert "=====" not in out and out.startswith("Intro.") and out.endswith("After.")
    headless = "\n".join(["====  ====", "one   1", "two   2", "====  ====", "", "Text."])
    out = ext._tables(headless)
    assert "|  |  |" in out and "| one | 1 |" in out and "| two | 2 |" in out and "=====" not in out


def test_roles_become_optional_links_and_literal_markers_go():
    ext = _extension()
    import griffe

    loader = griffe.GriffeLoader(search_paths=[str(ROOT / "src")])
    loader.load("smallext")
    doc = loader.modules_collection["smallext"]["doc"]
    out = ext._roles("A :class:`Document` and :func:`~smallext.kinds.kinds_of`, :mod:`.nowhere`.", doc,
                     loader.modules_collection)
    assert '<autoref identifier="smallext.doc.Document" optional><code>Document</code></autoref>' in out
    assert '<autoref identifier="smallext.kinds.kinds_of" optional><code>kinds_of</code></autoref>' in out
    assert "<code>nowhere</code>" in out and ":mod:" not in out
    assert ext._literal("JSON form::\n\n    {}") == "JSON form:\n\n    {}"
