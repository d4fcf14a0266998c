"""Predicting languages for names with a trained model, in batches, as plain data.

No torch at import: the model runs in onnxruntime where it has an ONNX form (`namelstm export`),
else in PyTorch (inference/backends.py); the ranking after it is numpy, the same for both."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from namelstm.calibration import Calibration, log_softmax
from namelstm.checkpoint import Checkpoint
from namelstm.data.alphabet import REPORT, Alphabet, folding
from namelstm.data.readings import han_readings
from namelstm.data.script import ScriptEvidence, evidence
from namelstm.data.written import normalise
from namelstm.errors import BadInput, NamelstmError
from namelstm.inference.backends import (
    BACKENDS,
    OnnxScorer,
    ScoreCache,
    Scorer,
    TorchScorer,
    form_matches,
    read_form,
)
from namelstm.runs import CHECKPOINT, ONNX_FORM, ONNX_MODEL, PRETRAINED, read_json, resolve_checkpoint

if TYPE_CHECKING:
    from namelstm.models import NameClassifier

MAX_LETTERS = 1000  # longer input is not a name; refusing it keeps time and memory bounded
UNCERTAIN = "uncertain"  # the answer below --min-confidence


@dataclass(frozen=True)
class Prediction:
    """The top languages for one name; `seen_as` is the folded form the model actually read, and
    `script` what its writing system did ('Cyrillic script'), empty for a Latin name."""

    name: str
    seen_as: str
    predictions: tuple[tuple[str, float], ...]  # (language, probability), most probable first
    script: str = ""
    uncertain: bool = False  # the first probability is below the predictor's min_confidence

    @property
    def answer(self) -> str:
        """The first language, or 'uncertain' when the model is not sure enough to answer."""
        return UNCERTAIN if self.uncertain else self.predictions[0][0]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "seen_as": self.seen_as,
            "script": self.script or None,
            "answer": self.answer,
            "uncertain": self.uncertain,
            "predictions": [{"language": lang, "probability": p} for lang, p in self.predictions],
        }

    def note(self) -> str:
        """What the CLI and the page show after the name: "(read as 'Kuznetsova'; Cyrillic script)"."""
        parts = [f"read as {self.seen_as!r}"] if self.seen_as != self.name else []
        parts += [self.script] if self.script else []
        return f"({'; '.join(parts)})" if parts else ""


def pretrained_path() -> Path:
    """The trained model shipped inside the package (built by scripts/build_pretrained.py)."""
    return Path(str(resources.files("namelstm"))) / "pretrained" / "model.pt"


def pretrained_card() -> dict[str, Any]:
    """The shipped model's card: data, split, settings and test metrics."""
    return read_json(pretrained_path().parent / "card.json")


