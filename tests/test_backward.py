"""The hand-written backward pass against autograd, micrograd-style: same computation, torch does it too."""

import pytest
import torch

from helpers import PARAM_NAMES, Config, forward, init_params, manual_backward

CONFIGS = [  # (block_size, n_embd, n_hidden, batch_size)
    (3, 10, 200, 32),  # the lesson's model
    (1, 2, 3, 2),  # the smallest batch batch norm allows
    (5, 4, 16, 7),
    (8, 24, 64, 128),
]


def _setup(block_size, n_embd, n_hidden, batch_size, dtype, seed=0):
    cfg = Config(block_size=block_size, n_embd=n_embd, n_hidden=n_hidden, batch_size=batch_size)
    g = torch.Generator().manual_seed(seed)
    params = init_params(cfg, g, dtype=dtype)
    # note: few distinct characters, so the embedding's repeated-index accumulation is exercised
    Xb = torch.randint(0, 5, (batch_size, block_size), generator=g)
    Yb = torch.randint(0, cfg.vocab_size, (batch_size,), generator=g)
    return params, Xb, Yb


def _both(params, Xb, Yb):
    with torch.no_grad():
        loss, cache = forward(params, Xb, Yb)
        ours = manual_backward(params, cache)
    ref = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref_loss, _ = forward(ref, Xb, Yb)
    ref_loss.backward()
    assert torch.equal(loss, ref_loss.detach())
    return ours, {k: v.grad for k, v in ref.items()}


@pytest.mark.parametrize("shape", CONFIGS, ids=lambda s: "b{}e{}h{}n{}".format(*s))
def test_float64_matches_autograd_to_1e12(shape):
    ours, ref = _both(*_setup(*shape, dtype=torch.float64))
    for k in PARAM_NAMES:
        assert ours[k].shape == ref[k].shape, k
        assert (ours[k] - ref[k]).abs().max().item() < 1e-12, k


@pytest.mark.parametrize("shape", CONFIGS, ids=lambda s: "b{}e{}h{}n{}".format(*s))
def test_float32_allclose_to_autograd(shape):
    ours, ref = _both(*_setup(*shape, dtype=torch.float32))
    for k in PARAM_NAMES:
        assert torch.allclose(ours[k], ref[k], rtol=1e-4, atol=1e-6), k


def test_repeated_characters_accumulate_in_dC():
    # every example uses character 3 in every position: dC[3] is the sum of all their gradients
    params, _, Yb = _setup(3, 10, 20, 6, torch.float64)
    Xb = torch.full((6, 3), 3)
    ours, ref = _both(params, Xb, Yb)
    assert torch.allclose(ours["C"], ref["C"], rtol=0, atol=1e-12)
    assert ours["C"][3].abs().sum() > 0 and ours["C"][torch.arange(27) != 3].abs().sum() == 0


def test_backward_does_not_modify_cache_or_params():
    params, Xb, Yb = _setup(3, 10, 20, 8, torch.float64)
    with torch.no_grad():
        _, cache = forward(params, Xb, Yb)
        before = {k: v.clone() for k, v in cache.items()}
        pbefore = {k: v.clone() for k, v in params.items()}
        manual_backward(params, cache)
    for k in before:
        assert torch.equal(cache[k], before[k]), k
    for k in params:
        assert torch.equal(params[k], pbefore[k]), k
