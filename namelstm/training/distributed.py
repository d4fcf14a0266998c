"""Training in several processes with torch.distributed, as started by torchrun (or `train --nproc N`).

Reading order: `World` (where this process stands, from torchrun's environment variables);
`process_group` (the process group for the length of a run) and the `Group` it yields; `rank_share` (a
rank's slice of a global batch); `stop_requests` (Ctrl-C); `launch` (torchrun from `train --nproc`).
A process that torchrun did not start is rank 0 of a world of 1, and nothing here costs it anything.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from namelstm.errors import NamelstmError

T = TypeVar("T")

# Ranks agree on Ctrl-C every this many steps: one tiny CPU all-reduce, cheap next to the gradients'.
STOP_CHECK_EVERY = 8


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run: rank, world size, rank on its machine.

    Read from torchrun's RANK, WORLD_SIZE and LOCAL_RANK; a process started alone is rank 0 of 1.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> World:
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            world = cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", env["RANK"])))
        except (KeyError, ValueError):
            raise NamelstmError(
                "WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not numbers; "
                "start several processes with torchrun"
            ) from None
        if not 0 <= world.rank < world.size:
            raise NamelstmError(f"RANK {world.rank} is outside WORLD_SIZE {world.size}")
        return world

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self, name: str) -> torch.device:
        """The device for `--device NAME`: on CUDA, this rank's own GPU (cuda:LOCAL_RANK)."""
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda":
            if not torch.cuda.is_available():
                raise NamelstmError("--device cuda asked for, but PyTorch sees no CUDA GPU")
            if self.local_rank >= torch.cuda.device_count():
                raise NamelstmError(
                    f"LOCAL_RANK {self.local_rank} has no GPU of its own "
                    f"({torch.cuda.device_count()} visible); lower --nproc-per-node"
                )
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device(name)


class _Classify(torch.nn.Module):
    """Routes DistributedDataParallel's forward to the model's batched `classify`, which is what
    training calls (DDP only prepares its gradient all-reduce inside `forward`)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.classify(letters, lengths)


@dataclass(frozen=True)
class Group:
    """The ranks of one run as seen from one of them: the collectives training needs.

    With a world of one every method is a no-op, so the trainer has a single code path.
    """

    world: World = World()

    @property
    def is_main(self) -> bool:
        return self.world.is_main

    def barrier(self) -> None:
        if self.world.distributed:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank if `flag` is true on any rank (all ranks must call it together).
        A CPU tensor, so on gloo: asking never waits for a GPU stream."""
        if not self.world.distributed:
            return flag
        raised = torch.tensor([int(flag)])
        dist.all_reduce(raised, op=dist.ReduceOp.MAX)
        return bool(raised.item())

    def broadcast(self, obj: T) -> T:
        """Rank 0's `obj` on every rank (the others pass anything, e.g. None)."""
        if not self.world.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
        return box[0]

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of `tensor` over the ranks, in place, on the tensor's device."""
        if self.world.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def wrap(self, model: Any, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """`model.classify` for training: alone, the method itself; among ranks, through
        DistributedDataParallel, which starts every rank from rank 0's weights and sums the
        ranks' gradients during backward (divided by the world size: see `train.Trainer.step_loss`)."""
        if not self.world.distributed:
            return model.classify
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            _Classify(model), device_ids=[device.index] if device.type == "cuda" else None
        )


@contextmanager
def process_group(world: World) -> Iterator[Group]:
    """Join torchrun's process group for the length of a run and leave it at the end, whatever
    happens. CPU tensors go through gloo, CUDA tensors through nccl."""
    if not world.distributed:
        yield Group(world)
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, rank=world.rank, world_size=world.size)
    try:
        yield Group(world)
        dist.barrier()  # leave together: a rank that tore down early could fail one still at work
    except RuntimeError as err:
        if world.is_main:
            raise
        # A collective broke because another rank stopped; that rank (rank 0 if it was) says why.
        print(
            f"rank {world.rank}: stopped, as another rank did ({str(err).splitlines()[0][:120]})",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    finally:
        dist.destroy_process_group()


def rank_share(rows: torch.Tensor, rank: int, size: int) -> tuple[torch.Tensor, bool]:
    """Rank `rank`'s contiguous slice of a global batch's `rows`, and whether it counts.

    The rows of a batch are in length order, so each slice keeps names of similar length. A batch
    with fewer names than ranks leaves some ranks none: such a rank runs the batch's first name
    with weight 0 (False), so it still takes part in the gradient all-reduce.
    """
    part = rows.tensor_split(size)[rank]
    return (part, True) if len(part) else (rows[:1], False)


@contextmanager
def stop_requests(world: World) -> Iterator[Callable[[], bool]]:
    """While training, Ctrl-C (SIGINT) only raises a flag that the loop checks between steps, so
    no step or file write is cut in half.

    Alone, a second Ctrl-C stops at once. Under torchrun the launcher forwards SIGINT and kills
    the workers itself if they take too long, so repeats are only noted: a worker that died in
    the middle of a collective would leave the others waiting.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set() and not world.distributed:
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _without_option(args: Sequence[str], option: str) -> list[str]:
    """`args` without `option VALUE` / `option=VALUE`."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept


def launch(nproc: int, argv: Sequence[str], threads: int | None = None) -> int:
    """Run `python -m namelstm ARGV` as `nproc` ranks on this machine through torchrun (like
    `torchrun --standalone --nproc-per-node NPROC -m namelstm ARGV`); returns the exit code to
    use: 0, 130 after Ctrl-C, else the first failed rank's. A `--nproc` in ARGV is dropped, so
    each rank trains instead of launching again."""
    argv = _without_option(argv, "--nproc")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    from namelstm.inference.threads import resolve_threads

    # torchrun would otherwise warn that it picks 1 thread per rank; the rank applies --threads anyway.
    os.environ.setdefault("OMP_NUM_THREADS", str(resolve_threads(threads)))
    # torchrun's agent logs each shutdown as a warning; the exit code and rank 0's line say it all.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.ERROR)
    args = get_args_parser().parse_args(
        ["--standalone", "--nproc-per-node", str(nproc), "-m", "namelstm", *argv]
    )
    try:
        run(args)
    except SignalException as stop:
        return 130 if stop.sigval == signal.SIGINT else 128 + int(stop.sigval)
    except ChildFailedError as failed:
        codes = [f.exitcode for _, f in sorted(failed.failures.items())]
        return 130 if 130 in codes else next((c for c in codes if c > 0), 1)
    return 0
