"""Training: class-weighted NLLLoss, SGD or Adam, length-bucketed batches; calibration on validation."""

from __future__ import annotations

import math
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from namelstm.calibrate import Calibration, class_weights, fit_calibration, prior_of
from namelstm.checkpoint import RESUME_FORMAT, Checkpoint, load_resume_state, save_checkpoint, save_payload
from namelstm.config import INFERENCE_BATCH_SIZE, INITS, LR_SCHEDULES, OPTIMIZERS, TrainConfig
from namelstm.data import Batches, Split, load_dataset, split_by_name
from namelstm.distill import distillation_loss, teacher_probabilities
from namelstm.distributed import STOP_CHECK_EVERY, Team, World, stop_requests
from namelstm.errors import NamelstmError
from namelstm.evaluate import both_ends, score, test_metrics, validation_metrics
from namelstm.feed import Feed
from namelstm.models import NameClassifier, build_model, family, init_gates
from namelstm.runs import (
    CHECKPOINT,
    HISTORY,
    METRICS,
    RESUME,
    RUN_FILES,
    SPLIT,
    new_run_dir,
    read_json,
    remove_stale_temporaries,
    write_json,
)
from namelstm.script import script_table
from namelstm.sources import Columns


def resolve_config(config: TrainConfig) -> TrainConfig:
    """The same settings with the model family's defaults filled in."""
    cls = family(config.model)
    optimizer = config.optimizer or getattr(cls, "default_optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise NamelstmError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    schedule = config.lr_schedule or getattr(cls, "default_lr_schedule", "constant")
    if schedule not in LR_SCHEDULES:
        raise NamelstmError(f"unknown lr schedule {schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
    average = getattr(cls, "default_average_last", 0) if config.average_last is None else config.average_last
    if average < 0:
        raise NamelstmError(f"average_last must be 0 (keep the best epoch) or more, not {average}")
    _check_init(config, cls)
    return replace(
        config,
        lr=config.lr if config.lr is not None else cls.default_lr,
        hidden_size=config.hidden_size or cls.default_hidden_size,
        optimizer=optimizer,
        balance=config.balance or getattr(cls, "default_balance", "none"),
        lr_schedule=schedule,
        average_last=min(average, config.epochs),  # a short run averages all its epochs
    )


def _check_init(config: TrainConfig, cls: type[NameClassifier]) -> None:
    """Refuse an initialisation the family cannot take before anything is written."""
    if config.init not in INITS:
        raise NamelstmError(f"unknown init {config.init!r}; choose one of {', '.join(INITS)}")
    chrono = config.init == "chrono"
    if config.chrono_tmax is not None and (not chrono or config.chrono_tmax <= 2):
        raise NamelstmError("--chrono-tmax goes with --init chrono and must be more than 2")
    if chrono and config.forget_bias is not None:
        raise NamelstmError("--init chrono sets the forget bias itself; drop --forget-bias")
    if (chrono or config.forget_bias is not None) and cls.init_forget_bias is NameClassifier.init_forget_bias:
        raise NamelstmError(
            f"{config.model} has no forget gate: --forget-bias and --init chrono are for the LSTMs"
        )


def pick_device(name: str) -> torch.device:
    return World().device(name)


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports: where it is, its history and its calibrated test scores."""

    config: TrainConfig
    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    test_metrics: dict[str, Any]
    seconds: float
    majority_accuracy: float  # validation accuracy of always answering the most common language

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def learned_nothing(self) -> bool:
        """No epoch beat always answering the most common language on validation."""
        return max(r["val_accuracy"] for r in self.history) <= self.majority_accuracy + 1e-9

    def summary(self) -> str:
        """The one line `namelstm train` prints at the end."""
        m = self.test_metrics
        return (
            f"{self.model}: test {both_ends(m)}; top-3 {m['top3_accuracy']:.1%}, "
            f"macro-F1 {m['macro_f1']:.1%}, ECE {m['ece']:.3f} on {m['n']} held-out names, {m['split']}; "
            f"{self.config.kept_weights(self.best_epoch)}, {self.seconds:.1f}s; run in {self.run_dir}"
        )

    def warning(self) -> str | None:
        """What to tell the user when the run learned nothing, else None."""
        if not self.learned_nothing:
            return None
        return (
            f"warning: this run learned nothing: no epoch beat always answering the most common language "
            f"({self.majority_accuracy:.1%} of validation names); try a lower --lr (now {self.config.lr:g})"
        )


OnEpoch = Callable[[int, NameClassifier], None]


class TrainingInterrupted(NamelstmError):
    """Ctrl-C stopped training; the run can continue from its last completed epoch, if there is one."""

    def __init__(self, run_dir: Path | None, epoch: int, replacing: Path | None = None) -> None:
        if replacing is not None and epoch == 0:
            super().__init__(
                f"interrupted before the first epoch finished; nothing was kept and {replacing} is as it was"
            )
        elif run_dir is None or epoch == 0:
            super().__init__("interrupted before the first epoch finished; nothing was kept")
        else:
            super().__init__(
                f"interrupted; {run_dir} holds the run as it was after epoch {epoch}. "
                f"Continue it with: namelstm train --resume {run_dir}"
            )
        self.run_dir, self.epoch = run_dir, epoch


def train(
    config: TrainConfig,
    split: Split,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    overwrite: bool = False,
    team: Team | None = None,
    on_epoch: OnEpoch | None = None,
) -> TrainResult:
    """Train on `split.train`, select on `split.val`, score the selected weights on `split.test`.

    Writes into `run_dir`: the split, the checkpoint of the best validation loss (rewritten
    atomically whenever it improves), the per-epoch history, the state to resume from after
    every epoch, and the test metrics. Among several ranks (`team`), every rank calls this with
    the same arguments; only rank 0 writes, logs and scores. `on_epoch(epoch, model)` runs after
    each epoch's training (for benchmarks; its time is left out of the epoch's).
    """
    team = team or Team()
    config = resolve_config(config)
    if config.init == "chrono" and config.chrono_tmax is None:
        # Chrono's T_max is the longest dependency to keep: in a name, from its first letter to its last.
        config = replace(config, chrono_tmax=max(len(name) for name, _ in split.train))
    device = team.world.device(config.device)  # before anything is written
    # Rank 0 alone writes checkpoints, so it alone needs the table; a bad file fails before writing.
    scripts = script_table(config.scripts, split.languages) if team.is_main else {}
    existed = Path(run_dir).exists()
    staging = _Staging(Path(run_dir))
    if team.is_main:
        new_run_dir(run_dir, overwrite)
        staging = _Staging.beside(Path(run_dir)) if overwrite and _holds_files(run_dir) else staging
        (staging.current / METRICS).unlink(missing_ok=True)  # no scores of another run in a new one
        split.write(staging.current / SPLIT)
    try:
        try:
            with _seeded(config.seed, device):
                return _fit(config, split, staging, None, progress, log, device, team, on_epoch, scripts)
        except KeyboardInterrupt:  # a Ctrl-C outside the epoch loop's own handling
            epochs = _completed_epochs(staging.current)
            raise TrainingInterrupted(staging.current, epochs, staging.replacing) from None
    except BaseException as stop:
        if not team.is_main:
            raise
        if staging.replacing is not None:  # the run being replaced stays whole until epoch 1 is done
            staging.abandon()
        elif isinstance(stop, TrainingInterrupted) and stop.epoch == 0:
            for name in (SPLIT, RESUME, HISTORY):  # nothing worth resuming: no half-made run behind
                (run_dir / name).unlink(missing_ok=True)
            if not existed:
                shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _holds_files(path: Path) -> bool:
    return Path(path).is_dir() and any(Path(path).iterdir())


@dataclass
class _Staging:
    """Where a run is being written. `--overwrite` of a run writes the new one into a hidden
    directory beside it (`replacing` is the old run), swapped in once the first epoch is complete:
    a Ctrl-C, a crash or a diverging loss before then leaves the old run whole."""

    current: Path
    replacing: Path | None = None

    @classmethod
    def beside(cls, run_dir: Path) -> _Staging:
        for stale in run_dir.parent.glob(f".{run_dir.name}.new-*"):  # left by a killed process
            shutil.rmtree(stale, ignore_errors=True)
        work = run_dir.parent / f".{run_dir.name}.new-{secrets.token_hex(4)}"
        work.mkdir()
        return cls(work, run_dir)

    def promote(self) -> Path:
        """Swap the new run in for the old one (kept: files that are not a run's), once."""
        if self.replacing is not None:
            old = self.replacing.parent / f".{self.replacing.name}.old-{secrets.token_hex(4)}"
            os.replace(self.replacing, old)
            os.replace(self.current, self.replacing)
            for path in old.iterdir():
                if path.name not in RUN_FILES and not path.name.endswith(".tmp"):
                    os.replace(path, self.replacing / path.name)
            shutil.rmtree(old, ignore_errors=True)
            self.current, self.replacing = self.replacing, None
        return self.current

    def abandon(self) -> None:
        shutil.rmtree(self.current, ignore_errors=True)


def _completed_epochs(run_dir: Path) -> int:
    try:
        return len(read_json(run_dir / HISTORY)["epochs"])
    except NamelstmError:
        return 0


def resume_training(
    run_dir: Path,
    epochs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    team: Team | None = None,
) -> TrainResult:
    """Continue an interrupted (or, with more `epochs`, a finished) run from its last completed
    epoch. On CPU it ends with the same weights as a run that was never stopped. Among several
    ranks, rank 0 reads the run and hands it to the others (with any number of ranks)."""
    team = team or Team()
    run_dir = Path(run_dir)
    loaded: tuple[dict[str, Any], Split] | None = None
    if team.is_main:
        remove_stale_temporaries(run_dir)
        if not (run_dir / RESUME).is_file():
            raise NamelstmError(f"{run_dir} holds no {RESUME} to resume from")
        loaded = load_resume_state(run_dir / RESUME), Split.from_dict(read_json(run_dir / SPLIT))
    state, split = team.broadcast(loaded)  # type: ignore[misc]
    config = TrainConfig.from_dict(state["config"])
    if epochs is not None and epochs != config.epochs:
        config, state = _with_new_total(config, state, epochs)
    if state["epoch"] >= config.epochs:
        raise NamelstmError(
            f"{run_dir} has already trained {state['epoch']} of {config.epochs} epochs; "
            "pass --epochs N to go further"
        )
    log(f"resuming {run_dir} after epoch {state['epoch']} of {config.epochs}")
    device = team.world.device(config.device)
    scripts = state.get("scripts") or script_table(config.scripts, split.languages)
    with _seeded(config.seed, device):
        return _fit(config, split, _Staging(run_dir), state, progress, log, device, team, None, scripts)


def _with_new_total(
    config: TrainConfig, state: dict[str, Any], epochs: int
) -> tuple[TrainConfig, dict[str, Any]]:
    """The run's settings and state for a new total of `epochs`. The cosine schedule keeps the span it
    started with (a new span would raise the rate again). The mean of the last N epochs must hold
    exactly the epochs of the new window: if the saved mean holds others, it is dropped and N becomes
    the epochs still to come, so the description says what is averaged."""
    done = state["epoch"]
    new = replace(config, epochs=epochs, schedule_epochs=config.schedule_epochs or config.epochs)
    if config.average_last:
        averaged = range(max(config.epochs - config.average_last + 1, 1), done + 1)
        wanted = range(max(epochs - config.average_last + 1, 1), done + 1)
        if averaged != wanted:
            new = replace(new, average_last=min(config.average_last, epochs - done))
            state = {**state, "averaged": None}
    return new, state


def _build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)


def _epoch_lr(config: TrainConfig, epoch: int) -> float:
    """The learning rate of `epoch` (from 1): computed, not stepped, so a resumed run keeps the curve."""
    if config.lr_schedule == "cosine":
        span = config.schedule_epochs or config.epochs
        return config.lr * (1 + math.cos(math.pi * (min(epoch, span) - 1) / span)) / 2  # type: ignore[operator]
    return config.lr  # type: ignore[return-value]


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Initialisation and dropout draw from torch's global generator; forking it keeps the seed
    local to this run, so a caller's random state is the same before and after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _fit(
    config: TrainConfig,
    split: Split,
    staging: _Staging,
    state: dict[str, Any] | None,
    progress: bool,
    log: Callable[[str], None],
    device: torch.device,
    team: Team,
    on_epoch: OnEpoch | None,
    scripts: dict[str, list[str]],
) -> TrainResult:
    shuffler = torch.Generator().manual_seed(config.seed)
    languages = split.languages
    run_dir = staging.current
    model = build_model(config.model, len(split.alphabet), len(languages), config.hidden_size).to(device)
    init_gates(model, config.forget_bias, config.chrono_tmax if config.init == "chrono" else None)
    optimizer = _build_optimizer(model, config)
    train_batches = Batches(split.train, languages, config.batch_size, split.alphabet)
    val_batches = Batches(split.val, languages, INFERENCE_BATCH_SIZE, split.alphabet)
    prior = prior_of(train_batches.targets, len(languages))
    host_weights = class_weights(train_batches.targets, len(languages), config.balance or "none")
    weights = host_weights.to(device)
    soft = (
        teacher_probabilities(config.teachers, split, config.distill_temperature) if config.teachers else None
    )
    feed = Feed(train_batches, device, team.world, host_weights, soft)
    # Averaging the last epochs' weights (Izmailov et al. 2018, SWA) smooths out the epoch-to-epoch
    # swings of the small languages' recall that picking one best epoch is at the mercy of.
    averaged = torch.optim.swa_utils.AveragedModel(model) if config.average_last else None
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_loss": math.inf, "val_accuracy": 0.0, "epoch": 0, "state": {}}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffler.set_state(state["shuffler"])
        torch.set_rng_state(state["torch_rng"])
        history, best = state["history"], state["best"]
        if averaged is not None and state.get("averaged") is not None:
            averaged.load_state_dict(state["averaged"])
    classify = team.wrap(model, device)  # after the resumed weights: DDP starts every rank from rank 0's

    def checkpoint(epoch: int, metrics: dict[str, Any], calibration: Calibration | None = None) -> Checkpoint:
        return Checkpoint(
            model_name=config.model,
            hidden_size=config.hidden_size,  # type: ignore[arg-type]  (resolved by the caller)
            languages=tuple(languages),
            state_dict=model.state_dict(),
            epoch=epoch,
            alphabet=split.alphabet.letters,
            config={**config.to_dict(), "split": split.describe(), "data": split.data.get("label", "")},
            metrics=metrics,
            calibration=(calibration or Calibration(prior)).to_dict(),
            scripts=scripts,
        )

    def save_resume_state(epoch: int) -> None:
        payload = {
            "format": RESUME_FORMAT,
            "config": config.to_dict(),
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "shuffler": shuffler.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "best": best,
            "averaged": averaged.state_dict() if averaged is not None else None,
            "scripts": scripts,
        }
        save_payload(run_dir / RESUME, payload)

    first_epoch = len(history) + 1
    if state is None and team.is_main:
        save_resume_state(0)
    started = time.perf_counter()
    with stop_requests(team.world) as interrupted:
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = _epoch_lr(config, epoch)
            lr = optimizer.param_groups[0]["lr"]
            record = _train_epoch(
                classify,
                model,
                optimizer,
                feed,
                shuffler,
                config,
                epoch,
                progress and team.is_main,
                best["epoch"],
                interrupted,
                weights,
                team,
            )
            if record is None:  # Ctrl-C: the partial epoch is dropped; the last saved state stands
                raise TrainingInterrupted(run_dir, epoch - 1, staging.replacing)
            if on_epoch is not None:
                paused = time.perf_counter()
                on_epoch(epoch, model)
                epoch_start += time.perf_counter() - paused
            if not team.is_main:  # the other ranks only train
                continue
            in_mean = averaged is not None and epoch > config.epochs - config.average_last  # type: ignore[operator]
            if in_mean:
                averaged.update_parameters(model)  # type: ignore[union-attr]
            val = score(model, val_batches, device)
            # Selection uses the loss that training minimises: weighted as the training loss is.
            val_loss = F.nll_loss(val.log_probs, val.targets, weight=weights.cpu()).item()
            record.update(
                lr=lr,
                val_loss=val_loss,
                val_accuracy=val.accuracy,
                val_balanced_accuracy=val.balanced_accuracy,
                seconds=time.perf_counter() - epoch_start,
            )
            history.append(record)
            improved = val_loss < best["val_loss"]
            if improved:
                best = {
                    "val_loss": val_loss,
                    "val_accuracy": val.accuracy,
                    "epoch": epoch,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                }
                save_checkpoint(
                    run_dir / CHECKPOINT,
                    checkpoint(epoch, {"val_loss": val_loss, "val_accuracy": val.accuracy}),
                )
            write_json(run_dir / HISTORY, {"config": config.to_dict(), "epochs": history})
            save_resume_state(epoch)
            run_dir = staging.promote()  # the first complete epoch replaces an --overwrite's old run
            log(
                f"epoch {epoch:3d}/{config.epochs}  train loss {record['train_loss']:.3f} "
                f"acc {record['train_accuracy']:6.1%}  val loss {record['val_loss']:.3f} "
                f"acc {record['val_accuracy']:6.1%} balanced {record['val_balanced_accuracy']:6.1%}  "
                f"{record['seconds']:.1f}s{_epoch_mark(averaged is not None, in_mean, improved)}"
            )
    seconds = time.perf_counter() - started
    majority = float(torch.bincount(val_batches.targets).max()) / max(len(val_batches.targets), 1)
    if not team.is_main:
        return TrainResult(config, run_dir, history, best["epoch"], {}, seconds, majority)
    if best["epoch"] == 0:
        raise NamelstmError(f"the validation loss was never finite; lower --lr (now {config.lr:g})")

    if averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
        val = score(model, val_batches, device)
        best = {
            "val_loss": F.nll_loss(val.log_probs, val.targets, weight=weights.cpu()).item(),
            "val_accuracy": val.accuracy,
            "epoch": config.epochs,
        }
    else:
        model.load_state_dict(best["state"])
        val = score(model, val_batches, device)
    calibration = fit_calibration(val.log_probs, val.targets, prior, "validation split")
    metrics = {
        **test_metrics(model, split, languages, device, calibration),
        "validation": validation_metrics(val, calibration),
    }
    write_json(
        run_dir / METRICS,
        {
            "run": str(run_dir),
            "model": config.model,
            "epoch": best["epoch"],
            "weights": config.kept_weights(best["epoch"]),
            **metrics,
        },
    )
    headline = {k: metrics[k] for k in HEADLINE}
    save_checkpoint(
        run_dir / CHECKPOINT,
        checkpoint(
            best["epoch"],
            {"val_loss": best["val_loss"], "val_accuracy": best["val_accuracy"], "test": headline},
            calibration,
        ),
    )
    return TrainResult(config, run_dir, history, best["epoch"], metrics, seconds, majority)


