"""MkDocs hooks for the smallext site.

The benchmark results live in bench/results/ (written by the bench scripts), outside docs/. This hook puts those
files into the site at ``bench/results/`` so that the pages can link them and ``mkdocs build --strict`` checks
every such link. The pages write the link as ``../bench/results/FILE`` (which also works when docs/*.md is read
on a Git forge); the hook drops the ``../`` for the site.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
SUFFIXES = {".md", ".png", ".svg"}
LINK = re.compile(r"\]\(\.\./bench/results/")


def on_files(files: Files, config) -> Files:
    for path in sorted(RESULTS.iterdir()):
        if path.suffix in SUFFIXES and path.is_file():
            files.append(File.generated(config, f"bench/results/{path.name}", abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    # Only pages at the top of docs/ may use "../bench/results/" (that is where it also resolves on disk).
    if "/" not in page.file.src_uri:
        markdown = LINK.sub("](bench/results/", markdown)
    return markdown
