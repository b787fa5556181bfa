"""The main job: teacher -> silver labels -> student -> evaluation -> report, from one config file.

:func:`distill` runs :data:`STAGES` through a :class:`~smallext.pipeline.runner.Runner`: each stage declares
the artifacts it reads and writes and a key of its settings, and a stage whose key and outputs are unchanged
is reused (``OUTPUT/stages.json``); ``force`` (``--force STAGE``) redoes a stage and every stage after it.
Adding a stage is one :class:`~smallext.pipeline.runner.Stage` subclass and one line in :data:`STAGES`.

Modules: :mod:`.config` (the distill config), :mod:`.runner` (stages, artifacts, the runner),
:mod:`.stages` (annotate, quality, review, train, evaluate, report; quality and review only when configured).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smallext.pipeline.config import DistillConfig, load_config
from smallext.pipeline.runner import Context, Runner, Stage
from smallext.pipeline.stages import (
    AnnotateStage,
    EvaluateStage,
    QualityStage,
    ReportStage,
    ReviewStage,
    TrainStage,
)

__all__ = ["STAGES", "Context", "DistillConfig", "Runner", "Stage", "distill", "load_config"]

STAGES: list[type[Stage]] = [AnnotateStage, QualityStage, ReviewStage, TrainStage, EvaluateStage, ReportStage]
"""The stages of :func:`distill`, in order."""


def distill(config: str | Path | dict | DistillConfig, *, force: list[str] | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a distillation and return its metrics (also written to ``OUTPUT/metrics.json``).

    Args:
        config: a config file, a dict, or a :class:`DistillConfig` (see :mod:`smallext.pipeline.config`).
        force: stages to redo (with the ones after them): ``annotate``, ``quality``, ``review``, ``train``,
            ``evaluate``, ``report``.
        progress: show progress bars.

    Raises:
        ConfigError: invalid config (the field is named) or unknown stage.
    """
    from smallext.schema import load_schema

    cfg = load_config(config)
    runner = Runner([stage() for stage in STAGES], force or [])
    ctx = runner.run(Context(Path(cfg.output), progress=progress, cfg=cfg, schema=load_schema(cfg.schema_path)))
    return json.loads(ctx.artifacts["metrics"].read_text(encoding="utf-8"))
