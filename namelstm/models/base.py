"""What every model family shares: one interface, and the two helpers of the batched path."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from namelstm.errors import NamelstmError


class NameClassifier(nn.Module):
    """Base of every family: maps a batch of names to log-probabilities over languages.
    `classify` is the fast batched path; `classify_one_hot` the report's letter-by-letter loop.

    Every family's `softmax` attribute holds a `LogSoftmax`: the attribute's name is the one printed
    in the report's model structure, and log-probabilities are what `NLLLoss` wants.
    """

    default_hidden_size: int = 64
    default_lr: float = 0.1  # learning rate that trains this family well with its default optimizer
    default_optimizer: str = "sgd"  # "sgd" (with the config's momentum) or "adam"
    default_lr_schedule: str = "constant"  # or "cosine" (see config.LR_SCHEDULES)
    default_average_last: int = 0  # > 0: keep the mean weights of the last N epochs, not the best epoch's
    # How tau is chosen on validation (config.TAU_RULES). The one-standard-error rule, unless 5-fold
    # cross-validation showed it losing score beyond the names' noise for the family (see the README).
    default_tau_rule: str = "one-se"
    # False for families that read no time steps (bags of n-grams, convolutions): analyses of
    # gradients through time have nothing to measure in them.
    recurrent: bool = True

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__()
        self.n_letters = n_letters
        self.n_languages = n_languages
        self.hidden_size = hidden_size

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """`letters` `[B, T]` indices, `lengths` `[B]` -> log-probabilities `[B, n_languages]`."""
        raise NotImplementedError

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        """The report's regime: one name as `<len x 1 x n_letters>` -> `[1, n_languages]`."""
        raise NotImplementedError

    def init_forget_bias(self, value: float) -> None:
        """Set the forget gate's bias to `value` (1 keeps memory open early in training)."""
        raise NamelstmError(f"{type(self).__name__.lower()} has no forget gate")

    def init_chrono(self, t_max: float) -> None:
        """Tallec & Ollivier's (2018) chrono initialisation for dependencies up to `t_max` steps:
        forget bias `log(U[1, t_max - 1])` per unit, input bias its negative (see `chrono_bias`)."""
        raise NamelstmError(f"{type(self).__name__.lower()} has no forget gate")


def chrono_bias(size: int, t_max: float) -> torch.Tensor:
    """`size` forget-gate biases `log(U[1, t_max - 1])`, drawn from the global generator: unit k then
    keeps its cell for about `1 + exp(b_k)` steps, so the units' memory spans cover 1..t_max."""
    if not t_max > 2:
        raise NamelstmError(f"chrono initialisation needs T_max > 2, not {t_max:g}")
    return torch.empty(size).uniform_(1, t_max - 1).log()


def project_inputs(letters: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`one_hot(letters) @ weight.T + bias` for every time step at once, as a row lookup.

    A one-hot vector times a matrix selects one of its columns, so the input half of each
    `Linear` on `cat(input, hidden)` is an embedding: `[B, T]` -> `[B, T, weight.shape[0]]`.
    """
    projected = F.embedding(letters, weight.t())
    return projected if bias is None else projected + bias


def at_lengths(steps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Row b of `steps` `[B, T, H]` at time `lengths[b] - 1`: each name's own last step,
    so padding after a name's end never reaches its output."""
    return steps[torch.arange(steps.shape[0], device=steps.device), lengths - 1]


def pick_by_length(states: dict[int, torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """Row b of `states[lengths[b]]`, where `states` maps each length in `lengths` to the `[B, H]`
    state after that many letters. A length-bucketed batch holds one or two lengths, so this
    costs a `where` per extra length instead of keeping and indexing every step's state."""
    (_, last), *others = sorted(states.items(), reverse=True)
    for length, state in others:
        last = torch.where((lengths == length).unsqueeze(1), state, last)
    return last


class TorchRecurrent(NameClassifier):
    """A family built on one of PyTorch's fused recurrent layers (`rnn`, over one-hot letters) and
    a linear read-out `out` of the last letter's hidden state; subclasses choose the layer."""

    rnn: nn.RNNBase

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int, rnn: nn.RNNBase) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        self.rnn = rnn
        self.out = nn.Linear(hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=-1)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """The report's signature: `<len x B x n_letters>` -> log-probs of the last step `[B, L]`."""
        output, _ = self.rnn(input)
        return self.softmax(self.out(output[-1]))

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        return self(line_tensor)

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # The fused layers want dense inputs; their kernels make the one-hot product cheap.
        one_hot = F.one_hot(letters.t(), self.n_letters).to(self.out.weight.dtype)
        output, _ = self.rnn(one_hot)  # [T, B, H]; steps after a name's end are never read
        return self.softmax(self.out(at_lengths(output.transpose(0, 1), lengths)))
