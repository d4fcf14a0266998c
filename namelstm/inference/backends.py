"""What runs a model for the predictor: PyTorch, or onnxruntime on the model's exported ONNX form.

Both score prepared names in exact-length batches (every name of a batch as long as the batch, so
nothing is padded or packed) and return the model's log-probabilities as numpy: everything after
that (calibration, script masks, Han readings, top-k) is the predictor's, written once in numpy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from namelstm.checkpoint import ALPHABET, Checkpoint
from namelstm.config import BACKENDS
from namelstm.data.alphabet import Alphabet
from namelstm.data.buckets import exact_length_batches
from namelstm.data.script import default_scripts
from namelstm.errors import NamelstmError
from namelstm.inference.threads import resolve_threads
from namelstm.runs import ONNX_FORM, ONNX_MODEL, read_json

if TYPE_CHECKING:
    from namelstm.models import NameClassifier

__all__ = ["BACKENDS", "OnnxScorer", "Scorer", "TorchScorer", "form_matches", "read_form"]
FORM_FORMAT = "namelstm-onnx"
FORM_VERSION = 1
# Names per call. The shipped model's exact-length batches of 256, 1024 and 4096 names ran within
# the noise of each other on 2 shared cores (onnxruntime 57k, 59k, 51k names/s; PyTorch 59k, 65k,
# 71k); 1024 keeps each call's memory small whatever the file.
EXACT_BATCH_SIZE = 1024
# onnxruntime's threads unless --threads or $OMP_NUM_THREADS say otherwise: 2, where PyTorch's are 1.
# Measured on 2 shared cores: a million-row CSV took 12.7 s with 2 threads and 15.8 s with 1 (load
# about 2); the shipped model's forward pass ran at 90k names/s with 2 and 54k with 1 on a quieter
# machine, and at 57k against 63k with other jobs running (docs/scale.md, prediction paths). With
# spinning off, a second thread costs a tenth at worst here, where PyTorch's spinning threads cost
# twice the time (docs/scale.md, CPU threads).
ONNX_THREADS = 2


class Scorer(Protocol):
    """Prepared (folded) names -> the model's log-probabilities `[N, n_languages]`, float32."""

    backend: str

    def log_probs(self, seen: Sequence[str]) -> np.ndarray: ...


class TorchScorer:
    """A `NameClassifier` in PyTorch, read through its one interface, `classify(letters, lengths)`."""

    backend = "torch"

    def __init__(self, model: NameClassifier, alphabet: Alphabet, n_languages: int) -> None:
        self.model = model.eval()
        self.alphabet = alphabet
        self.n_languages = n_languages

    def log_probs(self, seen: Sequence[str]) -> np.ndarray:
        import torch

        out = np.empty((len(seen), self.n_languages), dtype=np.float32)
        with torch.inference_mode():
            for rows, letters in exact_length_batches(seen, self.alphabet, EXACT_BATCH_SIZE):
                lengths = torch.full((len(rows),), letters.shape[1], dtype=torch.long)
                out[rows] = self.model.classify(torch.from_numpy(letters), lengths).numpy()
        return out


class OnnxScorer:
    """The same model exported to ONNX (`namelstm export`), run by onnxruntime: no torch."""

    backend = "onnx"

    def __init__(self, graph: Path, alphabet: Alphabet, n_languages: int, threads: int | None = None) -> None:
        self.session = onnx_session(graph.read_bytes(), threads)
        # A graph that never reads `lengths` (every name in a batch is the batch's length) drops it.
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.alphabet = alphabet
        self.n_languages = n_languages

    def log_probs(self, seen: Sequence[str]) -> np.ndarray:
        out = np.empty((len(seen), self.n_languages), dtype=np.float32)
        for rows, letters in exact_length_batches(seen, self.alphabet, EXACT_BATCH_SIZE):
            feed = {"letters": letters, "lengths": np.full(len(rows), letters.shape[1], dtype=np.int64)}
            out[rows] = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        return out


