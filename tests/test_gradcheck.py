"""Lesson 02's referee that isn't autograd (central finite differences, written out in the lesson), on a small
model: it passes the lesson's float64 gradients entry by entry, flags a wrong one and only it, and its error
against eps is the V the lesson draws; and `cmp`'s tolerances."""

import math

import pytest
import torch
from conftest import lesson_namespace, real_home

from helpers import PARAM_NAMES, cmp
from helpers.gradcheck import ATOL, RTOL

SMALL = "Config(block_size=2, n_embd=3, n_hidden=6)"


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """Lesson 02 up to its error curve, with a small model: its fd_check, error_curve, params64 and grads64."""
    home = real_home(tmp_path_factory)
    return lesson_namespace("02_gradient_verification.ipynb", "fd-v", home, lambda s: s.replace("Config()", SMALL))


def wrong(grads, name, how):
    bad = {k: v.clone() for k, v in grads.items()}
    flat = bad[name].view(-1)
    i = int(flat.abs().argmax())
    flat[i] = {"sign": -flat[i], "1e-3": flat[i] * (1 + 1e-3), "nan": math.nan}.get(how, 1e-6)  # b1's is 0: 1e-6
    return bad


def test_right_gradients_pass(lesson, capsys):
    before = {k: v.clone() for k, v in lesson["params64"].items()}
    assert all(lesson["fd_check"](lesson["grads64"], samples=10**6).values())  # every entry
    assert all(torch.equal(lesson["params64"][k], before[k]) for k in PARAM_NAMES)  # each nudge was put back
    lines = capsys.readouterr().out.splitlines()
    b1 = next(line for line in lines if line.startswith("b1 "))  # b1's true gradient is 0: all below the floor
    assert b1.startswith("b1       all 6 below 1e-04: abs. error") and "(< 1e-09: True)" in b1


@pytest.mark.parametrize("name, how", [("W1", "sign"), ("bngain", "sign"), ("C", "1e-3"), ("b1", "b1"), ("W2", "nan")])
def test_a_wrong_gradient_is_flagged_and_only_it(lesson, name, how):
    bad = wrong(lesson["grads64"], name, how)
    assert [k for k, ok in lesson["fd_check"](bad, samples=10**6).items() if not ok] == [name]


def test_the_error_against_eps_is_a_v(lesson):
    eps, err = zip(*lesson["error_curve"]("W2", torch.float64), strict=True)
    best = min(range(len(err)), key=err.__getitem__)
    assert 1e-7 <= eps[best] <= 1e-3 and err[best] < 1e-8  # the bottom of the V, where the two errors meet
    assert err[0] / err[2] == pytest.approx(100, rel=0.1)  # truncation ∝ ε²: ε ten times smaller, error 100x
    assert err[-1] > 100 * err[best]  # rounding ∝ 1/ε on the other side


def test_cmp_uses_the_exercise_tolerances():
    assert (RTOL, ATOL) == (1e-5, 1e-7)
    ref = torch.zeros(4, requires_grad=True)
    ref.grad = torch.zeros(4)
    # noise of 5e-8 on a zero gradient (b1's case): allclose's default atol of 1e-8 called it wrong
    assert cmp("b1", torch.full((4,), 5e-8), ref, show=False).approximate
    assert not cmp("b1", torch.full((4,), 2e-7), ref, show=False).approximate
    assert cmp("x", torch.full((4,), 1.0 + 5e-6), torch.ones(4), show=False).approximate
    with pytest.raises(ValueError, match="shape"):
        cmp("x", torch.ones(3), torch.ones(4))
