"""The model of makemore part 4: embedding -> linear -> batch norm -> tanh -> linear -> cross-entropy.

Introduced in 02_gradient_verification; 03-06 build on it. `forward` is the lecture's forward pass of
exercise 4, word for word, and returns every intermediate the hand-written backward pass needs
(helpers.backward) under the lecture's names. Lesson 02 writes its own, broken into smaller steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import Config

# the lecture's `parameters = [C, W1, b1, W2, b2, bngain, bnbias]`: a list of gradients comes in this order
PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")


def param_shapes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape, from the Config's numbers alone."""
    fan_in, h, v = cfg.n_embd * cfg.block_size, cfg.n_hidden, cfg.vocab_size
    return {
        "C": (v, cfg.n_embd),
        "W1": (fan_in, h),
        "b1": (h,),
        "W2": (h, v),
        "b2": (v,),
        "bngain": (1, h),
        "bnbias": (1, h),
    }


def init_params(cfg: Config, g: torch.Generator, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The lecture's initialisation, drawn on the CPU from `g` (the same numbers on every device), then moved.

    Fixes the lecture's slip: bngain and bnbias are drawn from the generator too, so a rerun is identical.
    Some values are not what a normal init would be (b1, b2 small but non-zero): that keeps every
    gradient non-trivial, so a wrong formula can't hide behind a zero.
    """
    s = param_shapes(cfg)
    params = {
        "C": torch.randn(s["C"], generator=g),
        # note: Kaiming init for tanh, gain 5/3
        "W1": torch.randn(s["W1"], generator=g) * (5 / 3) / s["W1"][0] ** 0.5,
        "b1": torch.randn(s["b1"], generator=g) * 0.1,  # useless because of batch norm, kept for the exercise
        "W2": torch.randn(s["W2"], generator=g) * 0.1,
        "b2": torch.randn(s["b2"], generator=g) * 0.1,
        "bngain": torch.randn(s["bngain"], generator=g) * 0.1 + 1.0,
        "bnbias": torch.randn(s["bnbias"], generator=g) * 0.1,
    }
    return {k: v.to(device=cfg.device, dtype=dtype) for k, v in params.items()}


Tensors = dict[str, Tensor]  # parameters, their gradients, or statistics: by name


# note: lessons 03 and 04 print this function and the next one: lines of at most 88 characters
def forward(params: Tensors, Xb: Tensor, Yb: Tensor) -> tuple[Tensor, dict]:
    """The loss of a batch, and the cache of intermediates the backward pass needs."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    # Linear layer
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    # BatchNorm layer
    bnmean = hprebn.mean(0, keepdim=True)
    # note: Bessel's correction (dividing by n-1, not n)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    # Non-linearity
    h = torch.tanh(hpreact)  # hidden layer
    logits = h @ W2 + b2  # output layer
    loss = F.cross_entropy(logits, Yb)  # loss function
    cache = dict(Xb=Xb, Yb=Yb, emb=emb, embcat=embcat, hprebn=hprebn, bnmean=bnmean)
    cache.update(bnvar=bnvar, bnvar_inv=bnvar_inv, bnraw=bnraw, hpreact=hpreact)
    cache.update(h=h, logits=logits)
    return loss, cache
