"""The model of makemore part 4: embedding -> linear -> batch norm -> tanh -> linear -> cross-entropy.

Introduced in 02_gradient_verification; 03-06 build on it. The forward pass keeps every intermediate
under the lecture's name, because the hand-written backward pass (helpers.backward) needs them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import Config

PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
BN_EPS = 1e-5


def init_params(cfg: Config, g: torch.Generator, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The lecture's initialisation, drawn from `g` (a CPU generator: the same numbers on every device).

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


def count_params(params: dict[str, torch.Tensor]) -> int:
    return sum(p.nelement() for p in params.values())


def forward(params: dict[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor | None = None,
            bn: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """Run the model on a batch; return (loss, cache of intermediates).

    With `bn` (the calibrated {'mean', 'var'} of lesson 04) batch norm uses those fixed statistics
    instead of the batch's own: that is how the model runs at evaluation and sampling time.
    Without `Yb` the loss is None.
    """
    C, W1, b1, W2, b2, bngain, bnbias = (params[k] for k in PARAM_NAMES)
    n = Xb.shape[0]
    emb = C[Xb]  # (n, block_size, n_embd)
    embcat = emb.view(n, -1)  # concatenate the vectors
    hprebn = torch.addmm(b1, embcat, W1)  # embcat @ W1 + b1, in one kernel
    if bn is None:
        bnmeani = hprebn.mean(0, keepdim=True)
        bndiff = hprebn - bnmeani
        # note: Bessel's correction (dividing by n-1, not n), as the lecture does; written out because on one
        # thread torch.var_mean takes ~60 us for a 32x200 batch, these three small ops ~10
        bnvar = bndiff.square().sum(0, keepdim=True) / (n - 1)
    else:
        bnvar, bnmeani = bn["var"], bn["mean"]
        bndiff = hprebn - bnmeani
    bnvar_inv = (bnvar + BN_EPS).rsqrt()
    bnraw = bndiff * bnvar_inv
    hpreact = torch.addcmul(bnbias, bngain, bnraw)  # bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = torch.addmm(b2, h, W2)  # h @ W2 + b2
    cache = dict(Xb=Xb, emb=emb, embcat=embcat, hprebn=hprebn, bnmeani=bnmeani, bnvar=bnvar,
                 bnvar_inv=bnvar_inv, bnraw=bnraw, hpreact=hpreact, h=h, logits=logits)
    if Yb is None:
        return None, cache
    # note: log_softmax subtracts the max logit first, so large logits can't overflow exp()
    logprobs = torch.log_softmax(logits, 1)
    cache["logprobs"] = logprobs
    cache["Yb"] = Yb
    # note: nll_loss is the lecture's -logprobs[range(n), Yb].mean() in one kernel
    loss = F.nll_loss(logprobs, Yb)
    return loss, cache
