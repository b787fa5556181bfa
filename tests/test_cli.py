import json
import subprocess
import sys

from typer.testing import CliRunner

from conftest import needs_data
from smallext import io
from smallext.cli import app
from smallext.datasets import load

runner = CliRunner()


@needs_data
def test_data_stats_conll_test():
    r = runner.invoke(app, ["data", "stats", "conll2003:test"])
    assert r.exit_code == 0, r.output
    for figure in ("3,453", "46,435", "1,668", "702", "1,661", "1,617"):
        assert figure in r.output


@needs_data
def test_evaluate_gold_against_itself_and_perturbed(tmp_path):
    from test_evaluate import perturb, seqeval_scores

    gold = load("conll2003:test")
    same = tmp_path / "gold.jsonl"
    io.write(gold, same)
    r = runner.invoke(app, ["evaluate", "--gold", "conll2003:test", "--pred", str(same), "--n-boot", "50"])
    assert r.exit_code == 0, r.output
    assert "micro F1 1.0000" in r.output
    pert = perturb(gold, 11)
    pf = tmp_path / "pert.jsonl"
    io.write(pert, pf)
    out = tmp_path / "scores.json"
    r = runner.invoke(app, ["evaluate", "--gold", "conll2003:test", "--pred", str(pf), "--json", str(out)])
    assert r.exit_code == 0, r.output
    f1 = json.loads(out.read_text())["micro"]["f1"]
    assert round(f1, 4) == round(seqeval_scores(gold, pert)[2], 4)
    assert f"{f1:.4f}" in r.output


@needs_data
def test_convert_dataset_to_jsonl_and_back(tmp_path):
    j = tmp_path / "ai.jsonl"
    r = runner.invoke(app, ["convert", "crossner-ai:train", str(j)])
    assert r.exit_code == 0, r.output
    c = tmp_path / "ai.tsv"
    assert runner.invoke(app, ["convert", str(j), str(c)]).exit_code == 0
    assert [d.entities() for d in io.read(c)] == [d.entities() for d in load("crossner-ai:train")]


def test_bad_input_exits_nonzero_with_location(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": \n')
    proc = subprocess.run(
        [sys.executable, "-m", "smallext.cli", "data", "stats", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert f"{bad}:2: invalid JSON" in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr
