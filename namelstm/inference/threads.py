"""How many CPU threads PyTorch uses in a namelstm process (`--threads`)."""

from __future__ import annotations

import os

from namelstm.errors import BadInput

# One thread: on 2 cores with one other CPU-bound job, PyTorch's default of 2 threads made a 20-epoch
# lstm take 214 s instead of 15 s (the threads spin against the other job), while on a quiet machine
# 2 threads are only a few percent faster. The models are small enough that one core is near their
# speed limit at the default batch; docs/scale.md gives the measurements (scripts/bench.py --only-threads).
DEFAULT_THREADS = 1


def resolve_threads(
    threads: int | None, environ: dict[str, str] | None = None, default: int = DEFAULT_THREADS
) -> int:
    """`threads` if given, else $OMP_NUM_THREADS (torchrun sets it for its workers), else `default`
    (DEFAULT_THREADS for PyTorch; onnxruntime has its own, see inference/backends.py)."""
    if threads is None:
        raw = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "").strip()
        threads = int(raw) if raw.isdigit() and int(raw) > 0 else default
    if threads < 1:
        raise BadInput(f"--threads must be at least 1, not {threads}")
    return threads


def apply_threads(threads: int | None) -> int:
    """Make PyTorch's intra-op work in this process use `resolve_threads(threads)` threads; returns it."""
    import torch  # here, not at import: resolve_threads serves the torch-free predictor too

    n = resolve_threads(threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
