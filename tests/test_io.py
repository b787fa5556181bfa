import json

import pytest

from conftest import needs_data
from smallext import io
from smallext.datasets import dataset_path
from smallext.doc import Document, Span
from smallext.errors import DocumentError, FormatError
from smallext.io.tags import chunks_from_tags, detect_scheme, iob1_to_iob2, tags_from_chunks

CONLL_IOB1 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER

-DOCSTART- -X- O O

BRUSSELS NNP I-NP I-LOC
"""


def test_conll_iob1_read_to_character_spans(tmp_path):
    p = tmp_path / "x.conll"
    p.write_text(CONLL_IOB1)
    docs = io.read(p)
    assert [d.text for d in docs] == ["EU rejects German call .", "Peter Blackburn Smith", "BRUSSELS"]
    assert [d.entities() for d in docs] == [
        [(0, 2, "ORG", "EU"), (11, 17, "MISC", "German")],
        [(0, 15, "PER", "Peter Blackburn"), (16, 21, "PER", "Smith")],
        [(0, 8, "LOC", "BRUSSELS")],
    ]
    assert docs[0].meta["scheme"] == "iob1" and docs[0].meta["docstart"].startswith("-DOCSTART-")
    assert docs[1].tokens == [(0, 5), (6, 15), (16, 21)]
    grouped = io.read(p, group_documents=True)
    assert len(grouped) == 2 and grouped[0].text == "EU rejects German call .\nPeter Blackburn Smith"
    assert grouped[0].meta["sentences"] == 2
    assert [e[3] for e in grouped[0].entities()] == ["EU", "German", "Peter Blackburn", "Smith"]


def test_tag_schemes():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]
    assert chunks_from_tags(iob1) == [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 7, "ORG")]
    assert iob1_to_iob2(iob1) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]
    assert tags_from_chunks(7, chunks_from_tags(iob1), "iob1") == iob1
    assert detect_scheme([iob1]) == "iob1" and detect_scheme([iob1_to_iob2(iob1)]) == "iob2"


def test_tsv_and_wikiann(tmp_path):
    t = tmp_path / "a.tsv"
    t.write_text("Empire\tB-location\nState\tI-location\n=\tO\nESB\tB-location\n\t\nhi\tO\n")
    docs = io.read(t)
    assert [e[3] for e in docs[0].entities()] == ["Empire State", "ESB"] and docs[1].text == "hi"
    w = tmp_path / "w"
    w.write_text("fr:Saxifrage\tB-LOC\nfr:http://a:b\tO\n")
    d = io.read(w, "wikiann")[0]
    assert d.text == "Saxifrage http://a:b" and d.meta["lang"] == "fr" and d.entities()[0][2] == "LOC"


@pytest.mark.parametrize(
    "fmt, content, line, msg",
    [
        ("conll", "EU NNP I-NP I-ORG\nrejects VBZ O\n", 2, "expected 4 columns"),
        ("conll", "EU NNP I-NP X-ORG\n", 1, "invalid tag"),
        ("conll", "a b c O\n\nEU NNP I-NP I-\n", 3, "invalid tag"),
        ("conll", "EU NNP I-NP I-ORG\n-DOCSTART- -X- O O\n", 2, "DOCSTART"),
        ("tsv", "a\tO\nb c\tB-X\tO\n", 2, "2 tab-separated"),
        ("tsv", "a\tO\n\nb\tB_X\n", 3, "invalid tag"),
        ("wikiann", "en:a\tO\nb\tO\n", 2, "lang:token"),
    ],
)
def test_malformed_columns_name_file_and_line(tmp_path, fmt, content, line, msg):
    p = tmp_path / "bad.txt"
    p.write_text(content)
    with pytest.raises(FormatError, match=msg) as e:
        io.read(p, fmt)
    assert e.value.line == line and str(e.value).startswith(f"{p}:{line}:")


@pytest.mark.parametrize(
    "line2, msg",
    [
        ('{"id": "b", "text": "xy"', "invalid JSON"),
        ('{"id": "b", "text": "xy", "spans": [{"start": 1, "end": 5, "label": "X"}]}', "out of range"),
        ('{"id": "b", "text": "xy", "spans": [{"start": 1, "end": 1, "label": "X"}]}', "empty"),
        ('{"id": "a", "text": "xy"}', "repeats line 1"),
        ('[1, 2]', "JSON object"),
    ],
)
def test_malformed_jsonl_names_line(tmp_path, line2, msg):
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "a", "text": "xy"}\n' + line2 + "\n")
    with pytest.raises(FormatError, match=msg) as e:
        io.read(p)
    assert e.value.line == 2 and str(p) in str(e.value)


def test_jsonl_round_trip_and_text(tmp_path):
    docs = [Document("a", "Zoë  lives in Ørsted…", [Span(0, 3, "PER", 0.75, "x"), Span(14, 20, "LOC")]),
            Document("b", "", [])]
    p = tmp_path / "o.jsonl"
    assert io.write(docs, p) == 2
    assert io.read(p) == docs
    assert "Zoë" in p.read_text(encoding="utf-8")  # not \u-escaped
    t = tmp_path / "t.txt"
    t.write_text("first line\n\nthird\n")
    got = io.read(t)
    assert [d.text for d in got] == ["first line", "", "third"] and got[2].id == "t.txt:3"


def test_text_reader_rejects_bad_utf8(tmp_path):
    p = tmp_path / "b.txt"
    p.write_bytes(b"ok\n\xff\xfe bad\n")
    with pytest.raises(FormatError, match="UTF-8") as e:
        io.read(p)
    assert e.value.line == 2


def test_writers_refuse_what_iob_cannot_express(tmp_path):
    overlap = Document("o", "New York City", [Span(0, 8, "LOC"), Span(4, 13, "LOC")])
    with pytest.raises(DocumentError, match="overlap"):
        io.write([overlap], tmp_path / "o.conll")
    partial = Document("p", "Newark is", [Span(0, 3, "LOC")])
    with pytest.raises(DocumentError, match="token boundaries"):
        io.write([partial], tmp_path / "p.conll")
    assert not list(tmp_path.iterdir()), "a failed write must leave no file behind"


def test_write_is_atomic_on_failure(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_text("previous\n")
    good = Document("g", "Paris", [Span(0, 5, "LOC")])
    bad = Document("b", "New York City", [Span(0, 8, "LOC"), Span(4, 13, "LOC")])
    with pytest.raises(DocumentError):
        io.write([good, bad], tmp_path / "out.conll")
    assert p.read_text() == "previous\n" and not (tmp_path / "out.conll").exists()
    assert [x.name for x in tmp_path.iterdir()] == ["out.jsonl"]


def test_format_errors(tmp_path):
    with pytest.raises(FormatError, match="extension"):
        io.read(tmp_path / "x.unknown")
    with pytest.raises(FormatError, match="cannot write"):
        io.write([], tmp_path / "x.tsv", "wikiann")


@needs_data
def test_conll2003_train_round_trip_iob1_to_iob2(tmp_path):
    """Reading CoNLL-2003 train and writing IOB2 changes nothing but IOB1 -> IOB2 tags (whole file)."""
    src = dataset_path("conll2003", "train")
    docs = io.read(src, "conll")
    out = tmp_path / "train.iob2.conll"
    io.write(docs, out, "conll")

    def sentences(path):
        sents, cur, docstarts = [], [], 0
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for line in lines:
            cols = line.split()
            if not cols:
                if cur:
                    sents.append(cur)
                    cur = []
            elif cols[0] == "-DOCSTART-":
                docstarts += 1
            else:
                cur.append(cols)
        if cur:
            sents.append(cur)
        return sents, docstarts

    orig, orig_ds = sentences(src)
    new, new_ds = sentences(out)
    assert len(orig) == len(new) == 14041 and orig_ds == new_ds == 946
    for a, b in zip(orig, new, strict=True):
        assert [c[:-1] for c in a] == [c[:-1] for c in b]  # token, POS, chunk unchanged
        assert iob1_to_iob2([c[-1] for c in a]) == [c[-1] for c in b]
    again = io.read(out)
    assert again[0].meta["scheme"] == "iob2"
    assert [d.entities() for d in again] == [d.entities() for d in docs]
    assert sum(len(d.spans) for d in again) == 23499


@needs_data
def test_jsonl_round_trip_of_a_real_split(tmp_path):
    docs = io.read(dataset_path("wnut17", "dev"), "tsv")
    p = tmp_path / "dev.jsonl"
    io.write(docs, p)
    assert io.read(p) == docs
    first = json.loads(p.read_text().splitlines()[0])
    assert set(first) >= {"id", "text", "spans", "meta"}
