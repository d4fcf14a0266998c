"""The settings a run trains with: a `TrainConfig` with its family's defaults filled in, and every
value checked before anything is written (config.py holds the defaults and is below the models, so
the checks that need a family's class sit here).
"""

from __future__ import annotations

import math
from dataclasses import replace

from namelstm.config import INITS, LR_SCHEDULES, OPTIMIZERS, TAU_RULES, TrainConfig
from namelstm.errors import NamelstmError
from namelstm.models import NameClassifier, family


def resolve_config(config: TrainConfig) -> TrainConfig:
    """The same settings with the model family's defaults filled in."""
    cls = family(config.model)
    optimizer = config.optimizer or getattr(cls, "default_optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise NamelstmError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    schedule = config.lr_schedule or getattr(cls, "default_lr_schedule", "constant")
    if schedule not in LR_SCHEDULES:
        raise NamelstmError(f"unknown lr schedule {schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
    average = getattr(cls, "default_average_last", 0) if config.average_last is None else config.average_last
    if average < 0:
        raise NamelstmError(f"average_last must be 0 (keep the best epoch) or more, not {average}")
    _check_init(config, cls)
    if config.tau_rule is not None and config.tau_rule not in TAU_RULES:
        raise NamelstmError(f"unknown tau rule {config.tau_rule!r}; choose one of {', '.join(TAU_RULES)}")
    _check_regularisers(config)
    if config.lr is not None and not (math.isfinite(config.lr) and config.lr > 0):
        raise NamelstmError(f"--lr must be a finite number above 0, not {config.lr:g}")
    return replace(
        config,
        lr=config.lr if config.lr is not None else cls.default_lr,
        hidden_size=config.hidden_size or cls.default_hidden_size,
        optimizer=optimizer,
        balance=config.balance or getattr(cls, "default_balance", "none"),
        tau_rule=config.tau_rule or cls.default_tau_rule,
        lr_schedule=schedule,
        average_last=min(average, config.epochs),  # a short run averages all its epochs
    )


def _check_init(config: TrainConfig, cls: type[NameClassifier]) -> None:
    """Refuse an initialisation the family cannot take before anything is written."""
    if config.init not in INITS:
        raise NamelstmError(f"unknown init {config.init!r}; choose one of {', '.join(INITS)}")
    chrono = config.init == "chrono"
    if config.chrono_tmax is not None and (not chrono or config.chrono_tmax <= 2):
        raise NamelstmError("--chrono-tmax goes with --init chrono and must be more than 2")
    if chrono and config.forget_bias is not None:
        raise NamelstmError("--init chrono sets the forget bias itself; drop --forget-bias")
    if (chrono or config.forget_bias is not None) and cls.init_forget_bias is NameClassifier.init_forget_bias:
        raise NamelstmError(
            f"{config.model} has no forget gate: --forget-bias and --init chrono are for the LSTMs"
        )


def _check_regularisers(config: TrainConfig) -> None:
    if config.weight_decay < 0:
        raise NamelstmError(f"weight_decay must be 0 or more, not {config.weight_decay:g}")
    if not 0 <= config.label_smoothing < 1:
        raise NamelstmError(f"label_smoothing must be at least 0 and below 1, not {config.label_smoothing:g}")
    if config.label_smoothing and config.teachers:
        raise NamelstmError("label smoothing and distillation both soften the targets; choose one")
