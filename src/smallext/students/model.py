"""The student network: a pretrained encoder, a learned casing embedding, the entity tagger's linear classifier, and
the modules of its other heads (:mod:`smallext.students.head`: the relation classifier of a schema with relation
types), set on it by :func:`build_model` under each head's :attr:`~smallext.students.head.Head.attribute`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from smallext.students.features import CASING_CLASSES

if TYPE_CHECKING:
    from smallext.students.head import Head


class TokenClassifier(nn.Module):
    """Encoder + optional casing-feature embedding added to the input embeddings + dropout + linear layer.

    Inputs are int64 tensors of shape (batch, seq): ``input_ids``, ``attention_mask``, ``case_ids``
    (see :data:`~smallext.students.features.CASING_CLASSES`). Output: logits (batch, seq, n_tags).
    """

    def __init__(self, encoder: nn.Module, n_tags: int, use_casing: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.use_casing = use_casing
        self.casing = nn.Embedding(len(CASING_CLASSES), hidden) if use_casing else None
        if self.casing is not None:
            nn.init.normal_(self.casing.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_tags)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden states (batch, seq, hidden), with the casing embedding added to its input
        embeddings: what every head reads."""
        emb = self.encoder.get_input_embeddings()(input_ids)
        if self.casing is not None:
            emb = emb + self.casing(case_ids)
        return self.encoder(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor,
        return_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (batch, seq, n_tags); with ``return_hidden`` also the classifier's input, the encoder's
        last hidden states (batch, seq, hidden), as ``(logits, hidden)``."""
        hidden = self.encode(input_ids, attention_mask, case_ids)
        logits = self.classifier(self.dropout(hidden))
        return (logits, hidden) if return_hidden else logits


class _WithHidden(nn.Module):
    """The model with both outputs, for export."""

    def __init__(self, model: TokenClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, case_ids):
        return self.model(input_ids, attention_mask, case_ids, return_hidden=True)


def with_hidden(model: TokenClassifier) -> nn.Module:
    """A module returning ``(logits, hidden)`` of ``model`` (what the ONNX export traces)."""
    return _WithHidden(model)


def build_model(
    base_dir: str, n_tags: int, use_casing: bool = True, dropout: float = 0.1, layers: int | None = None,
    heads: Sequence[Head] = (),
) -> TokenClassifier:
    """A fresh :class:`TokenClassifier` on the pretrained encoder at ``base_dir`` (or a Hugging Face id).

    ``heads``: the student's heads; each one's :meth:`~smallext.students.head.Head.module` (when it has one) is set
    on the model as its ``attribute``, in order (the entity tagger's classifier is the model's own).

    ``layers``: keep only the encoder's first N transformer layers (None: all). Dropping the top layers before
    fine-tuning is the simplest of the layer-dropping strategies of Sajjad et al., "On the effect of dropping
    layers of pre-trained transformer models" (Computer Speech & Language, 2023), and among the best of them;
    inference time falls about in proportion.

    Raises:
        ValueError: ``layers`` is below 1 or above the encoder's layer count.
    """
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the unused pooler weights are reported as "unexpected" otherwise

    encoder = AutoModel.from_pretrained(base_dir, add_pooling_layer=False) if _is_bert(base_dir) else (
        AutoModel.from_pretrained(base_dir)
    )
    if layers is not None:
        truncate_layers(encoder, layers)
    model = TokenClassifier(encoder.float(), n_tags, use_casing, dropout)
    for head in heads:
        module = head.module(model.encoder.config.hidden_size, dropout)
        if module is not None:
            model.add_module(head.attribute, module)
    return model


def truncate_layers(encoder: nn.Module, layers: int) -> None:
    """Keep the first ``layers`` transformer layers of a BERT- or MPNet-style encoder, in place.

    Raises:
        ValueError: ``layers`` out of range, or an encoder without an ``encoder.layer`` list.
    """
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(stack, nn.ModuleList):
        raise ValueError(f"cannot drop layers of a {type(encoder).__name__}: no encoder.layer list")
    if not 1 <= layers <= len(stack):
        raise ValueError(f"layers must be between 1 and {len(stack)} for this encoder, got {layers}")
    encoder.encoder.layer = stack[:layers]
    encoder.config.num_hidden_layers = layers


def _is_bert(base_dir: str) -> bool:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base_dir).model_type == "bert"


def torch_runner(model: TokenClassifier, with_hidden: bool = False):
    """A :data:`~smallext.students.decode.Runner` over a torch model (eval mode, no grad); ``with_hidden``: the
    logits and the encoder states side by side, (B, T, n_tags + H)."""

    device = next(model.parameters()).device

    def run(batch):
        model.eval()
        with torch.inference_mode():
            out = model(*(torch.from_numpy(batch[k]).to(device) for k in ("input_ids", "attention_mask", "case_ids")),
                        return_hidden=with_hidden)
        if with_hidden:
            out = torch.cat(out, dim=-1)
        return out.float().cpu().numpy()

    return run
