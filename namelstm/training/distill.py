"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns a teacher's probabilities.

The teacher (one run or several, averaged) reads the training names once; its probabilities, softened
by a temperature T, replace the one-hot labels in the loss, so the student also learns which wrong
languages a name is close to.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from namelstm.checkpoint import load_averaged
from namelstm.config import INFERENCE_BATCH_SIZE
from namelstm.data.names import Batches, Split
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import infer
from namelstm.inference.predict import pretrained_path
from namelstm.runs import PRETRAINED, resolve_checkpoint


def _teacher_file(source: str) -> Path:
    if source == PRETRAINED:
        return pretrained_path()
    return resolve_checkpoint(source)


def teacher_probabilities(teachers: tuple[str, ...], split: Split, temperature: float) -> torch.Tensor:
    """`[n_train, n_languages]`: the teachers' mean probabilities of every training name, in the split's
    order and language order, softened by `temperature`."""
    if temperature <= 0:
        raise NamelstmError(f"the distillation temperature must be positive, not {temperature:g}")
    teacher, checkpoints = load_averaged([_teacher_file(t) for t in teachers])
    for source, checkpoint in zip(teachers, checkpoints, strict=True):
        if set(checkpoint.languages) != set(split.languages) or checkpoint.alphabet != split.alphabet.letters:
            raise NamelstmError(f"the teacher {source} knows other languages or letters than this data")
    # Every teacher must answer in the split's language order; the first one's is permuted to it.
    order = torch.tensor([checkpoints[0].languages.index(lang) for lang in split.languages])
    if any(c.languages != checkpoints[0].languages for c in checkpoints):
        raise NamelstmError("the teachers list their languages in different orders")
    batches = Batches(split.train, checkpoints[0].languages, INFERENCE_BATCH_SIZE, split.alphabet)
    log_probs = infer(teacher, batches).log_probs[:, order]
    return F.softmax(log_probs / temperature, dim=1)


def distillation_loss(
    log_probs: torch.Tensor,
    soft: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """The summed cross-entropy of the student's softened outputs against the teacher's, times T^2 so
    its gradients keep their size whatever T is (Hinton et al., section 2); each name weighs as its
    language's class weight, as in the labels' loss."""
    student = F.log_softmax(log_probs / temperature, dim=1)
    per_name = -(soft * student).sum(1) * temperature**2
    return (per_name * weights[targets]).sum()
