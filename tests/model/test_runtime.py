"""The model runtime: device resolution, the output-shape check, the CPU worker schedule, bf16,
and the CUDA path against the CPU path (marked ``gpu``: runs wherever torch sees a GPU)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pytest
import torch

from lulcmap.chips import ChipPlan
from lulcmap.errors import ConfigError, ModelCardError
from lulcmap.inference import EngineOptions, run_inference
from lulcmap.model import runtime
from lulcmap.model.onnx import OnnxModel
from lulcmap.model.registry import load_model
from lulcmap.model.runtime import (
    MAX_CPU_WORKERS,
    Batch,
    RunOptions,
    cpu_workers,
    resolve_device,
    run_batches,
    run_options,
)
from lulcmap.testing import OracleModel, class_code_scene
from test_inference import ArraySource, patchy_classes  # pytest puts tests/ on sys.path

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="torch sees no CUDA device here")


def oracle_batches(n: int, size: int = 16, per_batch: int = 5, seed: int = 0) -> list[Batch]:
    """Batches of class-code chips (10 classes) and no ancillary values, keyed by position."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 10, (n, size, size))
    chips = np.stack([class_code_scene(c) for c in codes])
    starts = range(0, n, per_batch)
    keys = [np.arange(s, min(s + per_batch, n)) for s in starts]
    return [Batch((chips[k], np.zeros((len(k), 0), np.float32)), key=k) for k in keys]


def run_all(model: object, batches: list[Batch], n_outputs: int, options: RunOptions) -> np.ndarray:
    n = sum(len(b) for b in batches)
    out = np.full((n, n_outputs), np.nan, np.float32)

    def store(batch: Batch, values: np.ndarray) -> None:
        out[batch.key] = values

    run_batches(model, batches, store, n_outputs=n_outputs, options=options)  # type: ignore[arg-type]
    return out


# -- device ---------------------------------------------------------------------------------------
def test_resolve_device_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs on every machine: CUDA is hidden, so the error path is the same with or without it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="--device cuda was asked for but torch sees no CUDA"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="must be auto, cpu or cuda, got 'tpu'"):
        resolve_device("tpu")


def test_resolve_device_with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == "cuda"


def test_onnx_models_run_on_the_host_one_call_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(runtime.log, "warning", lambda msg, *args: warned.append(msg % args))
    card = OracleModel(10).card
    onnx = OnnxModel(card, session=None, device=torch.device("cuda"), ports=None)  # type: ignore[arg-type]
    assert run_options(onnx, "cuda") == RunOptions(device="cpu", workers=1, bf16=False)
    assert not warned
    assert run_options(onnx, "cpu", bf16=True) == RunOptions(device="cpu", workers=1, bf16=False)
    assert warned == ["bf16 applies to torch models only; ONNX model oracle runs as is"]
    torch_like = OracleModel(10)
    assert run_options(torch_like, "cuda", bf16=True) == RunOptions("cuda", None, True)


# -- the runner on CPU ----------------------------------------------------------------------------
def test_the_runner_gives_the_model_output() -> None:
    batches = oracle_batches(23)
    out = run_all(OracleModel(10), batches, 10, RunOptions())
    chips = np.concatenate([b.inputs[0] for b in batches])
    direct = OracleModel(10)(torch.from_numpy(chips), torch.zeros(len(chips), 0)).numpy()
    np.testing.assert_array_equal(out, direct)


def test_an_output_of_the_wrong_shape_says_what_the_card_gives() -> None:
    with pytest.raises(
        ModelCardError,
        match=r"model oracle returned abundances of shape \(5, 10\) for 5 chips but its card's "
        r"legend and levels give 12 classes; check `legend` and `levels` in the card",
    ):
        run_all(OracleModel(10), oracle_batches(10), 12, RunOptions())

    def flat(images: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images) * 10)

    with pytest.raises(ModelCardError, match=r"the model returned .* shape \(50,\) for 5 chips"):
        run_all(flat, oracle_batches(10), 10, RunOptions(workers=1))


def test_cpu_workers_divide_the_cores() -> None:
    n, threads = cpu_workers()
    assert 1 <= n <= MAX_CPU_WORKERS and threads >= 1
    assert cpu_workers(1)[0] == 1 and cpu_workers(1)[1] >= threads
    assert cpu_workers(3)[0] == 3


