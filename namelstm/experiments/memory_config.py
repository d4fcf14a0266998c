"""Settings of the memory experiment, kept free of heavy imports so the CLI can show its defaults."""

from __future__ import annotations

from dataclasses import dataclass

from namelstm.errors import BadInput


@dataclass(frozen=True)
class Arm:
    """One model family with one initialisation: the unit the experiment compares.

    `forget_bias` None keeps the family's own initialisation; a number is set with `init_forget_bias`.
    `chrono`: Tallec & Ollivier's initialisation for dependencies up to the sweep's largest N.
    `forget_gate` False: `mylstm` as the 1997 cell, f = 1.
    """

    model: str
    forget_bias: float | None = None
    chrono: bool = False
    forget_gate: bool = True

    def __post_init__(self) -> None:
        if self.chrono and self.forget_bias is not None:
            raise BadInput("an arm has a forget bias or chrono initialisation, not both")
        if not self.forget_gate and (self.model != "mylstm" or self.chrono or self.forget_bias is not None):
            raise BadInput("only mylstm can drop its forget gate, and then it has no forget bias to set")

    @property
    def init(self) -> str:
        if self.chrono:
            return "chrono"
        if not self.forget_gate:
            return "no forget gate"
        return "default" if self.forget_bias is None else f"forget bias {self.forget_bias:g}"

    @property
    def label(self) -> str:
        return self.model if self.init == "default" else f"{self.model}, {self.init}"

    @property
    def options(self) -> dict[str, bool]:
        """The family's own constructor options (see `build_model`)."""
        return {} if self.forget_gate else {"forget_gate": False}


ARMS = (
    Arm("rnn"),
    Arm("tanhrnn"),
    Arm("irnn"),
    Arm("lstm"),
    Arm("lstm", 1.0),
    Arm("lstm", chrono=True),
    Arm("mylstm"),
    Arm("mylstm", 1.0),
    Arm("mylstm", forget_gate=False),
)


@dataclass(frozen=True)
class MemoryConfig:
    """Every setting of the memory experiment; the defaults fit in 5 minutes on 2 CPU cores
    with `jobs=2` (measured; see docs/thesis.md)."""

    arms: tuple[Arm, ...] = ARMS
    distances: tuple[int, ...] = (5, 10, 20, 50, 100)
    seeds: tuple[int, ...] = (0, 1, 2)
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # Adam; each arm's at each N is chosen by `_tune`
    widen: int = 2  # lower rates `_tune` may add where the best solved run had the lowest rate tried
    tune_seed: int = 1000  # a seed of its own, so the chosen rate owes nothing to the reported runs
    batch_size: int = 32
    # The same cap for every arm. Measured at N = 100 with a cap of 1000: the lstm with chrono init
    # solved in 200-350 steps, mylstm without a forget gate in 150-200, irnn in 300-550 (docs/thesis.md).
    max_steps: int = 600
    eval_every: int = 50
    heldout_size: int = 1000
    solved_at: float = 0.99  # held-out accuracy to reach twice in a row
    batch_gate: float = 0.875  # the held-out set is scored only once the training batch is this accurate
    clip: float = 1.0
    gradient_samples: int = 20
    device: str = "cpu"
    every_distance: bool = False  # False: an arm that solves no seed at one N stops there

    def __post_init__(self) -> None:
        if self.tune_seed in self.seeds:
            raise BadInput(f"the tuning seed {self.tune_seed} must not be one of the reported seeds")
        if min(self.distances) < 1 or self.max_steps < self.eval_every or not self.lrs:
            raise BadInput("distances must be >= 1 and the step cap at least one evaluation interval")

    def describe(self) -> str:
        """One line naming what the results were made from, built from these settings."""
        return (
            f"fresh batch of {self.batch_size} per step, Adam, gradient norm clipped at {self.clip:g}, "
            f"cap {self.max_steps} steps; held-out accuracy on {self.heldout_size} sequences per N every "
            f"{self.eval_every} steps, solved at >= {self.solved_at:.0%} twice in a row; lr per arm and N "
            f"from {{{', '.join(f'{lr:g}' for lr in self.lrs)}}} (widened down {self.widen}x at most) "
            f"on seed {self.tune_seed}; seeds {','.join(map(str, self.seeds))}; default hidden sizes; "
            f"chrono T_max {max(self.distances)}"
            + (
                ""
                if self.every_distance
                else "; an arm that solves no seed at one N is not trained at longer ones"
            )
        )
