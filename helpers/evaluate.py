"""The loss of a whole split, and the baselines to compare it with.

Introduced in 05_evaluation (04 uses it too): train / val / test with calibrated batch norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .dataset import itos
from .model import forward

# a model that knows nothing gives each of the 27 characters ('.' and a-z) probability 1/27
UNIFORM_LOSS = math.log(len(itos))
# what the lecture reports for this model after its 200,000 steps (train, val)
LECTURE_LOSS = {"train": 2.0705, "val": 2.1099}


def split_loss(params: dict[str, torch.Tensor], bn: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor) -> float:
    """Mean cross-entropy over every example of a split, with the calibrated batch norm `bn` (the lecture's)."""
    with torch.no_grad():
        return F.cross_entropy(forward(params, X, bn=bn)[0], Y).item()
