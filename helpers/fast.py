"""The tuned training step: the same math as helpers.model.forward + helpers.backward.manual_backward, fused.

Used by `helpers.train` and the benchmark (`make bench`). Read model.py and backward.py for the lecture's
form; this file regroups it for speed on one CPU thread (fewer, fused kernels, some in place), and
tests/test_fast.py checks that both give the same loss and gradients to 1e-12 in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import BN_EPS, PARAM_NAMES


def forward_backward(
    params: dict[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(the batch loss, the gradients in PARAM_NAMES order), without autograd."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    n = Xb.shape[0]
    # forward
    emb = C[Xb]
    embcat = emb.view(n, -1)
    hprebn = torch.addmm(b1, embcat, W1)  # embcat @ W1 + b1, in one kernel
    bndiff = hprebn - hprebn.mean(0, keepdim=True)
    # note: Bessel's correction written out: on one thread torch.var takes ~60 us for 32x200, these ops ~10
    bnvar = bndiff.square().sum(0, keepdim=True) / (n - 1)
    bnvar_inv = (bnvar + BN_EPS).rsqrt()
    bnraw = bndiff * bnvar_inv
    h = torch.addcmul(bnbias, bngain, bnraw).tanh_()  # tanh(bngain * bnraw + bnbias)
    logits = torch.addmm(b2, h, W2)  # h @ W2 + b2
    logprobs = torch.log_softmax(logits, 1)
    loss = F.nll_loss(logprobs, Yb)  # -logprobs[range(n), Yb].mean(), in one kernel
    # backward: cross-entropy in one go, (softmax - onehot) / n
    dlogits = logprobs.exp_()
    dlogits.scatter_add_(1, Yb.view(n, 1), dlogits.new_full((n, 1), -1.0))  # dlogits[range(n), Yb] -= 1
    dlogits /= n
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = dh.addcmul_(dh * h, h, value=-1.0)  # (1 - h**2) * dh, in dh's own memory
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    # batch norm in one go, regrouped: (dhpreact - (dbnbias + n/(n-1)*bnraw*dbngain)/n) * (bngain*bnvar_inv)
    dstats = torch.addcmul(dbnbias, bnraw, dbngain, value=n / (n - 1))
    dhprebn = torch.sub(dhpreact, dstats, alpha=1 / n).mul_(bngain * bnvar_inv)
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    dC = torch.zeros_like(C).index_add_(0, Xb.reshape(-1), dembcat.view(-1, C.shape[1]))
    return loss, [dC, dW1, db1, dW2, db2, dbngain, dbnbias]
