"""The student: a compact transformer token classifier trained on any annotations, served from ONNX.

* :mod:`~smallext.students.features` and :mod:`~smallext.students.decode`: text <-> word pieces, windows,
  constrained decoding (torch-free; shared by training and inference).
* :mod:`~smallext.students.model`: the torch module (encoder + casing embedding + linear head).
* :mod:`~smallext.students.train`: training loop, best-epoch selection on dev F1.
* :mod:`~smallext.students.export`: ONNX export, int8 quantization, the packaged model directory.
* :mod:`~smallext.students.extractor`: :class:`Extractor`, inference on onnxruntime without torch.
"""