def test_workers_call_the_model_concurrently_with_the_threads_divided() -> None:
    """Two workers: both calls must be in the model at once (the barrier), each with the torch
    threads of ``cpu_workers(2)``; the runner reads at most one batch per worker ahead and gives
    torch's thread count back."""
    barrier = threading.Barrier(2, timeout=10)
    threads_seen: set[int] = set()
    names: set[str] = set()
    pulled, stored = [0], [0]
    lead = []

    def model(images: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
        threads_seen.add(torch.get_num_threads())
        names.add(threading.current_thread().name)
        barrier.wait()  # times out (BrokenBarrierError) unless two calls run at once
        return OracleModel(10)(images, anc)

    def batches() -> Iterator[Batch]:
        for b in oracle_batches(40, per_batch=5):
            pulled[0] += 1
            lead.append(pulled[0] - stored[0])
            yield b

    def store(batch: Batch, values: np.ndarray) -> None:
        stored[0] += 1

    before = torch.get_num_threads()
    run_batches(model, batches(), store, n_outputs=10, options=RunOptions(workers=2))
    assert stored[0] == 8 and len(names) == 2
    assert all(n.startswith("lulcmap-model") for n in names)
    assert threads_seen == {cpu_workers(2)[1]}
    assert max(lead) <= 3  # two in the workers, one waiting
    assert torch.get_num_threads() == before


def test_model_errors_reach_the_caller() -> None:
    def broken(images: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("out of cheese")

    with pytest.raises(RuntimeError, match="out of cheese"):
        run_all(broken, oracle_batches(30), 10, RunOptions(workers=2))


@pytest.fixture(scope="module")
def demo() -> object:
    return load_model("demo-synthetic")


def demo_batches(model: object, n: int = 12, device_seed: int = 1) -> list[Batch]:
    """Smooth random chips (bf16 rounding shows on a real network) and the card's mean values."""
    card = model.card  # type: ignore[attr-defined]
    size = card.input.chip_size
    rng = np.random.default_rng(device_seed)
    coarse = rng.integers(0, 256, (n, 3, size // 16, size // 16))
    chips = np.kron(coarse, np.ones((1, 1, 16, 16), np.int64)).astype(np.uint8)
    anc = np.tile(np.array([a.mean for a in card.ancillary], np.float32), (n, 1))
    return [
        Batch((chips[s : s + 4], anc[s : s + 4]), key=np.arange(s, s + 4)) for s in range(0, n, 4)
    ]


def test_bf16_on_cpu_stays_within_001_of_float32(demo: object) -> None:
    batches = demo_batches(demo)
    n = demo.card.n_classes  # type: ignore[attr-defined]
    fp32 = run_all(demo, batches, n, RunOptions())
    bf16 = run_all(demo, batches, n, RunOptions(bf16=True))
    assert np.isfinite(bf16).all()
    assert 0 < np.abs(fp32 - bf16).max() <= 0.01  # > 0: autocast did run


# -- the CUDA path --------------------------------------------------------------------------------
class _FakeEvent:
    """A CUDA event that is always done, recording when it is waited on."""

    log: ClassVar[list[str]] = []

    def record(self, stream: object) -> None:
        pass

    def synchronize(self) -> None:
        self.log.append("sync")


def test_cuda_schedule_keeps_one_batch_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA path's order of work, on CPU tensors (runs everywhere; the device test is below):
    batch k's results are stored only after batch k + 1 has been launched, every batch is stored
    once, and the output-shape check runs there too."""
    order: list[str] = []
    _FakeEvent.log = order
    empty = torch.empty
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **k: empty(*a, **k))
    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: None)
    oracle = OracleModel(10)

    def model(images: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
        order.append(f"call {len(images)}")
        return oracle(images, anc)

    batches = oracle_batches(13, per_batch=5)
    out = np.full((13, 10), np.nan, np.float32)

    def store(batch: Batch, values: np.ndarray) -> None:
        order.append(f"store {len(batch)}")
        out[batch.key] = values

    runtime._run_cuda(model, batches, store, 10, torch.device("cpu"), False)
    assert order == [
        *("call 5", "call 5", "sync", "store 5", "call 3", "sync", "store 5"),
        *("sync", "store 3"),
    ]
    np.testing.assert_array_equal(out, run_all(oracle, batches, 10, RunOptions()))
    with pytest.raises(ModelCardError, match="returned abundances of shape"):
        runtime._run_cuda(model, batches, store, 11, torch.device("cpu"), False)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("bf16", [False, True])
def test_cuda_engine_gives_the_cpu_map(bf16: bool) -> None:
    """The whole engine on CUDA (pinned copies, one batch in flight) against CPU: the oracle's
    fractions are exact counts, so they must agree to float32 rounding, with bf16 or without."""
    classes = patchy_classes((470, 530))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid, chip_size=64, stride=40)
    anc = np.zeros((*plan.shape, 0))

    def run(device: str) -> np.ndarray:
        opts = EngineOptions(batch_size=7, device=device, bf16=bf16 and device == "cuda")
        return run_inference(
            source, plan, anc, OracleModel(10), n_classes=10, options=opts
        ).fractions

    cpu, cuda = run("cpu"), run("cuda")
    assert np.isfinite(cuda).all()
    np.testing.assert_allclose(cuda, cpu, atol=1e-6)


@pytest.mark.gpu
@needs_cuda
def test_cuda_runner_gives_the_cpu_fractions_of_a_network() -> None:
    """The demo network on CUDA against CPU float32: float32 within kernel rounding, bf16 within
    0.01; a wrong output width is caught on the CUDA path too."""
    cpu_model, cuda_model = (
        load_model("demo-synthetic"),
        load_model("demo-synthetic", device="cuda"),
    )
    batches = demo_batches(cpu_model)
    n = cpu_model.card.n_classes
    ref = run_all(cpu_model, batches, n, RunOptions())
    fp32 = run_all(cuda_model, batches, n, RunOptions(device="cuda"))
    bf16 = run_all(cuda_model, batches, n, RunOptions(device="cuda", bf16=True))
    np.testing.assert_allclose(fp32, ref, atol=2e-3)  # cuDNN may use TF32 for float32 convs
    assert np.isfinite(bf16).all() and np.abs(bf16 - ref).max() <= 0.01
    with pytest.raises(ModelCardError, match="returned abundances of shape"):
        run_all(cuda_model, batches, n + 1, RunOptions(device="cuda"))
