"""The model card (README.md) of a packaged student, written from its :class:`~smallext.students.package.StudentConfig`
(each head adds its lines), and the rewrite of ``config.json`` with its card. Torch-free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smallext.io.atomic import atomic_write
from smallext.students.base import layers_phrase
from smallext.students.head import student_heads
from smallext.students.package import StudentConfig

__all__ = ["model_card", "package_size_mb", "write_config"]


def write_config(model_dir: str | Path, config: StudentConfig | dict[str, Any]) -> None:
    """Rewrite ``config.json`` and the model card (README.md) of a packaged model, atomically each. A dict is
    checked as a :class:`StudentConfig` first."""
    model_dir = Path(model_dir)
    if not isinstance(config, StudentConfig):
        config = StudentConfig.model_validate(config)
    with atomic_write(model_dir / "config.json") as f:
        f.write(json.dumps(config.dump(), indent=2, ensure_ascii=False))
    with atomic_write(model_dir / "README.md") as f:
        f.write(model_card(config, package_size_mb(model_dir)))


def package_size_mb(model_dir: str | Path) -> float:
    """The size of a packaged model on disk in MB (10^6 bytes), its model card left out, rounded up to 0.1."""
    files = [f for f in Path(model_dir).rglob("*") if f.is_file() and f.name != "README.md"]
    return round(sum(f.stat().st_size for f in files) / 1e6 + 0.01, 1)


def _score_line(name: str, res: dict[str, Any]) -> str:
    """A result's rows in the card's score table: each kind's (its scorer's ``card_rows``)."""
    from smallext.evaluate import sections

    return "\n".join(row for kind, section in sections(res) if kind.has("card_rows")
                     for row in kind.load("card_rows")(name, section, res.get("documents", "")))


def model_card(config: StudentConfig, size_mb: float | None = None) -> str:
    """The model card (README.md) text of a packaged student; ``size_mb``: its size on disk."""
    heads = student_heads(config)
    card, tr = config.card, config.training
    options = tr.config
    title = [t for h in heads for t in h.card_title()]
    lines = [
        f"# smallext student: {', '.join(title)}",
        "",
        f"- Base model: `{config.base_model}`{layers_phrase(options.get('layers'))} "
        f"({(config.parameters or 0) / 1e6:.1f}M parameters), "
        f"casing-feature embedding: {'yes' if config.casing else 'no'}",
        f"- Training data: {card.training_data or 'not recorded'}",
        f"- Teacher: {card.teacher or 'none (gold labels)'}",
        f"- Trained: {config.created}; best epoch {tr.best_epoch} of {options.get('epochs')}; "
        f"{_or_unknown(tr.train_documents)} documents, {_or_unknown(tr.fact('train_spans'))} spans, "
        f"{_or_unknown(tr.train_seconds)} s",
        f"- Size on disk: {'?' if size_mb is None else size_mb} MB (int8 ONNX, onnxruntime)",
        f"- Windows: {config.max_length} word pieces with {config.stride} overlap; nothing is truncated",
    ]
    for h in heads:
        lines += h.card_lines(config)
    lines += [
        "",
        "## Scores (strict match)",
        "",
        "| set | precision | recall | F1 | documents |",
        "|---|---|---|---|---|",
    ]
    for name, res in card.scores.items():
        lines.append(_score_line(name, res))
    lines += ["", "## Training history", "", "| epoch | loss | dev F1 | dev relation F1 |", "|---|---|---|---|"]
    for row in tr.history:
        f1, rf1 = row.score("dev_f1"), row.score("dev_relation_f1")
        lines.append(f"| {row.epoch} | {row.loss:.4f} | {'-' if f1 is None else f'{f1:.4f}'} | "
                     f"{'-' if rf1 is None else f'{rf1:.4f}'} |")
    if card.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in card.notes]
    extra = card.extra()
    if extra:
        lines += ["", "## Other facts", "", "```json", json.dumps(extra, indent=2), "```"]
    lines += ["", "Load it with `smallext.Extractor.load(DIR)` or `smallext extract --model DIR`.", ""]
    return "\n".join(lines)


def _or_unknown(value: Any) -> Any:
    return "?" if value is None else value
