"""The hand-written backward pass: the lecture's exercise 4, line by line but for dC (lesson 03's solution).

Introduced in 02_gradient_verification (where each formula is derived) and used by 03: `train` runs it
unless you give it yours. No autograd: run it under torch.no_grad(). n is the number of examples in the
batch. bench/fused.py has the same math regrouped for speed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import PARAM_NAMES


def manual_backward(params: dict[str, torch.Tensor], cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Gradients of the loss of `helpers.model.forward` with respect to every parameter, by name."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    Xb, Yb, emb, embcat = cache["Xb"], cache["Yb"], cache["emb"], cache["embcat"]
    bnraw, bnvar_inv = cache["bnraw"], cache["bnvar_inv"]
    h, logits = cache["h"], cache["logits"]
    n = Xb.shape[0]
    # cross-entropy: softmax, minus 1 at the correct character, and the batch mean's 1/n
    dlogits = F.softmax(logits, 1)
    dlogits[torch.arange(n), Yb] -= 1  # note: the lecture's range(n) is the same index, converted item by item
    dlogits /= n
    # 2nd layer backprop
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    # tanh
    dhpreact = (1.0 - h**2) * dh
    # batchnorm backprop; n/(n-1) comes from Bessel's correction in the forward variance
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    dhprebn = (
        bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    )
    # 1st layer
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    # embedding: the lecture loops `for k in range(Xb.shape[0]): for j in range(Xb.shape[1]): dC[Xb[k, j]] +=
    # demb[k, j]`; index_add_ does the same additions in one call (a repeated character collects them all)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))
    return dict(C=dC, W1=dW1, b1=db1, W2=dW2, b2=db2, bngain=dbngain, bnbias=dbnbias)
