"""The stage runner: a stage is skipped when its key and outputs are unchanged; --force redoes it and what
follows; a new stage slots in between without the others changing. Real files, real stages (no mocks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smallext.errors import ConfigError
from smallext.pipeline.runner import Context, Runner, Stage


class Write(Stage):
    """Writes ``text`` (upper-cased when it reads an artifact) into its artifact; counts its runs."""

    runs: dict[str, int] = {}

    def __init__(self, name: str, writes: str, reads: tuple[str, ...] = (), setting: str = "") -> None:
        self.name = name  # type: ignore[misc]
        self.writes = {writes: f"{writes}.txt"}  # type: ignore[misc]
        self.reads = reads  # type: ignore[misc]
        self.setting = setting

    def key(self, ctx: Context) -> Any:
        return self.setting

    def run(self, ctx: Context) -> dict[str, Any]:
        Write.runs[self.name] = Write.runs.get(self.name, 0) + 1
        text = "".join(ctx.artifacts[a].read_text() for a in self.reads) + self.setting
        next(iter(self.outputs(ctx).values())).write_text(text)
        return {"chars": len(text)}


def pipeline(setting_a: str = "a", insert: Stage | None = None) -> list[Stage]:
    stages = [Write("A", "labels", setting=setting_a), Write("B", "model", ("labels",)),
              Write("C", "metrics", ("model",))]
    if insert is not None:
        stages.insert(1, insert)
    return stages


def run(tmp_path: Path, stages: list[Stage], force=()) -> dict[str, int]:
    Write.runs = {}
    Runner(stages, force).run(Context(tmp_path, progress=False))
    return dict(Write.runs)


def test_skips_what_is_unchanged_and_redoes_what_follows_a_change(tmp_path):
    assert run(tmp_path, pipeline()) == {"A": 1, "B": 1, "C": 1}
    assert run(tmp_path, pipeline()) == {}  # nothing changed: every stage reused
    state = json.loads((tmp_path / "stages.json").read_text())
    assert state["B"]["info"] == {"chars": 1} and set(state) == {"A", "B", "C"}
    # a changed setting redoes its stage, and the stages whose inputs then change
    assert run(tmp_path, pipeline(setting_a="ab")) == {"A": 1, "B": 1, "C": 1}
    # an output edited by hand is not trusted: its stage runs again; the next stage's input is then the same
    # content as before, so it is reused
    (tmp_path / "model.txt").write_text("edited")
    assert run(tmp_path, pipeline(setting_a="ab")) == {"B": 1}
    (tmp_path / "metrics.txt").unlink()  # a missing output: redone
    assert run(tmp_path, pipeline(setting_a="ab")) == {"C": 1}


def test_force_redoes_a_stage_and_every_stage_after_it(tmp_path):
    run(tmp_path, pipeline())
    assert run(tmp_path, pipeline(), force=["B"]) == {"B": 1, "C": 1}
    with pytest.raises(ConfigError, match="unknown stage 'Q'"):
        run(tmp_path, pipeline(), force=["Q"])


def test_a_new_stage_slots_in_and_later_stages_read_its_artifact(tmp_path):
    """A stage that rewrites an artifact (a quality stage rewriting the labels) goes between two others by one
    line; the stage after it reads the new version and runs again; the one before is reused."""
    run(tmp_path, pipeline())
    refine = Write("R", "labels", ("labels",), setting="!")
    refine.writes = {"labels": "labels.refined.txt"}  # type: ignore[misc]
    assert run(tmp_path, pipeline(insert=refine)) == {"R": 1, "B": 1, "C": 1}
    assert (tmp_path / "metrics.txt").read_text() == "a!"
    with pytest.raises(ConfigError, match="reads"):
        run(tmp_path, [Write("B", "model", ("labels",))])  # an artifact no earlier stage writes


# the distill config's teacher_options: typed once, at load ------------------------------------------------------

def _config(**over: Any) -> dict[str, Any]:
    from conftest import REPO

    return {"schema": str(REPO / "schemas" / "conll2003.yaml"), "corpus": "x", "teacher": "llamacpp:smollm2-135m",
            "teacher_options": {"threads": 2, "chunk_chars": 300, "examples": "conll2003:train"}, "output": "o",
            **over}


def test_teacher_options_are_the_kinds_model_after_load_and_keep_the_stage_keys():
    """Defect: ``teacher_options`` was a dict validated three times (load_config, every stage key, load_teacher)
    and read by string key. It is now the kind's options model; the stage keys are those of before, so the
    stages of existing runs are reused."""
    from smallext.pipeline import load_config
    from smallext.pipeline.stages import _teacher_key
    from smallext.teachers.llm import LlamaCppOptions

    raw = _config()["teacher_options"]
    cfg = load_config(_config())
    assert isinstance(cfg.teacher_options, LlamaCppOptions)
    assert (cfg.teacher_options.threads, cfg.teacher_options.shots, cfg.example_pool) == (2, 0, "conll2003:train")
    # the key as it was computed before: the dict validated again by the kind's model
    before = LlamaCppOptions.model_validate(raw).model_dump(mode="json", exclude={"jump_forward"})
    assert _teacher_key(cfg) == {"teacher": "llamacpp:smollm2-135m", "options": before}
    # dumped as written (metrics.json's "config"), so that it loads again to the same config
    dumped = cfg.model_dump(by_alias=True)
    assert dumped["teacher_options"] == raw and load_config(dumped) == cfg
    # a kind without an example pool has none; a model of the kind is taken as it is
    gold = load_config(_config(teacher="gold", teacher_options={}))
    assert gold.example_pool is None and gold.model_dump()["teacher_options"] == {}
    assert load_config(_config(teacher_options=cfg.teacher_options)).teacher_options is cfg.teacher_options


def test_teacher_options_errors_name_the_field():
    from smallext.pipeline import load_config

    cases = [({"teacher_options": {"shots": -1}}, "config: field teacher_options.shots: Input should be greater than "
                                                  "or equal to 0"),
             ({"teacher_options": {"colour": 1}}, "config: field teacher_options.colour: not an option of teacher "
                                                  "'llamacpp:smollm2-135m'"),
             ({"teacher_options": [1]}, "config: field teacher_options: Input should be a valid dictionary"),
             ({"teacher": "nope:x"}, "config: unknown teacher 'nope:x'"),
             # the other fields first, as before
             ({"student": {"epochs": 0}, "teacher_options": {"shots": -1}}, "config: field student.epochs: "),
             ({"teacher": "ensemble:spacy:x,rules:r.yaml", "teacher_options": {"shots": 2}},
              "config: field teacher_options.shots: not an option of teacher 'ensemble:spacy:x,rules:r.yaml'")]
    for over, message in cases:
        with pytest.raises(ConfigError) as e:
            load_config(_config(**over))
        assert str(e.value).startswith(message), str(e.value)


def test_a_kinds_model_is_taken_as_it_is_and_updated_validated():
    """load_teacher takes the config's model without a dict round trip; an ensemble's members' options (extra
    fields of its model) are checked all the same; escalation's update of the options is validated."""
    from smallext.teachers.ensemble import EnsembleOptions
    from smallext.teachers.llm import LlamaCppOptions
    from smallext.teachers.registry import teacher_options

    opts = LlamaCppOptions(shots=8, threads=2)
    assert teacher_options("llamacpp:x", opts) is opts
    ens = EnsembleOptions(ensemble_mode="union", shots=2)
    assert teacher_options("ensemble:llamacpp:x,rules:r.yaml", ens) is ens
    with pytest.raises(ConfigError, match="field teacher_options.shots: Input should be greater"):
        teacher_options("ensemble:llamacpp:x,rules:r.yaml", EnsembleOptions(shots=-1), where="teacher_options")
    with pytest.raises(ConfigError, match="field teacher_options.shots: not an option"):
        teacher_options("ensemble:spacy:x,rules:r.yaml", EnsembleOptions(shots=2), where="teacher_options")
    # the config's options updated by escalate's: the options set in both, validated
    more = teacher_options("llamacpp:x", opts, shots=4, chunk_chars=0)
    assert (more.shots, more.threads, more.chunk_chars, opts.shots) == (4, 2, 0, 8)
    assert more.model_fields_set == {"shots", "threads", "chunk_chars"}
    with pytest.raises(ConfigError, match="field shots: Input should be greater"):
        teacher_options("llamacpp:x", opts, shots=-4)
    # another kind's model: its fields set are validated by this kind's model
    with pytest.raises(ConfigError, match="field threads: not an option of teacher 'openai:m'"):
        teacher_options("openai:m", opts)


def test_the_teacher_measured_in_a_child_gets_the_configs_model(tmp_path):
    """measure_teacher runs in a spawned process; the options model is pickled to it and used as it is."""
    from conftest import REPO
    from smallext.doc import Document
    from smallext.measure import in_child, measure_teacher
    from smallext.pipeline import load_config

    for name, phrase in (("a", "Paris"), ("b", "Rome")):
        (tmp_path / f"{name}.yaml").write_text(f"patterns:\n  - {{label: LOC, phrases: [{phrase}]}}\n")
    spec = f"ensemble:rules:{tmp_path / 'a.yaml'},rules:{tmp_path / 'b.yaml'}"
    docs = [Document("d1", "From Paris to Rome .").to_dict()]
    found = {}
    for mode in ("union", "majority"):
        cfg = load_config(_config(teacher=spec, teacher_options={"ensemble_mode": mode}))
        r = in_child(measure_teacher, cfg.teacher, str(REPO / "schemas" / "conll2003.yaml"), cfg.teacher_options,
                     docs, str(tmp_path / f"{mode}.sqlite"))
        found[mode] = [s["label"] for s in r["preds"][0]["spans"]]
    assert found == {"union": ["LOC", "LOC"], "majority": []}
