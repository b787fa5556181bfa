"""Teachers label unlabelled Documents according to a schema; their labels train the student.

Spec strings (the CLI and the Python API take the same ones):

==================================  ==============================================================
``llamacpp:qwen2.5-coder-1.5b``     an installed GGUF model run in-process (``smallext models install``)
``llamacpp:/path/model.gguf``       any GGUF file
``openai:MODEL@BASE_URL``           an OpenAI-compatible server (key from ``OPENAI_API_KEY`` or
                                    ``api_key_env``); ``openai:MODEL`` alone is the OpenAI API
``spacy:PIPELINE``                  a spaCy pipeline, types mapped to the schema (``label_map``)
``rules:FILE``                      gazetteers and regular expressions from a YAML file
``model:DIR``                       a trained smallext student
``ensemble:SPEC1,SPEC2,...``        per-span voting over teachers (``ensemble_mode``)
``gold``                            copies gold labels (experiments only; reports say so)
==================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smallext.errors import ConfigError
from smallext.teachers.base import ChunkResult, Teacher

__all__ = ["Teacher", "ChunkResult", "load_teacher", "split_ensemble"]

KINDS = ("llamacpp", "openai", "spacy", "rules", "model", "ensemble", "gold")


def split_ensemble(members: str) -> list[str]:
    """Split ``SPEC1,SPEC2`` at commas that start a new spec (``kind:``), so paths may contain commas."""
    parts: list[str] = []
    for piece in members.split(","):
        if parts and not any(piece.startswith(f"{k}:") or piece == k for k in KINDS):
            parts[-1] += "," + piece
        else:
            parts.append(piece)
    return [p for p in parts if p]


def load_teacher(
    spec: str,
    schema,
    *,
    shots: int = 0,
    examples: Sequence | str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    concurrency: int = 4,
    chunk_chars: int = 400,
    threads: int | None = None,
    n_ctx: int = 4096,
    constrained: bool = True,
    jump_forward: bool = True,
    max_repeats: int | None = 2,
    reply_format: str = "list",
    occurrences: str = "all",
    label_map: dict[str, str] | None = None,
    ensemble_mode: str = "majority",
    ensemble_gold: Sequence | str | None = None,
    response_format: str = "json_object",
    timeout: float = 60.0,
    max_retries: int = 4,
) -> Teacher:
    """Build a teacher from its spec string.

    Args:
        spec: see the module docstring.
        schema: a :class:`~smallext.schema.Schema` or a path to one.
        shots: few-shot examples per LLM prompt, retrieved by embedding similarity.
        examples: the shot pool besides the schema's own examples: Documents, a dataset spec or a file.
        api_key_env: environment variable with the API key (``openai``).
        concurrency: calls in flight at once (``openai``: HTTP requests; ``llamacpp``: sequences decoded
            together in one context, 1 for one call at a time).
        chunk_chars: characters of text per LLM call (several short documents per call; 0: one each).
        threads, n_ctx: llama.cpp threads and context size.
        constrained: constrain LLM replies to the JSON schema where the backend supports it.
        jump_forward: ``llamacpp`` with concurrency > 1: emit the characters the JSON schema forces without
            decoding them token by token (see :mod:`smallext.teachers.backends.jump_forward`).
        max_repeats: ``llamacpp`` with concurrency > 1: end a reply that lists an identical entity more than
            this many times (a repetition loop), keeping the entities before; ``None``: never.
        reply_format: LLM reply format, ``list``, ``pairs`` or ``grouped`` (see :mod:`smallext.teachers.task`).
        occurrences: ``all`` or ``first``: grounding of a string found several times.
        label_map: ``spacy`` teacher: pipeline type -> schema type.
        ensemble_mode: ``majority``, ``union`` or ``weighted`` (weights = F1 on ``ensemble_gold``).
        response_format: ``openai`` JSON mode (see :class:`~smallext.teachers.backends.openai.OpenAIBackend`).
        timeout, max_retries: ``openai`` per-attempt timeout (s) and retries.

    Raises:
        ConfigError: unknown kind, missing model or file, or bad options.
    """
    from smallext.schema import load_schema

    schema = load_schema(schema)
    kind, _, arg = spec.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"unknown teacher {spec!r}; expected one of: {', '.join(k + ':' for k in KINDS)}")
    if kind == "gold":
        from smallext.teachers.model import GoldTeacher

        return GoldTeacher(schema)
    if not arg:
        raise ConfigError(f"teacher spec {spec!r} needs an argument after '{kind}:'")
    if kind in ("llamacpp", "openai"):
        from smallext.teachers.llm import LLMTeacher
        from smallext.teachers.task import NERTask

        selector = None
        if shots > 0:
            from smallext.datasets import load_documents
            from smallext.teachers.shots import ShotSelector

            pool = schema.examples()
            if examples is not None:
                docs = load_documents(examples) if isinstance(examples, str) else list(examples)
                pool += schema.map_documents(docs, strict=False)
            selector = ShotSelector(pool)
        from smallext.teachers.task import REPLY_FORMATS

        if reply_format not in REPLY_FORMATS:
            raise ConfigError(f"reply_format must be one of {', '.join(REPLY_FORMATS)}, not {reply_format!r}")
        task = NERTask(schema, selector, shots, reply_format=reply_format)
        if kind == "llamacpp":
            from smallext.teachers.backends.llamacpp import LlamaCppBackend

            backend = LlamaCppBackend(arg, n_ctx=n_ctx, n_threads=threads, constrained=constrained,
                                      parallel=concurrency, jump_forward=jump_forward,
                                      max_repeats=max_repeats)
        else:
            from smallext.teachers.backends.openai import OpenAIBackend

            model, _, base_url = arg.partition("@")
            backend = OpenAIBackend(
                model, base_url or None, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                max_retries=max_retries, response_format=response_format if constrained else "none",
            )
        return LLMTeacher(spec, task, backend, chunk_chars=chunk_chars, occurrences=occurrences)  # type: ignore[arg-type]
    if kind == "spacy":
        from smallext.teachers.spacy_pipeline import SpacyTeacher

        return SpacyTeacher(arg, schema, label_map)
    if kind == "rules":
        from smallext.teachers.rules import RulesTeacher

        return RulesTeacher(arg, schema)
    if kind == "model":
        from smallext.teachers.model import ModelTeacher

        return ModelTeacher(arg, schema, threads)
    from smallext.teachers.ensemble import EnsembleTeacher, member_weights

    opts: dict[str, Any] = dict(
        shots=shots, examples=examples, api_key_env=api_key_env, concurrency=concurrency, chunk_chars=chunk_chars,
        threads=threads, n_ctx=n_ctx, constrained=constrained, jump_forward=jump_forward,
        max_repeats=max_repeats, reply_format=reply_format, occurrences=occurrences,
        label_map=label_map,
        response_format=response_format, timeout=timeout, max_retries=max_retries,
    )
    members = [load_teacher(s, schema, **opts) for s in split_ensemble(arg)]
    weights = None
    if ensemble_mode == "weighted":
        if ensemble_gold is None:
            raise ConfigError("ensemble_mode 'weighted' needs ensemble_gold: a gold dev set to weigh members by F1")
        from smallext.datasets import load_documents

        gold = load_documents(ensemble_gold) if isinstance(ensemble_gold, str) else list(ensemble_gold)
        weights = member_weights(members, gold, schema)
    return EnsembleTeacher(members, ensemble_mode, weights)
