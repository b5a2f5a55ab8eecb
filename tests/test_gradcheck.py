"""The finite-difference referee of lesson 02 against torch.autograd.gradcheck, on the same function; and cmp."""

import math

import pytest
import torch

from helpers import PARAM_NAMES, Config, cmp, forward, init_params, manual_backward
from helpers.gradcheck import ATOL, RTOL, fd_check, fd_error_curve
from helpers.plots import plot_fd_error


def _setup(n_hidden=6, batch_size=5, seed=0):
    cfg = Config(block_size=2, n_embd=3, n_hidden=n_hidden, batch_size=batch_size)
    g = torch.Generator().manual_seed(seed)
    params = init_params(cfg, g, dtype=torch.float64)
    Xb = torch.randint(0, 5, (batch_size, cfg.block_size), generator=g)
    Yb = torch.randint(0, cfg.vocab_size, (batch_size,), generator=g)
    with torch.no_grad():
        _, cache = forward(params, Xb, Yb)
        grads = manual_backward(params, cache)
    return params, grads, (lambda p: forward(p, Xb, Yb)[0])


def _as_function(loss_fn, grads):
    """The loss as an autograd Function of the seven parameters whose backward returns `grads` (right or not)."""

    class Loss(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *ps):
            return loss_fn(dict(zip(PARAM_NAMES, ps, strict=True))).detach()

        @staticmethod
        def backward(ctx, dloss):
            return tuple(dloss * grads[k] for k in PARAM_NAMES)

    return Loss.apply


def _wrong(grads, name, how):
    bad = {k: v.clone() for k, v in grads.items()}
    flat = bad[name].view(-1)
    i = int(flat.abs().argmax())
    if how == "sign":
        flat[i] = -flat[i]
    elif how == "1e-3":
        flat[i] *= 1 + 1e-3
    else:  # b1's true gradient is 0: a wrong one is anything clearly above rounding
        flat[i] = 1e-6
    return bad


def test_right_gradients_pass_both_referees():
    params, grads, loss_fn = _setup()
    f = _as_function(loss_fn, grads)
    inputs = tuple(params[k].clone().requires_grad_(True) for k in PARAM_NAMES)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-5)
    checks = fd_check(loss_fn, params, grads, torch.Generator().manual_seed(0), samples=None, show=False)
    assert list(checks) == list(PARAM_NAMES)
    assert all(c.ok for c in checks.values()), [str(c) for c in checks.values() if not c.ok]
    assert checks["b1"].small == checks["b1"].entries and math.isnan(checks["b1"].rel_error)
    assert checks["W2"].small < checks["W2"].entries and checks["W2"].rel_error < 1e-6


@pytest.mark.parametrize("name,how", [("W1", "sign"), ("bngain", "sign"), ("C", "1e-3"), ("W2", "1e-3"), ("b1", "b1")])
def test_a_wrong_gradient_is_flagged_by_both(name, how):
    params, grads, loss_fn = _setup()
    bad = _wrong(grads, name, how)
    f = _as_function(loss_fn, bad)
    inputs = tuple(params[k].clone().requires_grad_(True) for k in PARAM_NAMES)
    assert not torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-5, raise_exception=False)
    checks = fd_check(loss_fn, params, bad, torch.Generator().manual_seed(0), samples=None, show=False)
    assert [k for k, c in checks.items() if not c.ok] == [name]
    assert "False" in str(checks[name])


def test_nan_never_passes():
    params, grads, loss_fn = _setup()
    bad = dict(grads, W2=torch.full_like(grads["W2"], math.nan))
    assert not fd_check(loss_fn, params, bad, torch.Generator().manual_seed(0), samples=3, show=False)["W2"].ok


def test_sample_is_drawn_from_the_generator_and_params_are_untouched():
    params, grads, loss_fn = _setup(n_hidden=40)
    before = {k: v.clone() for k, v in params.items()}
    a = fd_check(loss_fn, params, grads, torch.Generator().manual_seed(1), samples=4, show=False)
    b = fd_check(loss_fn, params, grads, torch.Generator().manual_seed(1), samples=4, show=False)
    assert a == b and all(c.entries == 4 for c in a.values())
    assert all(torch.equal(params[k], before[k]) for k in params)


def test_printed_form_compares_flags_not_digits(capsys):
    params, grads, loss_fn = _setup()
    fd_check(loss_fn, params, grads, torch.Generator().manual_seed(0), samples=None)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and all(line.split()[0] == k for line, k in zip(lines, PARAM_NAMES, strict=True))
    assert lines[2].startswith("b1       all ") and "abs. error" in lines[2] and "(< 1e-09: True)" in lines[2]
    assert "rel. error" in lines[3] and "(< 1e-05: True)" in lines[3]


def test_error_against_eps_is_a_v():
    params, grads, loss_fn = _setup()
    curve = fd_error_curve(loss_fn, params, grads, "W2")
    eps, err = zip(*curve, strict=True)
    assert eps[0] == pytest.approx(1e-1) and eps[-1] == pytest.approx(1e-12)
    best = min(range(len(err)), key=err.__getitem__)
    assert 1e-7 <= eps[best] <= 1e-3 and err[best] < 1e-8  # the bottom of the V, where the two errors meet
    assert err[0] > 100 * err[best] and err[-1] > 100 * err[best]  # truncation on one side, rounding on the other
    assert err[0] / err[2] == pytest.approx(100, rel=0.1)  # truncation ∝ ε²: ε ten times smaller, error 100x
    curve32 = fd_error_curve(loss_fn, params, grads, "W2", dtype=torch.float32)
    fig = plot_fd_error({"float64": curve, "float32": curve32})
    assert len(fig.axes[0].lines) == 2


def test_cmp_uses_the_exercise_tolerances():
    assert (RTOL, ATOL) == (1e-5, 1e-7)
    ref = torch.zeros(4, requires_grad=True)
    ref.grad = torch.zeros(4)
    # noise of 5e-8 on a zero gradient (b1's case): allclose's default atol of 1e-8 called it wrong
    assert cmp("b1", torch.full((4,), 5e-8), ref, show=False).approximate
    assert not cmp("b1", torch.full((4,), 2e-7), ref, show=False).approximate
    assert cmp("x", torch.full((4,), 1.0 + 5e-6), torch.ones(4), show=False).approximate
    assert not cmp("x", torch.full((4,), 1.0 + 5e-5), torch.ones(4), show=False).approximate
