"""The model of makemore part 4: embedding -> linear -> batch norm -> tanh -> linear -> cross-entropy.

Introduced in 02_gradient_verification; 03-06 build on it. `forward` is the lecture's forward pass and
keeps every intermediate under the lecture's name, because the hand-written backward pass
(helpers.backward) needs them. `forward_steps` is lesson 02's forward, broken into its smallest steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import Config

PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
BN_EPS = 1e-5


def init_params(cfg: Config, g: torch.Generator, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The lecture's initialisation, drawn on the CPU from `g` (the same numbers on every device), then moved.

    Fixes the lecture's slip: bngain and bnbias are drawn from the generator too, so a rerun is identical.
    Some values are not what a normal init would be (b1, b2 small but non-zero): that keeps every
    gradient non-trivial, so a wrong formula can't hide behind a zero.
    """
    fan_in = cfg.n_embd * cfg.block_size
    params = {
        "C": torch.randn((cfg.vocab_size, cfg.n_embd), generator=g),
        # note: Kaiming init for tanh, gain 5/3
        "W1": torch.randn((fan_in, cfg.n_hidden), generator=g) * (5 / 3) / fan_in**0.5,
        "b1": torch.randn(cfg.n_hidden, generator=g) * 0.1,  # useless because of batch norm, kept for the exercise
        "W2": torch.randn((cfg.n_hidden, cfg.vocab_size), generator=g) * 0.1,
        "b2": torch.randn(cfg.vocab_size, generator=g) * 0.1,
        "bngain": torch.randn((1, cfg.n_hidden), generator=g) * 0.1 + 1.0,
        "bnbias": torch.randn((1, cfg.n_hidden), generator=g) * 0.1,
    }
    return {k: v.to(device=cfg.device, dtype=dtype) for k, v in params.items()}


def forward(
    params: dict[str, torch.Tensor],
    Xb: torch.Tensor,
    Yb: torch.Tensor | None = None,
    bn: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """Run the model on a batch; return (loss, cache of intermediates). Without `Yb` the loss is None.

    With `bn` (the calibrated {'mean', 'var'} of lesson 04) batch norm uses those fixed statistics
    instead of the batch's own: that is how the model runs at evaluation and sampling time.
    """
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    # Linear layer
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    # BatchNorm layer
    if bn is None:
        bnmeani = hprebn.mean(0, keepdim=True)
        bnvar = hprebn.var(0, keepdim=True, unbiased=True)  # note: Bessel's correction, n-1, as the lecture
    else:
        bnmeani, bnvar = bn["mean"], bn["var"]
    bnvar_inv = (bnvar + BN_EPS) ** -0.5
    bnraw = (hprebn - bnmeani) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    # Non-linearity
    h = torch.tanh(hpreact)  # hidden layer
    logits = h @ W2 + b2  # output layer
    cache = dict(
        Xb=Xb,
        Yb=Yb,
        emb=emb,
        embcat=embcat,
        hprebn=hprebn,
        bnmeani=bnmeani,
        bnvar=bnvar,
        bnvar_inv=bnvar_inv,
        bnraw=bnraw,
        hpreact=hpreact,
        h=h,
        logits=logits,
    )
    if Yb is None:
        return None, cache
    loss = F.cross_entropy(logits, Yb)  # loss function
    return loss, cache


def forward_steps(params: dict[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor) -> dict[str, torch.Tensor]:
    """Lesson 02's forward pass, "chunked into smaller steps that are possible to backward one at a time".

    Returns every intermediate by its lecture name, and `loss`; with autograd on, each is part of the graph.
    """
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    n = Xb.shape[0]
    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1 / (n - 1) * bndiff2.sum(0, keepdim=True)  # note: Bessel's correction (dividing by n-1, not n)
    bnvar_inv = (bnvar + BN_EPS) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # subtract max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdim=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    return {k: v for k, v in locals().items() if isinstance(v, torch.Tensor)}
