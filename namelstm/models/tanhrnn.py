"""A classic Elman RNN: PyTorch's `nn.RNN` with tanh, sized to about the lstm's parameter count."""

from __future__ import annotations

from torch import nn

from namelstm.models.base import TorchRecurrent


class TanhRNN(TorchRecurrent):
    """`nn.RNN(n_letters, H, tanh)` over the one-hot letters; `out` reads the last letter's hidden state.
    The squashing counterpart of the tutorial's linear `rnn`, with as many weights as the `lstm`.
    """

    # 146 * 146 + 146 * (57 + 18 + 2) + 18 = 32,576 parameters, the lstm at 64 has 32,658.
    default_hidden_size = 146
    default_balance = "none"  # sqrt weights tied on validation; the smaller change wins a tie
    default_lr = 0.02  # with SGD: 0.01-0.03 end alike on validation, 0.1 is worse, 0.3 diverges

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        rnn = nn.RNN(n_letters, hidden_size, nonlinearity="tanh")
        super().__init__(n_letters, n_languages, hidden_size, rnn)
