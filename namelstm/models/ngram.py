"""Beyond recurrence: a bag of hashed character n-grams (Joulin et al. 2017, fastText)."""

from __future__ import annotations

import torch
from torch import nn

from namelstm.models.base import NameClassifier

# A multiplier of the rolling hash: odd, so multiplying by it is a bijection modulo the buckets' power
# of two, and large, so a letter's symbol reaches every bit of the id. int64 products wrap around, the
# same in PyTorch and ONNX, so the ids never depend on where the model runs.
HASH_MULTIPLIER = 1_000_003


def ngram_ids(
    letters: torch.Tensor, lengths: torch.Tensor, n_letters: int, max_n: int, buckets: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The hashed n-grams (n = 1..`max_n`) of each name written with a start and an end mark:
    ids `[B, G]` in `[0, buckets)` and a mask `[B, G]`, False for every n-gram that would reach
    into padding, so a padded batch and one of exact length give the same bag.

    Built by tensor operations over all names at once: the n-grams ending at each position come
    from those of n - 1 letters ending one step before, times the multiplier, plus this symbol.
    """
    B, T = letters.shape
    positions = torch.arange(T + 2, device=letters.device)
    ends = (lengths + 1).unsqueeze(1)  # where each name's end mark goes
    shifted = nn.functional.pad(letters + 1, (1, 1))  # 0 stays free: no letter hashes like padding
    start, end = n_letters + 1, n_letters + 2
    symbols = torch.where(positions == 0, start, torch.where(positions == ends, end, shifted))
    symbols = torch.where(positions <= ends, symbols, 0)
    ids, masks, grams = [], [], symbols
    for n in range(1, max_n + 1):
        if n > 1:  # the n-gram ending at p is the (n-1)-gram ending at p - 1, then symbol p
            grams = nn.functional.pad(grams[:, :-1], (1, 0)) * HASH_MULTIPLIER + symbols
        ids.append(grams & (buckets - 1))
        masks.append((positions >= n - 1) & (positions <= ends))
    return torch.cat(ids, dim=1), torch.cat(masks, dim=1).expand(B, -1)


class NGram(NameClassifier):
    """No recurrence: the mean embedding of a name's hashed character n-grams -> dropout -> `out`.
    `hidden_size` is the embedding's width; the n-grams run from 1 to `max_n` letters, marks included."""

    recurrent = False
    # Chosen on validation (docs/recipe-search.md, grids nonrecurrent and nonrecurrent2): Adam lr 3e-3
    # (SparseAdam for the table) beat 1e-2; sqrt class weights and the mean of the last 5 of 20 epochs'
    # weights scored highest, by margins within the seeds' spread.
    default_hidden_size = 64
    default_lr = 3e-3
    default_optimizer = "adam"
    default_balance = "sqrt"
    default_average_last = 5
    buckets = 2**18  # a power of two: the hash keeps its low bits
    max_n = 5
    dropout_p = 0.0
    # Sparse gradients: a step updates the rows its batch used, not all 2^18 (training/optim.py).

    def __init__(self, n_letters: int, n_languages: int, hidden_size: int) -> None:
        super().__init__(n_letters, n_languages, hidden_size)
        self.embedding = nn.Embedding(self.buckets, hidden_size, sparse=True)
        nn.init.normal_(self.embedding.weight, std=hidden_size**-0.5)
        self.dropout = nn.Dropout(self.dropout_p)
        self.out = nn.Linear(hidden_size, n_languages)
        self.softmax = nn.LogSoftmax(dim=-1)

    def classify(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids, mask = ngram_ids(letters, lengths, self.n_letters, self.max_n, self.buckets)
        weights = mask.to(self.out.weight.dtype).unsqueeze(2)
        # A masked mean rather than nn.EmbeddingBag: the same numbers, and torch.onnx exports it.
        bag = (self.embedding(ids) * weights).sum(1) / weights.sum(1)
        return self.softmax(self.out(self.dropout(bag)))

    def classify_one_hot(self, line_tensor: torch.Tensor) -> torch.Tensor:
        # n-grams are discrete: the one-hot rows only say which letter each step holds.
        letters = line_tensor.argmax(2).t()  # [1, len]
        return self.classify(letters, torch.tensor([line_tensor.shape[0]], device=letters.device))
