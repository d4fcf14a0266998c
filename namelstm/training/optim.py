"""The optimizer a run's config names, and gradient clipping, for dense and sparse gradients alike.

A family with a large lookup table (`ngram`'s 2^18 n-gram embeddings) gives it sparse gradients
(`nn.Embedding(sparse=True)`): a step then touches the few rows a batch used instead of all of them,
which made an `ngram` epoch about 40x faster than dense Adam (1.0 s against 42.5 s). Adam takes no
sparse gradients, so its sparse parameters get `SparseAdam`, Adam's update for the rows that have one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from namelstm.config import TrainConfig
from namelstm.errors import NamelstmError


def sparse_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weights whose gradients come sparse: those of embeddings built with `sparse=True`."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Embedding) and m.sparse]


def dense_gradients(model: nn.Module) -> None:
    """Give every embedding dense gradients, for where sparse ones cannot go: DistributedDataParallel
    over nccl (GPUs) all-reduces dense gradients only; gloo, on CPUs, takes sparse ones."""
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            module.sparse = False


class JointOptimizer:
    """Several optimizers stepped as one (Adam for dense parameters, SparseAdam for sparse ones): the
    interface the training loop uses of `torch.optim.Optimizer`, with one resumable state."""

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for o in self.optimizers for group in o.param_groups]

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad()

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for o, saved in zip(self.optimizers, state["optimizers"], strict=True):
            o.load_state_dict(saved)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer | JointOptimizer:
    """SGD (with the config's momentum) or Adam over every parameter; SGD takes sparse gradients as
    they are, Adam hands the sparse ones to SparseAdam."""
    if config.optimizer != "adam":
        return torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    sparse = sparse_parameters(model)
    if not sparse:
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.weight_decay:
        raise NamelstmError(
            f"{config.model} learns its embeddings with SparseAdam, which has no weight decay; "
            "drop --weight-decay or use --optimizer sgd"
        )
    ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if id(p) not in ids]
    return JointOptimizer(torch.optim.Adam(dense, lr=config.lr), torch.optim.SparseAdam(sparse, lr=config.lr))


def clip_gradients(parameters: Iterable[nn.Parameter], max_norm: float) -> None:
    """`clip_grad_norm_`, which cannot take the norm of a sparse gradient: the total norm counts each
    sparse gradient's coalesced values, and every gradient is scaled by the same factor."""
    params = [p for p in parameters if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    if max_norm == float("inf"):
        return
    grads = [p.grad.coalesce() if p.grad.is_sparse else p.grad for p in params]
    squares = torch.stack([(g.values() if g.is_sparse else g).pow(2).sum() for g in grads])
    scale = (max_norm / (squares.sum().sqrt() + 1e-6)).clamp(max=1.0)
    for p, g in zip(params, grads, strict=True):
        p.grad = g * scale
