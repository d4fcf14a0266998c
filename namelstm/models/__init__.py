"""The model families, by name. A new family joins by adding its class to `MODELS`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from namelstm.errors import NamelstmError
from namelstm.models.base import NameClassifier
from namelstm.models.bilstm import BiLSTM
from namelstm.models.lstm import LSTM
from namelstm.models.mylstm import MyLSTM
from namelstm.models.rnn import RNN
from namelstm.models.tanhrnn import TanhRNN

# The report's three families first: listings and comparisons keep its order.
MODELS: Mapping[str, type[NameClassifier]] = MappingProxyType(
    {"rnn": RNN, "lstm": LSTM, "mylstm": MyLSTM, "tanhrnn": TanhRNN, "bilstm": BiLSTM}
)


def family(name: str) -> type[NameClassifier]:
    """The class registered as `name`, or a clear error listing the names there are."""
    if name not in MODELS:
        raise NamelstmError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_model(
    name: str, n_letters: int, n_languages: int, hidden_size: int | None = None
) -> NameClassifier:
    """A fresh model of family `name`, at the report's size unless `hidden_size` is given."""
    cls = family(name)
    return cls(n_letters, n_languages, hidden_size or cls.default_hidden_size)


__all__ = ["LSTM", "MODELS", "RNN", "BiLSTM", "MyLSTM", "NameClassifier", "TanhRNN", "build_model", "family"]
