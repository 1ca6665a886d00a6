"""Models converted to ONNX (e.g. the published Keras models, see docs/onnx.md), run by onnxruntime.

:class:`OnnxModel` is called like :class:`~lulcmap.model.registry.TorchModel`: uint8 chips
``(N, 3, S, S)`` and raw ancillary values ``(N, A)`` in, abundances ``(N, C)`` at the card's
level out. It feeds the model in the conventions of the card's ``onnx`` block (layout, dtype,
scaling, raw or normalised ancillary) and runs onnxruntime with the CUDA provider when the device
is ``cuda`` and onnxruntime has it, else on the CPU.

The file's inputs and outputs are checked against the card when it is loaded: a wrong name,
layout, dtype or class count is a :class:`ModelCardError` that lists what the file has and names
the card field to change. Outputs are returned as they come: nothing is clipped or renormalised,
but outputs that are not fractions (outside [0, 1], or not summing to 1) are logged once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lulcmap.errors import MissingDependencyError, ModelCardError
from lulcmap.model.card import ONNX_DOC, ModelCard, OnnxSpec
from lulcmap.model.onnx_external import refuse_external_data

log = logging.getLogger(__name__)

_IMAGE_TYPES = {"uint8": "tensor(uint8)", "float32": "tensor(float)"}
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}
SUM_TOLERANCE = 1e-3
"""How far from 1 a cell's abundances may sum before the output is reported as not fractions."""


def import_onnxruntime(card: ModelCard | None = None) -> Any:
    """The ``onnxruntime`` module, or an error that says how to install it."""
    try:
        import onnxruntime
    except ImportError:
        what = f"model {card.id} has ONNX weights and needs" if card else "ONNX models need"
        raise MissingDependencyError(
            f"{what} onnxruntime, which is not installed: pip install 'lulcmap[onnx]' "
            "(or onnxruntime-gpu to run it on CUDA)"
        ) from None
    return onnxruntime


def _describe(port: Any) -> str:
    dims = ",".join(str(d) if isinstance(d, int) else "N" for d in port.shape)
    return f"{port.name!r} {port.type.removeprefix('tensor(').rstrip(')')}[{dims}]"


def _listing(ports: list[Any]) -> str:
    return ", ".join(_describe(p) for p in ports)


def _fits(shape: list[Any], expected: tuple[int, ...]) -> bool:
    """Static dims of ``shape`` (after the batch dim) equal ``expected``; symbolic dims fit."""
    dims = shape[1:]
    return len(dims) == len(expected) and all(
        not isinstance(d, int) or d == e for d, e in zip(dims, expected, strict=True)
    )


@dataclass(frozen=True)
class _Ports:
    """The resolved, checked names and types of an ONNX model's image, ancillary and output."""

    image: str
    ancillary: str | None
    ancillary_dtype: type
    output: str
    n_classes: int
    batch: int | None  # a fixed batch size, when the file has one


