"""Predicting languages for names with a trained model, in batches, as plain data."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from namelstm.checkpoint import Checkpoint, load_checkpoint
from namelstm.config import PREDICT_BATCH_SIZE
from namelstm.data.alphabet import REPORT, Alphabet, folding
from namelstm.data.names import encode
from namelstm.data.readings import han_readings
from namelstm.data.script import ScriptEvidence, evidence
from namelstm.data.written import normalise
from namelstm.errors import BadInput, NamelstmError
from namelstm.models import NameClassifier
from namelstm.runs import PRETRAINED, read_json, resolve_checkpoint
from namelstm.training.calibrate import Calibration

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
        model: NameClassifier,
        languages: Sequence[str],
        checkpoint: Checkpoint | None = None,
        calibration: Calibration | None = None,
        scripts: Mapping[str, Sequence[str]] | None = None,
        source: str | None = None,
        min_confidence: float | None = None,
    ) -> None:
        self.model = model.eval()
        self.languages = tuple(languages)
        self.checkpoint = checkpoint
        self.calibration = calibration or Calibration()
        self.scripts = dict(scripts or {})
        # The checkpoint's alphabet; other scripts are transliterated only for the report's Latin
        # letters or a run trained with --transliterate (an auto alphabet may hold them as they are).
        self.alphabet = Alphabet(checkpoint.alphabet) if checkpoint else REPORT
        trained_transliterating = bool(checkpoint and checkpoint.config.get("transliterate"))
        self.transliterate = self.alphabet == REPORT or trained_transliterating
        self.fold = folding(self.alphabet, trained_transliterating)  # as the run's training data was read
        self.source = source  # what it was loaded from: a path, or "pretrained"
        check_min_confidence(min_confidence)
        # Below it the answer is 'uncertain' (the candidates are still listed); None always answers.
        self.min_confidence = min_confidence

    @classmethod
    def load(
        cls, path: str | Path = PRETRAINED, tau: float | None = None, min_confidence: float | None = None
    ) -> Predictor:
        """From a checkpoint file, a run directory holding `checkpoint.pt`, or the string
        "pretrained" for the model shipped with the package (a folder of that name is `./pretrained`);
        `tau` replaces the fitted logit adjustment (see `with_tau`); below `min_confidence` the
        answer is 'uncertain'.

        >>> Predictor.load("pretrained").predict(["Nakamura"], top_k=1)[0].predictions[0][0]
        'Japanese'
        """
        shipped = isinstance(path, str) and path == PRETRAINED
        checkpoint = load_checkpoint(pretrained_path() if shipped else resolve_checkpoint(Path(path)))
        predictor = cls(
            checkpoint.build_model(),
            checkpoint.languages,
            checkpoint,
            Calibration.from_dict(checkpoint.calibration),
            checkpoint.scripts,
            PRETRAINED if shipped else str(path),
            min_confidence,
        )
        return predictor if tau is None else predictor.with_tau(tau)

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

    @torch.no_grad()
    def rank(
        self, names: Sequence[str], seen: Sequence[str], top_k: int = 3, ignore_script: bool = False
    ) -> Ranking:
        """`predict` for names already prepared (`seen[i] == self.prepare(names[i])`), as tensors:
        bulk callers prepare each name once, to find the bad ones, and format rows without objects."""
        self.check_top_k(top_k)
        found = [NO_SCRIPT if ignore_script else self.script_evidence(n) for n in names]
        allowed = torch.ones(len(seen), len(self.languages), dtype=torch.bool)
        for row, ev in enumerate(found):
            if ev.allowed is not None:
                allowed[row] = False
                allowed[row, list(ev.allowed)] = True
        seen, notes = list(seen), [ev.describe() for ev in found]
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
        log_probs = self._log_probs(seen + [text for _, _, text in extra])
        for row in han:  # only the languages with a reading compete for a Han name
            log_probs[row] = -math.inf
        for k, (row, i, _) in enumerate(extra, start=len(seen)):
            log_probs[row, i] = log_probs[k, i] + han[row].log_prior[i]
        log_probs = log_probs[: len(seen)].masked_fill(~allowed, -math.inf).log_softmax(dim=1)
        probs, index = log_probs.exp().topk(top_k, dim=1)
        read = {(row, i): text for row, i, text in extra}
        for row, r in han.items():  # show what the model read for the language that won
            first = int(index[row, 0])
            seen[row], notes[row] = read[row, first], r.note(first, self.languages[first])
        uncertain = probs[:, 0] < (self.min_confidence or 0.0)
        return Ranking(list(names), seen, probs, index, notes, self.languages, uncertain)

    def _log_probs(self, seen: Sequence[str]) -> torch.Tensor:
        """Calibrated log-probabilities of every language for prepared names, in batches of names of
        similar length (shortest first, so each batch is padded only to its longest name)."""
        out = torch.empty(len(seen), len(self.languages))
        lengths = torch.tensor([len(s) for s in seen], dtype=torch.long)
        for rows in torch.sort(lengths, stable=True).indices.split(PREDICT_BATCH_SIZE):
            letters, lengths = encode([seen[i] for i in rows.tolist()], self.alphabet)
            out[rows] = self.calibration.apply(self.model.classify(letters, lengths))
        return out


def check_min_confidence(value: float | None) -> None:
    """Refuse, in one line, a minimum confidence that is not a probability (None: always answer)."""
    if value is not None and not 0 <= value <= 1:
        raise BadInput(f"the minimum confidence must be a probability between 0 and 1, not {value:g}")


NO_SCRIPT = ScriptEvidence((), None)  # what an ASCII name's script says: nothing


@dataclass(frozen=True)
class Ranking:
    """The top languages of many names as tensors, most probable first: what `Prediction`s are made
    of, kept whole so a bulk writer formats columns at once instead of objects one by one."""

    names: list[str]
    seen: list[str]  # the forms the model read
    probs: torch.Tensor  # [N, k] calibrated; 0 for a language outside the name's script
    index: torch.Tensor  # [N, k] positions in `languages`
    scripts: list[str]  # each name's `ScriptEvidence.describe()`, "" for a Latin name
    languages: tuple[str, ...]
    uncertain: torch.Tensor  # [N] bool: the first probability is below the predictor's min_confidence

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
