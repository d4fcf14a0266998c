"""The model families, by name. A new family joins by adding its class to `MODELS`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from namelstm.errors import NamelstmError
from namelstm.models.base import NameClassifier
from namelstm.models.bilstm import BiLSTM
from namelstm.models.cnn import CNN
from namelstm.models.irnn import IRNN
from namelstm.models.lstm import LSTM
from namelstm.models.mylstm import MyLSTM
from namelstm.models.ngram import NGram
from namelstm.models.rnn import RNN
from namelstm.models.tanhrnn import TanhRNN

# The report's three families first: listings and comparisons keep its order.
MODELS: Mapping[str, type[NameClassifier]] = MappingProxyType(
    {
        "rnn": RNN,
        "lstm": LSTM,
        "mylstm": MyLSTM,
        "tanhrnn": TanhRNN,
        "irnn": IRNN,
        "bilstm": BiLSTM,
        "ngram": NGram,
        "cnn": CNN,
    }
)


def family(name: str) -> type[NameClassifier]:
    """The class registered as `name`, or a clear error listing the names there are."""
    if name not in MODELS:
        raise NamelstmError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_model(
    name: str, n_letters: int, n_languages: int, hidden_size: int | None = None, **options: bool
) -> NameClassifier:
    """A fresh model of family `name`, at the report's size unless `hidden_size` is given; `options`
    are the family's own (`forget_gate=False` for `mylstm`)."""
    cls = family(name)
    return cls(n_letters, n_languages, hidden_size or cls.default_hidden_size, **options)


def init_gates(
    model: NameClassifier, forget_bias: float | None = None, chrono_tmax: float | None = None
) -> None:
    """The initialisation a run asks for beyond the family's own: a forget-gate bias, or chrono
    (`NameClassifier.init_chrono`) for dependencies up to `chrono_tmax` steps; chrono draws from the
    global generator, so call this where the run's seed is in force."""
    if forget_bias is not None and chrono_tmax is not None:
        raise NamelstmError("chrono initialisation sets the forget bias itself; give one of the two")
    if forget_bias is not None:
        model.init_forget_bias(forget_bias)
    if chrono_tmax is not None:
        model.init_chrono(chrono_tmax)


__all__ = [
    "IRNN",
    "LSTM",
    "MODELS",
    "RNN",
    "CNN",
    "BiLSTM",
    "NGram",
    "MyLSTM",
    "NameClassifier",
    "TanhRNN",
    "build_model",
    "family",
    "init_gates",
]
