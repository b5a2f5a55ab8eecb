"""helpers.fast (the tuned step train runs) computes what the lecture's forward and backward compute."""

import pytest
import torch

from helpers import PARAM_NAMES, Config, forward, init_params, make_generator, manual_backward
from helpers.fast import forward_backward


@pytest.mark.parametrize("batch_size, n_hidden, block_size", [(32, 200, 3), (2, 5, 3), (7, 13, 4), (64, 16, 1)])
def test_fast_step_matches_the_lecture_form_in_float64(batch_size, n_hidden, block_size):
    cfg = Config(batch_size=batch_size, n_hidden=n_hidden, block_size=block_size)
    g = make_generator(cfg)
    params = init_params(cfg, g, dtype=torch.float64)
    Xb = torch.randint(0, 27, (batch_size, block_size), generator=g)
    Yb = torch.randint(0, 27, (batch_size,), generator=g)
    with torch.no_grad():
        loss, cache = forward(params, Xb, Yb)
        grads = manual_backward(params, cache)
        fast_loss, fast_grads = forward_backward(params, Xb, Yb)
    assert abs(loss.item() - fast_loss.item()) < 1e-12
    for k, fast in zip(PARAM_NAMES, fast_grads, strict=True):
        assert fast.shape == params[k].shape and (fast - grads[k]).abs().max().item() < 1e-12, k


def test_init_params_draws_on_the_cpu_then_moves_to_the_device():
    # no GPU needed: the meta device stands in for one (a CPU generator can't draw there, so a draw on the
    # device would fail); Config refuses devices it can't check, so the field is set past its rules
    cfg = Config()
    object.__setattr__(cfg, "device", "meta")
    params = init_params(cfg, make_generator(cfg))
    assert all(p.device.type == "meta" for p in params.values())
    ref = init_params(Config(), make_generator(Config()))
    assert all(params[k].shape == ref[k].shape for k in PARAM_NAMES)
