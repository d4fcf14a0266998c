"""Several trained models of one family whose probabilities are averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from namelstm.models.base import NameClassifier


class Ensemble(NameClassifier):
    """Averages the probabilities (not the log-probabilities) of `members`, trained from different
    seeds on the same split: their mistakes differ more than their right answers do."""

    def __init__(self, members: Sequence[NameClassifier]) -> None:
        first = members[0]
        super().__init__(first.n_letters, first.n_languages, first.hidden_size)
        self.members = nn.ModuleList(members)

    def _mean(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.logsumexp(torch.stack(outputs), dim=0) - math.log(len(outputs))

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._mean([m.classify(letters, lengths) for m in self.members])

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        return self._mean([m.classify_one_hot(line_tensor) for m in self.members])
