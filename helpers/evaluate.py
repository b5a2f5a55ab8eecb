"""The loss of a whole split, and the baselines to compare it with.

Introduced in 05_evaluation (04 uses it too): train / val / test with calibrated batch norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .batchnorm import logits_calibrated

# a model that knows nothing gives every one of the 27 characters probability 1/27
UNIFORM_LOSS = math.log(27)
# what the lecture reports for this model after its 200,000 steps (train, val)
LECTURE_LOSS = {"train": 2.0705, "val": 2.1099}


def split_loss(params: dict[str, torch.Tensor], bn: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor) -> float:
    """Mean cross-entropy over every example of a split, with the calibrated batch norm `bn` (the lecture's)."""
    return F.cross_entropy(logits_calibrated(params, bn, X), Y).item()
