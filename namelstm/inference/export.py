"""`namelstm export`: a trained model as an ONNX graph beside plain JSON, so prediction needs
onnxruntime and numpy only, and a model stays loadable whatever PyTorch version comes next.

The graph is traced through the models' one interface, `classify(letters, lengths)`, on a batch of
one length, the way the predictor feeds it (inference/backends.py). A family whose graph depends on
the length it was traced at (a Python loop over letters is unrolled by tracing) is caught by checking
the graph at other lengths against PyTorch; it is not exported, and stays on torch.
"""

from __future__ import annotations

import copy
import io
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from namelstm.checkpoint import Checkpoint, load_checkpoint
from namelstm.errors import NamelstmError
from namelstm.inference.backends import FORM_FORMAT, FORM_VERSION, onnx_session, sha256_file
from namelstm.inference.predict import pretrained_path
from namelstm.models import NameClassifier
from namelstm.runs import (
    ONNX_FORM,
    ONNX_MODEL,
    PRETRAINED,
    atomic_write_bytes,
    resolve_checkpoint,
    write_json,
)

OPSET = 18  # 18: bitwise AND on integers, which the n-gram hash uses
TOLERANCE = 1e-5  # the most an exported graph's log-probability may differ from PyTorch's
CHECK_LENGTHS = (1, 2, 3, 7, 12, 25)  # names of these lengths are scored both ways before export
TRACE_LENGTH = 5
CARD_FILES = ("card.json", "MODEL_CARD.md")  # copied beside the form when it goes elsewhere


@dataclass(frozen=True)
class Exported:
    directory: Path
    model_name: str
    max_difference: float  # the largest |ONNX - torch| log-probability over CHECK_LENGTHS
    graph_bytes: int


class _Classify(nn.Module):
    """`classify` as `forward`, which is what the exporter traces."""

    def __init__(self, model: NameClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.classify(letters, lengths)


def onnx_graph(model: NameClassifier, n_letters: int) -> bytes:
    """The ONNX graph of `model.classify`, with a dynamic batch and name length."""
    # Sparse gradients (ngram's table) are a training matter, and ONNX has no sparse embedding: the
    # graph is traced from a copy whose embeddings are plain lookups, the same numbers.
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            module.sparse = False
    letters = torch.randint(0, n_letters, (3, TRACE_LENGTH), generator=torch.Generator().manual_seed(0))
    lengths = torch.full((3,), TRACE_LENGTH, dtype=torch.long)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns where a Python value is fixed at trace time; the check below decides.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            # In eval mode: the exporter restores the wrapper's mode afterwards, and a wrapper left in
            # training mode would switch the model's dropout on for the check below.
            _Classify(model).eval(),
            (letters, lengths),
            buffer,
            dynamo=False,  # the TorchScript exporter keeps nn.LSTM as ONNX's fused LSTM operator
            input_names=["letters", "lengths"],
            output_names=["log_probs"],
            dynamic_axes={
                "letters": {0: "batch", 1: "length"},
                "lengths": {0: "batch"},
                "log_probs": {0: "batch"},
            },
            opset_version=OPSET,
        )
    return buffer.getvalue()


def difference(model: NameClassifier, graph: bytes, n_letters: int) -> float:
    """The largest |ONNX - torch| over random names of each of CHECK_LENGTHS (inf if it fails to run)."""
    session = onnx_session(graph, threads=1)
    inputs = {i.name for i in session.get_inputs()}
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for length in CHECK_LENGTHS:
        letters = torch.randint(0, n_letters, (7, length), generator=generator)
        lengths = torch.full((7,), length, dtype=torch.long)
        with torch.no_grad():
            expected = model.classify(letters, lengths).numpy()
        feed = {"letters": letters.numpy(), "lengths": lengths.numpy()}
        try:
            got = session.run(None, {k: v for k, v in feed.items() if k in inputs})[0]
        except Exception:  # onnxruntime raises its own types; any failure means the graph is wrong
            return float("inf")
        if got.shape != expected.shape:
            return float("inf")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def export_model(source: str | Path, out: Path | None = None) -> Exported:
    """Write the ONNX form of the model at `source` (a run directory, a checkpoint file, or
    "pretrained") into `out` (default: beside the checkpoint): `model.onnx`, and `predictor.json`
    with the languages, alphabet, calibration, scripts and the checkpoint's description and scores."""
    checkpoint_file = pretrained_path() if source == PRETRAINED else resolve_checkpoint(Path(source))
    checkpoint = load_checkpoint(checkpoint_file)
    model = checkpoint.build_model()
    n_letters = len(checkpoint.alphabet)
    what = f"{checkpoint.model_name}" + (
        f" (an ensemble of {checkpoint.members})" if checkpoint.members > 1 else ""
    )
    try:
        graph = onnx_graph(model, n_letters)
    except Exception as err:  # the exporter raises many types for operators it cannot write
        raise NamelstmError(
            f"{what} cannot be exported to ONNX ({type(err).__name__}); it stays on torch"
        ) from None
    worst = difference(model, graph, n_letters)
    if not worst <= TOLERANCE:
        raise NamelstmError(
            f"{what} cannot be exported to ONNX: its graph differs from PyTorch by {worst:.2g} at other "
            "name lengths (a loop over letters is fixed at the traced length); it stays on torch"
        )
    directory = Path(out) if out is not None else checkpoint_file.parent
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / ONNX_MODEL, graph)
    write_json(directory / ONNX_FORM, form_record(checkpoint, checkpoint_file, worst))
    for card in CARD_FILES:
        beside = checkpoint_file.parent / card
        if beside.is_file() and directory.resolve() != checkpoint_file.parent.resolve():
            shutil.copyfile(beside, directory / card)
    return Exported(directory, checkpoint.model_name, worst, len(graph))


def form_record(checkpoint: Checkpoint, checkpoint_file: Path, worst: float) -> dict[str, object]:
    described = {k: v for k, v in asdict(checkpoint).items() if k != "state_dict"}
    described["languages"] = list(checkpoint.languages)
    return {
        "format": FORM_FORMAT,
        "version": FORM_VERSION,
        # The predictor answers from this form only for the checkpoint it was made from.
        "checkpoint_sha256": sha256_file(checkpoint_file),
        "checkpoint": described,
        "onnx": {"opset": OPSET, "torch": torch.__version__, "inputs": ["letters", "lengths"]},
        "checked": {"lengths": list(CHECK_LENGTHS), "max_abs_difference": worst, "tolerance": TOLERANCE},
    }
