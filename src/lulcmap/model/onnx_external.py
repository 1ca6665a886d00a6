"""ONNX external data is refused: the card's sha256 covers one file, so every tensor must be in it.

An ONNX file may keep its tensors in side files (``weights.bin``) that onnxruntime reads at load
time; swapping such a file would change the model while the card's hash still matched. lulcmap
loads only self-contained ONNX files (``onnx.save(model, path, save_as_external_data=False)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lulcmap.errors import MissingDependencyError, ModelCardError


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds: initializers and node attributes, through subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def refuse_external_data(path: Path, model_id: str) -> None:
    """Raise :class:`ModelCardError` when the ONNX file at ``path`` keeps tensors outside it."""
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(
            f"model {model_id} has ONNX weights and needs the onnx package to check them, which "
            "is not installed: pip install 'lulcmap[onnx]'"
        ) from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # not an ONNX file: onnxruntime reports it in its own words
        return
    external = [
        t.name for t in _tensors(proto.graph) if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    if external:
        raise ModelCardError(
            f"ONNX file {path.name} of model {model_id} keeps {len(external)} tensors (e.g. "
            f"{external[0]!r}) in external data files that its sha256 does not cover; embed "
            "them: onnx.save(onnx.load(path), path, save_as_external_data=False)"
        )


__all__ = ["refuse_external_data"]