class Predictor:
    """A trained model and its language list, ready to rank languages for any list of names.

    >>> predictor = Predictor.load("pretrained")        # or a run directory, or a checkpoint file
    >>> [p.predictions[0][0] for p in predictor.predict(["Dostoevsky", "Nakamura"])]
    ['Russian', 'Japanese']
    >>> predictor.predict(["Достоевский"], top_k=2)[0].seen_as
    'Dostoevskiy'
    """

    def __init__(
        self,
        model: NameClassifier | Scorer,
        languages: Sequence[str],
        checkpoint: Checkpoint | None = None,
        calibration: Calibration | None = None,
        scripts: Mapping[str, Sequence[str]] | None = None,
        source: str | None = None,
        min_confidence: float | None = None,
    ) -> None:
        self.languages = tuple(languages)
        self.checkpoint = checkpoint  # for an ONNX form: its description, without the weights
        self.calibration = calibration or Calibration()
        self.scripts = dict(scripts or {})
        # The checkpoint's alphabet; other scripts are transliterated only for the report's Latin
        # letters or a run trained with --transliterate (an auto alphabet may hold them as they are).
        self.alphabet = Alphabet(checkpoint.alphabet) if checkpoint else REPORT
        self.scorer: Scorer = (
            model if hasattr(model, "log_probs") else TorchScorer(model, self.alphabet, len(self.languages))  # type: ignore[arg-type]
        )
        self.cache = ScoreCache(len(self.languages))  # the model's answers before calibration
        # The PyTorch module, for the callers that look inside it (analyze, compare); None on onnx.
        self.model: NameClassifier | None = getattr(self.scorer, "model", None)
        trained_transliterating = bool(checkpoint and checkpoint.config.get("transliterate"))
        self.transliterate = self.alphabet == REPORT or trained_transliterating
        self.fold = folding(self.alphabet, trained_transliterating)  # as the run's training data was read
        self.source = source  # what it was loaded from: a path, or "pretrained"
        check_min_confidence(min_confidence)
        # Below it the answer is 'uncertain' (the candidates are still listed); None always answers.
        self.min_confidence = min_confidence

    @classmethod
    def load(
        cls,
        path: str | Path = PRETRAINED,
        tau: float | None = None,
        min_confidence: float | None = None,
        backend: str = "auto",
        threads: int | None = None,
    ) -> Predictor:
        """From a checkpoint file, a run directory holding `checkpoint.pt`, a folder `namelstm export`
        wrote, or the string "pretrained" for the model shipped with the package (a folder of that
        name is `./pretrained`); `tau` replaces the fitted logit adjustment (see `with_tau`); below
        `min_confidence` the answer is 'uncertain'. `backend`: "onnx" runs the model's ONNX form in
        onnxruntime, "torch" its checkpoint in PyTorch, "auto" the ONNX form where there is one made
        from that checkpoint, else PyTorch. `threads`: onnxruntime's (torch: see inference/threads.py).

        >>> Predictor.load("pretrained").predict(["Nakamura"], top_k=1)[0].predictions[0][0]
        'Japanese'
        """
        if backend not in BACKENDS:
            raise BadInput(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        shipped = isinstance(path, str) and path == PRETRAINED
        checkpoint_file, form = locate(path, shipped)
        onnx = backend == "onnx" or (backend == "auto" and form_matches(form, checkpoint_file))
        if onnx:
            check_form(path, form, checkpoint_file)
            checkpoint, _ = read_form(form)
            alphabet, n = Alphabet(checkpoint.alphabet), len(checkpoint.languages)
            model: NameClassifier | Scorer = OnnxScorer(form / ONNX_MODEL, alphabet, n, threads)
        else:
            if checkpoint_file is None:
                raise NamelstmError(f"{path} holds only an ONNX form; the torch backend needs its checkpoint")
            from namelstm.checkpoint import load_checkpoint
            from namelstm.inference.threads import apply_threads

            if threads is not None:
                apply_threads(threads)
            checkpoint = load_checkpoint(checkpoint_file)
            model = checkpoint.build_model()
        predictor = cls(
            model,
            checkpoint.languages,
            checkpoint,
            Calibration.from_dict(checkpoint.calibration),
            checkpoint.scripts,
            PRETRAINED if shipped else str(path),
            min_confidence,
        )
        return predictor if tau is None else predictor.with_tau(tau)

    @property
    def backend(self) -> str:
        """What runs the model: "onnx" (onnxruntime) or "torch"."""
        return self.scorer.backend

    def with_tau(self, tau: float) -> Predictor:
        """This predictor with logit-adjustment strength `tau` instead of the one fitted on validation:
        0 answers as the model was trained (common languages more often, higher plain accuracy),
        larger values favour rare languages. The temperature stays the fitted one."""
        if not self.calibration.prior and tau:
            raise NamelstmError(
                "this model stores no language prior, so its logit adjustment cannot be changed"
            )
        changed = copy.copy(self)  # the same model and settings, one calibration changed
        changed.calibration = replace(self.calibration, tau=float(tau))
        return changed

    def prepare(self, name: str) -> str:
        """The form of `name` the model reads: other scripts transliterated to Latin letters, then
        folded to the model's alphabet. Raises `BadInput` if nothing usable is left."""
        shown = name if len(name) <= 40 else name[:40] + "..."
        if len(name) > 4 * MAX_LETTERS:  # before transliterating, which can lengthen the text
            raise BadInput(
                f"{shown!r} is {len(name):,} characters long; a name has at most {MAX_LETTERS:,} letters"
            )
        folded = self.fold(name)
        if not folded:
            raise BadInput(
                f"{shown!r} has no letters (a name needs at least one of a-z, A-Z, or any script's letters)"
            )
        if len(folded) > MAX_LETTERS:
            raise BadInput(f"{shown!r} has {len(folded):,} letters; a name has at most {MAX_LETTERS:,}")
        return folded

    def script_evidence(self, name: str) -> ScriptEvidence:
        if name.isascii():  # the common case needs no Unicode look-up
            return NO_SCRIPT
        return evidence(name, self.scripts, self.languages)

    def predict(
        self, names: Iterable[str], top_k: int = 3, first_position: int = 1, ignore_script: bool = False
    ) -> list[Prediction]:
        """The `top_k` likeliest languages of each name, calibrated. A name in a non-Latin script
        shares its probability only among the languages written in that script, unless
        `ignore_script`. An unusable name raises `BadInput`, naming its position (counted from
        `first_position`)."""
        names = list(names)
        self.check_top_k(top_k)
        seen = []
        for position, name in enumerate(names, start=first_position):
            try:
                seen.append(self.prepare(name))
            except BadInput as err:
                raise BadInput(f"name {position}: {err}") from None
        return self.rank(names, seen, top_k, ignore_script).predictions()

    def check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= len(self.languages):
            raise BadInput(f"top_k must be between 1 and {len(self.languages)}")

    def rank(
        self, names: Sequence[str], seen: Sequence[str], top_k: int = 3, ignore_script: bool = False
    ) -> Ranking:
        """`predict` for names already prepared (`seen[i] == self.prepare(names[i])`), as arrays:
        bulk callers prepare each name once, to find the bad ones, and format rows without objects."""
        self.check_top_k(top_k)
        # A chunk of ASCII names (most of a big Latin file) has no script to look up, name by name.
        plain = ignore_script or "".join(names).isascii()
        found = [NO_SCRIPT] * len(names) if plain else [self.script_evidence(n) for n in names]
        allowed = np.ones((len(seen), len(self.languages)), dtype=bool)
        for row, ev in enumerate(found):
            if ev.allowed is not None:
                allowed[row] = False
                allowed[row, list(ev.allowed)] = True
        seen, notes = list(seen), [""] * len(names) if plain else [ev.describe() for ev in found]
        # A model that reads Han characters as they are (an auto alphabet) needs no readings.
        han = {
            row: readings
            for row, ev in enumerate(found)
            if self.transliterate
            and ev.scripts
            and (readings := han_readings(normalise(names[row]), ev.scripts, ev.allowed, self.languages))
        }
        # Each reading is one more text to score: the model is asked about each language in its own
        # reading, or in the name's own form where that language has none (or one too long to read).
        extra = [
            (row, i, text if 0 < len(text := self.alphabet.fold(reading)) <= MAX_LETTERS else seen[row])
            for row, r in han.items()
            for i, reading in r.texts.items()
        ]
        log_probs = self.log_probs(seen + [text for _, _, text in extra])
        for row in han:  # only the languages with a reading compete for a Han name
            log_probs[row] = -np.inf
        for k, (row, i, _) in enumerate(extra, start=len(seen)):
            log_probs[row, i] = log_probs[k, i] + han[row].log_prior[i]
        probs, index = top(np.exp(log_softmax(np.where(allowed, log_probs[: len(seen)], -np.inf))), top_k)
        read = {(row, i): text for row, i, text in extra}
        for row, r in han.items():  # show what the model read for the language that won
            first = int(index[row, 0])
            seen[row], notes[row] = read[row, first], r.note(first, self.languages[first])
        uncertain = probs[:, 0] < (self.min_confidence or 0.0)
        return Ranking(list(names), seen, probs, index, notes, self.languages, uncertain)

    def log_probs(self, seen: Sequence[str]) -> np.ndarray:
        """Calibrated log-probabilities `[N, languages]` of every language for prepared names."""
        if not seen:
            return np.empty((0, len(self.languages)), dtype=np.float32)
        return self.calibration.apply_numpy(self.cache.scores(seen, self.scorer.log_probs))


def top(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `k` largest probabilities, largest first, and their columns."""
    index = np.argpartition(-probs, k - 1, axis=1)[:, :k] if k < probs.shape[1] else np.arange(k)[None]
    index = np.broadcast_to(index, (len(probs), k))
    chosen = np.take_along_axis(probs, index, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1), np.take_along_axis(index, order, axis=1)


def locate(path: str | Path, shipped: bool) -> tuple[Path | None, Path]:
    """The checkpoint file asked for (None where there is only an ONNX form) and the folder where
    its ONNX form would be."""
    if shipped:
        checkpoint = pretrained_path()
        return (checkpoint if checkpoint.is_file() else None), checkpoint.parent
    path = Path(path)
    if path.is_dir() and (path / ONNX_FORM).is_file() and not (path / CHECKPOINT).is_file():
        return None, path
    checkpoint = resolve_checkpoint(path)
    return checkpoint, checkpoint.parent


def check_form(path: str | Path, form: Path, checkpoint_file: Path | None) -> None:
    """Refuse, in one line, an ONNX backend that has no form to run, or only a stale one."""
    if not (form / ONNX_FORM).is_file() or not (form / ONNX_MODEL).is_file():
        raise NamelstmError(f"{path} has no ONNX form; make one with: namelstm export {path}")
    if not form_matches(form, checkpoint_file):
        raise NamelstmError(
            f"the ONNX form in {form} was made from another checkpoint; make it again: namelstm export {path}"
        )


def check_min_confidence(value: float | None) -> None:
    """Refuse, in one line, a minimum confidence that is not a probability (None: always answer)."""
    if value is not None and not 0 <= value <= 1:
        raise BadInput(f"the minimum confidence must be a probability between 0 and 1, not {value:g}")


NO_SCRIPT = ScriptEvidence((), None)  # what an ASCII name's script says: nothing


@dataclass(frozen=True)
class Ranking:
    """The top languages of many names as arrays, most probable first: what `Prediction`s are made
    of, kept whole so a bulk writer formats columns at once instead of objects one by one."""

    names: list[str]
    seen: list[str]  # the forms the model read
    probs: np.ndarray  # [N, k] calibrated; 0 for a language outside the name's script
    index: np.ndarray  # [N, k] positions in `languages`
    scripts: list[str]  # each name's `ScriptEvidence.describe()`, "" for a Latin name
    languages: tuple[str, ...]
    uncertain: np.ndarray  # [N] bool: the first probability is below the predictor's min_confidence

    def predictions(self) -> list[Prediction]:
        languages = self.languages
        return [
            # A language outside the name's script has probability 0 and is left out.
            Prediction(
                name,
                read,
                tuple((languages[j], p) for j, p in zip(i_row, p_row, strict=True) if p > 0),
                script,
                unsure,
            )
            for name, read, p_row, i_row, script, unsure in zip(
                self.names,
                self.seen,
                self.probs.tolist(),
                self.index.tolist(),
                self.scripts,
                self.uncertain.tolist(),
                strict=True,
            )
        ]
