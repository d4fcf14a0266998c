"""Independent runs (seeds, arms, learning rates) in worker processes, results in task order."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")
# A plan yields a batch of calls (module-level functions with picklable arguments, such as a
# functools.partial) and is sent back their results, in order, before it yields the next batch.
Plan = Generator[list[Callable[[], Any]], list[Any], None]


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
            with _one_thread_here():
                results = []
                for task in tasks:
                    results.append(fn(task))
                    bar.update()
                return results
        with _pool(min(jobs, len(tasks))) as pool:
            futures = [pool.submit(fn, task) for task in tasks]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            return [future.result() for future in futures]


def run_plans(plans: Sequence[Plan], jobs: int, desc: str, progress: bool = True) -> None:
    """Drive every plan to its end, their batches side by side over `jobs` worker processes (one
    pool for all), so a plan waiting on its own slow call never leaves a core idle that another
    plan's next batch could use. `jobs=1` drives them one after another in this process."""
    bar = tqdm(desc=desc, unit="run", file=sys.stderr, disable=not progress)
    with bar:
        if jobs <= 1:
            with _one_thread_here():
                for plan in plans:
                    results = None
                    while (calls := _next_batch(plan, results)) is not None:
                        results = []
                        for call in calls:
                            results.append(call())
                            bar.update()
            return
        with _pool(jobs) as pool:
            running: dict[int, tuple[Plan, list[Future[Any]]]] = {}

            def advance(key: int, plan: Plan, results: list[Any] | None) -> None:
                calls = _next_batch(plan, results)
                if calls is None:
                    del running[key]
                else:
                    running[key] = (plan, [pool.submit(call) for call in calls])

            for key, plan in enumerate(plans):
                running[key] = (plan, [])
                advance(key, plan, None)
            counted: set[Future[Any]] = set()
            while running:
                waiting = [f for _, futures in running.values() for f in futures if f not in counted]
                done, _ = wait(waiting, return_when=FIRST_COMPLETED)
                counted |= done
                bar.update(len(done))
                for key, (plan, futures) in list(running.items()):
                    if all(f.done() for f in futures):
                        advance(key, plan, [f.result() for f in futures])


def _next_batch(plan: Plan, results: list[Any] | None) -> list[Callable[[], Any]] | None:
    """The plan's next non-empty batch of calls (an empty one is answered at once), or None at its end."""
    try:
        calls = plan.send(results)  # send(None) starts a generator
        while not calls:
            calls = plan.send([])
    except StopIteration:
        return None
    return calls


@contextmanager
def _pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread) as pool:
        yield pool


@contextmanager
def _one_thread_here() -> Iterator[None]:
    # Serial runs use one torch thread too, so their numbers are those of the workers.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


__all__ = ["Plan", "default_jobs", "run_all", "run_plans"]
