"""Training: NLLLoss and SGD over length-bucketed mini-batches, keeping the best-validation weights."""

from __future__ import annotations

import math
import shutil
import signal
import threading
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

from namelstm.calibrate import Calibration, class_weights, fit_calibration, prior_of, selection_score
from namelstm.config import INFERENCE_BATCH_SIZE, OPTIMIZERS, TrainConfig
from namelstm.checkpoint import RESUME_FORMAT, Checkpoint, load_resume_state, save_checkpoint, save_payload
from namelstm.data import ALPHABET, Batches, Split, load_names, resolve_data_dir, split_by_name
from namelstm.errors import NamelstmError
from namelstm.evaluate import Scores, score, test_metrics
from namelstm.models import NameClassifier, build_model, family
from namelstm.script import default_scripts
from namelstm.runs import (
    CHECKPOINT,
    HISTORY,
    METRICS,
    RESUME,
    SPLIT,
    new_run_dir,
    read_json,
    remove_stale_temporaries,
    write_json,
)


def resolve_config(config: TrainConfig) -> TrainConfig:
    """The same settings with the model family's defaults filled in."""
    cls = family(config.model)
    optimizer = config.optimizer or getattr(cls, "default_optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise NamelstmError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    return replace(
        config,
        lr=config.lr if config.lr is not None else cls.default_lr,
        hidden_size=config.hidden_size or cls.default_hidden_size,
        optimizer=optimizer,
        balance=config.balance or getattr(cls, "default_balance", "none"),
    )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise NamelstmError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    return torch.device(name)


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


class TrainingInterrupted(NamelstmError):
    """Ctrl-C stopped training; the run can continue from its last completed epoch, if there is one."""

    def __init__(self, run_dir: Path | None, epoch: int) -> None:
        if run_dir is None or epoch == 0:
            super().__init__("interrupted before the first epoch finished; nothing was kept")
        else:
            super().__init__(
                f"interrupted; {run_dir} holds the run as it was after epoch {epoch}. "
                f"Continue it with: namelstm train --resume {run_dir}"
            )
        self.run_dir, self.epoch = run_dir, epoch


