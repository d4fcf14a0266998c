"""The calibration a prediction is made with, as plain data: no torch needed to read or apply it
(the torch-free predictor applies it in numpy; training fits it, see training/calibrate.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Calibration:
    """How a model's log-probabilities are turned into the ones shown: subtract `tau * log(prior)`
    (Menon et al. 2021's logit adjustment), then divide by `temperature` (Guo et al. 2017)."""

    prior: tuple[float, ...] = ()  # training-split share of each language; empty = no adjustment
    tau: float = 0.0
    temperature: float = 1.0
    fitted_on: str = ""  # which split chose tau and the temperature, in words
    tau_rule: str = ""  # see config.TAU_RULES; empty in a checkpoint that does not record it

    def apply(self, log_probs: torch.Tensor, temperature: bool = True) -> torch.Tensor:
        import torch
        from torch.nn import functional as F

        logits = log_probs
        if self.prior and self.tau:
            logits = (
                logits - self.tau * torch.tensor(self.prior, dtype=logits.dtype, device=logits.device).log()
            )
        if temperature:
            logits = logits / self.temperature
        return F.log_softmax(logits, dim=-1)

    def apply_numpy(self, log_probs: np.ndarray) -> np.ndarray:
        """`apply` for a numpy array `[N, L]`: what both prediction backends hand to the ranking."""
        logits = log_probs.astype(np.float32, copy=False)
        if self.prior and self.tau:
            logits = logits - np.float32(self.tau) * np.log(np.asarray(self.prior, dtype=np.float32))
        logits = logits / np.float32(self.temperature)
        return log_softmax(logits)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prior": list(self.prior)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Calibration:
        if not raw:
            return cls()
        return cls(
            prior=tuple(float(p) for p in raw.get("prior", ())),
            tau=float(raw.get("tau", 0.0)),
            temperature=float(raw.get("temperature", 1.0)),
            fitted_on=str(raw.get("fitted_on", "")),
            tau_rule=str(raw.get("tau_rule", "")),
        )

    def as_trained(self) -> Calibration:
        """The same temperature without the logit adjustment: the model's own trade-off (tau 0)."""
        return replace(self, tau=0.0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax; a row of -inf except some entries keeps its -inf."""
    top = logits.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    with np.errstate(divide="ignore"):
        return logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
