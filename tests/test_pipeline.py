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
