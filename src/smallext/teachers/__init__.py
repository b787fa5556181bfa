"""Teachers label unlabelled Documents according to a schema; their labels train the student.

Spec strings (the CLI and the Python API take the same ones; :data:`~smallext.teachers.registry.TEACHERS`
is the table of kinds, each with its options model):

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

Layout: :mod:`.base` (the Teacher interface), :mod:`.registry` (kinds, options, :func:`load_teacher`),
:mod:`.tasks` (what an LLM is asked and how replies become spans), :mod:`.backends` (who answers),
:mod:`.store` (call cache and annotation store), :mod:`.annotate` (the run), one module per teacher kind.
"""

from __future__ import annotations

from smallext.teachers.base import ChunkResult, Teacher
from smallext.teachers.registry import TEACHERS, TeacherKind, load_teacher, option_fields, teacher_options

__all__ = ["TEACHERS", "ChunkResult", "Teacher", "TeacherKind", "load_teacher", "option_fields", "teacher_options"]
