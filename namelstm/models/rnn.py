"""The report's RNN: a linear recurrence on cat(letter, hidden), as in the PyTorch tutorial."""

from __future__ import annotations

import torch
from torch import nn

from namelstm.models.base import NameClassifier, at_lengths, pick_by_length, project_inputs


class RNN(NameClassifier):
    """The tutorial's cell: `hidden' = i2h(cat(x, hidden))`, `output = i2o(cat(x, hidden))`.
    No squashing non-linearity, so the hidden state can grow step after step (hence a smaller lr).
    """

    default_hidden_size = 128
    default_lr = 0.02
    default_balance = "none"  # sqrt weights tied on validation; the smaller change wins a tie

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        self.i2h = nn.Linear(n_letters + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_letters + hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step, the report's signature: `[1, n_letters]`, `[1, H]` -> (log-probs, hidden)."""
        combined = torch.cat((input, hidden), 1)
        return self.softmax(self.i2o(combined)), self.i2h(combined)

    def init_hidden(self, batch_size: int = 1) -> torch.Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=self.i2h.weight.device)

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        hidden = self.init_hidden()
        for letter in line_tensor:
            output, hidden = self(letter, hidden)
        return output

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Split each Linear on cat(x, hidden) into its letter half (a lookup) and its hidden half.
        i2h_x, i2h_h = self.i2h.weight.split([self.n_letters, self.hidden_size], dim=1)
        i2o_x, i2o_h = self.i2o.weight.split([self.n_letters, self.hidden_size], dim=1)
        x2h = project_inputs(letters.t(), i2h_x, self.i2h.bias)  # [T, B, H], all steps up front
        hidden = self.init_hidden(letters.shape[0])
        # The report's output comes from the last letter and the hidden state *before* it, so a
        # name of length L needs the state after L - 1 letters.
        read = lengths - 1
        needed = set(read.tolist())
        after = {0: hidden} if 0 in needed else {}  # letters read -> hidden state, only where needed
        for t in range(max(needed)):
            hidden = torch.addmm(x2h[t], hidden, i2h_h.t())
            if t + 1 in needed:
                after[t + 1] = hidden
        last_letter = at_lengths(letters.unsqueeze(-1), lengths).squeeze(-1)
        output = project_inputs(last_letter, i2o_x, self.i2o.bias) + pick_by_length(after, read) @ i2o_h.t()
        return self.softmax(output)
