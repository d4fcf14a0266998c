"""Beyond recurrence: convolutions over letter embeddings, max-pooled over time (Kim 2014;
Zhang, Zhao & LeCun 2015)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from namelstm.models.base import NameClassifier


class CNN(NameClassifier):
    """Embedded letters -> 1-D convolutions of widths 2..5 (`hidden_size` filters each) -> ReLU -> max over
    time -> dropout -> `out`. Wide convolutions (padded by width - 1 on both sides) give every name, even
    one letter long, a window of each width; windows that hold only padding are masked before the max."""

    recurrent = False
    # Chosen on validation (docs/recipe-search.md, grids nonrecurrent and nonrecurrent2): Adam lr 3e-3
    # beat 1e-3; no class weights and the mean of the last 10 of 20 epochs' weights scored highest.
    default_hidden_size = 64
    default_lr = 3e-3
    default_optimizer = "adam"
    default_balance = "none"
    default_average_last = 10
    embedding_size = 32  # fixed per family, so a checkpoint's hidden size alone rebuilds the model
    widths = (2, 3, 4, 5)
    dropout_p = 0.3

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        self.embedding = nn.Embedding(n_letters, self.embedding_size)
        self.convs = nn.ModuleList(
            nn.Conv1d(self.embedding_size, hidden_size, w, padding=w - 1) for w in self.widths
        )
        self.dropout = nn.Dropout(self.dropout_p)
        self.out = nn.Linear(len(self.widths) * hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=-1)

    def read(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embedded letters `[B, T, E]` -> log-probs `[B, L]`; letters past each name's length are zeroed,
        as the convolution's own padding is, so a padded batch reads like one of exact length."""
        T = embedded.shape[1]
        inside = torch.arange(T, device=embedded.device) < lengths.unsqueeze(1)
        x = (embedded * inside.unsqueeze(2).to(embedded.dtype)).transpose(1, 2)  # [B, E, T]
        pooled = []
        for width, conv in zip(self.widths, self.convs, strict=True):
            features = F.relu(conv(x))  # [B, H, T + width - 1]; window i ends at letter i
            windows = torch.arange(features.shape[2], device=x.device) < (lengths + width - 1).unsqueeze(1)
            pooled.append(features.masked_fill(~windows.unsqueeze(1), 0.0).max(2).values)
        return self.softmax(self.out(self.dropout(torch.cat(pooled, dim=1))))

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.read(self.embedding(letters), lengths)

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        # one_hot @ embedding weight equals the lookup, and lets gradients reach the one-hot input.
        embedded = (line_tensor @ self.embedding.weight).transpose(0, 1)  # [1, len, E]
        return self.read(embedded, torch.tensor([line_tensor.shape[0]], device=embedded.device))
