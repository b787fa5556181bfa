"""The student: a compact transformer token classifier trained on any annotations, served from ONNX.

* :mod:`~smallext.students.features` and :mod:`~smallext.students.decode`: text <-> word pieces, windows,
  constrained decoding (torch-free; shared by training and inference).
* :mod:`~smallext.students.head`: the :class:`~smallext.students.head.Head` seam: one head per kind of output
  (``smallext.kinds.<kind>.head``, found by name), each with its loss, export and decoding.
* :mod:`~smallext.students.model`: the torch module (encoder + casing embedding + the tagger, and the heads' modules).
* :mod:`~smallext.students.package`: the typed ``config.json`` (format checked on load), model card facts and
  ``train_student``'s summary; :mod:`~smallext.students.card` writes the model card.
* :mod:`~smallext.students.train`: training loop, best-epoch selection on dev F1.
* :mod:`~smallext.students.export`: ONNX export, int8 quantization, the packaged model directory.
* :mod:`~smallext.students.extractor`: :class:`Extractor`, inference on onnxruntime without torch.
"""
