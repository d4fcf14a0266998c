"""Several trained models, of one family or several, whose probabilities are averaged with weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from namelstm.errors import NamelstmError
from namelstm.models.base import NameClassifier


class Ensemble(NameClassifier):
    """The weighted mean of the probabilities (not the log-probabilities) of `members`, trained on the
    same split from different seeds or families: their mistakes differ more than their right answers do.
    `weights` (equal when None) are normalised to sum to 1; a checkpoint stores them beside the members'
    weights, so `state_dict` holds the members' tensors only (under "members.<k>.")."""

    def __init__(self, members: Sequence[NameClassifier], weights: Sequence[float] | None = None) -> None:
        first = members[0]
        if any(m.n_languages != first.n_languages or m.n_letters != first.n_letters for m in members):
            raise NamelstmError(
                "an ensemble's members must read the same letters and answer the same languages"
            )
        weights = [1.0] * len(members) if weights is None else list(weights)
        if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
            raise NamelstmError(f"an ensemble needs one non-negative weight per member, not {weights}")
        super().__init__(first.n_letters, first.n_languages, first.hidden_size)
        self.members = nn.ModuleList(members)
        total = sum(weights)
        self.weights = tuple(w / total for w in weights)
        # log 0 = -inf drops a member of weight 0 from the mean exactly.
        self.register_buffer("log_weights", torch.tensor(self.weights).log(), persistent=False)

    def _mean(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(outputs) + self.log_weights.to(outputs[0].dtype).view(-1, 1, 1)
        return torch.logsumexp(stacked, dim=0)

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._mean([m.classify(letters, lengths) for m in self.members])

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        return self._mean([m.classify_one_hot(line_tensor) for m in self.members])
