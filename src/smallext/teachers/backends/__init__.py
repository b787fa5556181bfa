"""Backends turn chat messages into replies; they know nothing about entities (that is the task's job).

* :class:`~smallext.teachers.backends.llamacpp.LlamaCppBackend`: a GGUF model in-process (llama-cpp-python).
* :class:`~smallext.teachers.backends.openai.OpenAIBackend`: any OpenAI-compatible server (OpenAI, vLLM,
  Ollama, llama.cpp server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Reply:
    """A backend's answer.

    Attributes:
        text: the reply text ("" on error).
        tokens_in, tokens_out: prompt and completion tokens as reported by the backend.
        finish_reason: ``stop``, ``length`` (cut off at max_tokens), or the backend's word.
        latency_s: wall time of the call including retries, seconds.
        error: None, or why no usable reply came back (after the backend's own retries).
    """

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    error: str | None = None


class Backend(Protocol):
    """Who answers: ``complete`` turns messages into a :class:`Reply` and never raises for a failed call."""

    name: str
    model: str
    concurrency: int

    def complete(self, messages: list[dict[str, str]], *, json_schema: dict | None, max_tokens: int) -> Reply: ...

    def close(self) -> None:
        """Free what the backend holds (a local model, a connection pool); it cannot answer after."""
