"""The report's LSTM: PyTorch's own `nn.LSTM` followed by a linear read-out."""

from __future__ import annotations

import torch
from torch import nn

from namelstm.models.base import TorchRecurrent


class LSTM(TorchRecurrent):
    """`nn.LSTM(n_letters, H)` over the one-hot letters; `out` reads the last letter's hidden state.
    The reference the hand-written `MyLSTM` is checked against.
    """

    default_hidden_size = 64
    # Chosen on validation (docs/recipe-search.md): a high SGD rate annealed by a cosine, keeping the mean
    # weights of the last half of the 20 epochs, beat lr 0.1 with best-epoch selection on 3 seeds.
    default_lr = 0.8
    default_lr_schedule = "cosine"
    default_average_last = 10
    default_balance = "none"  # with the fitted logit adjustment; sqrt and 1/4-power weights scored lower

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size, nn.LSTM(n_letters, hidden_size))

    def init_forget_bias(self, value: float) -> None:
        set_forget_bias(self.rnn, value)


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Make the forget gate's effective bias `value` in every layer and direction of `lstm`.

    nn.LSTM adds two biases, `bias_ih` and `bias_hh`, each stacked by gate as (i, f, g, o); only
    their sum matters, so the forget slice of `bias_ih` gets `value` and that of `bias_hh` gets 0.
    """
    H = lstm.hidden_size
    forget = slice(H, 2 * H)
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_ih"):
                bias[forget] = value
            elif name.startswith("bias_hh"):
                bias[forget] = 0.0
