"""Sampling names from the trained model, one character at a time.

Introduced in 06_sampling.
"""

from __future__ import annotations

import torch

from .batchnorm import logits_calibrated
from .dataset import itos


@torch.no_grad()
def sample_names(
    params: dict[str, torch.Tensor], bn: dict[str, torch.Tensor], block_size: int, n: int, g: torch.Generator
) -> list[str]:
    """Draw `n` names, each from '...' until the model emits '.', with characters drawn from `g`.

    Batch norm uses the calibrated statistics `bn`: a batch of one example has no variance of its own.
    A name stops at 50 characters; an untrained model may also stop at once (an empty name).
    """
    device = params["C"].device
    out = []
    for _ in range(n):
        context, name = [0] * block_size, []
        for _ in range(50):
            logits = logits_calibrated(params, bn, torch.tensor([context], device=device))
            ix = torch.multinomial(torch.softmax(logits, dim=1).cpu(), num_samples=1, generator=g).item()
            if ix == 0:
                break
            context = context[1:] + [ix]
            name.append(itos[ix])
        out.append("".join(name))
    return out
