"""Ranks, batch shares and the per-rank feed (no process group needed)."""

from __future__ import annotations

import pytest
import torch

from namelstm.data.names import Batches
from namelstm.errors import NamelstmError
from namelstm.inference.threads import resolve_threads
from namelstm.training.distributed import World, rank_share
from namelstm.training.feed import Feed


def test_world_from_torchrun_environment() -> None:
    assert World.from_env({}) == World(0, 1, 0)
    world = World.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (world.rank, world.size, world.local_rank, world.is_main, world.distributed) == (
        3,
        4,
        1,
        False,
        True,
    )
    with pytest.raises(NamelstmError, match="outside WORLD_SIZE"):
        World.from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(NamelstmError, match="torchrun"):
        World.from_env({"WORLD_SIZE": "2"})


def test_rank_shares_are_disjoint_and_cover_the_batch() -> None:
    rows = torch.arange(10, 17)
    shares = [rank_share(rows, r, 3) for r in range(3)]
    assert all(counts for _, counts in shares)
    assert torch.cat([s for s, _ in shares]).tolist() == rows.tolist()
    # Fewer names than ranks: the rank left over runs one name that does not count.
    share, counts = rank_share(torch.tensor([5]), 1, 2)
    assert share.tolist() == [5] and not counts


def test_feed_gives_each_rank_its_slice_of_the_same_global_batches() -> None:
    names = ["Ab", "Abc", "Abcd", "Abcde", "B", "Bc", "Bcd"]
    pairs = [(n, "X" if i % 2 else "Y") for i, n in enumerate(names)]
    batches = Batches(pairs, ["X", "Y"], batch_size=3)
    weights = torch.tensor([1.0, 3.0])
    single = list(
        Feed(batches, torch.device("cpu"), World(), weights).steps(torch.Generator().manual_seed(5))
    )
    ranks = [
        list(
            Feed(batches, torch.device("cpu"), World(r, 2, r), weights).steps(
                torch.Generator().manual_seed(5)
            )
        )
        for r in range(2)
    ]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 3
    for whole, *parts in zip(single, *ranks, strict=False):
        counted = [p for p in parts if p.names]
        assert sorted(torch.cat([p.targets for p in counted]).tolist()) == sorted(whole.targets.tolist())
        assert sum(p.names for p in parts) == whole.names == len(whole.targets)
        # Every rank divides its summed loss by the global batch's weight, not by its own share's.
        assert all(p.batch_weight == pytest.approx(whole.batch_weight) for p in parts)
        assert whole.batch_weight == pytest.approx(float(weights[whole.targets].sum()))
        for p in parts:  # each share is cut to its own longest name
            assert p.letters.shape[1] == int(p.lengths.max())


def test_threads_come_from_the_option_then_the_environment() -> None:
    assert resolve_threads(3, {}) == 3
    assert resolve_threads(None, {"OMP_NUM_THREADS": "2"}) == 2
    assert resolve_threads(None, {}) == 1
    with pytest.raises(NamelstmError):
        resolve_threads(0, {})
