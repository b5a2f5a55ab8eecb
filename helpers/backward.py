"""The hand-written backward pass, fused: cross-entropy in one go, batch norm in one go.

Introduced in 02_gradient_verification (where each formula is derived) and used by the training loop
of 03. No autograd: run it under torch.no_grad(). Shapes follow the lecture: n examples in the batch.
"""

from __future__ import annotations

import torch


def manual_backward(params: dict[str, torch.Tensor], cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Gradients of the loss of `helpers.model.forward` with respect to every parameter."""
    C, W1, W2, bngain = params["C"], params["W1"], params["W2"], params["bngain"]
    Xb, Yb = cache["Xb"], cache["Yb"]
    embcat, bnraw, bnvar_inv, h = cache["embcat"], cache["bnraw"], cache["bnvar_inv"], cache["h"]
    n = Xb.shape[0]
    # cross-entropy in one go: dloss/dlogits = (softmax(logits) - onehot(Yb)) / n
    dlogits = cache["logprobs"].exp()  # softmax(logits): a fresh tensor, so the in-place ops below are safe
    # note: the lecture's dlogits[range(n), Yb] -= 1, as one scatter kernel instead of gather, subtract, put
    dlogits.scatter_add_(1, Yb.view(n, 1), dlogits.new_full((n, 1), -1.0))
    dlogits /= n
    # second linear layer
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    # tanh: d tanh(x)/dx = 1 - tanh(x)^2
    # note: dh * (1 - h*h) computed as dh - (dh*h)*h, two kernels (the second in dh's own memory), not three
    dhpreact = dh.addcmul_(dh * h, h, value=-1.0)
    # batch norm's scale and shift
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    # batch norm in one go: bngain*bnvar_inv/n * (n*dhpreact - dbnbias - n/(n-1)*bnraw*dbngain),
    # note: regrouped as (dhpreact - (dbnbias + n/(n-1)*bnraw*dbngain)/n) * (bngain*bnvar_inv): three passes
    # over the (n, n_hidden) batch instead of six; n/(n-1) comes from Bessel's correction in the forward variance
    dstats = torch.addcmul(dbnbias, bnraw, dbngain, value=n / (n - 1))  # what flows back through mean and var
    dhprebn = torch.sub(dhpreact, dstats, alpha=1 / n).mul_(bngain * bnvar_inv)
    # first linear layer
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    # embedding: a character used k times in the batch collects k gradients, so add, never assign
    dC = torch.zeros_like(C).index_add_(0, Xb.reshape(-1), dembcat.view(-1, C.shape[1]))
    return {"C": dC, "W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "bngain": dbngain, "bnbias": dbnbias}
