"""`namelstm evaluate`: a model's test-split metrics, as tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from namelstm.cli.options import CHECKPOINT, CHECKPOINT_HELP, DEVICE_OPTION, THREADS_HELP


@click.command(short_help="Test-split metrics of a run, per language too.")
@click.option("--checkpoint", type=CHECKPOINT, help=CHECKPOINT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json instead of tables.")
@DEVICE_OPTION
@click.option(
    "--data",
    "--data-dir",
    "data_dir",
    type=click.Path(path_type=Path),
    help="Where the names are, for the pretrained model (a run keeps its own split).",
)
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
def evaluate(
    checkpoint: str | None, as_json: bool, device: str, data_dir: Path | None, threads: int | None
) -> None:
    """Score a model on its held-out test names: accuracy, top-3, balanced accuracy, macro P/R/F1,
    NLL, ECE and a per-language table; with --json also the validation names' accuracy and balanced
    accuracy at every logit adjustment tau ('validation'). Writes metrics.json in the run when it
    scores the run's own checkpoint.pt (another file is scored on its folder's split.json and writes
    nothing; the pretrained model is re-scored on its model card's split of the data).

    \b
    Examples:
      namelstm evaluate
      namelstm evaluate --checkpoint outputs/rnn --json | jq .per_language.Korean
      namelstm evaluate --checkpoint pretrained --data ~/datasets/names
      namelstm evaluate --checkpoint outputs/lstm/old.pt   # that file, on its run's split
    """
    from namelstm.cli.options import pick_device
    from namelstm.evaluation.evaluate import evaluate_model, metrics_table
    from namelstm.inference.threads import apply_threads
    from namelstm.runs import default_model

    apply_threads(threads)
    source, note = (checkpoint, None) if checkpoint is not None else default_model()
    if note:
        click.echo(note, err=True)
    metrics = evaluate_model(source, pick_device(device), data_dir)
    click.echo(json.dumps(metrics, indent=2) if as_json else "\n".join(metrics_table(metrics)))
