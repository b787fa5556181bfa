"""The examples page (smallext.visualize): two sides' labels of the same documents, side by side, disagreements
first, with a filter by type; each kind draws its own items (its ``html`` part). Checked in a real headless
Chromium (Debian's ``chromium``, which ``make test`` installs): the page loads, shows N documents with their spans
marked, and logs nothing to the console.

The documents are real CoNLL04 test sentences (entities and relations) with the second side's labels perturbed
in known ways; the expected disagreements are counted here from the labels, independently of the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import REPO, needs_data
from smallext.doc import Document, Span
from smallext.errors import ConfigError, DocumentError
from smallext.kinds import KINDS
from smallext.kinds.base import Kind
from smallext.kinds.relations import Relation
from smallext.kinds.relations.scorer import relation_keys
from smallext.schema import EntityType, Schema, Section, load_schema
from smallext.visualize import Rendered, item_attributes, render_examples, write_examples

SCHEMA = REPO / "schemas" / "conll04.yaml"
HOSTILE = 'Smith & Co </script><script>console.error("escaped?")</script> <b>bold</b> "quoted"'


# --- the documents -------------------------------------------------------------------------------------------------


def _retype(doc: Document, index: int, label: str) -> Document:
    target = doc.spans[index]
    return doc.map_spans(lambda s: Span(s.start, s.end, label) if s is target else s)


def _drop(doc: Document, index: int) -> Document:
    target = doc.spans[index]
    return doc.map_spans(lambda s: None if s is target else s)


@pytest.fixture(scope="module")
def sides(data):
    """(first, second, schema): nine documents, eight CoNLL04 test sentences and one with markup in its text; the
    second side drops, retypes and adds labels in some of them."""
    from smallext.datasets import load

    schema = load_schema(SCHEMA)
    gold = schema.map_documents(load("conll04:test"))[:8]
    bold = (HOSTILE.index("<b>"), HOSTILE.index("</b>") + 4)
    hostile = Document("hostile <&>", HOSTILE, [Span(0, 10, "Org"), Span(*bold, "Other")])
    first = [*gold, hostile]
    second = list(first)
    second[1] = _drop(first[1], 0)  # a span and the relations on it gone
    second[3] = _retype(first[3], 0, "Other" if first[3].spans[0].label != "Other" else "Loc")  # relations' keys too
    free = next(m for m in re.finditer(r"[A-Za-z]+", first[5].text)
                if not any(s.start < m.end() and m.start() < s.end for s in first[5].spans))
    second[5] = first[5].with_spans([*first[5].spans, Span(free.start(), free.end(), "Loc")],
                                    relations=first[5].relations)  # a span added (its relations kept)
    second[8] = _retype(hostile, 1, "Org")
    return first, second, schema


def _expected_differ(a: Document, b: Document, schema) -> int:
    from smallext.kinds.relations.schema import symmetric_relations

    sym = symmetric_relations(schema)
    ka, kb = {s.key for s in a.spans}, {s.key for s in b.spans}
    ra, rb = relation_keys(a, "strict", sym), relation_keys(b, "strict", sym)
    return len(ka ^ kb) + len(ra ^ rb)


def _expected_order(first, second, schema) -> list[tuple[str, int]]:
    differ = [(a.id, _expected_differ(a, b, schema)) for a, b in zip(first, second, strict=True)]
    return sorted(differ, key=lambda x: -x[1])  # stable: ties keep the order of the first side


# --- reading the page ----------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """The documents of an examples page: per section its attributes and, per side, its marks and relation lines
    (``(text without the label, data-type, classes)``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.docs: list[dict] = []
        self.count = ""
        self._stack: list[tuple[str, dict]] = []
        self._item: dict | None = None
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append((tag, a))
        classes = (a.get("class") or "").split()
        if tag == "section" and "sx-doc" in classes:
            self.docs.append({"id": a["data-id"], "differ": int(a["data-differ"]), "hidden": "hidden" in a,
                              "sides": []})
        elif tag == "div" and "sx-side" in classes:
            self.docs[-1]["sides"].append({"marks": [], "relations": []})
        elif "sx-item" in classes:
            self._item = {"text": "", "type": a["data-type"], "classes": set(classes), "title": a.get("title"),
                          "tag": tag, "depth": len(self._stack)}
            self.docs[-1]["sides"][-1]["marks" if tag == "mark" else "relations"].append(self._item)
        elif a.get("id") == "sx-count":
            self._in_count = True

    def handle_endtag(self, tag):
        if self._item is not None and len(self._stack) == self._item["depth"] and tag == self._item["tag"]:
            self._item = None
        if self._in_count and tag == "span":
            self._in_count = False
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self._in_count:
            self.count += data
        if self._item is not None and not any("sx-lab" in (a.get("class") or "") for _, a in self._stack):
            self._item["text"] += data


def _read(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    return p


# --- the browser ---------------------------------------------------------------------------------------------------


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("SMALLEXT_REQUIRE_CHROMIUM"):  # `make test` installs it: never skip there
            pytest.fail("SMALLEXT_REQUIRE_CHROMIUM is set but chromium is not installed (`make browser` as root "
                        "installs Debian's chromium)")
        pytest.skip("chromium is not installed: the examples page's browser check needs Debian's chromium "
                    "(`apt-get install --no-install-recommends chromium`, or `make browser` as root)")
    return exe


def _open(url: str, profile: Path) -> tuple[str, list[str]]:
    """The DOM of ``url`` after its scripts ran, and the console messages the page logged."""
    proc = subprocess.run([_chromium(), "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def test_the_console_check_sees_a_page_s_errors(tmp_path):
    """The check below is not vacuous: a page whose script fails logs a CONSOLE line that it reads."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><p>x</p><script>undefinedFunction();</script>", encoding="utf-8")
    _, console = _open(page.as_uri(), tmp_path / "profile")
    assert any("undefinedFunction" in line for line in console)


@needs_data
def test_the_page_loads_in_chromium_with_the_documents_disagreements_first(sides, tmp_path):
    first, second, schema = sides
    n = 6
    path = write_examples(tmp_path / "examples.html", first, second, schema=schema, limit=n)
    dom, console = _open(path.as_uri(), tmp_path / "profile")
    assert console == []  # no error, no message at all (the markup in a text stayed text)
    page = _read(dom)
    expected = _expected_order(first, second, schema)[:n]
    assert [(d["id"], d["differ"]) for d in page.docs] == expected  # N documents, most disagreements first
    assert expected[0][1] > 0 and expected[-1][1] == 0 and not any(d["hidden"] for d in page.docs)
    assert page.count == f"showing {n} of {n} documents"  # written by the script: it ran
    by_id = {d.id: (d, o) for d, o in zip(first, second, strict=True)}
    for shown in page.docs:
        a, b = by_id[shown["id"]]
        assert len(shown["sides"]) == 2
        for doc, other, side in ((a, b, shown["sides"][0]), (b, a, shown["sides"][1])):
            # every span marked in the text with its label; those the other side lacks outlined
            assert [(m["text"], m["type"]) for m in side["marks"]] == [(doc.span_text(s), s.label) for s in doc.spans]
            theirs = {s.key for s in other.spans}
            assert [("sx-diff" in m["classes"]) for m in side["marks"]] == [s.key not in theirs for s in doc.spans]
            assert [r["type"] for r in side["relations"]] == [r.label for r in doc.relations]
            for line, r in zip(side["relations"], doc.relations, strict=True):
                assert doc.span_text(doc.spans[r.head]) in line["text"] and doc.span_text(doc.spans[r.tail]) in line[
                    "text"]
    hostile = next(d for d in page.docs if d["id"] == "hostile <&>")
    assert hostile["sides"][0]["marks"][1]["text"] == "<b>bold</b>"  # shown as text, not made bold
    assert "<b>bold</b>" not in dom and "&lt;b&gt;bold&lt;/b&gt;" in dom
    retyped = next(d for d in page.docs if d["id"] == first[3].id)
    note = next(m["title"] for m in retyped["sides"][1]["marks"] if "sx-diff" in m["classes"])
    assert note.startswith("Other: the teacher has this span as ")  # what the other side has there


@needs_data
def test_the_type_filter_and_the_disagreement_filter_run_in_chromium(sides, tmp_path):
    """The filter as a link presets it (``#type=KIND:TYPE``, ``#differ=1``): the script hides the documents without
    an item of the type, and dims the items of other types; or hides the documents without a disagreement."""
    first, second, schema = sides
    path = write_examples(tmp_path / "examples.html", first, second, schema=schema, limit=None)
    by_id = {d.id: (d, o) for d, o in zip(first, second, strict=True)}
    dom, console = _open(path.as_uri() + "#type=entities:Loc", tmp_path / "profile")
    assert console == []
    page = _read(dom)
    with_loc = {i for i, (a, b) in by_id.items() if any(s.label == "Loc" for s in (*a.spans, *b.spans))}
    assert 0 < len(with_loc) < len(first)
    assert {d["id"] for d in page.docs if not d["hidden"]} == with_loc
    assert page.count == f"showing {len(with_loc)} of {len(first)} documents"
    marks = [m for d in page.docs for s in d["sides"] for m in s["marks"]]
    assert {m["type"] for m in marks if "sx-dim" not in m["classes"]} == {"Loc"}
    assert any("sx-dim" in m["classes"] for m in marks)
    work_for = '#type=relations:Work_For&differ=1'
    dom, console = _open(path.as_uri() + work_for, tmp_path / "profile")
    assert console == []
    page = _read(dom)
    want = {i for i, (a, b) in by_id.items() if _expected_differ(a, b, schema)
            and any(r.label == "Work_For" for r in (*a.relations, *b.relations))}
    assert {d["id"] for d in page.docs if not d["hidden"]} == want


# --- without a browser ---------------------------------------------------------------------------------------------


def _doc(id_: str, text: str, *spans: tuple[int, int, str], **layers) -> Document:
    return Document(id_, text, [Span(*s) for s in spans], **layers)


def test_documents_are_paired_by_id_and_their_texts_must_agree():
    a = [_doc("1", "Ann met Bob .", (0, 3, "PER")), _doc("2", "Cy left .")]
    b = [_doc("2", "Cy left .", (0, 2, "PER")), _doc("1", "Ann met Bob .", (0, 3, "PER")), _doc("3", "extra")]
    page = _read(render_examples(a, b))
    assert [(d["id"], d["differ"]) for d in page.docs] == [("2", 1), ("1", 0)]  # document 3 is left out
    with pytest.raises(DocumentError, match="no document with the same id.*'2'"):
        render_examples(a, b[1:])
    with pytest.raises(DocumentError, match="different texts"):
        render_examples(a, [b[0], _doc("1", "Ann met Bo .")])
    with pytest.raises(DocumentError, match="twice"):
        render_examples([a[0], a[0]], b)
    with pytest.raises(ConfigError, match="limit"):
        render_examples(a, b, limit=-1)
    assert _read(render_examples(a, b, limit=0)).docs == []


def test_overlapping_spans_are_listed_under_the_text_and_still_counted():
    text = "New York City council"
    a = [_doc("d", text, (0, 8, "LOC"), (0, 13, "LOC"), (4, 21, "ORG"))]
    b = [_doc("d", text, (0, 13, "LOC"))]
    page = render_examples(a, b)
    (doc,) = _read(page).docs
    assert doc["differ"] == 2  # (0, 8) and (4, 21) are the first side's only
    assert [(m["text"], "sx-diff" in m["classes"]) for m in doc["sides"][0]["marks"]] == [
        ("New York City", False), ("New York", True), ("York City council", True)]
    assert page.count("overlapping spans, not marked in the text") == 1


def test_relations_on_a_symmetric_type_match_either_way_round():
    schema = Schema.model_validate({"name": "met", "entity_types": [{"name": "PER", "definition": "a person"}],
                          "relation_types": [{"name": "Met", "definition": "met", "head": ["PER"], "tail": ["PER"],
                                              "symmetric": True}]})
    text = "Ann met Bob ."
    spans = [Span(0, 3, "PER"), Span(8, 11, "PER")]
    a = [Document("d", text, spans, relations=[Relation(0, 1, "Met")])]
    b = [Document("d", text, spans, relations=[Relation(1, 0, "Met")])]
    assert _read(render_examples(a, b, schema=schema)).docs[0]["differ"] == 0
    plain = _read(render_examples(a, b)).docs[0]  # without the schema the direction counts
    assert plain["differ"] == 2
    line = plain["sides"][0]["relations"][0]
    assert line["type"] == "Met" and "sx-diff" in line["classes"] and re.sub(r"\s+", " ", line["text"]).startswith(
        "Ann → Met → Bob")


def test_each_kind_draws_its_own_items(monkeypatch):
    """The page loops over the kinds: one taken out draws nothing, one added (as a records kind will be) draws its
    items beside the others, the page module unchanged."""
    text = "Ann works for Acme ."
    spans = [Span(0, 3, "PER"), Span(14, 18, "ORG")]
    a = [Document("d", text, spans, relations=[Relation(0, 1, "Work_For")], meta={"topic": "jobs"})]
    b = [Document("d", text, spans, meta={"topic": "firms"})]
    assert 'data-kind="relations"' in render_examples(a, b)
    module = types.ModuleType("fake_topics_visualize")

    def render(doc, other, side):
        differ = doc.meta["topic"] != other.meta["topic"]
        item = item_attributes("topics", doc.meta["topic"], differ=differ, note="the document's topic")
        return Rendered(f"<div {item}>{doc.meta['topic']}</div>", int(differ), (doc.meta["topic"],))

    module.render = render
    monkeypatch.setitem(sys.modules, "fake_topics_visualize", module)
    monkeypatch.setitem(KINDS, "topics", Kind("topics", Section("topic_types", EntityType),
                                              parts={"html": "fake_topics_visualize:render"}))
    monkeypatch.delitem(KINDS, "relations")
    page = render_examples(a, b)
    (doc,) = _read(page).docs
    assert 'data-kind="relations"' not in page
    assert doc["differ"] == 2  # one topic each side, no span disagreement
    assert '<optgroup label="topics"><option data-kind="topics" data-type="firms">firms</option>' in page


def test_the_report_links_its_examples_page(tmp_path):
    from smallext.report import write_report

    metrics = json.loads((Path(__file__).parent / "data" / "metrics-48478fe.json").read_text(encoding="utf-8"))
    text = "Ann works for Acme ."
    a = [_doc("d", text, (0, 3, "PER"), (14, 18, "ORG"))]
    b = [_doc("d", text, (0, 3, "PER"))]
    md, page = write_report(metrics, tmp_path, examples=(a, b))
    assert (tmp_path / "examples.html").is_file()
    assert _read((tmp_path / "examples.html").read_text(encoding="utf-8")).docs[0]["differ"] == 1
    assert "- Examples: [examples.html](examples.html)" in md.read_text(encoding="utf-8")
    assert '<a href="examples.html">examples.html</a>' in page.read_text(encoding="utf-8")


def test_the_report_stage_writes_the_examples_from_the_evaluate_stage_s_predictions(tmp_path):
    from smallext.io.jsonl import write_jsonl
    from smallext.pipeline.runner import Context
    from smallext.pipeline.stages import ReportStage

    metrics = tmp_path / "metrics.json"
    metrics.write_text((Path(__file__).parent / "data" / "metrics-48478fe.json").read_text(encoding="utf-8"))
    folder = tmp_path / "test_predictions"
    text = "Ann works for Acme ."
    write_jsonl([_doc("d", text, (0, 3, "PER"))], folder / "teacher.jsonl")
    write_jsonl([_doc("d", text, (0, 3, "ORG"))], folder / "student.jsonl")
    ctx = Context(tmp_path, progress=False, cfg=types.SimpleNamespace(test="conll04:test"), schema=None)
    ctx.artifacts.update(metrics=metrics, predictions=folder)
    stage = ReportStage()
    assert set(stage.outputs(ctx)) == {"report", "report_html", "examples"}
    stage.run(ctx)
    assert _read((tmp_path / "examples.html").read_text(encoding="utf-8")).docs[0]["differ"] == 2
    no_test = Context(tmp_path, progress=False, cfg=types.SimpleNamespace(test=None), schema=None)
    assert "examples" not in stage.outputs(no_test)  # no test set: no examples page expected


@needs_data
def test_the_visualize_command_writes_the_page(sides, tmp_path):
    from typer.testing import CliRunner

    from smallext.cli import app
    from smallext.io.jsonl import write_jsonl

    first, second, _ = sides
    write_jsonl(first, tmp_path / "a.jsonl")
    write_jsonl(second, tmp_path / "b.jsonl")
    out = tmp_path / "page.html"
    r = CliRunner().invoke(app, ["visualize", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--out", str(out),
                                 "--schema", str(SCHEMA), "--names", "gold,model", "--limit", "4"])
    assert r.exit_code == 0, r.output
    page = out.read_text(encoding="utf-8")
    order = _expected_order(first, second, load_schema(SCHEMA))
    assert [d["id"] for d in _read(page).docs] == [i for i, _ in order[:4]]
    assert "<h4>gold</h4>" in page and "<h4>model</h4>" in page
    bad = CliRunner().invoke(app, ["visualize", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--out",
                                   str(out), "--names", "one"])
    assert bad.exit_code == 1 and "--names takes two names" in bad.output
