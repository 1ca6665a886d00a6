"""The model runtime: the loaded-model protocol, the device, and the one batch runner.

``predict``, ``chips`` and ``evaluate`` all run their model through :func:`run_batches`: they hand
it batches of host arrays (any number, any dtype: uint8 chips and ancillary values for the chip
CNN) and a ``store`` callback, and the runner moves each batch to the device, calls the model,
checks the output's shape against the card and hands it back as float32 host values.

* On CPU, ``workers`` threads run the model concurrently, each on its own batch, with torch's
  intra-op threads divided between them (2 cores: 2 workers x 1 thread). Reading, decoding and
  the model then share the cores without OpenMP's barrier stalls: a 2-thread forward pass waits
  for its slowest thread, which stalls whenever the reader holds a core; single-threaded passes
  in parallel do not (measured in ``benchmarks/RESULTS.md``). The caller's thread assembles the
  next batch meanwhile.
* On CUDA, the caller's thread moves each batch to the device (pinned memory, non-blocking
  copies) and keeps one batch in flight while the next is assembled.
* ``bf16=True`` runs the model under bfloat16 autocast, on CUDA and on CPU (where it pays on CPUs
  with AVX512-BF16 or AMX; fractions then differ from fp32 by ~1e-3, so it is opt-in).
* An ONNX model takes host arrays (onnxruntime moves them to its device itself) and spreads each
  call over all cores: :func:`run_options` runs it one call at a time on the host, no autocast.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from lulcmap.errors import ConfigError, ModelCardError
from lulcmap.model.card import ModelCard
from lulcmap.model.onnx import OnnxModel
from lulcmap.process import available_cores

log = logging.getLogger(__name__)

MAX_CPU_WORKERS = 4
"""Most concurrent model calls on CPU; the cores are divided between them."""


@runtime_checkable
class CardedModel(Protocol):
    """A loaded model with its card (a :class:`~lulcmap.model.registry.TorchModel`, an
    :class:`~lulcmap.model.onnx.OnnxModel`, or a test double): uint8 chips ``(N,3,S,S)`` and
    ancillary values ``(N,A)`` -> abundances ``(N, C)`` at the card's ``output_level``, ``C``
    being the card's :attr:`~lulcmap.model.card.ModelCard.n_classes`."""

    card: ModelCard

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor: ...


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; asking for absent CUDA is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for but torch sees no CUDA device here; "
            "use --device auto or --device cpu"
        )
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got {device!r}")
    return device


