"""Exact-length batches: names grouped by their length, so a batch holds no padding and nothing to
pack. numpy only, so the torch-free predictor uses the same grouping as the torch paths."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from namelstm.data.alphabet import Alphabet


def length_groups(lengths: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Row indices of `lengths`, grouped by equal length (shortest first) in chunks of at most `size`."""
    order = np.argsort(lengths, kind="stable")
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    for group in np.split(order, bounds):
        for start in range(0, len(group), size):
            yield group[start : start + size]


def exact_length_batches(
    names: Sequence[str], alphabet: Alphabet, size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`(rows, letters)` for folded `names`: `letters` is the `[B, T]` int64 letter indices of the
    names at `rows`, every one of them exactly `T` letters long."""
    flat, lengths = alphabet.encode_flat(names)
    starts = np.cumsum(lengths) - lengths
    for rows in length_groups(lengths, size):
        width = int(lengths[rows[0]])
        yield rows, flat[starts[rows, None] + np.arange(width)].astype(np.int64)
