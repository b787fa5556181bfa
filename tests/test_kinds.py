"""The kinds-of-output seam (smallext.kinds): a kind is a plug-in. Without relations everything entity-only works;
a new kind registered from outside the package gets its schema section, Document field and evaluation section."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import REPO


def _run(code: str, tmp_path) -> dict:
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_entities_work_with_the_relations_kind_taken_out(tmp_path):
    res = _run(f"""
        import json
        from smallext import kinds
        kinds.unregister("relations")
        from smallext.doc import Document, Span
        from smallext.errors import ConfigError, DocumentError
        from smallext.evaluate import evaluate
        from smallext.kinds.entities.task import EntityTask
        from smallext.schema import load_schema
        from smallext.teachers.ensemble import EnsembleTeacher
        from smallext.teachers.base import ChunkResult, Teacher
        from smallext.teachers.llm import _task, LlamaCppOptions
        from smallext.teachers.store import MemoryCache

        schema = load_schema({str(REPO / "schemas" / "crossner-ai.yaml")!r})
        task = _task(schema, LlamaCppOptions())
        text = "Geoffrey Hinton works on deep learning at Google ."
        d = Document("d", text, [Span(0, 15, "researcher"), Span(42, 48, "organisation")])
        back = Document.from_dict(d.to_dict())
        try:
            Document.from_dict({{"id": "x", "text": "a b", "relations": []}})
            rejected = False
        except DocumentError:
            rejected = True
        try:
            load_schema({str(REPO / "schemas" / "conll04.yaml")!r})
            rel_schema = "loaded"
        except ConfigError as e:
            rel_schema = str(e)

        class Fixed(Teacher):
            def __init__(self, name):
                self.spec = name
            def annotate_chunk(self, docs, cache):
                r = ChunkResult()
                r.docs = [x.with_spans(d.spans) for x in docs]
                return r

        (voted,) = EnsembleTeacher([Fixed("a"), Fixed("b")]).annotate_chunk([d.unlabelled()], MemoryCache()).docs
        scores = evaluate([d], [back], schema=schema)
        print(json.dumps({{"task": task.name, "system": "researcher" in task.messages(text)[0]["content"],
                          "equal": back == d, "rejected": rejected, "rel_schema": rel_schema,
                          "voted": [s.key for s in voted.spans] == [s.key for s in d.spans],
                          "sections": sorted(k for k in scores if k in ("entities", "relations")),
                          "f1": scores["selection"]["score"], "kind": scores["selection"]["kind"]}}))
    """, tmp_path)
    assert res["task"] == "entities" and res["system"] and res["equal"] and res["voted"]
    assert res["rejected"]  # the relations field is no field of a Document any more
    assert "relation_types" in res["rel_schema"] and "not a field or section" in res["rel_schema"]
    assert res["sections"] == ["entities"] and res["f1"] == 1.0 and res["kind"] == "entities"


TOPICS = '''
        from collections import Counter
        from pydantic import BaseModel, ConfigDict
        from smallext.kinds.base import Kind
        from smallext.schema import Section

        class TopicType(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)
            name: str
            definition: str

        class TopicLayer:
            field, on_spans = "topics", False
            def from_json(self, value):
                return [str(v) for v in value]
            def to_json(self, items):
                return list(items)
            def check(self, doc, items):
                pass
            def follow(self, items, new_index):
                return list(items)

        def score(pairs, ctx):
            from smallext.evaluate import counted_scores
            if ctx.schema is not None and not ctx.schema.topic_types:
                return None
            per_doc = [(Counter(set(g.topics) & set(p.topics)), Counter(set(p.topics) - set(g.topics)),
                        Counter(set(g.topics) - set(p.topics))) for g, p in pairs]
            return counted_scores(per_doc, len(pairs), None, ctx)

        def primary(section):
            return section["micro"]["f1"]

        class TopicLabelStudio:
            types = ("choices",)
            def config_tags(self, schema):
                return ['<Choices name="topic" toName="text" choice="multiple">'
                        + "".join(f'<Choice value="{t.name}"/>' for t in schema.topic_types) + "</Choices>"]
            def results(self, doc):
                return [{"from_name": "topic", "to_name": "text", "type": "choices",
                         "value": {"choices": list(doc.topics)}}] if doc.topics else []
            def read(self, items, reading):
                reading.layers["topics"] = [c for x in items for c in x["value"]["choices"]]

        LABELSTUDIO = TopicLabelStudio()
        KIND = Kind("topics", Section("topic_types", TopicType), TopicLayer(),
                    parts={"scorer": "topics:score", "primary": "topics:primary", "labelstudio": "topics:LABELSTUDIO"})
    '''
"""A document-level label kind written outside smallext (a package ``topics``): its schema section, Document field,
scorer and Label Studio form."""


def _topics_package(tmp_path) -> None:
    (tmp_path / "topics").mkdir()
    (tmp_path / "topics" / "__init__.py").write_text(textwrap.dedent(TOPICS), encoding="utf-8")


def test_a_new_kind_is_one_package_and_one_registration(tmp_path):
    """A document-level label kind written outside smallext: its section in the schema, its field in Documents and
    JSON Lines, its section of the evaluation result, and a schema with only its section."""
    _topics_package(tmp_path)
    res = _run("""
        import json, sys
        sys.path.insert(0, ".")
        import topics
        from smallext import kinds
        kinds.register(topics.KIND)
        from smallext.doc import Document
        from smallext.evaluate import evaluate
        from smallext.schema import Schema

        schema = Schema.model_validate({"name": "t", "topic_types": [{"name": "sport", "definition": "about sport"},
                                                                     {"name": "money", "definition": "finance"}]})
        gold = [Document.from_dict({"id": str(i), "text": "x y", "topics": t})
                for i, t in enumerate([["sport"], ["money"], ["sport", "money"]])]
        pred = [g.replace(topics=["sport"]) for g in gold]
        r = evaluate(gold, pred, schema=schema, n_boot=0)
        print(json.dumps({"json": gold[2].to_dict()["topics"], "types": [t.name for t in schema.topic_types],
                          "selection": r["selection"], "micro": r["topics"]["micro"]}))
    """, tmp_path)
    assert res["json"] == ["sport", "money"] and res["types"] == ["sport", "money"]
    assert res["selection"]["kind"] == "topics"
    assert (res["micro"]["tp"], res["micro"]["fp"], res["micro"]["fn"]) == (2, 1, 2)
    assert abs(res["selection"]["score"] - 4 / 7) < 1e-9


def test_label_studio_and_docbin_take_each_kind_from_the_registry(tmp_path):
    """Label Studio's config, tasks and export, and spaCy DocBin, loop over the registered kinds: with relations
    taken out, entity-only documents still travel (they passed ``relations=`` by name); a kind registered from
    outside smallext with a ``labelstudio`` part gets its control into the config, its results into the tasks and
    its layer back from an export, and its layer through a DocBin in its JSON form."""
    _topics_package(tmp_path)
    res = _run(f"""
        import json, sys
        sys.path.insert(0, ".")
        from smallext import kinds
        kinds.unregister("relations")
        import topics
        kinds.register(topics.KIND)
        from smallext.doc import Document, Span
        from smallext.io.docbin import read_docbin, write_docbin
        from smallext.io.labelstudio import labeling_config, read_export, to_task
        from smallext.schema import Schema, load_schema

        ai = load_schema({str(REPO / "schemas" / "crossner-ai.yaml")!r})
        schema = Schema.model_validate({{**ai.model_dump(), "topic_types": [{{"name": "sport", "definition": "s"}}]}})
        config = labeling_config(schema)
        doc = Document("d", "Hinton works at Google .", [Span(0, 6, "researcher", 0.5)], topics=["sport"])
        task = to_task(doc)
        task["id"] = 1
        task["annotations"] = [{{"id": 1, "result": task["predictions"][0]["result"], "completed_by": 2}}]
        (tmp := __import__("pathlib").Path("export.json")).write_text(json.dumps([task]))
        (back,) = read_export(tmp, schema=schema).documents
        write_docbin([doc], "d.spacy")
        (binned,) = read_docbin("d.spacy")
        print(json.dumps({{"config": config, "types": [r["type"] for r in task["predictions"][0]["result"]],
                          "spans": [s.key for s in back.spans], "topics": back.topics,
                          "docbin": binned == doc}}))
    """, tmp_path)
    assert '<Choices name="topic" toName="text" choice="multiple">' in res["config"]
    assert '<Choice value="sport" />' in res["config"] and "<Relations" not in res["config"]
    assert res["config"].index("<Labels") < res["config"].index("<Choices") < res["config"].index("<Text")
    assert res["types"] == ["labels", "choices"]
    assert res["spans"] == [[0, 6, "researcher"]] and res["topics"] == ["sport"] and res["docbin"]
