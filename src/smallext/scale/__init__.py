"""The same jobs on a Ray cluster: extraction with Ray Data (:func:`extract_dataset`), annotation in shards.

Needs the ``ray`` extra. Nothing here is imported by the single-process code paths.
"""

from __future__ import annotations

from smallext.scale.extract import extract_dataset, iter_output, ray_throughput

__all__ = ["extract_dataset", "iter_output", "ray_throughput"]