def cpu_workers(workers: int | None = None) -> tuple[int, int]:
    """``(concurrent model calls, torch threads each)`` for the cores this process may use."""
    cores = available_cores()
    n = max(1, min(cores, MAX_CPU_WORKERS) if workers is None else workers)
    return n, max(1, cores // n)


@dataclass(frozen=True)
class RunOptions:
    """How the runner calls a model.

    Attributes:
        device: ``cpu`` or ``cuda`` (``cuda:N``): where the batches go.
        workers: concurrent model calls on CPU (None: one per core, at most
            :data:`MAX_CPU_WORKERS`, sharing the cores' torch threads); CUDA uses one.
        bf16: run the model under bfloat16 autocast (CUDA or CPU); off: float32.
    """

    device: str = "cpu"
    workers: int | None = None
    bf16: bool = False


def run_options(
    model: object, device: str = "cpu", *, bf16: bool = False, workers: int | None = None
) -> RunOptions:
    """How ``model`` runs on ``device``. onnxruntime takes host arrays (it moves them to the GPU
    itself) and spreads each call over all cores: one call at a time, no autocast."""
    if isinstance(model, OnnxModel):
        if bf16:
            log.warning(
                "bf16 applies to torch models only; ONNX model %s runs as is", model.card.id
            )
        return RunOptions(device="cpu", workers=1)
    return RunOptions(device=device, workers=workers, bf16=bf16)


@dataclass
class Batch:
    """Host arrays for one model call, each ``(n, ...)``, and what the caller needs to store
    the ``n`` results (output cells, chip indexes...)."""

    inputs: tuple[np.ndarray, ...]
    key: Any = None

    def __len__(self) -> int:
        return int(self.inputs[0].shape[0])


Store = Callable[[Batch, np.ndarray], None]
"""``store(batch, values)``: values are float32 ``(len(batch), n_outputs)`` on the host."""


def _autocast(device_type: str, bf16: bool) -> AbstractContextManager[object]:
    """bfloat16 autocast when asked for; autocast state is per thread, so enter it in the
    thread that calls the model."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else nullcontext()


def _name(model: object) -> str:
    return f"model {model.card.id}" if isinstance(model, CardedModel) else "the model"


def check_output(model: object, shape: tuple[int, ...], n: int, n_outputs: int) -> None:
    """The model's output for ``n`` chips must be ``(n, n_outputs)``."""
    if tuple(shape) != (n, n_outputs):
        raise ModelCardError(
            f"{_name(model)} returned abundances of shape {tuple(shape)} for {n} chips but its "
            f"card's legend and levels give {n_outputs} classes; check `legend` and `levels` "
            "in the card"
        )


def run_batches(
    model: Callable[..., torch.Tensor],
    batches: Iterable[Batch],
    store: Store,
    *,
    n_outputs: int,
    options: RunOptions = RunOptions(),
) -> None:
    """Call ``model(*inputs)`` on every batch and ``store(batch, values)`` each result.

    The caller's thread iterates ``batches`` (so reading overlaps the model calls); on CPU,
    ``store`` runs in the worker threads, each call on its own batch. An output that is not
    ``(len(batch), n_outputs)`` raises :class:`~lulcmap.errors.ModelCardError`.
    """
    device = torch.device(options.device)
    if device.type == "cuda":
        _run_cuda(model, batches, store, n_outputs, device, options.bf16)
    else:
        _run_cpu(model, batches, store, n_outputs, options.workers, options.bf16)


def run_rows(
    model: Callable[..., torch.Tensor],
    batches: Iterable[Batch],
    *,
    n_rows: int,
    n_outputs: int,
    options: RunOptions = RunOptions(),
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """:func:`run_batches` into an ``(n_rows, n_outputs)`` float64 array, each batch's values at
    rows ``batch.key``; ``on_progress(done, n_rows)`` as each batch is stored."""
    out = np.empty((n_rows, n_outputs), np.float64)
    lock, done = threading.Lock(), [0]

    def store(batch: Batch, values: np.ndarray) -> None:
        out[batch.key] = values
        with lock:  # workers store concurrently: count and report in order
            done[0] += len(batch)
            if on_progress is not None:
                on_progress(done[0], n_rows)

    run_batches(model, batches, store, n_outputs=n_outputs, options=options)
    return out


def _run_cpu(
    model: Callable[..., torch.Tensor],
    batches: Iterable[Batch],
    store: Store,
    n_outputs: int,
    workers: int | None,
    bf16: bool,
) -> None:
    """``workers`` threads call the model concurrently; torch's thread count is set for the run
    (new threads take it when they start) and given back after."""
    n, threads = cpu_workers(workers)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)

    def forward(batch: Batch) -> None:
        with torch.inference_mode():
            with _autocast("cpu", bf16):
                result = model(*(torch.from_numpy(a) for a in batch.inputs))
            check_output(model, tuple(result.shape), len(batch), n_outputs)
            values = result.float().cpu().numpy()
        store(batch, values)

    try:
        with ThreadPoolExecutor(n, thread_name_prefix="lulcmap-model") as pool:
            pending: deque[Future[None]] = deque()
            try:
                for batch in batches:
                    pending.append(pool.submit(forward, batch))
                    while len(pending) > n:  # bounded: one waiting batch per worker
                        pending.popleft().result()
                while pending:
                    pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()
    finally:
        torch.set_num_threads(previous)


def _run_cuda(
    model: Callable[..., torch.Tensor],
    batches: Iterable[Batch],
    store: Store,
    n_outputs: int,
    device: torch.device,
    bf16: bool,
) -> None:
    """Pinned memory, non-blocking copies, one batch in flight while the next is launched.

    Batch ``k``'s results are read back once the event recorded after its device-to-host copy
    has passed, i.e. while the device already works on batch ``k + 1``.
    """
    in_flight: tuple[Batch, torch.Tensor, torch.cuda.Event] | None = None
    for batch in batches:
        inputs = [
            torch.from_numpy(a).pin_memory().to(device, non_blocking=True) for a in batch.inputs
        ]
        with torch.inference_mode():
            with _autocast("cuda", bf16):
                result = model(*inputs)
            check_output(model, tuple(result.shape), len(batch), n_outputs)
            host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(result.float(), non_blocking=True)
        done = torch.cuda.Event()
        done.record(torch.cuda.current_stream(device))
        if in_flight is not None:
            _store_when_done(store, *in_flight)
        in_flight = (batch, host, done)
    if in_flight is not None:
        _store_when_done(store, *in_flight)


def _store_when_done(
    store: Store, batch: Batch, host: torch.Tensor, done: torch.cuda.Event
) -> None:
    done.synchronize()
    store(batch, host.numpy())


__all__ = [
    "MAX_CPU_WORKERS",
    "Batch",
    "CardedModel",
    "RunOptions",
    "Store",
    "check_output",
    "cpu_workers",
    "resolve_device",
    "run_batches",
    "run_options",
    "run_rows",
]
