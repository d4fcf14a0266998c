"""The report's LSTM: PyTorch's own `nn.LSTM` followed by a linear read-out."""

from __future__ import annotations

import torch
from torch import nn

from namelstm.models.base import TorchRecurrent, chrono_bias


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
    default_tau_rule = "best"  # 5-fold CV: the one-SE rule scored -0.7 [-1.2, -0.2] points lower

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size, nn.LSTM(n_letters, hidden_size))

    def init_forget_bias(self, value: float) -> None:
        set_forget_bias(self.rnn, value)

    def init_chrono(self, t_max: float) -> None:
        set_chrono_bias(self.rnn, t_max)


# nn.LSTM stacks each bias by gate as (i, f, g, o).
INPUT_GATE, FORGET_GATE = 0, 1


def _set_gate_bias(lstm: nn.LSTM, gate: int, value: float | torch.Tensor, name: str) -> None:
    # nn.LSTM adds two biases, `bias_ih` and `bias_hh`; only their sum matters, so the gate's slice
    # of `bias_ih<name>` gets `value` and that of `bias_hh<name>` gets 0.
    H = lstm.hidden_size
    rows = slice(gate * H, (gate + 1) * H)
    with torch.no_grad():
        getattr(lstm, f"bias_ih{name}")[rows] = value
        getattr(lstm, f"bias_hh{name}")[rows] = 0.0


def _layer_names(lstm: nn.LSTM) -> list[str]:
    """The suffixes of every layer's and direction's parameters: '_l0', '_l0_reverse', ..."""
    directions = ["", "_reverse"] if lstm.bidirectional else [""]
    return [f"_l{layer}{d}" for layer in range(lstm.num_layers) for d in directions]


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Make the forget gate's effective bias `value` in every layer and direction of `lstm`."""
    for name in _layer_names(lstm):
        _set_gate_bias(lstm, FORGET_GATE, value, name)


def set_chrono_bias(lstm: nn.LSTM, t_max: float) -> None:
    """Chrono initialisation (`chrono_bias`) in every layer and direction: forget bias b, input bias -b."""
    for name in _layer_names(lstm):
        forget = chrono_bias(lstm.hidden_size, t_max)
        _set_gate_bias(lstm, FORGET_GATE, forget, name)
        _set_gate_bias(lstm, INPUT_GATE, -forget, name)
