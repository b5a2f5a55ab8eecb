"""Sampling names from the trained model, one character at a time.

Introduced in 06_sampling.
"""

from __future__ import annotations

import torch

from .dataset import itos
from .model import forward


@torch.no_grad()
def sample_names(
    params: dict[str, torch.Tensor],
    bn: dict[str, torch.Tensor],
    block_size: int,
    n: int,
    g: torch.Generator,
    max_len: int = 50,
) -> list[str]:
    """Draw `n` names, each from '...' until the model emits '.', with characters drawn from `g`.

    Batch norm uses the calibrated statistics `bn`: a batch of one example has no variance of its own.
    """
    if not isinstance(bn, dict) or not {"mean", "var"} <= set(bn):
        raise ValueError(
            f"sample_names needs the calibrated batch-norm statistics {{'mean', 'var'}} of lesson 04 "
            f"(got {type(bn).__name__}): one example at a time has no batch statistics of its own. "
            f"Run notebooks/04_batchnorm_calibration.ipynb, then load_checkpoint(calibrated=True)."
        )
    device = params["C"].device
    out = []
    for _ in range(n):
        context = [0] * block_size
        name = []
        for _ in range(max_len):
            _, cache = forward(params, torch.tensor([context], device=device), bn=bn)
            probs = torch.softmax(cache["logits"], dim=1).cpu()
            ix = torch.multinomial(probs, num_samples=1, generator=g).item()
            if ix == 0:
                break
            context = context[1:] + [ix]
            name.append(itos[ix])
        out.append("".join(name))
    return out
