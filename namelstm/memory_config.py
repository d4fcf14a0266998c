"""Settings of the memory experiment, kept free of heavy imports so the CLI can show its defaults."""

from __future__ import annotations

from dataclasses import dataclass

from namelstm.errors import BadInput


@dataclass(frozen=True)
class Arm:
    """One model family with one initialisation: the unit the experiment compares.

    `forget_bias` None keeps the family's own initialisation; a number is set with `init_forget_bias`.
    """

    model: str
    forget_bias: float | None = None

    @property
    def init(self) -> str:
        return "default" if self.forget_bias is None else f"forget bias {self.forget_bias:g}"

    @property
    def label(self) -> str:
        return self.model if self.forget_bias is None else f"{self.model}, {self.init}"


ARMS = (Arm("rnn"), Arm("tanhrnn"), Arm("lstm"), Arm("lstm", 1.0), Arm("mylstm"), Arm("mylstm", 1.0))


@dataclass(frozen=True)
class MemoryConfig:
    """Every setting of the memory experiment; the defaults fit in 5 minutes on 2 CPU cores
    with `jobs=2` (measured; see the README)."""

    arms: tuple[Arm, ...] = ARMS
    distances: tuple[int, ...] = (5, 10, 20, 50, 100)
    seeds: tuple[int, ...] = (0, 1, 2)
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # Adam; each arm's is chosen by `tune`
    tune_distance: int = 20
    tune_seed: int = 1000  # a seed of its own, so the chosen rate owes nothing to the reported runs
    batch_size: int = 32
    max_steps: int = 400  # the same cap for every arm
    eval_every: int = 50
    heldout_size: int = 1000
    solved_at: float = 0.99  # held-out accuracy to reach twice in a row
    clip: float = 1.0
    gradient_samples: int = 20
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.tune_seed in self.seeds:
            raise BadInput(f"the tuning seed {self.tune_seed} must not be one of the reported seeds")
        if min(self.distances) < 1 or self.max_steps < self.eval_every:
            raise BadInput("distances must be >= 1 and the step cap at least one evaluation interval")

    def describe(self) -> str:
        """One line naming what the results were made from, built from these settings."""
        return (
            f"fresh batch of {self.batch_size} per step, Adam, gradient norm clipped at {self.clip:g}, "
            f"cap {self.max_steps} steps; held-out accuracy on {self.heldout_size} sequences per N every "
            f"{self.eval_every} steps, solved at >= {self.solved_at:.0%} twice in a row; lr per arm from "
            f"{{{', '.join(f'{lr:g}' for lr in self.lrs)}}} at N = {self.tune_distance}; "
            f"seeds {','.join(map(str, self.seeds))}; default hidden sizes"
        )
