"""`namelstm serve`: predictions over HTTP."""

from __future__ import annotations

import click

from namelstm.cli.options import (
    BACKEND,
    BACKEND_HELP,
    CHECKPOINT,
    CHECKPOINT_HELP,
    MIN_CONFIDENCE,
    MIN_CONFIDENCE_HELP,
    PREDICT_THREADS_HELP,
    TAU,
    TAU_HELP,
)


@click.command(short_help="Serve predictions over HTTP, with a small page.")
@click.option("--checkpoint", type=CHECKPOINT, help=CHECKPOINT_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0 picks a free port."
)
@click.option("--tau", type=TAU, help=TAU_HELP)
@click.option("--min-confidence", type=MIN_CONFIDENCE, metavar="P", help=MIN_CONFIDENCE_HELP)
@click.option("-q", "--quiet", is_flag=True, help="Do not log each request.")
@click.option("--threads", type=click.IntRange(min=1), help=PREDICT_THREADS_HELP)
@click.option("--backend", type=BACKEND, default="auto", help=BACKEND_HELP)
def serve(
    checkpoint: str | None,
    host: str,
    port: int,
    tau: float | None,
    min_confidence: float | None,
    quiet: bool,
    threads: int | None,
    backend: str,
) -> None:
    """Serve predictions over HTTP: a page with a text box at / (/?name=Rossi fills it in), JSON at
    /predict and /health (which names the model served).

    \b
    GET  /predict?name=Dostoevsky&top_k=3     -> [{"name": ..., "answer": ..., "predictions": [...]}]
    POST /predict  ["Dostoevsky", "Nakamura"]  (or {"names": [...], "top_k": 3})
    GET  /health

    \b
    Examples:
      namelstm serve
      namelstm serve --checkpoint outputs/mylstm --port 8080
      namelstm serve --tau 0                      # the model as trained, no extra weight for rare languages
      namelstm serve --min-confidence 0.7         # answer 'uncertain' below 70%
      curl 'http://127.0.0.1:8000/predict?name=Nakamura'
    """
    from namelstm.inference.predict import Predictor
    from namelstm.inference.serve import make_server
    from namelstm.inference.threads import apply_threads
    from namelstm.runs import default_model

    source, note = (checkpoint, None) if checkpoint is not None else default_model()
    if note:
        click.echo(note, err=True)
    predictor = Predictor.load(source, tau, min_confidence, backend, threads)
    if predictor.backend == "torch":
        apply_threads(threads)
    server = make_server(predictor, host, port, quiet)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"serving {source} on http://{bound_host}:{bound_port}/ (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
