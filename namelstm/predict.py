"""Predicting languages for names with a trained model, in batches, as plain data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from namelstm.checkpoint import Checkpoint, load_checkpoint
from namelstm.data import encode, fold
from namelstm.errors import NamelstmError
from namelstm.models import NameClassifier

CHUNK = 4096  # names per forward pass: bounds memory for any number of names


@dataclass(frozen=True)
class Prediction:
    """The top languages for one name; `seen_as` is the folded form the model actually read."""

    name: str
    seen_as: str
    predictions: tuple[tuple[str, float], ...]  # (language, probability), most probable first

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "seen_as": self.seen_as,
            "predictions": [{"language": lang, "probability": p} for lang, p in self.predictions],
        }


class Predictor:
    """A trained model and its language list, ready to rank languages for any list of names.

    >>> predictor = Predictor.load("outputs/lstm")           # doctest: +SKIP
    >>> predictor.predict(["Dostoevsky"], top_k=1)[0].predictions   # doctest: +SKIP
    (('Russian', 0.97...),)
    """

    def __init__(self, model: NameClassifier, languages: Sequence[str], checkpoint: Checkpoint | None = None) -> None:
        self.model = model.eval()
        self.languages = tuple(languages)
        self.checkpoint = checkpoint

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """From a checkpoint file or a run directory holding `checkpoint.pt`."""
        path = Path(path)
        checkpoint = load_checkpoint(path / "checkpoint.pt" if path.is_dir() else path)
        return cls(checkpoint.build_model(), checkpoint.languages, checkpoint)

    @staticmethod
    def prepare(name: str) -> str:
        """The form of `name` the model reads; raises if nothing of it is left."""
        folded = fold(name)
        if not folded:
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise NamelstmError(f"name {shown!r} has no letters the model knows (a-z, A-Z and ' .,;)")
        return folded

    @torch.no_grad()
    def predict(self, names: Iterable[str], top_k: int = 3) -> list[Prediction]:
        names = list(names)
        if not 1 <= top_k <= len(self.languages):
            raise NamelstmError(f"top_k must be between 1 and {len(self.languages)}")
        seen = [self.prepare(n) for n in names]
        # Shortest names first, so each chunk is padded only to the length of its longest name.
        order = sorted(range(len(seen)), key=lambda i: len(seen[i]))
        probs = torch.empty(len(seen), top_k)
        index = torch.empty(len(seen), top_k, dtype=torch.long)
        for start in range(0, len(order), CHUNK):
            rows = torch.tensor(order[start : start + CHUNK], dtype=torch.long)
            letters, lengths = encode([seen[i] for i in rows.tolist()])
            probs[rows], index[rows] = self.model.classify(letters, lengths).exp().topk(top_k, dim=1)
        languages = self.languages
        return [
            Prediction(name, read, tuple(zip((languages[j] for j in i_row), p_row)))
            for name, read, p_row, i_row in zip(names, seen, probs.tolist(), index.tolist())
        ]
