"""The training loop and its state, as a torchtune recipe: `Trainer` (`setup`, `train`, an epoch, a
step, validation and saving, `finish`) and `RunState` (what a run carries from epoch to epoch; its
`state_dict()` is resume.pt). Starting and continuing runs is `launch.py`'s; the settings are resolved
in `settings.py` and the texts a run reports are in `results.py`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from namelstm.calibration import Calibration
from namelstm.checkpoint import RESUME_FORMAT, Checkpoint, save_checkpoint, save_payload
from namelstm.config import INFERENCE_BATCH_SIZE, TrainConfig
from namelstm.data.names import Batches, Split
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import Outputs, infer, test_metrics, validation_metrics
from namelstm.models import NameClassifier, build_model, init_gates
from namelstm.runs import (
    CHECKPOINT,
    HISTORY,
    METRICS,
    RESUME,
    Staging,
    write_json,
)
from namelstm.training.calibrate import class_weights, fit_calibration, prior_of
from namelstm.training.distill import distillation_loss, teacher_probabilities
from namelstm.training.distributed import STOP_CHECK_EVERY, Group, stop_requests
from namelstm.training.feed import Feed, Step
from namelstm.training.optim import JointOptimizer, build_optimizer, clip_gradients, dense_gradients
from namelstm.training.results import HEADLINE, Kept, TrainingInterrupted, TrainResult, epoch_line

# A mean training loss this many times a know-nothing model's has exploded (an SGD step far too long);
# an lstm on the names starts near 2.9 and ends near 0.6, so no run that learns comes near it.
EXPLODED = 100

OnEpoch = Callable[[int, NameClassifier], None]


@dataclass
class Best:
    """The epoch of lowest (class-weighted) validation loss so far and a copy of its weights;
    epoch 0 before any epoch had a finite loss."""

    val_loss: float = math.inf
    val_accuracy: float = 0.0
    epoch: int = 0
    state: dict[str, torch.Tensor] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "epoch": self.epoch,
            "state": self.state,
        }


@dataclass
class RunState:
    """Everything a run carries from one epoch to the next; `state_dict()` is the resume file
    (resume.pt) and `load_state_dict` continues from one, as a module's weights do."""

    config: TrainConfig
    scripts: dict[str, list[str]]  # stored with every checkpoint of the run
    model: NameClassifier
    optimizer: torch.optim.Optimizer | JointOptimizer
    shuffler: torch.Generator  # the batch order
    # Averaging the last epochs' weights (Izmailov et al. 2018, SWA) smooths out the epoch-to-epoch
    # swings of the small languages' recall that picking one best epoch is at the mercy of.
    averaged: AveragedModel | None
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per completed epoch
    best: Best = field(default_factory=Best)

    @classmethod
    def start(
        cls,
        config: TrainConfig,
        scripts: dict[str, list[str]],
        split: Split,
        device: torch.device,
        dense: bool = False,
    ) -> RunState:
        """A new run: the model initialised from torch's global generator (seeded by the caller);
        `dense` turns sparse gradients off (`optim.dense_gradients`)."""
        shuffler = torch.Generator().manual_seed(config.seed)
        model = build_model(config.model, len(split.alphabet), len(split.languages), config.hidden_size)
        model = model.to(device)
        if dense:
            dense_gradients(model)
        init_gates(model, config.forget_bias, config.chrono_tmax if config.init == "chrono" else None)
        averaged = AveragedModel(model) if config.average_last else None
        return cls(config, scripts, model, build_optimizer(model, config), shuffler, averaged)

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.history)

    def in_mean(self, epoch: int) -> bool:
        """Whether `epoch`'s weights go into the mean the run keeps."""
        return self.averaged is not None and epoch > self.config.epochs - self.config.average_last  # type: ignore[operator]

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": RESUME_FORMAT,
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "shuffler": self.shuffler.get_state(),
            "torch_rng": torch.get_rng_state(),  # dropout's draws
            "history": self.history,
            "best": self.best.to_dict(),
            "averaged": self.averaged.state_dict() if self.averaged is not None else None,
            "scripts": self.scripts,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()`'s output; the settings are this object's (`resume_training`
        may have changed the total of epochs, and then dropped a mean that no longer fits)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.shuffler.set_state(state["shuffler"])
        torch.set_rng_state(state["torch_rng"])
        self.history, self.best = state["history"], Best(**state["best"])
        if self.averaged is not None and state.get("averaged") is not None:
            self.averaged.load_state_dict(state["averaged"])


def _epoch_lr(config: TrainConfig, epoch: int) -> float:
    """The learning rate of `epoch` (from 1): computed, not stepped, so a resumed run keeps the curve."""
    if config.lr_schedule == "cosine":
        span = config.schedule_epochs or config.epochs
        return config.lr * (1 + math.cos(math.pi * (min(epoch, span) - 1) / span)) / 2  # type: ignore[operator]
    return config.lr  # type: ignore[return-value]


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Initialisation and dropout draw from torch's global generator; forking it keeps the seed
    local to this run, so a caller's random state is the same before and after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class Trainer:
    """One run, as a torchtune recipe: `setup` builds (or restores) its `RunState`, `train` runs the
    epochs, saving after each, then scores the weights kept. Among ranks, rank 0 alone validates and writes.

    Reading order: `train` -> `run_epoch` -> `train_epoch` -> `train_step` -> `step_loss`; then
    `validate` and `save_state` after each epoch, and `finish` at the end.
    """

    def __init__(
        self,
        config: TrainConfig,
        split: Split,
        group: Group,
        log: Callable[[str], None] = tqdm.write,
        progress: bool = True,
        on_epoch: OnEpoch | None = None,
    ) -> None:
        self.config, self.split, self.group, self.log, self.on_epoch = config, split, group, log, on_epoch
        self.progress = progress and group.is_main
        self.device = group.world.device(config.device)

    def setup(
        self, staging: Staging, scripts: dict[str, list[str]], resume: dict[str, Any] | None = None
    ) -> None:
        """Build the model, its optimizer and the batches, then continue from `resume` (a resume file's
        contents) or, for a new run, save its state before the first epoch."""
        config, split, languages = self.config, self.split, self.split.languages
        self.staging = staging
        # nccl all-reduces no sparse gradients: DDP on GPUs trains every table dense.
        dense = self.group.world.distributed and self.device.type == "cuda"
        self.state = RunState.start(config, scripts, split, self.device, dense)
        train_batches = Batches(split.train, languages, config.batch_size, split.alphabet)
        self.val_batches = Batches(split.val, languages, INFERENCE_BATCH_SIZE, split.alphabet)
        self.prior = prior_of(train_batches.targets, len(languages))
        self.host_weights = class_weights(train_batches.targets, len(languages), config.balance or "none")
        self.weights = self.host_weights.to(self.device)
        soft = (
            teacher_probabilities(config.teachers, split, config.distill_temperature)
            if config.teachers
            else None
        )
        self.feed = Feed(train_batches, self.device, self.group.world, self.host_weights, soft)
        if resume is not None:
            self.state.load_state_dict(resume)
        # `model.classify` whose backward sums the ranks' gradients: among ranks, through
        # DistributedDataParallel, which also starts every rank from rank 0's (resumed) weights.
        self.synced_classify = self.group.wrap(self.state.model, self.device)
        if resume is None and self.group.is_main:  # from now on, there is a run to resume
            save_payload(staging.current / RESUME, self.state.state_dict())

    def train(self) -> TrainResult:
        """Every epoch not done yet (Ctrl-C stops after the current batch), then the kept weights scored."""
        started = time.perf_counter()
        with stop_requests(self.group.world) as interrupted:
            for epoch in range(self.state.epoch + 1, self.config.epochs + 1):
                self.run_epoch(epoch, interrupted)
        return self.finish(time.perf_counter() - started)

    def run_epoch(self, epoch: int, interrupted: Callable[[], bool]) -> None:
        """Train `epoch` at its learning rate; then rank 0 validates, saves and reports it."""
        started = time.perf_counter()
        lr = _epoch_lr(self.config, epoch)
        for param_group in self.state.optimizer.param_groups:
            param_group["lr"] = lr
        record = self.train_epoch(epoch, interrupted)
        if record is None:  # Ctrl-C: the partial epoch is dropped; the last saved state stands
            raise TrainingInterrupted(self.staging.current, epoch - 1, self.staging.replacing)
        if self.on_epoch is not None:
            paused = time.perf_counter()
            self.on_epoch(epoch, self.state.model)
            started += time.perf_counter() - paused
        if self.group.is_main:  # the other ranks only train
            record["lr"] = lr
            self.validate(epoch, record, started)

    def train_epoch(self, epoch: int, interrupted: Callable[[], bool]) -> dict[str, Any] | None:
        """One pass over the training batches; None if Ctrl-C asked to stop (on any rank). Sums stay on
        the device: no host sync per batch."""
        started = time.perf_counter()
        self.state.model.train()
        world = self.group.world
        totals = torch.zeros(3, device=self.device, dtype=torch.float64)  # loss x names, correct names, names
        names = 0
        desc = f"{self.config.model} epoch {epoch}/{self.config.epochs}"
        steps = self.feed.steps(self.state.shuffler)
        with tqdm(
            steps, total=len(self.feed), desc=desc, unit="batch", leave=False, disable=not self.progress
        ) as bar:
            for i, step in enumerate(bar):
                output, loss = self.train_step(step)
                if step.names:
                    names += step.names
                    # Summed over the ranks: the global batch's mean loss times its size, as one process
                    # records it.
                    mean_part = loss.detach() * (step.batch / world.size)
                    totals[:2] += torch.stack([mean_part, (output.detach().argmax(1) == step.targets).sum()])
                # Alone, the flag costs nothing to read; among ranks, they agree on it every few steps.
                if (not world.distributed or i % STOP_CHECK_EVERY == 0) and self.group.any(interrupted()):
                    return None
        if self.group.any(interrupted()):
            return None
        totals[2] = names
        loss_sum, correct, n = self.group.sum(totals).tolist()  # the epoch's one host sync
        self._check_finite(loss_sum / n, epoch)
        return {
            "epoch": epoch,
            "train_loss": loss_sum / n,
            "train_accuracy": correct / n,
            "train_seconds": time.perf_counter() - started,
        }

    def train_step(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on this rank's share of a global batch: its outputs and its loss."""
        output = self.synced_classify(step.letters, step.lengths)
        loss = self.step_loss(output, step)
        self.state.optimizer.zero_grad()
        loss.backward()
        clip_gradients(self.state.model.parameters(), self.config.clip)
        self.state.optimizer.step()
        return output, loss

    def step_loss(self, output: torch.Tensor, step: Step) -> torch.Tensor:
        """This rank's part of the global batch's class-weighted mean loss: its names' summed loss over the
        global batch's weight, times the world size, since DistributedDataParallel averages the ranks'
        gradients (their sum is then one process's gradient). A rank left without names adds nothing."""
        config = self.config
        if step.soft is not None:
            summed = distillation_loss(
                output, step.soft, step.targets, self.weights, config.distill_temperature
            )
        elif config.label_smoothing:  # cross_entropy's log_softmax leaves the log-probabilities as they are
            summed = F.cross_entropy(
                output, step.targets, self.weights, reduction="sum", label_smoothing=config.label_smoothing
            )
        else:
            summed = F.nll_loss(output, step.targets, weight=self.weights, reduction="sum")
        return summed * (self.group.world.size / step.batch_weight if step.names else 0.0)

    def _check_finite(self, train_loss: float, epoch: int) -> None:
        """Stop with a clear message once the loss is no longer finite, or has exploded: far above the
        loss of a model that knows nothing (ln of the number of languages, times T^2 when distilling),
        where every run starts and which a run that learns anything stays below."""
        config = self.config
        start = math.log(len(self.split.languages)) * (
            config.distill_temperature**2 if config.teachers else 1
        )
        if math.isfinite(train_loss) and train_loss <= EXPLODED * start:
            return
        best = self.state.best.epoch
        kept = f"the best checkpoint so far (epoch {best}) is kept" if best else "no checkpoint was written"
        if math.isfinite(train_loss):
            what = f"exploded to {train_loss:g} in epoch {epoch} (over {EXPLODED}x its start, {start:.2f})"
        else:
            what = f"became {train_loss} in epoch {epoch}"
        raise NamelstmError(f"the loss {what}; lower --lr (now {config.lr:g}); {kept}")

    def validate(self, epoch: int, record: dict[str, Any], started: float) -> None:
        """Rank 0 after each epoch: the weights join the mean (when the run averages), are scored on
        validation and kept if best so far; then the run is saved and the epoch's line printed."""
        in_mean = self.state.in_mean(epoch)
        if in_mean:
            self.state.averaged.update_parameters(self.state.model)  # type: ignore[union-attr]
        val = infer(self.state.model, self.val_batches, self.device)
        record.update(
            val_loss=self.val_loss(val),
            val_accuracy=val.accuracy,
            val_balanced_accuracy=val.balanced_accuracy,
            seconds=time.perf_counter() - started,
        )
        self.state.history.append(record)
        improved = self.keep_if_best(epoch, record["val_loss"], val.accuracy)
        self.save_state()
        self.log(epoch_line(record, self.config.epochs, self.state.averaged is not None, in_mean, improved))

    def keep_if_best(self, epoch: int, val_loss: float, val_accuracy: float) -> bool:
        """Copy the weights and write the checkpoint when `val_loss` is the lowest so far."""
        if not val_loss < self.state.best.val_loss:
            return False
        weights = {k: v.detach().clone() for k, v in self.state.model.state_dict().items()}
        self.state.best = Best(val_loss, val_accuracy, epoch, weights)
        metrics = {"val_loss": val_loss, "val_accuracy": val_accuracy}
        save_checkpoint(self.staging.current / CHECKPOINT, self._checkpoint(epoch, metrics))
        return True

    def val_loss(self, val: Outputs) -> float:
        """Selection uses the loss that training minimises: weighted as the training loss is."""
        return F.nll_loss(val.log_probs, val.targets, weight=self.host_weights).item()

    def save_state(self) -> None:
        """After an epoch: the history and the resume file, each written atomically; the first
        complete epoch then replaces an `--overwrite`'s old run."""
        run_dir = self.staging.current
        write_json(run_dir / HISTORY, {"config": self.config.to_dict(), "epochs": self.state.history})
        save_payload(run_dir / RESUME, self.state.state_dict())
        self.staging.promote()

    def finish(self, seconds: float) -> TrainResult:
        """Rank 0: calibrate the kept weights on validation, score them on test, write the scores and
        the final checkpoint."""
        state, config, targets = self.state, self.config, self.val_batches.targets
        majority = float(torch.bincount(targets).max()) / max(len(targets), 1)
        if not self.group.is_main:
            return TrainResult(
                config, self.staging.current, state.history, state.best.epoch, {}, seconds, majority
            )
        if state.best.epoch == 0:
            raise NamelstmError(f"the validation loss was never finite; lower --lr (now {config.lr:g})")
        kept, val = self.kept_weights()
        calibration = fit_calibration(
            val.log_probs, val.targets, self.prior, "validation split", config.tau_rule
        )
        metrics = {
            **test_metrics(state.model, self.split, self.split.languages, self.device, calibration),
            "validation": validation_metrics(val, calibration),
        }
        run_dir = self.staging.current
        weights = config.kept_weights(kept.epoch)
        write_json(
            run_dir / METRICS,
            {"run": str(run_dir), "model": config.model, "epoch": kept.epoch, "weights": weights, **metrics},
        )
        headline = {k: metrics[k] for k in HEADLINE}
        scores = {"val_loss": kept.val_loss, "val_accuracy": kept.val_accuracy, "test": headline}
        save_checkpoint(run_dir / CHECKPOINT, self._checkpoint(kept.epoch, scores, calibration))
        return TrainResult(config, run_dir, state.history, kept.epoch, metrics, seconds, majority)

    def kept_weights(self) -> tuple[Kept, Outputs]:
        """Put the weights the run keeps into the model, and say which they are with their validation
        scores: the mean of the last epochs (named by the last) when the run averages, else the best epoch."""
        state = self.state
        if state.averaged is None:
            state.model.load_state_dict(state.best.state)
            kept = Kept(state.best.val_loss, state.best.val_accuracy, state.best.epoch)
            return kept, infer(state.model, self.val_batches, self.device)
        state.model.load_state_dict(state.averaged.module.state_dict())
        val = infer(state.model, self.val_batches, self.device)
        return Kept(self.val_loss(val), val.accuracy, self.config.epochs), val

    def _checkpoint(
        self, epoch: int, metrics: dict[str, Any], calibration: Calibration | None = None
    ) -> Checkpoint:
        """The model's current weights, with what describes them."""
        config, split = self.config, self.split
        return Checkpoint(
            model_name=config.model,
            hidden_size=config.hidden_size,  # type: ignore[arg-type]  (resolved by the caller)
            languages=tuple(split.languages),
            state_dict=self.state.model.state_dict(),
            epoch=epoch,
            alphabet=split.alphabet.letters,
            config={**config.to_dict(), "split": split.describe(), "data": split.data.get("label", "")},
            metrics=metrics,
            calibration=(calibration or Calibration(self.prior)).to_dict(),
            scripts=self.state.scripts,
        )
