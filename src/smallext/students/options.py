"""Student options: the one model that ``smallext train``'s flags, the distill config's ``student`` section and
:func:`smallext.students.train.train` all take (torch-free, so a config can be checked without torch).

The options of the encoder and of training are declared here; a kind of output whose head has options of its own
declares them in its package (its ``student_options`` part, :mod:`smallext.kinds`: the relations kind's
``relation_threshold`` and ``relation_negatives``), and :class:`StudentOptions` has them all as fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EncoderOptions", "StudentOptions"]


class EncoderOptions(BaseModel):
    """How a student's encoder is built and trained (the part of :class:`StudentOptions` every student has).

    AdamW (Loshchilov & Hutter, 2019) with linear warm-up and decay; see :mod:`smallext.students.train`.
    """

    model_config = ConfigDict(extra="forbid")
    base_model: str = Field("minilm", description="minilm, mpnet, a local directory or a Hugging Face id")
    epochs: int = Field(5, ge=1, description="passes over the training data")
    batch_size: int = Field(16, ge=1, description="windows per optimisation step")
    lr: float = Field(1e-4, gt=0, description="peak learning rate of the encoder")
    head_lr: float = Field(1e-3, gt=0, description="peak learning rate of the new layers (casing embedding, "
                                                   "classifier)")
    warmup: float = Field(0.1, ge=0, le=1, description="share of the steps with a linear warm-up, then linear decay")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and LayerNorm)")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping threshold (L2 norm)")
    seed: int = Field(13, description="random seed: data order, dropout, initialisation")
    max_length: int = Field(256, ge=16, description="word pieces per window, special tokens included")
    stride: int = Field(64, ge=0, description="overlap of consecutive windows, in word pieces")
    casing: bool = Field(True, description="add the learned casing-feature embedding")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the classifier")
    layers: int | None = Field(None, ge=1, description="keep only the base encoder's first N layers (default all): "
                                                       "faster, smaller")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch and onnxruntime")


def _student_options() -> type[BaseModel]:
    from smallext.kinds import KINDS

    heads = tuple(k.load("student_options") for k in KINDS.values() if k.has("student_options"))
    # the kinds' models first in the bases, so that their fields come after the encoder's (pydantic orders fields
    # from the last base to the first): the same order, dump and flags as when they were written here
    cls = type("StudentOptions", (*heads, EncoderOptions), {"__module__": __name__, "__doc__": (
        "How a student is built and trained: the encoder's options (:class:`EncoderOptions`) and those of the kinds' "
        "heads (their ``student_options`` parts).\n\n"
        "AdamW (Loshchilov & Hutter, 2019) with linear warm-up and decay; see :mod:`smallext.students.train`.")})
    return cls


StudentOptions = _student_options()
"""How a student is built and trained: :class:`EncoderOptions` plus the options of each kind's head (the relations
kind's ``relation_threshold``, ``relation_negatives``), one pydantic model (``extra="forbid"``)."""
