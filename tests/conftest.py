"""Shared test fixtures. Tests that need ../shared/data skip with a clear message when it is absent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smallext.datasets import DATASETS, data_root
from smallext.errors import DatasetError

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    try:
        return data_root()
    except DatasetError:
        return None


DATA = _data_root()
needs_data = pytest.mark.skipif(
    DATA is None, reason="benchmark data not found (../shared/data or $SMALLEXT_DATA); see shared/data/README.md"
)


@pytest.fixture(scope="session")
def data() -> Path:
    if DATA is None:
        pytest.skip("benchmark data not found (../shared/data or $SMALLEXT_DATA)")
    return DATA


_NUM = r"\s*([\d,]+)\s*\|"
_ROW = re.compile(r"^\|[^|]*\|\s*`([^`]+)`\s*\|" + _NUM * 4 + r"([^|]*)\|")
_TYPE = re.compile(r"([A-Za-z][\w-]*) ([\d,]+)")


def provenance_counts(dataset: str) -> dict[str, dict]:
    """Counts per file from a dataset's PROVENANCE.md table.

    Returns {path relative to the data root: {sentences, tokens, entities, per_type}}.
    """
    info = DATASETS[dataset]
    prov = DATA / info.provenance
    folder = Path(info.provenance).parent
    out = {}
    for line in prov.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        path, sents, toks, _docstarts, ents, per_type = m.groups()
        num = lambda s: int(s.replace(",", ""))  # noqa: E731
        out[str(folder / path)] = {
            "sentences": num(sents),
            "tokens": num(toks),
            "entities": num(ents),
            "per_type": {t: num(n) for t, n in _TYPE.findall(per_type)},
        }
    return out


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory):
    """A packaged student trained for three epochs on 150 CoNLL-2003 sentences (weak, but real: with one epoch it
    predicted no span at all, and tests that loop over spans would pass on nothing)."""
    pytest.importorskip("torch", reason="needs the train extra")
    if DATA is None:
        pytest.skip("benchmark data not found (../shared/data or $SMALLEXT_DATA)")
    from smallext.datasets import load
    from smallext.students.export import package
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit

    res = fit(load("conll2003:train")[:150], None, ["PER", "ORG", "LOC", "MISC"],
                StudentOptions(epochs=3, threads=2, seed=1), progress=False)
    return package(res, tmp_path_factory.mktemp("tiny") / "tiny-student",
                   card={"training_data": "conll2003:train[:150]"})


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 90.0) -> None:
    """Wait until GET ``url`` answers 200, failing the test if ``proc`` exits or ``timeout`` (s) passes."""
    import time

    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def relation_student(tmp_path_factory):
    """A relation student trained for 4 epochs on 400 CoNLL04 sentences (3 encoder layers), with its fp32 ONNX."""
    pytest.importorskip("torch", reason="needs the train extra")
    if DATA is None:
        pytest.skip("benchmark data not found (../shared/data or $SMALLEXT_DATA)")
    from smallext.datasets import load
    from smallext.schema import load_schema
    from smallext.students.export import package
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit

    schema = load_schema(REPO / "schemas" / "conll04.yaml")
    res = fit(schema.map_documents(load("conll04", "train"))[:400], None, schema.labels,
                StudentOptions(epochs=4, threads=2, seed=1, layers=3), progress=False,
                relation_types=[r.model_dump() for r in schema.relation_types])
    out = tmp_path_factory.mktemp("rel") / "conll04-student"
    fp32 = out.parent / "fp32.onnx"
    package(res, out, schema=schema, keep_fp32=str(fp32))
    return res, out, fp32, schema
