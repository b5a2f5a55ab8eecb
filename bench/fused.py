"""The fused training step: the same math as helpers.forward + helpers.manual_backward, regrouped for speed.

A speed trick in one clearly named place: the benchmark's `fused` variant (bench/bench_step.py), tested equal
to the plain version (tests/test_bench.py: the loss and all seven gradients to 1e-12 in float64). Read
helpers/model.py and helpers/backward.py for the lecture's form. This file does the same arithmetic with
fewer, fused kernels, which is what counts on one CPU thread, where a kernel launch costs about as much as
the arithmetic of a 32x200 tensor: matmul and bias in one (addmm), multiply-adds in one (addcmul),
log_softmax, the variance written out (torch.var is slow on one thread), tanh through the faster sigmoid,
and in-place operations on its own temporaries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers.model import PARAM_NAMES

BN_EPS = 1e-5  # helpers.model.forward's batch-norm epsilon


def forward_backward(
    params: dict[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(the batch loss, the gradients by name) of helpers.forward's loss, without autograd: run it under
    torch.inference_mode() or torch.no_grad()."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    n, Xflat = Xb.shape[0], Xb.reshape(-1)
    # forward
    embcat = C.index_select(0, Xflat).view(n, -1)  # C[Xb], concatenated
    hprebn = torch.addmm(b1, embcat, W1)  # embcat @ W1 + b1, in one kernel
    bndiff = hprebn - hprebn.mean(0, keepdim=True)
    # Bessel's correction written out: the sum of squares is one kernel (vecdot), torch.var is several times slower
    bnvar_inv = torch.linalg.vecdot(bndiff, bndiff, dim=0).div_(n - 1).add_(BN_EPS).rsqrt_()
    bnraw = bndiff.mul_(bnvar_inv)  # (hprebn - bnmean) * bnvar_inv, in bndiff's memory
    # tanh(bngain * bnraw + bnbias), as tanh(x) = 2 * sigmoid(2x) - 1: on one thread tanh is twice as slow
    h = torch.addcmul(bnbias, bngain, bnraw).mul_(2).sigmoid_().mul_(2).sub_(1)
    logits = torch.addmm(b2, h, W2)  # h @ W2 + b2
    logprobs = torch.log_softmax(logits, 1)
    loss = F.nll_loss(logprobs, Yb)  # -logprobs[range(n), Yb].mean(): F.cross_entropy, keeping logprobs
    # backward: cross-entropy in one go, (softmax - onehot) / n
    dlogits = logprobs.exp_()
    dlogits.scatter_add_(1, Yb.view(n, 1), dlogits.new_full((n, 1), -1.0))  # dlogits[range(n), Yb] -= 1
    dlogits /= n
    dh = dlogits @ W2.t()
    dW2 = (dlogits.t() @ h).t()  # h.T @ dlogits: the same numbers, a layout MKL multiplies faster
    db2 = dlogits.sum(0)
    dhpreact = dh.addcmul_(dh * h, h, value=-1.0)  # (1 - h**2) * dh, in dh's memory
    dbngain = torch.linalg.vecdot(bnraw, dhpreact, dim=0).view(1, -1)  # (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    # batch norm regrouped: (dhpreact - (dbnbias + n/(n-1) * bnraw * dbngain) / n) * (bngain * bnvar_inv)
    dstats = torch.addcmul(dbnbias, bnraw, dbngain, value=n / (n - 1))
    dhprebn = dhpreact.sub_(dstats, alpha=1 / n).mul_(bngain * bnvar_inv)
    dW1 = embcat.t() @ dhprebn
    db1 = dhprebn.sum(0)
    # embedding: index_add_ does the lecture's double loop `dC[Xb[k, j]] += demb[k, j]` in one call
    dC = torch.zeros_like(C).index_add_(0, Xflat, (dhprebn @ W1.t()).view(-1, C.shape[1]))
    return loss, {"C": dC, "W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "bngain": dbngain, "bnbias": dbnbias}
