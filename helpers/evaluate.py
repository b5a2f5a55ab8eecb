"""The loss of a whole split, and the baseline to compare it with.

Introduced in 04_batchnorm_calibration; 05_evaluation reports train / val / test with it.
"""

from __future__ import annotations

import math

import torch

from .model import forward

# a model that knows nothing gives every one of the 27 characters probability 1/27
UNIFORM_LOSS = math.log(27)
# what the lecture reports for this model after its 200,000 steps (train, val)
LECTURE_LOSS = {"train": 2.0705, "val": 2.1099}


@torch.no_grad()
def split_loss(
    params: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, bn: dict[str, torch.Tensor] | None = None
) -> float:
    """Mean cross-entropy over every example of a split, batch norm running with the statistics `bn`.

    Without `bn` the whole split is one batch (its own statistics), which is what lesson 04 compares.
    """
    loss, _ = forward(params, X, Y, bn=bn)
    return loss.item()
