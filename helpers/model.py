"""The model of makemore part 4: embedding -> linear -> batch norm -> tanh -> linear -> cross-entropy.

Introduced in 02_gradient_verification; 03-06 build on it. This file describes the model once: `architecture`
gives each parameter's shape, initialisation and the step of the backward pass that produces its gradient, and
`forward` is the lecture's forward pass of exercise 4, word for word, returning every intermediate the hand-written
backward pass (helpers.backward) needs under the lecture's names. Lesson 02 writes its own, in smaller steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import Config
from .dataset import itos

Tensors = dict[str, Tensor]  # parameters, their gradients, or statistics: by name


class Param(NamedTuple):
    shape: tuple[int, ...]
    init: Callable[[Tensor], Tensor]  # the lecture's initialisation, applied to torch.randn(shape)
    stage: int  # the step of the backward pass whose gradient it is: STEPS[stage]


# the backward pass's steps, from the loss back, as exercise 4's check names the one a mistake is in
STEPS = (
    "the cross-entropy step (dlogits) or the second linear layer",
    "the tanh step (dhpreact) or batch norm's scale and shift",
    "batch norm in one go (dhprebn) or the first linear layer",
    "the embedding (dembcat back to dC)",
)


def architecture(cfg: Config) -> dict[str, Param]:
    """Every parameter, in the lecture's order `parameters = [C, W1, b1, W2, b2, bngain, bnbias]` (a list of
    gradients comes in this order), with its shape from the Config's numbers alone."""
    fan_in, h, v = cfg.n_embd * cfg.block_size, cfg.n_hidden, len(itos)
    return {
        "C": Param((v, cfg.n_embd), lambda t: t, 3),
        # note: Kaiming init for tanh, gain 5/3
        "W1": Param((fan_in, h), lambda t: t * (5 / 3) / fan_in**0.5, 2),
        # note: b1 is useless because of batch norm; small but non-zero (as b2) so no gradient hides behind a zero
        "b1": Param((h,), lambda t: t * 0.1, 2),
        "W2": Param((h, v), lambda t: t * 0.1, 0),
        "b2": Param((v,), lambda t: t * 0.1, 0),
        "bngain": Param((1, h), lambda t: t * 0.1 + 1.0, 1),
        "bnbias": Param((1, h), lambda t: t * 0.1, 1),
    }


PARAM_NAMES = tuple(architecture(Config()))


def bn_shapes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """The shapes of batch norm's statistics over the training set, lesson 04's `bn`."""
    return dict.fromkeys(("mean", "var"), (1, cfg.n_hidden))


def init_params(cfg: Config, g: torch.Generator, dtype: torch.dtype = torch.float32) -> Tensors:
    """The lecture's initialisation, drawn on the CPU from `g` (the same numbers on every device), then moved.
    Fixes the lecture's slip: bngain and bnbias are drawn from the generator too, so a rerun is identical."""
    params = {k: p.init(torch.randn(p.shape, generator=g)) for k, p in architecture(cfg).items()}
    return {k: v.to(device=cfg.device, dtype=dtype) for k, v in params.items()}


# note: lessons 03 and 04 print this function: lines of at most 88 characters
def forward(params: Tensors, X: Tensor, Y=None, bn=None) -> tuple[Tensor, dict]:
    """The loss of a batch (its logits when Y is None), and the cache of intermediates the
    backward pass needs. Batch norm uses the batch's own statistics (training), or the
    whole training set's, `bn`, when given (lesson 04: evaluation and sampling)."""
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    emb = C[X]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    # Linear layer
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    # BatchNorm layer
    bnmean = hprebn.mean(0, keepdim=True) if bn is None else bn["mean"]
    # note: Bessel's correction (dividing by n-1, not n)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True) if bn is None else bn["var"]
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    # Non-linearity
    h = torch.tanh(hpreact)  # hidden layer
    logits = h @ W2 + b2  # output layer
    cache = dict(Xb=X, Yb=Y, emb=emb, embcat=embcat, hprebn=hprebn, bnmean=bnmean)
    cache.update(bnvar=bnvar, bnvar_inv=bnvar_inv, bnraw=bnraw, hpreact=hpreact)
    cache.update(h=h, logits=logits)
    if Y is None:
        return logits, cache
    loss = F.cross_entropy(logits, Y)  # loss function
    return loss, cache
