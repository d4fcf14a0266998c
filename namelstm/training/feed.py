"""The training steps of one rank: its share of each global mini-batch, on its device, without host syncs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from namelstm.data.names import Batches, pad_letters
from namelstm.training.distributed import World, rank_share

# Keep the encoded split on the GPU when it takes at most this share of the free memory.
RESIDENT_SHARE = 0.25


@dataclass(frozen=True)
class Step:
    """One rank's names of one global batch, on the device, and the global batch's class weight,
    which its summed loss is divided by (see `Trainer.step_loss` in train.py)."""

    letters: torch.Tensor  # [b, T] long
    lengths: torch.Tensor  # [b]
    targets: torch.Tensor  # [b]
    batch_weight: float  # the global batch's summed class weight, read from host memory
    names: int  # names of this rank that count (0 or b)
    batch: int  # names in the global batch
    soft: torch.Tensor | None = None  # [b, n_languages] the teacher's softened probabilities, when distilling


class Feed:
    """Serves this rank's share of each length-bucketed global batch, ready on `device`.

    On a GPU the encoded split (letters end to end, a byte or two each) is copied there once when it
    fits, so a step copies nothing and waits for nothing; otherwise each share goes through pinned
    memory with a non-blocking copy.
    """

    def __init__(
        self,
        batches: Batches,
        device: torch.device,
        world: World,
        class_weights: torch.Tensor | None = None,
        soft_targets: torch.Tensor | None = None,
    ) -> None:
        self.batches, self.device, self.world = batches, device, world
        self.weights = (
            torch.ones(int(batches.targets.max()) + 1)
            if class_weights is None
            else class_weights.detach().float().cpu()
        )
        encoded = batches.encoded
        self.resident = device.type == "cuda" and _fits(encoded.flat, device)
        if self.resident:
            self.flat, self.starts = encoded.flat.to(device), encoded.starts.to(device)
        self.lengths = batches.lengths.to(device)
        self.targets = batches.targets.to(device)
        self.soft = None if soft_targets is None else soft_targets.to(device)

    def __len__(self) -> int:
        return len(self.batches)

    def steps(self, generator: torch.Generator | None = None) -> Iterator[Step]:
        """This rank's step of every global batch, in the order `generator` gives every rank."""
        chunks = self.batches.chunks(generator)
        # The whole epoch's order goes to the device in one copy; steps then index it there.
        order = torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.long)
        on_device = _to(order, self.device)
        start = 0
        for rows in chunks:
            share, counts = rank_share(
                torch.arange(start, start + len(rows)), self.world.rank, self.world.size
            )
            first, end = int(share[0]), int(share[-1]) + 1
            start += len(rows)
            host_rows, index = order[first:end], on_device[first:end]
            norm = float(
                self.weights[self.batches.targets[rows]].sum()
            )  # the global batch's, from host memory
            yield Step(
                letters=self._letters(index, host_rows),
                lengths=self.lengths[index],
                targets=self.targets[index],
                batch_weight=norm,
                names=len(index) if counts else 0,
                batch=len(rows),
                soft=None if self.soft is None else self.soft[index],
            )

    def _letters(self, index: torch.Tensor, host_rows: torch.Tensor) -> torch.Tensor:
        """`[b, T]` letter indices of the share, padded to its own longest name."""
        if self.device.type != "cuda":
            return self.batches.encoded.padded(host_rows)[0]
        if not self.resident:
            return _to(self.batches.encoded.padded(host_rows)[0], self.device)
        # encoded.padded, on the device; the width comes from host memory, so nothing waits.
        width = int(self.batches.lengths[host_rows].max())
        return pad_letters(self.flat, self.starts[index], self.lengths[index], width)


def _fits(flat: torch.Tensor, device: torch.device) -> bool:
    free, _ = torch.cuda.mem_get_info(device)
    return flat.numel() * flat.element_size() <= RESIDENT_SHARE * free


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A copy on `device` that the host does not wait for (through pinned memory on CUDA)."""
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)
