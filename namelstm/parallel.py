"""Independent runs (seeds, arms, learning rates) in worker processes, results in task order."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The cores this process may use (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _one_thread() -> None:
    # Each worker owns one core: several threads per worker would spin against the other workers.
    import torch

    torch.set_num_threads(1)


def run_all(fn: Callable[[T], R], tasks: Sequence[T], jobs: int, desc: str, progress: bool = True) -> list[R]:
    """`[fn(t) for t in tasks]`, spread over `jobs` worker processes (spawned, one torch thread each).

    `fn` must be a module-level function and the tasks picklable. Results come back in task order
    whatever order the workers finish in; `jobs=1` runs serially in this process, also on one
    torch thread, so its numbers are those of the workers. A worker's exception is raised here.
    """
    bar = tqdm(total=len(tasks), desc=desc, unit="run", file=sys.stderr, disable=not progress)
    with bar:
        if jobs <= 1 or len(tasks) <= 1:
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                results = []
                for task in tasks:
                    results.append(fn(task))
                    bar.update()
                return results
            finally:
                torch.set_num_threads(threads)
        context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), mp_context=context, initializer=_one_thread
        ) as pool:
            futures = [pool.submit(fn, task) for task in tasks]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            return [future.result() for future in futures]


__all__ = ["default_jobs", "run_all"]
