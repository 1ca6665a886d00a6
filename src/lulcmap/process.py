"""Process-wide settings: the ``lulcmap`` command applies them to its own process; the library
never does, as they change the whole process (a program of yours may call them itself).

* :func:`tune_malloc`: glibc keeps and reuses the memory the model's batches free;
* :func:`importing`: a command's heavy imports (torch, GDAL, dask, ...) with the cyclic garbage
  collector paused, then frozen;
* :func:`available_cores`: what the engine's thread counts follow (a query; it changes nothing).

This module imports nothing heavy: the command line imports it before it knows which command
runs.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def tune_malloc() -> bool:
    """Let glibc keep and reuse freed memory in this process (the CLI's own): one malloc arena,
    blocks under 32 MB from the heap, and the heap's top trimmed only past 2 GB.

    By default the model's activations (tens of MB per batch, allocated by the worker threads)
    are given back to the kernel and faulted in again and again. ``lulcmap predict`` on a full
    Sentinel-2 tile: 2.3 GB of page faults without these settings, 0.6 GB with them (blocks over
    32 MB are still mapped per call), system CPU time 3 s -> 1.1 s, ~10 % less wall time
    (benchmarks/RESULTS.md). All three are needed: a trim threshold alone fixes the mmap
    threshold at 128 kB and makes it far worse. The library leaves the allocator alone; this is
    for processes lulcmap owns (the ``lulcmap`` command calls it first); a program of yours may
    call it before it starts threads. Returns False where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    return all(
        libc.mallopt(option, value) == 1
        for option, value in (
            (m_arena_max, 1),
            (m_mmap_threshold, 32 * 2**20),
            (m_trim_threshold, 2**31 - 1),
        )
    )


@contextmanager
def importing() -> Iterator[None]:
    """Run a block of imports with the cyclic garbage collector paused, then freeze all objects.

    Importing torch, GDAL, dask and pandas creates ~half a million objects that live as long as the
    process. While they are imported, every full collection walks all of them again, and so
    does each collection at interpreter exit. Frozen objects (:func:`gc.freeze`) are left out
    of every later collection. ``lulcmap predict`` starts ~0.4 s sooner and exits ~0.6 s
    sooner (benchmarks/RESULTS.md). Collection thresholds are restored afterwards.

    Objects are frozen only when the block imported modules: in a process that has them already
    (the tests, a pipeline's later steps) there is nothing to gain, and freezing would also keep
    any garbage cycles awaiting collection for the rest of the process.
    """
    modules = len(sys.modules)
    thresholds = gc.get_threshold()
    # Threshold 0 stops automatic collections while gc.isenabled() stays True: gc.disable()
    # would be seen as the process's setting by libraries that save it at import time (dask's
    # disable_gc decorator re-disables the collector on every call with the saved state).
    gc.set_threshold(0)
    try:
        yield
    finally:
        if len(sys.modules) > modules:
            gc.freeze()
        gc.set_threshold(*thresholds)


__all__ = ["available_cores", "importing", "tune_malloc"]
