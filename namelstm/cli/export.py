"""`namelstm export`: a trained model's ONNX form, for prediction without PyTorch."""

from __future__ import annotations

from pathlib import Path

import click

from namelstm.cli.options import CHECKPOINT


@click.command(short_help="Write a run's ONNX form, so prediction runs in onnxruntime without PyTorch.")
@click.argument("run", type=CHECKPOINT)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where model.onnx and predictor.json go.  [default: beside the run's checkpoint]",
)
def export(run: str, out: Path | None) -> None:
    """Write RUN's model (a run directory, a checkpoint file, or 'pretrained') as model.onnx, beside
    predictor.json with what prediction needs: languages, alphabet, calibration, scripts, and the
    checkpoint's description and scores. No pickle: both are plain ONNX and JSON.

    Before writing, the graph is checked against PyTorch on names of several lengths; a family whose
    graph cannot follow every length (rnn and mylstm loop over letters in Python) is refused, and
    keeps predicting in PyTorch. predict and serve then use the ONNX form of that checkpoint by
    themselves (--backend auto), or any folder of it given as --checkpoint.

    \b
    Examples:
      namelstm export outputs/bilstm
      namelstm export outputs/lstm --out deploy/lstm && namelstm predict --checkpoint deploy/lstm Nakamura
    """
    from namelstm.inference.export import export_model

    done = export_model(run, out)
    click.echo(
        f"wrote {done.directory}: {done.model_name} as ONNX ({done.graph_bytes:,} bytes), "
        f"within {done.max_difference:.1g} of PyTorch"
    )
