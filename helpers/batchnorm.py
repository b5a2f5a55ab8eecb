"""Batch-norm calibration: replace the batch statistics by those of the whole training set.

Introduced in 04_batchnorm_calibration. During training batch norm normalises each batch with that
batch's own mean and variance; a trained model should treat one example the same whether it comes
alone or with others, so after training we measure mean and variance once, over every training example.
"""

from __future__ import annotations

import torch

from .model import forward


@torch.no_grad()
def calibrate(params: dict[str, torch.Tensor], Xtr: torch.Tensor) -> dict[str, torch.Tensor]:
    """{'mean', 'var'} of the pre-activations over all of Xtr (variance unbiased, as in training)."""
    if Xtr.shape[0] < 2:
        raise ValueError(
            f"calibrate needs at least 2 examples, got {Xtr.shape[0]}: the unbiased variance divides "
            f"by n-1. Pass the whole training set, Xtr."
        )
    _, cache = forward(params, Xtr)
    # note: with no `bn`, forward uses the statistics of the batch it is given: here, the whole set
    return {"mean": cache["bnmeani"].clone(), "var": cache["bnvar"].clone()}
