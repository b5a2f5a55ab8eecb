"""Batch-norm calibration: replace the batch statistics by those of the whole training set.

Introduced in 04_batchnorm_calibration. During training batch norm normalises each batch with that
batch's own mean and variance; a trained model should treat one example the same whether it comes
alone or with others, so after training we measure mean and variance once, over every training example,
and evaluate (05) and sample (06) with those fixed numbers: the lecture's evaluation pass, below.
"""

from __future__ import annotations

import torch

from .model import PARAM_NAMES


@torch.no_grad()
def calibrate(params: dict[str, torch.Tensor], Xtr: torch.Tensor) -> dict[str, torch.Tensor]:
    """The lecture's calibration: {'mean', 'var'} of the hidden pre-activations over all of Xtr."""
    if Xtr.shape[0] < 2:
        raise ValueError(
            f"calibrate needs at least 2 examples, got {Xtr.shape[0]}: the unbiased variance divides by n-1. "
            f"Pass the whole training set, Xtr."
        )
    # pass the training set through
    emb = params["C"][Xtr]
    embcat = emb.view(emb.shape[0], -1)
    hpreact = embcat @ params["W1"] + params["b1"]
    # measure the mean/std over the entire training set
    return {"mean": hpreact.mean(0, keepdim=True), "var": hpreact.var(0, keepdim=True, unbiased=True)}


@torch.no_grad()
def logits_calibrated(params: dict[str, torch.Tensor], bn: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """The lecture's evaluation pass: batch norm with the calibrated statistics `bn`, not the batch's own,
    so one example gets the same answer alone or in any company."""
    if not isinstance(bn, dict) or not {"mean", "var"} <= set(bn):
        raise ValueError(
            f"the evaluation pass needs lesson 04's calibrated statistics {{'mean', 'var'}}, got {type(bn).__name__}: "
            f"run notebooks/04_batchnorm_calibration.ipynb, then load_run(calibrated=True)."
        )
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    emb = C[X]  # (N, block_size, n_embd)
    embcat = emb.view(emb.shape[0], -1)  # concat into (N, block_size * n_embd)
    hprebn = embcat @ W1 + b1
    # batch norm with the statistics of the training set: the lecture's one line, as forward() spells it out
    bnraw = (hprebn - bn["mean"]) * (bn["var"] + 1e-5) ** -0.5
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)  # (N, n_hidden)
    return h @ W2 + b2  # (N, vocab_size)