def _epoch_mark(averaging: bool, in_mean: bool, improved: bool) -> str:
    """'*best' after an epoch of lowest validation loss so far, when that epoch's weights are the
    ones kept; when the run averages, no epoch is kept alone: the epochs in the mean say so."""
    if averaging:
        return "  +mean" if in_mean else ""
    return "  *best" if improved else ""


HEADLINE = ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "ece", "split", "as_trained")


def _train_epoch(
    classify: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    model: NameClassifier,
    optimizer: torch.optim.Optimizer,
    feed: Feed,
    shuffler: torch.Generator,
    config: TrainConfig,
    epoch: int,
    progress: bool,
    best_epoch: int,
    interrupted: Callable[[], bool],
    weights: torch.Tensor,
    team: Team,
) -> dict[str, Any] | None:
    """One pass over the training batches; None if Ctrl-C asked to stop (on any rank). Raises with
    a clear message if the loss is no longer finite. Sums stay on the device: no host sync per batch."""
    started = time.perf_counter()
    model.train()
    device = feed.device
    totals = torch.zeros(3, device=device, dtype=torch.float64)  # loss x names, correct names, names
    names = 0
    bar = tqdm(
        feed.steps(shuffler),
        total=len(feed),
        desc=f"{config.model} epoch {epoch}/{config.epochs}",
        unit="batch",
        leave=False,
        disable=not progress,
    )
    for i, step in enumerate(bar):
        output = classify(step.letters, step.lengths)
        # This rank's names' part of the global batch's weighted mean loss (see feed.Step).
        if step.soft is None:
            loss = F.nll_loss(output, step.targets, weight=weights, reduction="sum") * step.scale
        else:
            loss = distillation_loss(output, step.soft, step.targets, weights, config.distill_temperature)
            loss = loss * step.scale
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        if step.names:
            names += step.names
            # Summed over the ranks: the global batch's mean loss times its size, as one process records it.
            mean_part = loss.detach() * (step.batch / team.world.size)
            totals[:2] += torch.stack([mean_part, (output.detach().argmax(1) == step.targets).sum()])
        # Alone, the flag costs nothing to read; among ranks, they agree on it every few steps.
        if (not team.world.distributed or i % STOP_CHECK_EVERY == 0) and team.any(interrupted()):
            bar.close()
            return None
    bar.close()
    if team.any(interrupted()):
        return None
    totals[2] = names
    loss_sum, correct, n = team.sum(totals).tolist()  # the epoch's one host sync
    train_loss = loss_sum / n
    if not math.isfinite(train_loss):
        kept = (
            f"the best checkpoint so far (epoch {best_epoch}) is kept"
            if best_epoch
            else "no checkpoint was written"
        )
        raise NamelstmError(
            f"the loss became {train_loss} in epoch {epoch}; lower --lr (now {config.lr:g}); {kept}"
        )
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_accuracy": correct / n,
        "train_seconds": time.perf_counter() - started,
    }


def train_from_data(
    config: TrainConfig,
    data_dir: Path | None,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    overwrite: bool = False,
    columns: Columns | None = None,
    team: Team | None = None,
) -> TrainResult:
    """Find (or download) the data (a directory or a CSV/TSV: see `load_names`), split it by name, and
    train. Among several ranks, rank 0 reads the data and hands the split to the others, so only its
    machine needs the files."""
    team = team or Team()
    team.world.device(config.device)  # fail before any download, loading or writing
    split = None
    if team.is_main:
        new_run_dir(run_dir, overwrite, create=False)
        try:
            dataset = load_dataset(data_dir, config, columns, progress)
            split = split_by_name(dataset, config.fractions, config.seed)
        except KeyboardInterrupt:
            raise TrainingInterrupted(None, 0) from None
        log(f"data: {dataset.describe()}; {split.describe()}")
    split = team.broadcast(split)
    return train(config, split, run_dir, progress=progress, log=log, overwrite=overwrite, team=team)
