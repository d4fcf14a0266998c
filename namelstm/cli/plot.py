"""`namelstm plot`: the figures of runs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Loss curves, confusion matrix, reliability and trade-off of runs, as PNG.")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--overlay",
    type=click.Path(path_type=Path),
    default=Path("outputs/validation-curves.png"),
    show_default=True,
    help="Where the overlay of several runs' validation curves goes.",
)
def plot(runs: tuple[Path, ...], overlay: Path) -> None:
    """Draw each RUN's loss curves (loss.png), test confusion matrix (confusion.png), reliability
    diagram (reliability.png), validation trade-off of the logit adjustment (tradeoff.png) and
    risk-coverage curve of --min-confidence (risk_coverage.png), inside the run; a run scored before
    the last two existed gets them after `namelstm evaluate`.

    With no RUN, the latest run directly under outputs/; with several, also one figure overlaying
    their validation losses.

    \b
    Examples:
      namelstm plot
      namelstm plot outputs/rnn outputs/lstm outputs/mylstm
    """
    from namelstm.evaluation.plots import plot_runs
    from namelstm.runs import resolve_run

    for path in plot_runs([resolve_run(r) for r in runs] if runs else [resolve_run(None)], overlay):
        click.echo(f"wrote {path}")
