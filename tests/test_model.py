"""The model and the hand-written backward pass, micrograd-style: the same computation built with our code and
with torch's autograd, compared (float64 to 1e-12, float32 allclose), over shapes down to a batch of 2; our
backward pass changes neither the cache nor the parameters."""

import ast
import inspect

import pytest
import torch
from conftest import lesson_cells
from lecture_form import init

from helpers import PARAM_NAMES, Config, forward, init_params, make_generator, manual_backward, split_loss

SHAPES = [(3, 10, 200, 32), (1, 2, 3, 2), (5, 4, 16, 7), (8, 24, 64, 128)]  # (block_size, n_embd, n_hidden, batch)


def batch(block_size, n_embd, n_hidden, n, dtype=torch.float64, chars=5):
    cfg = Config(block_size=block_size, n_embd=n_embd, n_hidden=n_hidden, batch_size=n)
    g = torch.Generator().manual_seed(0)
    params = init_params(cfg, g, dtype=dtype)
    # note: few distinct characters, so the embedding's repeated-index accumulation is exercised
    return params, torch.randint(0, chars, (n, block_size), generator=g), torch.randint(0, 27, (n,), generator=g)


def ours_and_autograd(params, Xb, Yb):
    with torch.no_grad():
        loss, cache = forward(params, Xb, Yb)
        before = {k: v.clone() for k, v in (cache | params).items()}
        ours = manual_backward(params, cache)
    assert all(torch.equal(v, before[k]) for k, v in (cache | params).items())  # it changes neither cache nor params
    ref = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    forward(ref, Xb, Yb)[0].backward()
    return ours, {k: v.grad for k, v in ref.items()}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_backward_matches_autograd(shape):
    ours, ref = ours_and_autograd(*batch(*shape))
    assert all(ours[k].shape == ref[k].shape and (ours[k] - ref[k]).abs().max() < 1e-12 for k in PARAM_NAMES)
    ours, ref = ours_and_autograd(*batch(*shape, dtype=torch.float32))
    assert all(torch.allclose(ours[k], ref[k], rtol=1e-4, atol=1e-6) for k in PARAM_NAMES)


def test_a_character_used_many_times_collects_all_its_gradients():
    params, _, Yb = batch(3, 10, 20, 6)
    ours, ref = ours_and_autograd(params, torch.full((6, 3), 3), Yb)
    assert torch.allclose(ours["C"], ref["C"], rtol=0, atol=1e-12)
    assert ours["C"][3].abs().sum() > 0 and ours["C"][torch.arange(27) != 3].abs().sum() == 0


def test_the_initialisation_is_the_lectures_with_bngain_and_bnbias_from_the_generator():
    """The lecture's initialisation cell (tests/lecture_form.py), with its one slip fixed: bngain and bnbias drawn
    from the generator g too, as init_params draws them."""
    cfg, ns = Config(), {"torch": torch, "vocab_size": 27, "block_size": Config().block_size}
    exec(init(cfg.n_hidden).replace("torch.randn((1, n_hidden))", "torch.randn((1, n_hidden), generator=g)"), ns)
    torch.manual_seed(1)  # the lecture drew bngain/bnbias from the global generator: ours don't depend on it
    ours = init_params(cfg, make_generator(cfg))
    assert list(ours) == list(PARAM_NAMES)
    assert all(torch.equal(ours[k], v) for k, v in zip(PARAM_NAMES, ns["parameters"], strict=True))


def test_the_evaluation_pass_with_the_whole_sets_statistics_is_the_whole_set_as_one_batch():
    params, X, Y = batch(3, 10, 32, 500, dtype=torch.float32, chars=27)
    loss, cache = forward(params, X, Y)
    bn = {"mean": cache["bnmean"], "var": cache["bnvar"]}  # lesson 04's calibration: the training set's statistics
    assert split_loss(params, bn, X, Y) == pytest.approx(loss.item(), abs=1e-6)
    # one example alone gets the answer it gets in any company
    assert torch.allclose(forward(params, X, bn=bn)[0][7:8], forward(params, X[7:8], bn=bn)[0], atol=1e-5)


def test_lesson_03s_solution_is_manual_backward_statement_for_statement():
    """The one deliberate copy of the backward pass: lesson 03 writes it out (exercise 4's solution, which the
    lesson can print), helpers has it; comments and line breaks aside, they are the same code."""
    (cell,) = [c for c in lesson_cells("03_manual_backprop_training.ipynb") if "def backward(" in c.source]
    lesson = next(n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef))
    ours = ast.parse(inspect.getsource(manual_backward)).body[0]
    assert [ast.dump(s) for s in lesson.body] == [ast.dump(s) for s in ours.body[1:]]  # [1:]: ours has a docstring
