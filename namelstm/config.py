"""Training settings, kept free of heavy imports so the CLI can show its defaults instantly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

TAU_LIMITS = (-5.0, 5.0)  # what predict --tau accepts; further out, one language wins everything

BALANCES = ("none", "sqrt", "inverse")  # class weights (n / (K n_c)) ** p for p = 0, 1/2, 1
# Every power the library takes: "quarter" is a step of the recipe sweep (scripts/sweep_recipe.py) that
# was not chosen, so the command line does not offer it.
BALANCE_POWERS: Mapping[str, float] = {"none": 0.0, "quarter": 0.25, "sqrt": 0.5, "inverse": 1.0}
OPTIMIZERS = ("sgd", "adam")
INITS = ("default", "chrono")  # chrono: Tallec & Ollivier (2018), for the LSTM families
TAU_GRID = tuple(round(0.05 * i, 2) for i in range(-10, 41))  # the logit adjustment's tau: -0.5 .. 2.0
# How tau is chosen on validation. "one-se": the tau nearest 0 whose score is within one bootstrap
# standard error of the best (Breiman et al. 1984's rule), so a flat score keeps the model as trained;
# "best": the best score, wherever on a flat stretch it falls.
TAU_RULES = ("one-se", "best")
LR_SCHEDULES = ("constant", "cosine")  # cosine: lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2, per epoch

# Names per forward pass wherever a trained model reads a whole split (evaluate, analyze), which
# is cut into batches of similar length: large enough to be fast, small enough to bound memory.
INFERENCE_BATCH_SIZE = 4096
# Names per forward pass of the padded (mixed-length) path, kept for scripts/bench.py's comparison:
# 4096 padded each batch to about twice the letters that 512 does, and a step of a 4096-name batch
# costs more per name; 1M names took 18 s of lstm time instead of 7 s. `Predictor` reads names
# in exact-length batches instead (inference/backends.py).
PREDICT_BATCH_SIZE = 512
# What runs a prediction's model (Predictor.load): "auto" is onnxruntime where the model has an ONNX
# form made from its checkpoint (`namelstm export`), else PyTorch.
BACKENDS = ("auto", "onnx", "torch")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; `None` means the model family's default.

    `resolve_config` (train.py) fills the `None`s from the family's class, so a saved config is complete.
    """

    model: str = "lstm"
    epochs: int = 20
    batch_size: int = 64
    lr: float | None = None
    optimizer: str | None = None  # "sgd" or "adam"
    momentum: float = 0.9  # SGD only
    hidden_size: int | None = None
    lr_schedule: str | None = None  # see LR_SCHEDULES
    average_last: int | None = None  # keep the mean weights of the last N epochs (SWA); 0: the best epoch's
    # The epochs the cosine schedule spans; None: `epochs`. Set when a resumed run goes on beyond the
    # total it started with, so its learning rate keeps falling instead of jumping back up.
    schedule_epochs: int | None = None
    clip: float = 1.0  # max gradient norm: keeps the linear RNN's recurrence from blowing up
    weight_decay: float = 0.0  # the optimizer's L2 penalty (SGD's and Adam's own, coupled to the gradient)
    label_smoothing: float = 0.0  # share of each name's target spread evenly over the languages
    balance: str | None = None  # class weights of the loss: a key of BALANCE_POWERS
    tau_rule: str | None = None  # how tau is chosen on validation: "one-se" or "best" (TAU_RULES)
    forget_bias: float | None = None  # initial forget-gate bias of the LSTM families; None = PyTorch's init
    init: str = "default"  # see INITS
    chrono_tmax: float | None = None  # chrono's longest dependency; None = the longest training name
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # PyTorch CPU threads; None = the tool's default (see --threads)
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    transliterate: bool = False  # write other scripts in Latin letters before folding the data
    scripts: str | None = None  # JSON file: language -> scripts it is written in; None = the shipped table
    alphabet: str = "report"  # "report": the report's 57 letters; "auto": the letters of the data
    # Distillation (Hinton, Vinyals & Dean 2015): the runs (or "pretrained") whose mean probabilities over
    # the training names, softened by `distill_temperature`, are the targets instead of the labels.
    teachers: tuple[str, ...] = ()
    distill_temperature: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; `from_dict` gives the same config back."""
        return {**asdict(self), "fractions": list(self.fractions), "teachers": list(self.teachers)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """A config from `to_dict`'s output; keys it does not know (from other versions) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        if "fractions" in values:
            values["fractions"] = tuple(float(f) for f in values["fractions"])
        if "teachers" in values:
            values["teachers"] = tuple(str(t) for t in values["teachers"])
        return cls(**values)

    def kept_weights(self, best_epoch: int) -> str:
        """Which weights a finished run kept: 'best epoch 7/20', or 'mean of epochs 11–20' when it
        averages (then no single epoch is 'best', whatever its validation loss)."""
        if self.average_last and self.average_last > 1:
            return f"mean of epochs {self.epochs - self.average_last + 1}–{self.epochs}"
        return (
            f"epoch {self.epochs}/{self.epochs}"
            if self.average_last
            else f"best epoch {best_epoch}/{self.epochs}"
        )

    def describe(self) -> str:
        """The run's recipe in words, from the values actually used: 'lstm hidden 64, SGD lr 0.1 ...'."""
        optimizer = {"sgd": "SGD", "adam": "Adam"}[self.optimizer or "sgd"]
        lr = "" if self.lr is None else f" lr {self.lr:g}"
        momentum = f" momentum {self.momentum:g}" if optimizer == "SGD" else ""
        schedule = f" {self.lr_schedule} schedule" if self.lr_schedule == "cosine" else ""
        if schedule and self.schedule_epochs not in (None, self.epochs):
            schedule += f" over {self.schedule_epochs} epochs, then its last rate"
        parts = [
            f"{self.model} hidden {self.hidden_size}" if self.hidden_size else self.model,
            f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}",
            f"batch {self.batch_size}",
            f"{optimizer}{lr}{momentum}{schedule}",
            f"clip {self.clip:g}" if self.clip != float("inf") else "no clipping",
        ]
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        if self.balance and self.balance != "none":
            parts.append(f"{self.balance} class weights")
        if self.average_last:
            n = self.average_last
            parts.append(f"mean of the last {n} epochs' weights" if n > 1 else "the last epoch's weights")
        if self.forget_bias is not None:
            parts.append(f"forget bias {self.forget_bias:g}")
        if self.teachers:
            n = len(self.teachers)
            parts.append(
                f"distilled from {n} teacher{'s' if n > 1 else ''} at T {self.distill_temperature:g}"
            )
        if self.init == "chrono":
            parts.append("chrono init" + (f" T_max {self.chrono_tmax:g}" if self.chrono_tmax else ""))
        return ", ".join(parts)


def split_label(fractions: tuple[float, ...] | list[float], seed: int) -> str:
    """How every number in the tool names its split: 'split by name 0.8/0.1/0.1 seed 0'."""
    return f"split by name {'/'.join(f'{f:g}' for f in fractions)} seed {seed}"
