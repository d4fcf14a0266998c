"""Training: NLLLoss and SGD over length-bucketed mini-batches, keeping the best-validation weights."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from tqdm import tqdm

from namelstm.config import TrainConfig
from namelstm.checkpoint import RESUME_FORMAT, Checkpoint, load_resume_state, save_checkpoint, save_payload
from namelstm.data import ALPHABET, Batches, Split, load_names, resolve_data_dir, split_by_name
from namelstm.distributed import STOP_CHECK_EVERY, Team, World, stop_requests
from namelstm.errors import NamelstmError
from namelstm.evaluate import score, test_metrics
from namelstm.feed import Feed
from namelstm.models import NameClassifier, build_model, family
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
    return replace(
        config,
        lr=config.lr if config.lr is not None else cls.default_lr,
        hidden_size=config.hidden_size or cls.default_hidden_size,
    )


def pick_device(name: str) -> torch.device:
    return World().device(name)


@dataclass(frozen=True)
class TrainResult:
    model: str
    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    test_metrics: dict[str, Any]
    seconds: float


class TrainingInterrupted(NamelstmError):
    """Ctrl-C stopped training; the run can continue from its last completed epoch."""

    def __init__(self, run_dir: Path, epoch: int) -> None:
        super().__init__(
            f"interrupted; {run_dir} holds the run as it was after epoch {epoch}. "
            f"Continue it with: namelstm train --resume {run_dir}"
        )


OnEpoch = Callable[[int, NameClassifier], None]


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
    the same arguments; only rank 0 writes, logs and scores. `on_epoch(epoch, model)` is called
    after each epoch (by benchmarks; its time is not counted).
    """
    team = team or Team()
    config = resolve_config(config)
    if team.is_main:
        run_dir = new_run_dir(run_dir, overwrite)
        (run_dir / METRICS).unlink(missing_ok=True)  # an overwritten run's scores must not outlive it
        write_json(run_dir / SPLIT, split.to_dict())
    return _run(config, split, run_dir, None, progress, log, team, on_epoch)


def resume_training(
    run_dir: Path, epochs: int | None = None, progress: bool = True, log: Callable[[str], None] = tqdm.write,
    team: Team | None = None,
) -> TrainResult:
    """Continue an interrupted (or, with more `epochs`, a finished) run from its last completed
    epoch. On CPU it ends with the same weights as a run that was never stopped. Among several
    ranks, rank 0 reads the run and hands it to the others."""
    team = team or Team()
    run_dir = Path(run_dir)
    loaded: tuple[dict[str, Any], Split] | None = None
    if team.is_main:
        remove_stale_temporaries(run_dir)
        if not (run_dir / RESUME).is_file():
            raise NamelstmError(f"{run_dir} holds no {RESUME} to resume from")
        loaded = load_resume_state(run_dir / RESUME), Split.from_dict(read_json(run_dir / SPLIT))
    state, split = team.broadcast(loaded)  # type: ignore[misc]
    config = TrainConfig(**{**state["config"], "fractions": tuple(state["config"]["fractions"])})
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if state["epoch"] >= config.epochs:
        raise NamelstmError(
            f"{run_dir} has already trained {state['epoch']} of {config.epochs} epochs; pass --epochs N to go further"
        )
    log(f"resuming {run_dir} after epoch {state['epoch']} of {config.epochs}")
    return _run(config, split, run_dir, state, progress, log, team, None)


