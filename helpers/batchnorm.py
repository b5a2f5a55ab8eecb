"""The evaluation pass: batch norm with the statistics of the whole training set, not the batch's own.

Introduced in 04_batchnorm_calibration, which measures those statistics once after training (the lecture's
calibration); 05 evaluates and 06 samples with them. A trained model should treat one example the same
whether it comes alone or with others.
"""

from __future__ import annotations

import torch

from .model import PARAM_NAMES, Tensor, Tensors


@torch.no_grad()
def logits_calibrated(params: Tensors, bn: Tensors, X: Tensor) -> Tensor:
    """The lecture's evaluation pass: batch norm with the calibrated statistics `bn`,
    not the batch's own, so one example gets the same answer alone or in any company."""
    if not isinstance(bn, dict) or not {"mean", "var"} <= set(bn):
        raise ValueError(
            "the evaluation pass needs lesson 04's calibrated statistics "
            f"{{'mean', 'var'}}, got {type(bn).__name__}: run "
            "notebooks/04_batchnorm_calibration.ipynb, then load_run(calibrated=True)."
        )
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    emb = C[X]  # (N, block_size, n_embd)
    embcat = emb.view(emb.shape[0], -1)  # (N, block_size * n_embd)
    hprebn = embcat @ W1 + b1
    # batch norm with the training set's statistics: the lecture's one line
    bnraw = (hprebn - bn["mean"]) * (bn["var"] + 1e-5) ** -0.5
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)  # (N, n_hidden)
    return h @ W2 + b2  # (N, vocab_size)
