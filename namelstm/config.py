"""Training settings, kept free of heavy imports so the CLI can show its defaults instantly."""

from __future__ import annotations

from dataclasses import dataclass

# Names per forward pass wherever a trained model only reads (evaluate, predict, serve, analyze):
# large enough to be fast, small enough to bound memory for any number of names.
INFERENCE_BATCH_SIZE = 4096


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; `None` means the model family's default."""

    model: str = "lstm"
    epochs: int = 20
    batch_size: int = 64
    lr: float | None = None
    momentum: float = 0.9
    hidden_size: int | None = None
    clip: float = 1.0  # max gradient norm: keeps the linear RNN's recurrence from blowing up
    seed: int = 0
    device: str = "auto"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    transliterate: bool = False  # write other scripts in Latin letters before folding the data


def split_label(fractions: tuple[float, ...] | list[float], seed: int) -> str:
    """How every number in the tool names its split: 'split by name 0.8/0.1/0.1 seed 0'."""
    return f"split by name {'/'.join(f'{f:g}' for f in fractions)} seed {seed}"