def _run(
    config: TrainConfig,
    split: Split,
    run_dir: Path,
    state: dict[str, Any] | None,
    progress: bool,
    log: Callable[[str], None],
    team: Team,
    on_epoch: OnEpoch | None,
) -> TrainResult:
    device = team.world.device(config.device)
    torch.manual_seed(config.seed)
    shuffler = torch.Generator().manual_seed(config.seed)
    languages = split.languages
    model = build_model(config.model, len(ALPHABET), len(languages), config.hidden_size).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    feed = Feed(Batches(split.train, languages, config.batch_size), device, team.world)
    val_batches = Batches(split.val, languages, max(config.batch_size, 256))
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_loss": math.inf, "val_accuracy": 0.0, "epoch": 0, "state": {}}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffler.set_state(state["shuffler"])
        torch.set_rng_state(state["torch_rng"])
        history, best = state["history"], state["best"]
    # After the resumed weights are in: DDP starts every rank from rank 0's.
    classify = team.wrap(model, device)

    def checkpoint(epoch: int, metrics: dict[str, Any]) -> Checkpoint:
        return Checkpoint(
            model_name=config.model,
            hidden_size=config.hidden_size,  # type: ignore[arg-type]  (resolved by the caller)
            languages=tuple(languages),
            state_dict=model.state_dict(),
            epoch=epoch,
            config={**asdict(config), "split": split.describe()},
            metrics=metrics,
        )

    def save_resume_state(epoch: int) -> None:
        payload = {
            "format": RESUME_FORMAT,
            "config": asdict(config),
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
    if state is None and team.is_main:
        save_resume_state(0)
    started = time.perf_counter()
    with stop_requests(team.world) as interrupted:
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            record = _train_epoch(classify, model, optimizer, feed, shuffler, config, epoch, progress and team.is_main,
                                  best["epoch"], interrupted, team)
            if record is None:  # Ctrl-C: the partial epoch is dropped; the last saved state stands
                raise TrainingInterrupted(run_dir, epoch - 1)
            if on_epoch is not None:
                pause = time.perf_counter()
                on_epoch(epoch, model)
                epoch_start += time.perf_counter() - pause
            if not team.is_main:
                continue
            val = score(model, val_batches, device)
            record.update(val_loss=val.loss, val_accuracy=val.accuracy, seconds=time.perf_counter() - epoch_start)
            history.append(record)
            improved = record["val_loss"] < best["val_loss"]
            if improved:
                best = {"val_loss": val.loss, "val_accuracy": val.accuracy, "epoch": epoch,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
                save_checkpoint(run_dir / CHECKPOINT,
                                checkpoint(epoch, {"val_loss": val.loss, "val_accuracy": val.accuracy}))
            write_json(run_dir / HISTORY, {"config": asdict(config), "epochs": history})
            save_resume_state(epoch)
            log(
                f"epoch {epoch:3d}/{config.epochs}  train loss {record['train_loss']:.3f} "
                f"acc {record['train_accuracy']:6.1%}  val loss {record['val_loss']:.3f} "
                f"acc {record['val_accuracy']:6.1%}  {record['seconds']:.1f}s{'  *best' if improved else ''}"
            )
    seconds = time.perf_counter() - started
    if not team.is_main:  # the other ranks' work ends with the last epoch
        return TrainResult(config.model, run_dir, history, best["epoch"], {}, seconds)
    if best["epoch"] == 0:
        raise NamelstmError(f"the validation loss was never finite; lower --lr (now {config.lr:g})")

    model.load_state_dict(best["state"])
    metrics = test_metrics(model, split, languages, device)
    write_json(run_dir / METRICS, {"run": str(run_dir), "model": config.model, "epoch": best["epoch"], **metrics})
    headline = {k: metrics[k] for k in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "split")}
    save_checkpoint(
        run_dir / CHECKPOINT,
        checkpoint(best["epoch"], {"val_loss": best["val_loss"], "val_accuracy": best["val_accuracy"], "test": headline}),
    )
    return TrainResult(config.model, run_dir, history, best["epoch"], metrics, seconds)


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
    team: Team,
) -> dict[str, Any] | None:
    """One pass over the training batches; None if Ctrl-C asked to stop (on any rank). Raises with
    a clear message if the loss is no longer finite.

    Totals stay on the device until the epoch ends, so a step never waits for the GPU."""
    started = time.perf_counter()
    model.train()
    device = feed.device
    totals = torch.zeros(3, device=device, dtype=torch.float64)  # summed loss, correct names, (names)
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
        losses = F.nll_loss(output, step.targets, reduction="none")
        optimizer.zero_grad()
        # The rank's part of the global batch's mean loss; DDP's average over ranks completes it.
        (losses.sum() * step.scale).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        if step.names:
            names += step.names
            totals[:2] += torch.stack([losses.detach().sum(), (output.detach().argmax(1) == step.targets).sum()])
        # Alone, the flag is free to read; among ranks, they agree on it every few steps.
        if (not team.world.distributed or i % STOP_CHECK_EVERY == 0) and team.any(interrupted()):
            bar.close()
            return None
    bar.close()
    if team.any(interrupted()):
        return None
    totals[2] = names
    loss_sum, correct, n = team.sum(totals).tolist()
    if not math.isfinite(loss_sum):
        kept = f"the best checkpoint so far (epoch {best_epoch}) is kept" if best_epoch else "no checkpoint was written"
        raise NamelstmError(f"the loss became {loss_sum} in epoch {epoch}; lower --lr (now {config.lr:g}); {kept}")
    return {
        "epoch": epoch,
        "train_loss": loss_sum / n,
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
    team: Team | None = None,
) -> TrainResult:
    """Find (or download) the data, split it by name, and train. Among several ranks, rank 0 reads
    the data and hands the split to the others, so only its machine needs the files."""
    team = team or Team()
    split = None
    if team.is_main:
        new_run_dir(run_dir, overwrite, create=False)  # fail before any download or loading
        dataset = load_names(resolve_data_dir(data_dir, progress=progress), config.transliterate)
        split = split_by_name(dataset, config.fractions, config.seed)
        log(
            f"data: {dataset.lines} lines, {len(dataset.pairs)} distinct (name, language) pairs in "
            f"{len(dataset.languages)} languages ({dataset.duplicates} repeats dropped, "
            f"{len(dataset.skipped)} lines with no letters skipped); {split.describe()}"
        )
    split = team.broadcast(split)
    return train(config, split, run_dir, progress=progress, log=log, overwrite=overwrite, team=team)