@contextmanager
def _sigint_requests() -> Iterator[Callable[[], bool]]:
    """While training, a first Ctrl-C only raises a flag that the loop checks between batches, so
    no step or file write is cut in half; a second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def train(
    config: TrainConfig,
    split: Split,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    overwrite: bool = False,
) -> TrainResult:
    """Train on `split.train`, select on `split.val`, score the selected weights on `split.test`.

    Writes into `run_dir`: the split, the checkpoint of the best validation loss (rewritten
    atomically whenever it improves), the per-epoch history, the state to resume from after
    every epoch, and the test metrics.
    """
    config = resolve_config(config)
    device = pick_device(config.device)  # before anything is written
    existed = Path(run_dir).exists()
    run_dir = new_run_dir(run_dir, overwrite)
    (run_dir / METRICS).unlink(missing_ok=True)  # an overwritten run's scores must not outlive it
    write_json(run_dir / SPLIT, split.to_dict())
    try:
        try:
            return _run(config, split, run_dir, None, progress, log, device)
        except KeyboardInterrupt:  # a Ctrl-C outside the epoch loop's own handling
            raise TrainingInterrupted(run_dir, _completed_epochs(run_dir)) from None
    except TrainingInterrupted as stop:
        if stop.epoch == 0:  # nothing worth resuming: leave no half-made run behind
            for name in (SPLIT, RESUME, HISTORY):
                (run_dir / name).unlink(missing_ok=True)
            if not existed:
                shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _completed_epochs(run_dir: Path) -> int:
    try:
        return len(read_json(run_dir / HISTORY)["epochs"])
    except NamelstmError:
        return 0


def resume_training(
    run_dir: Path, epochs: int | None = None, progress: bool = True, log: Callable[[str], None] = tqdm.write
) -> TrainResult:
    """Continue an interrupted (or, with more `epochs`, a finished) run from its last completed
    epoch. On CPU it ends with the same weights as a run that was never stopped."""
    run_dir = Path(run_dir)
    remove_stale_temporaries(run_dir)
    if not (run_dir / RESUME).is_file():
        raise NamelstmError(f"{run_dir} holds no {RESUME} to resume from")
    state = load_resume_state(run_dir / RESUME)
    config = TrainConfig.from_dict(state["config"])
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if state["epoch"] >= config.epochs:
        raise NamelstmError(
            f"{run_dir} has already trained {state['epoch']} of {config.epochs} epochs; pass --epochs N to go further"
        )
    split = Split.from_dict(read_json(run_dir / SPLIT))
    log(f"resuming {run_dir} after epoch {state['epoch']} of {config.epochs}")
    return _run(config, split, run_dir, state, progress, log, pick_device(config.device))


def _build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)


def _run(
    config: TrainConfig,
    split: Split,
    run_dir: Path,
    state: dict[str, Any] | None,
    progress: bool,
    log: Callable[[str], None],
    device: torch.device,
) -> TrainResult:
    # Initialisation and dropout draw from torch's global generator; forking it keeps the seed
    # local to this run, so a caller's random state is the same before and after.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        return _fit(config, split, run_dir, state, progress, log, device)


def _fit(
    config: TrainConfig,
    split: Split,
    run_dir: Path,
    state: dict[str, Any] | None,
    progress: bool,
    log: Callable[[str], None],
    device: torch.device,
) -> TrainResult:
    shuffler = torch.Generator().manual_seed(config.seed)
    languages = split.languages
    model = build_model(config.model, len(ALPHABET), len(languages), config.hidden_size).to(device)
    if config.forget_bias is not None:
        model.init_forget_bias(config.forget_bias)
    optimizer = _build_optimizer(model, config)
    train_batches = Batches(split.train, languages, config.batch_size)
    val_batches = Batches(split.val, languages, INFERENCE_BATCH_SIZE)
    prior = prior_of(train_batches.targets, len(languages))
    weights = class_weights(train_batches.targets, len(languages), config.balance or "none").to(device)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_loss": math.inf, "val_accuracy": 0.0, "epoch": 0, "state": {}}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffler.set_state(state["shuffler"])
        torch.set_rng_state(state["torch_rng"])
        history, best = state["history"], state["best"]

    def checkpoint(epoch: int, metrics: dict[str, Any], calibration: Calibration | None = None) -> Checkpoint:
        return Checkpoint(
            model_name=config.model,
            hidden_size=config.hidden_size,  # type: ignore[arg-type]  (resolved by the caller)
            languages=tuple(languages),
            state_dict=model.state_dict(),
            epoch=epoch,
            config={**config.to_dict(), "split": split.describe()},
            metrics=metrics,
            calibration=(calibration or Calibration(prior)).to_dict(),
            scripts=default_scripts(languages),
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
        }
        save_payload(run_dir / RESUME, payload)

    first_epoch = len(history) + 1
    if state is None:
        save_resume_state(0)
    started = time.perf_counter()
    with _sigint_requests() as interrupted:
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            record = _train_epoch(model, optimizer, train_batches, shuffler, config, epoch, device, progress,
                                  best["epoch"], interrupted, weights)
            if record is None:  # Ctrl-C: the partial epoch is dropped; the last saved state stands
                raise TrainingInterrupted(run_dir, epoch - 1)
            val = score(model, val_batches, device)
            # Selection uses the loss that training minimises: weighted as the training loss is.
            val_loss = F.nll_loss(val.log_probs, val.targets, weight=weights.cpu()).item()
            record.update(val_loss=val_loss, val_accuracy=val.accuracy, val_balanced_accuracy=val.balanced_accuracy,
                          seconds=time.perf_counter() - epoch_start)
            history.append(record)
            improved = val_loss < best["val_loss"]
            if improved:
                best = {"val_loss": val_loss, "val_accuracy": val.accuracy, "epoch": epoch,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
                save_checkpoint(run_dir / CHECKPOINT, checkpoint(epoch, {"val_loss": val_loss,
                                                                         "val_accuracy": val.accuracy}))
            write_json(run_dir / HISTORY, {"config": config.to_dict(), "epochs": history})
            save_resume_state(epoch)
            log(
                f"epoch {epoch:3d}/{config.epochs}  train loss {record['train_loss']:.3f} "
                f"acc {record['train_accuracy']:6.1%}  val loss {record['val_loss']:.3f} "
                f"acc {record['val_accuracy']:6.1%} balanced {record['val_balanced_accuracy']:6.1%}  "
                f"{record['seconds']:.1f}s{'  *best' if improved else ''}"
            )
    seconds = time.perf_counter() - started
    if best["epoch"] == 0:
        raise NamelstmError(f"the validation loss was never finite; lower --lr (now {config.lr:g})")

    model.load_state_dict(best["state"])
    val = score(model, val_batches, device)
    calibration = fit_calibration(val.log_probs, val.targets, prior, "validation split")
    calibrated_val = Scores(calibration.apply(val.log_probs), val.targets)
    val_metrics = {"accuracy": calibrated_val.accuracy, "balanced_accuracy": calibrated_val.balanced_accuracy,
                   "selection_score": selection_score(calibrated_val.log_probs, val.targets)}
    metrics = {**test_metrics(model, split, languages, device, calibration), "validation": val_metrics}
    write_json(run_dir / METRICS, {"run": str(run_dir), "model": config.model, "epoch": best["epoch"], **metrics})
    headline = {k: metrics[k] for k in HEADLINE}
    save_checkpoint(
        run_dir / CHECKPOINT,
        checkpoint(best["epoch"], {"val_loss": best["val_loss"], "val_accuracy": best["val_accuracy"], "test": headline},
                   calibration),
    )
    majority = float(torch.bincount(val_batches.targets).max()) / max(len(val_batches.targets), 1)
    return TrainResult(config, run_dir, history, best["epoch"], metrics, seconds, majority)


HEADLINE = ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "ece", "split")


def _train_epoch(
    model: NameClassifier,
    optimizer: torch.optim.Optimizer,
    batches: Batches,
    shuffler: torch.Generator,
    config: TrainConfig,
    epoch: int,
    device: torch.device,
    progress: bool,
    best_epoch: int,
    interrupted: Callable[[], bool],
    weights: torch.Tensor,
) -> dict[str, Any] | None:
    """One pass over the training batches; None if Ctrl-C asked to stop. Raises with a clear
    message if the loss is no longer finite. Sums stay on the device: no host sync per batch."""
    started = time.perf_counter()
    model.train()
    criterion = nn.NLLLoss(weight=weights)
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    bar = tqdm(
        batches.iterate(shuffler),
        total=len(batches),
        desc=f"{config.model} epoch {epoch}/{config.epochs}",
        unit="batch",
        leave=False,
        disable=not progress,
    )
    for batch in bar:
        b = batch.to(device)
        output = model.classify(b.letters, b.lengths)
        loss = criterion(output, b.targets)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        total_loss += loss.detach() * len(b.targets)
        total_correct += (output.argmax(1) == b.targets).sum()
        if interrupted():
            bar.close()
            return None
    n = len(batches.targets)
    train_loss = total_loss.item() / n  # the epoch's one host sync
    if not math.isfinite(train_loss):
        kept = f"the best checkpoint so far (epoch {best_epoch}) is kept" if best_epoch else "no checkpoint was written"
        raise NamelstmError(f"the loss became {train_loss} in epoch {epoch}; lower --lr (now {config.lr:g}); {kept}")
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_accuracy": total_correct.item() / n,
        "train_seconds": time.perf_counter() - started,
    }


def train_from_data(
    config: TrainConfig,
    data_dir: Path | None,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    overwrite: bool = False,
) -> TrainResult:
    """Find (or download) the data, split it by name, and train."""
    pick_device(config.device)  # fail before any download, loading or writing
    new_run_dir(run_dir, overwrite, create=False)
    try:
        dataset = load_names(resolve_data_dir(data_dir, progress=progress), config.transliterate)
        split = split_by_name(dataset, config.fractions, config.seed)
    except KeyboardInterrupt:
        raise TrainingInterrupted(None, 0) from None
    log(
        f"data: {dataset.lines} lines, {len(dataset.pairs)} distinct (name, language) pairs in "
        f"{len(dataset.languages)} languages ({dataset.duplicates} repeats dropped, "
        f"{len(dataset.skipped)} lines with no letters skipped); {split.describe()}"
    )
    return train(config, split, run_dir, progress=progress, log=log, overwrite=overwrite)