class _Checker:
    """Checks an onnxruntime session against a card; each failure names the field to change."""

    def __init__(self, session: Any, card: ModelCard, spec: OnnxSpec, path: Path) -> None:
        self.card, self.spec = card, spec
        self.inputs, self.outputs = session.get_inputs(), session.get_outputs()
        self.where = f"ONNX model {path.name} of card {card.path or card.id}"

    def fail(self, problem: str, fix: str) -> ModelCardError:
        return ModelCardError(f"{self.where} {problem}; {fix} (see {ONNX_DOC})")

    def input_named(self, name: str, field: str, rank: int) -> Any:
        found = {p.name: p for p in self.inputs}
        if name in found:
            return found[name]
        guess = [p.name for p in self.inputs if len(p.shape) == rank]
        hint = f" ({guess[0]!r} is its {rank}-D input)" if len(guess) == 1 else ""
        raise self.fail(
            f"has no input {name!r}; its inputs are {_listing(self.inputs)}",
            f"set onnx.{field} to the right one{hint}",
        )

    def image(self) -> Any:
        spec, size = self.spec, self.card.input.chip_size
        port = self.input_named(spec.image_input, "image_input", 4)
        expected = {"NHWC": (size, size, 3), "NCHW": (3, size, size)}
        if not _fits(port.shape, expected[spec.image_layout]):
            other = "NCHW" if spec.image_layout == "NHWC" else "NHWC"
            if _fits(port.shape, expected[other]):
                raise self.fail(
                    f"takes {other} images ({_describe(port)})", f"set onnx.image_layout: {other}"
                )
            raise self.fail(
                f"image input is {_describe(port)}, not {spec.image_layout} chips of "
                f"{size} x {size} x 3",
                "check input.chip_size and onnx.image_layout",
            )
        if port.type != _IMAGE_TYPES[spec.image_dtype]:
            if port.type == "tensor(float)":
                fix = (
                    "set onnx.image_dtype: float32, with image_scale: 1.0 if the model takes "
                    "0..255 values (as a Keras model fed uint8 arrays does) or 1/255 for 0..1"
                )
            elif port.type == "tensor(uint8)":
                fix = "set onnx.image_dtype: uint8 and remove image_scale and image_offset"
            else:
                fix = "lulcmap feeds uint8 or float32 images; re-export the model with one"
            raise self.fail(
                f"image input is {_describe(port)} but the card says {spec.image_dtype}", fix
            )
        return port

    def ancillary(self) -> Any | None:
        if self.spec.ancillary_input is None:
            return None
        port = self.input_named(self.spec.ancillary_input, "ancillary_input", 2)
        n = len(self.card.ancillary)
        if len(port.shape) != 2 or not _fits(port.shape, (n,)):
            raise self.fail(
                f"ancillary input is {_describe(port)} but the card lists {n} variables",
                "list in `ancillary` every variable the model takes, in its order",
            )
        if port.type not in _FLOAT_TYPES:
            raise self.fail(
                f"ancillary input is {_describe(port)}", "lulcmap feeds float or double values"
            )
        return port

    def unfed(self, fed: set[str]) -> None:
        extra = [p for p in self.inputs if p.name not in fed]
        if extra:
            raise self.fail(
                f"has inputs lulcmap would not feed: {_listing(extra)}",
                "name the image input in onnx.image_input and the ancillary one in "
                "onnx.ancillary_input (with the variables listed in `ancillary`)",
            )

    def output(self) -> tuple[str, int]:
        level, n_classes = self.card.output_level, self.card.n_classes
        port = self._pick_output(n_classes)
        if len(port.shape) != 2 or not _fits(port.shape, (n_classes,)):
            raise self.fail(
                f"output {_describe(port)} is not ({level} classes: {n_classes}) per chip",
                "set onnx.output to the abundance output, or `levels` to the model's level",
            )
        if port.type not in _FLOAT_TYPES:
            raise self.fail(f"output {_describe(port)} is not float", "set onnx.output")
        return port.name, n_classes

    def _pick_output(self, n_classes: int) -> Any:
        chosen, outputs = self.spec.output, self.outputs
        listing = f"its outputs are {_listing(outputs)}"
        if isinstance(chosen, int):
            if chosen >= len(outputs):
                raise self.fail(f"has no output {chosen}; {listing}", "set onnx.output")
            return outputs[chosen]
        if isinstance(chosen, str):
            found = [p for p in outputs if p.name == chosen]
            if not found:
                raise self.fail(f"has no output {chosen!r}; {listing}", "set onnx.output")
            return found[0]
        fits = [p for p in outputs if len(p.shape) == 2 and p.shape[-1] == n_classes]
        if len(outputs) == 1 or len(fits) == 1:
            return outputs[0] if len(outputs) == 1 else fits[0]
        raise self.fail(
            f"has {len(fits)} outputs of {n_classes} classes, and onnx.output does not say which "
            f"holds the abundances; {listing}",
            "set onnx.output to its name",
        )


def _providers(ort: Any, device: torch.device, card: ModelCard) -> list[Any]:
    if device.type == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return [
                ("CUDAExecutionProvider", {"device_id": device.index or 0}),
                "CPUExecutionProvider",
            ]
        log.warning(
            "model %s: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu); "
            "running it on the CPU",
            card.id,
        )
    return ["CPUExecutionProvider"]


