import pytest

from conftest import needs_data, provenance_counts
from smallext import datasets
from smallext.datasets import DATASETS, describe, load, load_documents
from smallext.errors import DatasetError

SPLITS = [(name, split) for name, info in DATASETS.items() for split in info.files
          if info.fmt not in ("spert", "scierc", "sroie", "funsd", "mltables", "discomat", "mole")]
# relation corpora have their own tables (tests/test_relations.py), SROIE receipts theirs (tests/test_records.py)


@needs_data
@pytest.mark.parametrize("name, split", SPLITS)
def test_split_counts_match_provenance(name, split):
    expected = provenance_counts(name)[DATASETS[name].files[split]]
    stats = describe(load(name, split))
    assert stats["sentences"] == expected["sentences"]
    assert stats["tokens"] == expected["tokens"]
    assert stats["entities"] == expected["entities"]
    assert stats["per_type"] == expected["per_type"]


@needs_data
def test_conll2003_test_published_figures():
    stats = describe(load("conll2003:test"))
    assert stats["sentences"] == 3453
    assert stats["per_type"] == {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}


@needs_data
def test_string_form_split_aliases_and_grouping():
    docs = load("conll2003:testb")
    assert docs[0].id == "conll2003:test:00000" and docs[0].meta["dataset"] == "conll2003:test"
    articles = load("conll2003", "test", group_documents=True)
    assert len(articles) == 231 and sum(d.meta["sentences"] for d in articles) == 3453
    assert describe(articles)["per_type"] == describe(docs)["per_type"]
    assert len(load_documents("crossner-ai:dev")) == 350


def test_unknown_names():
    with pytest.raises(DatasetError, match="unknown dataset"):
        load("conll2099:test")
    with pytest.raises(DatasetError, match="no split"):
        load("conll2003:extra")
    with pytest.raises(DatasetError, match="neither an existing file"):
        load_documents("no/such/file.jsonl")


def test_missing_root_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("SMALLEXT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="nowhere"):
        datasets.data_root()
    with pytest.raises(DatasetError, match="SMALLEXT_DATA"):
        load("conll2003:test")


@needs_data
def test_a_column_file_given_by_path_is_grouped_into_articles_too(data, tmp_path):
    """One function decides "dataset name or file path" (load_documents); the student's data loader used to
    read a file path without ``group_documents``, so training on a CoNLL file by path ignored the flag."""
    from smallext.datasets import convert

    path = data / "conll2003" / "eng.testb"
    assert len(load_documents(str(path), "conll", group_documents=True)) == len(
        load("conll2003:test", group_documents=True)) == 231
    assert convert(str(path), tmp_path / "articles.jsonl", from_fmt="conll", group_documents=True) == 231
