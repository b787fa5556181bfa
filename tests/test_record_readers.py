"""Readers of forms and tables (FUNSD, MlTables, DiSCoMat; Markdown, CSV, HTML): texts, offsets traced to lines and
cells, gold records, counts against the datasets' PROVENANCE.md, and JSON Lines round trips.

Tests on the real files skip with a message when ../shared/data is absent (see tests/conftest.py)."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from conftest import DATA
from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.funsd import read_funsd, read_funsd_form
from smallext.io.jsonl import read_jsonl, write_jsonl
from smallext.io.latex import LatexError, parse_latex_table
from smallext.io.record_formats import DATASETS, EXTENSIONS, FORMATS, read_record_format
from smallext.io.schema_to_json import _kth_number, read_discomat, read_mltables
from smallext.io.tables import linearise, read_csv, read_html, read_markdown
from smallext.schema import load_schema

SKIP = "benchmark data not found (../shared/data or $SMALLEXT_DATA); see shared/data/README.md"
ZIPS = None if DATA is None else DATA / "schema-to-json" / "data"


@pytest.fixture(scope="module")
def funsd():
    if DATA is None:
        pytest.skip(SKIP)
    base = DATA / "funsd" / "dataset"
    return {"train": read_funsd(base / "training_data", id_prefix="funsd:train"),
            "test": read_funsd(base / "testing_data", id_prefix="funsd:test")}


@pytest.fixture(scope="module")
def mltables():
    if DATA is None:
        pytest.skip(SKIP)
    return {s: read_mltables(ZIPS / "mltables.zip", split=s) for s in ("train", "dev", "test")}


@pytest.fixture(scope="module")
def discomat():
    if DATA is None:
        pytest.skip(SKIP)
    return {s: read_discomat(ZIPS / "discomat.zip", split=s) for s in ("train", "dev", "test")}


def _num(s: str) -> int:
    return int(s.replace(",", ""))


def _grounded_values_match(docs: list[Document]) -> int:
    n = 0
    for d in docs:
        for r in d.records:
            for _, v in r.values():
                if v.grounded:
                    assert d.text[v.start:v.end] == v.surface, (d.id, r.type, v)
                    if v.alignment == "exact":
                        assert d.text[v.start:v.end] == str(v.value), (d.id, v)
                    n += 1
    return n


def _cells_match(doc: Document) -> None:
    """Every cell's offsets lie on its row's line; cells are separated by ' | '; the header is the first lines."""
    rows = doc.meta["rows"]
    for s, e, row, *_ in doc.meta["cells"]:
        rs, re_ = rows[row]
        assert rs <= s <= e <= re_
        assert "\n" not in doc.text[s:e]
    for rs, re_ in rows:
        assert "\n" not in doc.text[rs:re_]
    hs, he = doc.meta["header"]
    assert hs == rows[0][0] and he == rows[doc.meta["header_rows"] - 1][1]


# ------------------------------------------------------------------------------------------------------- FUNSD

def test_funsd_counts_against_provenance(funsd):
    prov = (DATA / "funsd" / "PROVENANCE.md").read_text(encoding="utf-8")
    for split, folder in (("train", "training_data"), ("test", "testing_data")):
        m = re.search(rf"^\| {folder} \| ([\d,]+) \| [\d,]+ \| ([\d,]+) \|.*\| ([\d,]+) \| ([\d,]+) \|$", prov, re.M)
        forms, entities, _words, links = (_num(x) for x in m.groups())
        docs = funsd[split]
        assert len(docs) == forms  # 149 / 50
        assert sum(len(d.meta["links"]) for d in docs) == links  # 4,230 / 1,064, every kind of link
        blank = sum(1 for f in (DATA / "funsd" / "dataset" / folder / "annotations").glob("*.json")
                    for e in json.loads(f.read_text())["form"] if not e["text"].strip())
        assert sum(len(d.meta["lines"]) for d in docs) == entities - blank
    # question -> answer links, measured from the files (PROVENANCE counts links of every kind): 3,129 and 837,
    # of which 80 and 14 have a blank side and give no record
    assert [sum(len(d.records) for d in funsd[s]) for s in ("train", "test")] == [3049, 823]
    assert [sum(d.meta.get("links_dropped", 0) for d in funsd[s]) for s in ("train", "test")] == [80, 14]


def test_funsd_values_are_exact_lines(funsd):
    for split in ("train", "test"):
        docs = funsd[split]
        assert _grounded_values_match(docs) == 2 * sum(len(d.records) for d in docs)
        for d in docs:
            lines = {(s, e): label for s, e, _id, label, _box in d.meta["lines"]}
            assert d.text.count("\n") == len(lines) - 1
            for r in d.records:
                assert r.type == "KeyValue" and r.source == "gold"
                (k,), (v,) = r.get("key"), r.get("value")
                assert k.alignment == v.alignment == "exact"
                assert lines[(k.start, k.end)] == "question" and lines[(v.start, v.end)] == "answer"
            for s, e, line, _box in d.meta["words"]:
                ls, le = d.meta["lines"][line][:2]
                assert ls <= s < e <= le


def test_funsd_hand_checked_form(data):
    """testing_data/annotations/82092117.json (a fax cover sheet): entity 13 "FAX NO." (question) links to entity 12
    "(614) 466- 5087" (answer, box [352, 296, 438, 314]; its first word "(614)" at [352, 297, 383, 314]); entity
    1 "TO:" links to 14 "George Baroody"."""
    d = read_funsd_form(data / "funsd/dataset/testing_data/annotations/82092117.json", id_prefix="funsd:test")
    assert d.id == "funsd:test:82092117"
    pairs = [(r.get("key")[0].value, r.get("value")[0].value) for r in d.records]
    assert ("FAX NO.", "(614) 466- 5087") in pairs and ("TO:", "George Baroody") in pairs
    assert ("DATE:", "12 /10 /98") in pairs
    rec = d.records[pairs.index(("FAX NO.", "(614) 466- 5087"))]
    v = rec.get("value")[0]
    assert d.text[v.start:v.end] == "(614) 466- 5087"
    line = next(ln for ln in d.meta["lines"] if ln[:2] == [v.start, v.end])
    assert line[2:] == [12, "answer", [352, 296, 438, 314]]
    word = next(w for w in d.meta["words"] if w[0] == v.start)
    assert d.text[word[0]:word[1]] == "(614)" and word[3] == [352, 297, 383, 314]
    # reading order: the fax header line of the scan (y 82-84) comes first, left to right
    assert d.text.split("\n")[:4] == ["ATT. GEN. ADMIN. OFFICE", "Fax:", "614 -466 -5087", "Dec 10 '98 17 :46 P. 01"]


def test_funsd_malformed_files_name_file_and_field(tmp_path):
    p = tmp_path / "f.json"
    p.write_text(json.dumps({"form": [{"id": 0, "text": "A:", "label": "question", "linking": []}]}))
    with pytest.raises(FormatError, match=r"f\.json: field form\.0\.box: missing"):
        read_funsd(p)
    p.write_text(json.dumps({"form": [{"id": 0, "text": "A:", "box": [0, 0, 1, 1], "label": "key"}]}))
    with pytest.raises(FormatError, match=r"form\.0\.label: must be one of"):
        read_funsd(p)
    p.write_text(json.dumps({"form": [{"id": 0, "text": "A:", "box": [0, 0, 1, 1], "label": "question",
                                       "linking": [[0, 7]]}]}))
    with pytest.raises(FormatError, match=r"form\.0\.linking: link \[0, 7\]"):
        read_funsd(p)
    p.write_text("{")
    with pytest.raises(FormatError, match="not valid JSON"):
        read_funsd(p)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no FUNSD annotation files"):
        read_funsd(tmp_path / "empty")


def test_funsd_small_form_and_reading_order(tmp_path):
    form = {"form": [
        {"id": 0, "text": "Smith", "box": [60, 11, 90, 20], "label": "answer", "linking": [[1, 0]],
         "words": [{"text": "Smith", "box": [60, 11, 90, 20]}]},
        {"id": 1, "text": "Name:", "box": [10, 10, 50, 20], "label": "question", "linking": [[1, 0]],
         "words": [{"text": "Name:", "box": [10, 10, 50, 20]}]},
        {"id": 2, "text": "", "box": [10, 40, 20, 50], "label": "answer", "linking": [[3, 2]], "words": []},
        {"id": 3, "text": "Date:", "box": [10, 40, 50, 50], "label": "question", "linking": [[3, 2]], "words": []},
        {"id": 4, "text": "FORM  A", "box": [10, 0, 50, 8], "label": "header", "linking": [], "words": []},
    ]}
    p = tmp_path / "form1.json"
    p.write_text(json.dumps(form))
    (d,) = read_funsd(p)
    assert d.text == "FORM A\nName:\nSmith\nDate:"
    assert [(r.get("key")[0].value, r.get("value")[0].value) for r in d.records] == [("Name:", "Smith")]
    assert d.meta["links_dropped"] == 1 and d.meta["links"] == [[1, 0], [3, 2]]


# ---------------------------------------------------------------------------------------------- Schema-to-JSON

def _provenance_tables() -> dict[str, tuple[list[int], list[int]]]:
    prov = (DATA / "schema-to-json" / "PROVENANCE.md").read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"^\| (\w+) \| train / dev / test \| ([\d,/ ]+) \| ([\d,/ ]+) \|$", prov, re.M):
        out[m.group(1)] = ([_num(x) for x in m.group(2).split("/")], [_num(x) for x in m.group(3).split("/")])
    return out


def test_table_counts_against_provenance(mltables, discomat):
    prov = _provenance_tables()
    assert prov["mltables"] == ([43, 11, 68], [1169, 429, 2201])
    for name, docs in (("mltables", mltables), ("discomat", discomat)):
        tables, cells = prov[name]
        assert [len(docs[s]) for s in ("train", "dev", "test")] == tables
        assert [sum(len(d.records) for d in docs[s]) for s in ("train", "dev", "test")] == cells


def test_table_values_grounded_where_they_say(mltables, discomat):
    for docs in (*mltables.values(), *discomat.values()):
        assert _grounded_values_match(docs) > 0
        for d in docs:
            _cells_match(d)
            cells = {(s, e) for s, e, *_ in d.meta["cells"]}
            for r in d.records:
                (v,) = r.get("value")
                assert v.alignment == "exact"  # the cell's own number, at its cell's offsets
                assert any(s <= v.start and v.end <= e for s, e in cells)
            for i, f in d.meta.get("ungrounded", []):
                assert not d.records[i].get(f)[0].grounded


def test_mltables_hand_checked_cells(mltables):
    """dev table 2211.05596v1_table2 (Megatron-GPT intent classification): the cell "345M" of the second header row
    is a Hyper-parameter/Architecture cell of model Megatron-GPT (named in the caption), parameter "model size" or
    "number of parameters", dataset "SGD" or "Schema Guided Dialogue"; "0.755" (Zero Shot, Bus Booking) a Result
    of task Intent Classification, metric Accuracy, model settings {"model size": "345M"}."""
    (d,) = [x for x in mltables["dev"] if x.id == "mltables:dev:2211.05596v1_table2"]
    assert d.text.startswith("Caption: Zero-shot and Few Shot (FS) performance on the held out domains")
    lines = d.text.split("\n")
    assert lines[1:4] == ["Mode | Bus Booking | Hotel Reservation", " | 345M | 1.3B | 5B | 345M | 1.3B | 5B",
                          "Zero Shot | 0.755 | 0.762 | 0.787 | 0.379 | 0.448 | 0.467"]
    hs, he = d.meta["header"]
    assert d.text[hs:he] == "Mode | Bus Booking | Hotel Reservation"
    ps, pe = d.meta["paper_text"]
    assert d.text[ps:].startswith("We observe that using such \\textit{canonical forms}") and pe == len(d.text)
    first = d.records[0]
    assert first.type == "HyperParameter" and first.source == "gold"
    (v,) = first.get("value")
    assert (v.value, d.text[v.start:v.end]) == ("345M", "345M")
    assert [c[2:4] for c in d.meta["cells"] if c[0] == v.start] == [[1, 1]]  # row 1, column 1
    (model,) = first.get("model")
    assert model.value == "Megatron-GPT" and model.alignment == "exact"
    cs, ce = d.meta["captions"][0]
    assert cs <= model.start < ce  # in the caption
    assert first.get("dataset")[0].value == "SGD"
    assert [0, "dataset", ["SGD", "Schema Guided Dialogue"]] in d.meta["alternatives"]
    assert first.get("parameter")[0].value in ("model size", "number of parameters")
    result = d.records[6]
    assert result.type == "Result" and result.get("value")[0].value == "0.755"
    assert [c[2:4] for c in d.meta["cells"] if c[0] == result.get("value")[0].start] == [[2, 1]]
    assert result.get("task")[0].value == "Intent Classification"
    assert result.get("metric")[0].value == "Accuracy" and not result.get("metric")[0].grounded
    assert [x.value for x in result.get("model_settings")] == ["model size: 345M"]
    assert not result.get("model_settings")[0].grounded  # settings are abstractive text


def test_discomat_hand_checked_cells_and_train_is_dev(discomat, data):
    """test table S0022309304006957::0 (lead silicate glasses): row 2 "PbO (mol%) | 30 | 33 | 43 | 50", the cell
    "30" is the PbO amount, in mol, of sample 1."""
    (d,) = [x for x in discomat["test"] if x.id == "discomat:test:S0022309304006957::0"]
    assert d.text.split("\n")[:4] == ["Caption: The refractive index changes (Dn) of lead silicate glasses with "
                                      "different composition after exposure to the 266nm laser with low energy "
                                      "density (50mJ/cm2) (the irradiation time is 30min)",
                                      "Content | Sample number | Sample number | Sample number | Sample number | ",
                                      " | 1 | 2 | 3 | 4 | ", "PbO (mol%) | 30 | 33 | 43 | 50 | "]
    r = d.records[4]
    assert r.type == "Glass_Compound_Amount"
    assert {f: v.value for f, v in r.values()} == {"value": "30", "constituent": "PbO", "unit": "mol",
                                                   "material": "1"}
    (v,) = r.get("value")
    assert [c[2:4] for c in d.meta["cells"] if c[0] == v.start] == [[2, 1]]
    row2 = d.meta["rows"][2]
    assert row2[0] <= r.get("constituent")[0].start < row2[1]  # the PbO of its row, the nearest one
    assert d.records[0].type == "Other" and d.records[0].get("value")[0].value == "1"
    # a pipe inside a cell does not split it: S0022309314000647::1 has 4 columns, "<||U (2)||> 2" one cell
    (t,) = [x for x in discomat["train"] if x.id.endswith("S0022309314000647::1")]
    assert t.text.split("\n")[2] == "<||U (2)||> 2 | 0.0032 | 0 | 0"
    # DiSCoMat's train split is its dev split (the same file in the authors' zip)
    with zipfile.ZipFile(data / "schema-to-json/data/discomat.zip") as z:
        assert z.read("discomat/train.json") == z.read("discomat/dev.json")
    assert [x.text for x in discomat["train"]] == [x.text for x in discomat["dev"]]


def test_kth_number_of_a_cell():
    assert _kth_number("10-6", "6", 1) == 3
    assert _kth_number("682-690", "682", 0) == 0 and _kth_number("682-690", "690", 1) == 4
    assert _kth_number("-0.09", "-0.09", 0) == 0
    assert _kth_number("10:00", "00", 1) == 3
    assert _kth_number("0.0032", "0", 0) is None  # no number of the cell is 0
    assert _kth_number("5 (+-1)", "1", 1) == 5


def test_table_readers_name_file_table_and_field(tmp_path):
    good = {"paper_id": "p", "table_id": "t", "table_code": "\\begin{tabular}{cc} a & 1 \\\\ b & 2 \\end{tabular}",
            "sup_text": "", "target_cells": [],
            "gold_json_records": [{"cell_char_index": [27, 28], "cell_record": '{"value": "1", "type": "Other"}'}]}
    p = tmp_path / "test.json"
    p.write_text(json.dumps({"p_t": good}))
    (d,) = read_mltables(p)
    assert d.text == "a | 1\nb | 2" and d.records[0].get("value")[0].start == 4
    bad = dict(good, gold_json_records=[{"cell_char_index": [27, 28], "cell_record": '{"value": "1"'}])
    p.write_text(json.dumps({"p_t": bad}))
    with pytest.raises(FormatError, match=r"test\.json: table 'p_t': field gold_json_records\.0\.cell_record: not "
                                          "valid JSON"):
        read_mltables(p)
    bad = dict(good, gold_json_records=[{"cell_char_index": [27, 28],
                                         "cell_record": '{"value": "1", "type": "Score"}'}])
    p.write_text(json.dumps({"p_t": bad}))
    with pytest.raises(FormatError, match=r"cell_record\.type: 'Score' is not a record type"):
        read_mltables(p)
    bad = dict(good, gold_json_records=[{"cell_char_index": [27, 28],
                                         "cell_record": '{"value": "1", "type": "Other", "colour": "red"}'}])
    p.write_text(json.dumps({"p_t": bad}))
    with pytest.raises(FormatError, match=r"cell_record\.colour: not a field of record type 'Other'"):
        read_mltables(p)
    p.write_text(json.dumps({"p_t": dict(good, table_code="no table here")}))
    with pytest.raises(FormatError, match=r"table 'p_t': field table_code: no tabular"):
        read_mltables(p)
    outside = [{"cell_char_index": [27, 99], "cell_record": '{"value": "1", "type": "Other"}'}]
    p.write_text(json.dumps({"p_t": dict(good, gold_json_records=outside)}))
    with pytest.raises(FormatError, match=r"cell_char_index: \[27, 99\] is not a \[start, end\) inside table_code"):
        read_mltables(p)
    z = tmp_path / "mltables.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("mltables/dev.json", json.dumps({"p_t": good}))
    assert read_mltables(z, split="dev")[0].id == "mltables:dev:p_t"
    with pytest.raises(FormatError, match=r"no member mltables/test\.json"):
        read_mltables(z, split="test")
    with pytest.raises(FormatError, match="give split="):
        read_discomat(z)


# ----------------------------------------------------------------------------------------------------- LaTeX

def test_latex_rows_cells_spans_rules_and_header():
    code = ("\\begin{table}\\caption{Scores.}\\begin{tabular}{l|cc}\n\\toprule\n"
            "\\multirow{2}{*}{Model} & \\multicolumn{2}{c}{Dev} \\\\ \\cmidrule(lr){2-3}\n"
            " & P & R \\\\\n\\midrule\n"
            "A \\& B & \\textbf{0.9} & {1 & 2} \\\\[2pt] % a comment & not a cell\n"
            "C & \\begin{tabular}{c}x\\\\y\\end{tabular} & 3\\tabularnewline\n"
            "\\rowcolor{gray!20} D & 4 & 5 \\\\ \\bottomrule\n\\end{tabular}\\end{table}")
    table, captions = parse_latex_table(code)
    texts = [[c.text for c in row] for row in table.rows]
    assert texts == [["Model", "Dev"], ["", "P", "R"], ["A \\& B", "\\textbf{0.9}", "{1 & 2}"],
                     ["C", "\\begin{tabular}{c}x\\\\y\\end{tabular}", "3"], ["D", "4", "5"]]
    assert table.header_rows == 2  # the rows above \midrule (\cmidrule is a partial rule)
    assert [(c.rowspan, c.colspan, c.column) for c in table.rows[0]] == [(2, 1, 0), (1, 2, 1)]
    assert [c.column for c in table.rows[1]] == [0, 1, 2]
    assert captions == [("Scores.", code.index("Scores."))]
    for row in table.rows:
        for c in row:
            assert code[c.source:c.source + len(c.text)].replace("\n", " ") == c.text
    lin = linearise(table)
    assert lin.text.split("\n")[0] == "Model | Dev" and lin.meta["header"] == [0, len("Model | Dev\n | P | R")]
    with pytest.raises(LatexError, match="no tabular"):
        parse_latex_table("just text")
    with pytest.raises(LatexError, match="never closed"):
        parse_latex_table("\\begin{tabular}{c} a \\\\")


def test_latex_header_is_first_row_without_rules_and_custom_rules():
    table, _ = parse_latex_table("\\begin{tabular}{cc} a & b \\\\ 1 & 2 \\\\ 3 & 4 \\end{tabular}")
    assert table.header_rows == 1 and len(table.rows) == 3
    table, _ = parse_latex_table("\\begin{tabular}{cc} a & b \\\\ c & d \\\\ \\whline 1 & 2 \\end{tabular}")
    assert table.header_rows == 2 and table.rows[2][0].text == "1"


# ------------------------------------------------------------------------------------------- users' own tables

def test_markdown_tables(tmp_path):
    p = tmp_path / "notes.md"
    p.write_text("# Results\n\n| Model | F1 |\n|:--|--:|\n| BERT | 91.2 |\n| a \\| b | **92.4** |\n\ntext\n\n"
                 "x | y\n--|--\n1 | 2\n")
    a, b = read_markdown(p)
    assert a.id == "notes:0" and a.text == "Model | F1\nBERT | 91.2\na \\| b | **92.4**"
    assert a.meta["line"] == 3 and a.meta["header"] == [0, 10] and a.records == []
    assert [a.text[s:e] for s, e, *_ in a.meta["cells"]] == ["Model", "F1", "BERT", "91.2", "a \\| b", "**92.4**"]
    assert b.text == "x | y\n1 | 2" and b.meta["table"] == 1
    _cells_match(a)
    p.write_text("no table\n")
    with pytest.raises(FormatError, match=r"notes\.md: no pipe table"):
        read_markdown(p)


def test_csv_table(tmp_path):
    p = tmp_path / "scores.csv"
    p.write_text('name;score\n"Smith; J";"1\n2"\n\nDoe;3\n', encoding="utf-8")
    (d,) = read_csv(p)
    assert d.id == "scores" and d.text == "name | score\nSmith; J | 1 2\nDoe | 3"
    assert d.meta["lines"] == [1, 2, 5] and d.meta["header"] == [0, 12]
    assert [c[2:4] for c in d.meta["cells"]] == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]
    (d,) = read_csv(p, delimiter=",", header_rows=2)
    assert d.meta["header_rows"] == 2
    p.write_text("")
    with pytest.raises(FormatError, match="no rows"):
        read_csv(p)
    p.write_bytes(b"a,b\n\xff,1\n")
    with pytest.raises(FormatError, match=r"scores\.csv:2: not valid UTF-8"):
        read_csv(p)


def test_html_tables(tmp_path):
    p = tmp_path / "page.html"
    p.write_text("<html><body><p>intro</p><table><caption>Scores &amp; more</caption>"
                 "<thead><tr><th rowspan=2>Model<th colspan='2'>Dev</tr><tr><th>P<th>R</tr></thead>"
                 "<tbody><tr><td>A</td><td>1<br>2</td><td>3</td></tr>"
                 "<tr><td>B<td><table><tr><td>inner</td></tr></table></td><td>x</td></tr></tbody></table>"
                 "<script>var t = '<table><tr><td>no</td></tr></table>';</script></body></html>")
    outer, inner = read_html(p)
    assert outer.text == "Caption: Scores & more\nModel | Dev\nP | R\nA | 1 2 | 3\nB |  | x"
    assert outer.meta["header_rows"] == 2 and outer.text[slice(*outer.meta["header"])] == "Model | Dev\nP | R"
    assert outer.text[slice(*outer.meta["captions"][0])] == "Scores & more"
    cells = {outer.text[s:e]: (row, col, rs, cs) for s, e, row, col, rs, cs in outer.meta["cells"]}
    assert cells["Model"] == (0, 0, 2, 1) and cells["Dev"] == (0, 1, 1, 2)
    assert cells["P"] == (1, 1, 1, 1) and cells["R"] == (1, 2, 1, 1)  # column 0 is taken by Model's rowspan
    assert inner.text == "inner" and (outer.id, inner.id) == ("page:0", "page:1")
    _cells_match(outer)
    p.write_text("<p>nothing</p>")
    with pytest.raises(FormatError, match="no <table>"):
        read_html(p)


def test_user_tables_round_trip_jsonl(tmp_path):
    p = tmp_path / "t.html"
    p.write_text("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>")
    docs = read_html(p)
    out = tmp_path / "t.jsonl"
    write_jsonl(docs, out)
    assert read_jsonl(out) == docs


# ------------------------------------------------------------------------------------------- round trips, registry

def test_round_trip_jsonl(funsd, mltables, discomat, tmp_path):
    for name, docs in (("funsd", funsd["test"]), ("mltables", mltables["dev"]), ("discomat", discomat["test"][:60])):
        out = tmp_path / f"{name}.jsonl"
        write_jsonl(docs, out)
        back = read_jsonl(out)
        assert back == docs, name
        assert [r.to_dict() for d in back for r in d.records] == [r.to_dict() for d in docs for r in d.records]


def test_schemas_load_and_name_the_records(funsd, mltables, discomat):
    for name, docs in (("funsd", funsd["test"]), ("mltables", mltables["test"]), ("discomat", discomat["test"])):
        schema = load_schema(f"schemas/{name}.yaml")
        types = {r.name: {f.name for f in r.fields} for r in schema.record_types}
        for d in docs:
            for r in d.records:
                assert set(r.fields) <= types[r.type]
        assert schema.map_documents(docs[:5], strict=True) == docs[:5]  # names are the schema's own
    ex = load_schema("schemas/funsd.yaml").record_types[0].examples[0].to_document("ex")
    assert [(ex.text[v.start:v.end], v.value) for r in ex.records for _, v in r.values()][:2] == [
        ("FAX NO.", "FAX NO."), ("(614) 466- 5087", "(614) 466- 5087")]


def test_registration_entries(data):
    assert set(FORMATS) == {"funsd", "mltables", "discomat", "mole", "markdown", "csv", "html"}
    assert set(EXTENSIONS.values()) <= set(FORMATS)
    expected = {"funsd": {"train": 149, "test": 50}, "mltables": {"dev": 11}, "discomat": {"test": 487}}
    for name, splits in expected.items():
        spec = DATASETS[name]
        for split, n in splits.items():
            path = data / spec["files"][split]
            assert path.exists(), path
            options = {"id_prefix": f"{name}:{split}", **spec.get("options", {}).get(split, {})}
            docs = read_record_format(path, spec["fmt"], **options)
            assert len(docs) == n and docs[0].id.startswith(f"{name}:{split}:")
    with pytest.raises(FormatError, match="unknown format"):
        read_record_format(data, "xml")


def test_registered_datasets_load_when_the_lead_adds_them(data):
    from smallext import datasets

    if "funsd" not in datasets.DATASETS:
        pytest.skip("funsd, mltables and discomat are not in smallext.datasets.DATASETS yet "
                    "(their entries are smallext.io.record_formats.DATASETS)")
    assert len(datasets.load("funsd:test")) == 50
    assert len(datasets.load("mltables:dev")) == 11
    assert len(datasets.load("discomat:test")) == 487