@dataclass
class OnnxModel:
    """A loaded ONNX model: ``__call__(uint8 images (N,3,S,S), ancillary (N,A)) -> (N,C)``.

    ``C`` is the number of classes of the card's level (:attr:`ModelCard.output_level`). The
    result is a CPU tensor; ``device`` is where onnxruntime runs (``cuda`` or ``cpu``).
    """

    card: ModelCard
    session: Any
    device: torch.device
    ports: _Ports
    _reported: bool = False

    @classmethod
    def load(
        cls, card: ModelCard, path: str | Path, *, device: str | torch.device = "cpu"
    ) -> OnnxModel:
        """Open ``path`` (already hash-checked) for ``card`` and check it fits the card."""
        spec, path = card.onnx, Path(path)
        if spec is None:
            raise ModelCardError(f"card {card.id} has no `onnx` block; see {ONNX_DOC}")
        ort = import_onnxruntime(card)
        refuse_external_data(path, card.id)
        dev = torch.device(device)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=_providers(ort, dev, card)
            )
        except Exception as exc:  # onnxruntime's own exception types, not a public hierarchy
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelCardError(
                f"onnxruntime cannot open {path.name} of model {card.id} ({first}); "
                f"it must be an ONNX file converted as {ONNX_DOC} explains"
            ) from None
        check = _Checker(session, card, spec, path)
        image, anc = check.image(), check.ancillary()
        check.unfed({image.name} | ({anc.name} if anc is not None else set()))
        output, n_classes = check.output()
        batch = image.shape[0] if isinstance(image.shape[0], int) and image.shape[0] > 0 else None
        ports = _Ports(
            image=image.name,
            ancillary=anc.name if anc is not None else None,
            ancillary_dtype=_FLOAT_TYPES[anc.type] if anc is not None else np.float32,
            output=output,
            n_classes=n_classes,
            batch=batch,
        )
        on_cuda = "CUDAExecutionProvider" in session.get_providers()
        if dev.type == "cuda" and not on_cuda:
            log.warning("model %s: onnxruntime could not start CUDA; running on the CPU", card.id)
        return cls(card, session, torch.device("cuda" if on_cuda else "cpu"), ports)

    @property
    def spec(self) -> OnnxSpec:
        if self.card.onnx is None:  # load() refuses such cards; a hand-built object may not
            raise ModelCardError(f"card {self.card.id} has ONNX weights but no `onnx:` block")
        return self.card.onnx

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        n = int(images.shape[0])
        feeds = {self.ports.image: self._image(images)}
        if self.ports.ancillary is not None:
            feeds[self.ports.ancillary] = self._ancillary(ancillary)
        out = self._run(feeds, n)
        if out.shape != (n, self.ports.n_classes):
            raise ModelCardError(
                f"ONNX output {self.ports.output!r} of model {self.card.id} has shape "
                f"{tuple(out.shape)} for {n} chips, not ({n}, {self.ports.n_classes}); set "
                f"onnx.output to the abundance output (see {ONNX_DOC})"
            )
        self._report_non_fractions(out)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def _image(self, images: torch.Tensor) -> np.ndarray:
        spec = self.spec
        x = images.detach().cpu().numpy()
        if spec.image_layout == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        if spec.image_dtype == "float32":
            x = x.astype(np.float32)
            if spec.image_scale != 1.0:
                x *= np.float32(spec.image_scale)
            if spec.image_offset != 0.0:
                x += np.float32(spec.image_offset)
        else:
            x = x.astype(np.uint8, copy=False)
        return np.ascontiguousarray(x)

    def _ancillary(self, ancillary: torch.Tensor) -> np.ndarray:
        a = ancillary.detach().cpu().numpy().astype(np.float64)
        if self.spec.ancillary_normalised:
            mean = np.array([v.mean for v in self.card.ancillary])
            std = np.array([v.std for v in self.card.ancillary])
            a = (a - mean) / std
        return np.ascontiguousarray(a, dtype=self.ports.ancillary_dtype)

    def _run(self, feeds: dict[str, np.ndarray], n: int) -> np.ndarray:
        b = self.ports.batch
        if b is None or b == n:
            return np.asarray(self.session.run([self.ports.output], feeds)[0])
        parts = []  # a file with a fixed batch size: run it in slices, the last one padded
        for start in range(0, n, b):
            chunk = {k: v[start : start + b] for k, v in feeds.items()}
            m = len(chunk[self.ports.image])
            if m < b:
                chunk = {
                    k: np.concatenate([v, np.repeat(v[-1:], b - m, axis=0)])
                    for k, v in chunk.items()
                }
            parts.append(np.asarray(self.session.run([self.ports.output], chunk)[0])[:m])
        return np.concatenate(parts) if parts else np.zeros((0, self.ports.n_classes), np.float32)

    def _report_non_fractions(self, out: np.ndarray) -> None:
        if self._reported or out.size == 0:
            return
        sums = out.sum(axis=1)
        finite = bool(np.isfinite(out).all())
        in_range = finite and out.min() >= -1e-6 and out.max() <= 1 + 1e-6
        if finite and in_range and np.abs(sums - 1).max() <= SUM_TOLERANCE:
            return
        self._reported = True
        log.warning(
            "model %s: ONNX output %r is not a set of fractions (values %.4g..%.4g, per-chip "
            "sums %.4g..%.4g%s); lulcmap keeps them as they are (the percent COGs rescale each "
            "cell to 100): check onnx.output and the image and ancillary conventions of the card",
            self.card.id,
            self.ports.output,
            np.nanmin(out),
            np.nanmax(out),
            np.nanmin(sums),
            np.nanmax(sums),
            "" if finite else ", some not finite",
        )


__all__ = ["SUM_TOLERANCE", "OnnxModel", "import_onnxruntime"]
