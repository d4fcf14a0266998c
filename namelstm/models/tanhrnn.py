"""A classic Elman RNN: PyTorch's `nn.RNN` with tanh, sized to about the lstm's parameter count."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from namelstm.models.base import NameClassifier, at_lengths


class TanhRNN(NameClassifier):
    """`nn.RNN(n_letters, H, tanh)` over the one-hot letters; `out` reads the last letter's hidden state.
    The squashing counterpart of the tutorial's linear `rnn`, with as many weights as the `lstm`.
    """

    # 146 * 146 + 146 * (57 + 18 + 2) + 18 = 32,576 parameters, the lstm at 64 has 32,658.
    default_hidden_size = 146
    default_balance = "none"  # sqrt weights tied on validation; the smaller change wins a tie
    default_lr = 0.02  # with SGD: 0.01-0.03 end alike on validation, 0.1 is worse, 0.3 diverges

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        self.rnn = nn.RNN(n_letters, hidden_size, nonlinearity="tanh")
        self.out = nn.Linear(hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=-1)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """`<len x B x n_letters>` -> log-probs of the last step `[B, L]`."""
        output, _ = self.rnn(input)
        return self.softmax(self.out(output[-1]))

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        return self(line_tensor)

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(letters.t(), self.n_letters).to(self.out.weight.dtype)
        output, _ = self.rnn(one_hot)  # [T, B, H]; steps after a name's end are never read
        return self.softmax(self.out(at_lengths(output.transpose(0, 1), lengths)))
