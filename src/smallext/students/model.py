"""The student network: a pretrained encoder, a learned casing embedding, a linear tag classifier and, for a schema
with relation types, a relation classifier over pairs of entity spans (:class:`RelationHead`)."""

from __future__ import annotations

import torch
from torch import nn

from smallext.students.features import CASING_CLASSES
from smallext.students.relations import DISTANCE_BUCKETS

RELATION_INPUTS = ["head", "tail", "context", "head_type", "tail_type", "distance"]
"""The relation classifier's inputs (see :data:`smallext.students.relations.RelationRunner`)."""


class RelationHead(nn.Module):
    """SpERT-style relation classifier (Eberts & Ulges, 2020): ``[head; tail; context; type(head); type(tail);
    distance]`` -> a hidden layer -> one logit per relation type.

    Inputs: ``head``, ``tail``, ``context`` (P, H) float pooled encoder states; ``head_type``, ``tail_type``
    (P,) entity type ids; ``distance`` (P,) distance classes. Output: logits (P, n_relation_types) (or, with
    ``probs``, sigmoid probabilities).
    """

    def __init__(self, hidden: int, n_entity_types: int, n_relation_types: int, dropout: float = 0.1,
                 type_dim: int = 32) -> None:
        super().__init__()
        self.types = nn.Embedding(n_entity_types, type_dim)
        self.distance = nn.Embedding(DISTANCE_BUCKETS, type_dim)
        self.ffn = nn.Sequential(nn.Linear(3 * hidden + 3 * type_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_relation_types))
        self.dropout = nn.Dropout(dropout)

    def forward(self, head, tail, context, head_type, tail_type, distance, probs: bool = False):
        x = torch.cat([head, tail, context, self.types(head_type), self.types(tail_type), self.distance(distance)],
                      dim=-1)
        logits = self.ffn(self.dropout(x))
        return torch.sigmoid(logits) if probs else logits


class _Probs(nn.Module):
    def __init__(self, head: RelationHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, head, tail, context, head_type, tail_type, distance):
        return self.head(head, tail, context, head_type, tail_type, distance, probs=True)


def relation_probs(head: RelationHead) -> nn.Module:
    """A module returning the sigmoid probabilities of ``head`` (what the relation ONNX export traces)."""
    return _Probs(head)


class TokenClassifier(nn.Module):
    """Encoder + optional casing-feature embedding added to the input embeddings + dropout + linear layer.

    Inputs are int64 tensors of shape (batch, seq): ``input_ids``, ``attention_mask``, ``case_ids``
    (see :data:`~smallext.students.features.CASING_CLASSES`). Output: logits (batch, seq, n_tags).
    """

    def __init__(self, encoder: nn.Module, n_tags: int, use_casing: bool = True, dropout: float = 0.1,
                 relations: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.use_casing = use_casing
        self.casing = nn.Embedding(len(CASING_CLASSES), hidden) if use_casing else None
        if self.casing is not None:
            nn.init.normal_(self.casing.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_tags)
        self.relations = RelationHead(hidden, *relations, dropout=dropout) if relations else None

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor,
        return_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (batch, seq, n_tags); with ``return_hidden`` also the classifier's input, the encoder's
        last hidden states (batch, seq, hidden), as ``(logits, hidden)``."""
        emb = self.encoder.get_input_embeddings()(input_ids)
        if self.casing is not None:
            emb = emb + self.casing(case_ids)
        hidden = self.encoder(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state
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
    relations: tuple[int, int] | None = None,
) -> TokenClassifier:
    """A fresh :class:`TokenClassifier` on the pretrained encoder at ``base_dir`` (or a Hugging Face id).

    ``relations``: ``(n_entity_types, n_relation_types)`` adds a :class:`RelationHead`.

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
    return TokenClassifier(encoder.float(), n_tags, use_casing, dropout, relations)


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


def torch_relation_runner(model: TokenClassifier):
    """A :data:`~smallext.students.relations.RelationRunner` over the model's relation head (no grad)."""
    device = next(model.parameters()).device

    def run(feats):
        model.eval()
        with torch.inference_mode():
            out = model.relations(*(torch.from_numpy(feats[k]).to(device) for k in RELATION_INPUTS), probs=True)
        return out.float().cpu().numpy()

    return run
