"""Beyond the report: learned letter embeddings, a bidirectional LSTM and dropout."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from namelstm.models.base import NameClassifier
from namelstm.models.lstm import set_chrono_bias, set_forget_bias


class BiLSTM(NameClassifier):
    """Reads a name both ways: embedded letters -> bidirectional LSTM -> dropout -> `out`.
    Each direction's final state comes from the name's own letters only: a batch of one length is
    read as it is, a batch of mixed lengths is packed."""

    default_hidden_size = 128
    default_lr = 3e-3
    default_optimizer = "adam"
    default_balance = "sqrt"  # on validation, 3 seeds: +0.009 mean score over none (docs/recipe-search.md)
    default_tau_rule = "best"  # 5-fold CV: the one-SE rule scored -0.3 [-0.5, -0.0] points lower
    embedding_size = 48  # fixed per family, so a checkpoint's hidden size alone rebuilds the model
    dropout_p = 0.3

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        self.embedding = nn.Embedding(n_letters, self.embedding_size)
        self.rnn = nn.LSTM(self.embedding_size, hidden_size, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(self.dropout_p)
        self.out = nn.Linear(2 * hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=-1)

    def read(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embedded letters `[B, T, E]` -> log-probs `[B, L]`, ignoring steps past each name's length."""
        # Packing makes the backward direction start at each name's own last letter, not at padding.
        # It is also most of the time a batch takes (98% in prediction, on 2 CPU cores), and a batch
        # whose names all have the batch's length has no padding to skip: it is read as it is.
        lengths = lengths.cpu()  # packing wants them on the host anyway
        if bool((lengths == embedded.shape[1]).all()):
            _, (h_n, _) = self.rnn(embedded)
        else:
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.rnn(packed)  # h_n: [2, B, H], forward then backward, in the batch's order
        both = torch.cat([h_n[0], h_n[1]], dim=1)
        return self.softmax(self.out(self.dropout(both)))

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.read(self.embedding(letters), lengths)

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        # one_hot @ embedding weight equals the lookup, and lets gradients reach the one-hot input.
        embedded = (line_tensor @ self.embedding.weight).transpose(0, 1)  # [1, len, E]
        return self.read(embedded, torch.tensor([line_tensor.shape[0]]))

    def init_forget_bias(self, value: float) -> None:
        set_forget_bias(self.rnn, value)

    def init_chrono(self, t_max: float) -> None:
        set_chrono_bias(self.rnn, t_max)