class ScoreCache:
    """The model's log-probabilities of prepared names already scored, in bounded memory: surnames
    in real files follow Zipf's law, so most rows of a big file repeat a name scored before. When
    full it starts again empty (`capacity` rows of float32 and a dict of their texts: ~60 MB at
    the default), which keeps the common names in after a few chunks."""

    def __init__(self, width: int, capacity: int = 1 << 18) -> None:
        self.width, self.capacity = width, capacity
        self.slots: dict[str, int] = {}
        self.rows = np.empty((0, width), dtype=np.float32)  # grows to `capacity` as it fills

    def scores(self, seen: Sequence[str], score: Any) -> np.ndarray:
        """`score(texts)` for `seen`, each distinct text scored once, and never again while cached."""
        slots = self.slots
        missing = list(dict.fromkeys(t for t in seen if t not in slots))
        if len(missing) > self.capacity:  # too many new texts to keep: score each distinct one once
            position = {t: i for i, t in enumerate(missing)}
            return score(missing)[np.fromiter((position[t] for t in seen), np.int64, len(seen))]
        if len(slots) + len(missing) > self.capacity:
            slots.clear()
            missing = list(dict.fromkeys(seen))
        if missing:
            start = len(slots)
            if len(self.rows) < start + len(missing):
                grown = min(self.capacity, max(2 * len(self.rows), start + len(missing)))
                more = np.empty((grown - len(self.rows), self.width), np.float32)
                self.rows = np.concatenate([self.rows, more])
            self.rows[start : start + len(missing)] = score(missing)
            slots.update(zip(missing, range(start, start + len(missing)), strict=True))
        return self.rows[np.fromiter((slots[t] for t in seen), np.int64, len(seen))]


def onnx_session(graph: bytes, threads: int | None = None) -> Any:
    """An onnxruntime CPU session of `graph` on `resolve_threads(threads, ONNX_THREADS)` intra-op
    threads, whose waiting threads do not spin (they would take a core another job could use)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = resolve_threads(threads, default=ONNX_THREADS)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # its warnings are about graph optimisations, not the user's input
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_form(directory: Path) -> tuple[Checkpoint, dict[str, Any]]:
    """The ONNX form in `directory` (`namelstm export`): the checkpoint it was made from, described
    without its weights, and the form's own record (`checkpoint_sha256`, what was verified)."""
    path = Path(directory) / ONNX_FORM
    raw = read_json(path)
    if not (
        isinstance(raw, dict) and raw.get("format") == FORM_FORMAT and raw.get("version") == FORM_VERSION
    ):
        raise NamelstmError(f"{path} is not a namelstm ONNX form (version {FORM_VERSION})")
    if not (Path(directory) / ONNX_MODEL).is_file():
        raise NamelstmError(f"{path} has no {ONNX_MODEL} beside it; run namelstm export again")
    c = raw.get("checkpoint")
    try:
        languages = tuple(c["languages"])
        checkpoint = Checkpoint(
            model_name=str(c["model_name"]),
            hidden_size=int(c["hidden_size"]),
            languages=languages,
            state_dict={},  # the weights are in the graph
            epoch=int(c.get("epoch", 0)),
            alphabet=str(c.get("alphabet", ALPHABET)),
            config=dict(c.get("config") or {}),
            metrics=dict(c.get("metrics") or {}),
            members=int(c.get("members", 1)),
            parts=tuple(dict(part) for part in c.get("parts") or ()),
            calibration=dict(c.get("calibration") or {}),
            scripts=dict(c["scripts"]) if isinstance(c.get("scripts"), dict) else default_scripts(languages),
        )
    except (TypeError, KeyError, ValueError, AttributeError):
        raise NamelstmError(f"{path} is not a usable namelstm ONNX form: bad model description") from None
    if len(languages) < 2 or not checkpoint.alphabet:
        raise NamelstmError(f"{path} is not a usable namelstm ONNX form: bad languages or alphabet")
    return checkpoint, raw


def form_matches(directory: Path, checkpoint_file: Path | None) -> bool:
    """Whether `directory` holds an ONNX form made from `checkpoint_file` (None: there is no
    checkpoint, so a form alone is the model): a checkpoint trained again after its export, or
    another checkpoint in the same folder, is never answered by a stale graph."""
    path = Path(directory) / ONNX_FORM
    if not path.is_file() or not (Path(directory) / ONNX_MODEL).is_file():
        return False
    if checkpoint_file is None:
        return True
    raw = read_json(path)
    return isinstance(raw, dict) and raw.get("checkpoint_sha256") == sha256_file(checkpoint_file)
