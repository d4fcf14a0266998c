"""The report's hand-written LSTM: four gate layers on cat(input, h), run step by step."""

from __future__ import annotations

import torch
from torch import nn

from namelstm.errors import NamelstmError
from namelstm.models.base import NameClassifier, chrono_bias, pick_by_length, project_inputs


class MyLSTM(NameClassifier):
    """The LSTM equations written out: forget, input, candidate and output gates `W_f, W_i, W_C, W_o`.
    `cell` is one step of the equations; `forward` (the report's single step) and `classify` (a batch of
    names) both step it, `classify` with the four gates fused into one product per step.

    `forget_gate=False` is Hochreiter & Schmidhuber's 1997 cell: no `W_f`, f = 1, so the cell state is
    a "constant error carousel" that only the input gate writes to.
    """

    default_hidden_size = 64
    default_lr = 0.1
    default_balance = "none"  # chosen on validation: sqrt weights scored lower (docs/recipe-search.md)
    default_tau_rule = "best"  # 5-fold CV: the one-SE rule scored -0.6 [-1.1, -0.2] points lower

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int, forget_gate: bool = True) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        combined = n_letters + hidden_size
        self.forget_gate = forget_gate
        if forget_gate:  # without one the attribute does not exist, so the structure prints without it
            self.W_f = nn.Linear(combined, hidden_size)
        self.W_i = nn.Linear(combined, hidden_size)
        self.W_C = nn.Linear(combined, hidden_size)
        self.W_o = nn.Linear(combined, hidden_size)
        self.out = nn.Linear(hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=-1)

    def gates(self) -> tuple[nn.Linear, ...]:
        """`W_f` (when there is one), `W_i`, `W_C`, `W_o`: the order `cell` reads their outputs in."""
        return ((self.W_f,) if self.forget_gate else ()) + (self.W_i, self.W_C, self.W_o)

    def cell(self, gates: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the cell from the gates' pre-activations `[B, 4H]` (`W_f`, `W_i`, `W_C`, `W_o` of
        cat(input, h)): C = f*C + i*tanh(W_C·), h = o*tanh(C); without a forget gate, f = 1."""
        *f, i, C_tilde, o = gates.chunk(len(self.gates()), dim=1)
        i, C_tilde, o = torch.sigmoid(i), torch.tanh(C_tilde), torch.sigmoid(o)
        C = (torch.sigmoid(f[0]) * C if f else C) + i * C_tilde
        h = o * torch.tanh(C)
        return h, C

    def forward(
        self, input: torch.Tensor, h: torch.Tensor, C: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One time step, the report's signature: `[B, n_letters]`, h, C -> (log-probs, h, C)."""
        combined = torch.cat((input, h), 1)
        h, C = self.cell(torch.cat([W(combined) for W in self.gates()], 1), C)
        return self.softmax(self.out(h)), h, C

    def init_hidden(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The zero state (h, C)."""
        zeros = torch.zeros(batch_size, self.hidden_size, device=self.out.weight.device)
        return zeros, zeros

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        h, C = self.init_hidden()
        for letter in line_tensor:
            output, h, C = self(letter, h, C)
        return output

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """`cell` over the batch; the four gates' letter halves are one lookup for all steps up front,
        their hidden halves one product per step."""
        gates = self.gates()
        weight = torch.cat([g.weight for g in gates])  # [4H, n_letters + H]
        bias = torch.cat([g.bias for g in gates])
        w_x, w_h = weight.split([self.n_letters, self.hidden_size], dim=1)
        x_gates = project_inputs(letters.t(), w_x, bias)  # [T, B, 4H]
        w_h = w_h.t()
        h, C = self.init_hidden(letters.shape[0])
        ends = set(lengths.tolist())
        after = {}  # letters read -> h, kept only for the lengths in the batch
        for t in range(x_gates.shape[0]):
            h, C = self.cell(torch.addmm(x_gates[t], h, w_h), C)
            if t + 1 in ends:
                after[t + 1] = h
        return self.softmax(self.out(pick_by_length(after, lengths)))

    def init_forget_bias(self, value: float) -> None:
        if not self.forget_gate:
            raise NamelstmError("mylstm without a forget gate has no forget bias to set")
        with torch.no_grad():
            self.W_f.bias.fill_(value)

    def init_chrono(self, t_max: float) -> None:
        if not self.forget_gate:
            raise NamelstmError("mylstm without a forget gate has no forget bias to set")
        forget = chrono_bias(self.hidden_size, t_max)
        with torch.no_grad():
            self.W_f.bias.copy_(forget)
            self.W_i.bias.copy_(-forget)
