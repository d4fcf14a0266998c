"""Training: NLLLoss and SGD over length-bucketed mini-batches, keeping the best-validation weights."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from namelstm.config import TrainConfig
from namelstm.checkpoint import Checkpoint, save_checkpoint
from namelstm.data import ALPHABET, Batches, Split, load_names, resolve_data_dir, split_by_name
from namelstm.errors import NamelstmError
from namelstm.evaluate import score, test_metrics
from namelstm.models import MODELS, NameClassifier, build_model
from namelstm.runs import CHECKPOINT, HISTORY, METRICS, SPLIT, new_run_dir, write_json


def resolve_config(config: TrainConfig) -> TrainConfig:
    """The same settings with the model family's defaults filled in."""
    if config.model not in MODELS:
        raise NamelstmError(f"unknown model {config.model!r}; choose one of {', '.join(MODELS)}")
    family = MODELS[config.model]
    return replace(
        config,
        lr=config.lr if config.lr is not None else family.default_lr,
        hidden_size=config.hidden_size or family.default_hidden_size,
    )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise NamelstmError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    return torch.device(name)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    test_metrics: dict[str, Any]
    seconds: float


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
    atomically whenever it improves), the per-epoch history and the test metrics.
    """
    config = resolve_config(config)
    run_dir = new_run_dir(run_dir, overwrite)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    shuffler = torch.Generator().manual_seed(config.seed)
    languages = split.languages

    model = build_model(config.model, len(ALPHABET), len(languages), config.hidden_size).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    train_batches = Batches(split.train, languages, config.batch_size)
    val_batches = Batches(split.val, languages, max(config.batch_size, 256))
    write_json(run_dir / SPLIT, split.to_dict())

    def checkpoint(epoch: int, metrics: dict[str, Any]) -> Checkpoint:
        return Checkpoint(
            model_name=config.model,
            hidden_size=config.hidden_size,  # type: ignore[arg-type]  (resolved above)
            languages=tuple(languages),
            state_dict=model.state_dict(),
            epoch=epoch,
            config={**asdict(config), "split": split.describe()},
            metrics=metrics,
        )

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_loss": math.inf, "epoch": 0}
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        record = _train_epoch(model, optimizer, train_batches, shuffler, config, epoch, device, progress, best["epoch"])
        val = score(model, val_batches, device)
        record.update(val_loss=val.loss, val_accuracy=val.accuracy, seconds=time.perf_counter() - epoch_start)
        history.append(record)
        improved = record["val_loss"] < best["val_loss"]
        if improved:
            best = {"val_loss": val.loss, "val_accuracy": val.accuracy, "epoch": epoch,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            save_checkpoint(run_dir / CHECKPOINT, checkpoint(epoch, {"val_loss": val.loss, "val_accuracy": val.accuracy}))
        write_json(run_dir / HISTORY, {"config": asdict(config), "epochs": history})
        log(
            f"epoch {epoch:3d}/{config.epochs}  train loss {record['train_loss']:.3f} "
            f"acc {record['train_accuracy']:6.1%}  val loss {record['val_loss']:.3f} "
            f"acc {record['val_accuracy']:6.1%}  {record['seconds']:.1f}s{'  *best' if improved else ''}"
        )
    seconds = time.perf_counter() - started

    model.load_state_dict(best["state"])
    metrics = test_metrics(model, split, languages, device)
    write_json(run_dir / METRICS, {"run": str(run_dir), "model": config.model, "epoch": best["epoch"], **metrics})
    headline = {k: metrics[k] for k in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "split")}
    save_checkpoint(
        run_dir / CHECKPOINT,
        checkpoint(best["epoch"], {"val_loss": best["val_loss"], "val_accuracy": best["val_accuracy"], "test": headline}),
    )
    return TrainResult(run_dir, history, best["epoch"], metrics, seconds)


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
) -> dict[str, Any]:
    """One pass over the training batches; stops with a clear message if the loss is no longer finite."""
    started = time.perf_counter()
    model.train()
    criterion = nn.NLLLoss()
    total_loss = total_correct = 0.0
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
        if not torch.isfinite(loss):
            kept = f"the best checkpoint so far (epoch {best_epoch}) is kept" if best_epoch else "nothing was saved"
            raise NamelstmError(f"the loss became {loss.item()} in epoch {epoch}; lower --lr (now {config.lr:g}); {kept}")
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        total_loss += loss.item() * len(b.targets)
        total_correct += (output.argmax(1) == b.targets).sum().item()
    n = len(batches.targets)
    return {
        "epoch": epoch,
        "train_loss": total_loss / n,
        "train_accuracy": total_correct / n,
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
    new_run_dir(run_dir, overwrite, create=False)  # fail before any download or loading
    dataset = load_names(resolve_data_dir(data_dir, progress=progress))
    split = split_by_name(dataset, config.fractions, config.seed)
    log(
        f"data: {dataset.lines} lines, {len(dataset.pairs)} distinct (name, language) pairs in "
        f"{len(dataset.languages)} languages ({dataset.duplicates} repeats dropped, "
        f"{len(dataset.skipped)} lines with no letters skipped); {split.describe()}"
    )
    return train(config, split, run_dir, progress=progress, log=log, overwrite=overwrite)
