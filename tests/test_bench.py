"""The benchmark (bench/, `make bench`): its fused step and its lecture step compute what helpers computes, and a
short run of bench_step.py reports every variant, checks that they agree, and catches one that computes something
else. Nothing here times anything: a benchmark is a script that reports figures; it is not a timed test.
"""

import json
import sys

import pytest
import torch

from helpers import PARAM_NAMES, Config, forward, init_params, make_generator, manual_backward
from helpers.config import ROOT

sys.path.insert(0, str(ROOT / "bench"))  # bench/ is a folder of scripts, not a package
import bench_step  # noqa: E402
import fused  # noqa: E402


def fused_step(params, Xb, Yb):
    with torch.inference_mode():
        loss, grads = fused.forward_backward(params, Xb, Yb)
    return loss, [grads[k] for k in PARAM_NAMES]


def lecture_step(params, Xb, Yb):
    with torch.no_grad():
        return bench_step.lecture_step([params[k] for k in PARAM_NAMES], Xb, Yb)


@pytest.mark.parametrize("step", [fused_step, lecture_step])
@pytest.mark.parametrize("batch_size, n_hidden, block_size", [(32, 200, 3), (2, 5, 3), (7, 13, 4)])
def test_the_step_computes_what_helpers_computes_in_float64(step, batch_size, n_hidden, block_size, device="cpu"):
    """The loss and all seven gradients of helpers.forward + manual_backward, to 1e-12; the parameters untouched."""
    cfg = Config(batch_size=batch_size, n_hidden=n_hidden, block_size=block_size)
    params = init_params(cfg, g := make_generator(cfg), dtype=torch.float64)
    Xb = torch.randint(0, 27, (batch_size, block_size), generator=g)
    Yb = torch.randint(0, 27, (batch_size,), generator=g)
    with torch.no_grad():
        loss, cache = forward(params, Xb, Yb)
        grads = manual_backward(params, cache)
    on = {k: v.to(device) for k, v in params.items()}
    step_loss, step_grads = step(on, Xb.to(device), Yb.to(device))
    assert abs(step_loss.item() - loss.item()) < 1e-12 and all(torch.equal(on[k].cpu(), params[k]) for k in params)
    for k, grad in zip(PARAM_NAMES, step_grads, strict=True):
        assert grad.shape == params[k].shape and (grad.cpu() - grads[k]).abs().max().item() < 1e-12, k


@pytest.fixture
def words(words):
    """The made-up word list as names.txt, the file the bench reads; its folder, NINJA_HOME."""
    words.rename(words.with_name("names.txt"))
    return words.parent


def test_a_short_run_reports_every_variant_in_agreement(words, capsys):
    assert bench_step.main(["--steps", "3", "--reps", "2", "--warmup", "1", "--json", str(words / "out.json")]) == 0
    printed, out = capsys.readouterr().out, json.loads((words / "out.json").read_text())
    variants, skipped = out["variants"], set() if torch.cuda.is_available() else {"cuda"}
    assert list(variants) == list(bench_step.DEFAULT_VARIANTS) and out["machine"]["threads"] == 1
    assert all(f"| {n} |" in printed and (e["status"] == "skipped") == (n in skipped) for n, e in variants.items())
    assert all(len(e["samples_us"]) == 2 for n, e in variants.items() if n not in skipped)
    assert variants["autograd"]["vs_autograd"] == 1.0 and out["agreement"]["ok"] and "loss vs autograd's" in printed
    assert set(out["agreement"]["max_abs_diff"]) >= {"lecture", "lesson", "fused"}


def test_a_variant_that_computes_something_else_fails_the_check(words, monkeypatch, capsys):
    right = fused.forward_backward

    def wrong(params, Xb, Yb):  # one sign flipped, in one gradient
        loss, grads = right(params, Xb, Yb)
        return loss, grads | {"bnbias": -grads["bnbias"]}

    monkeypatch.setattr(fused, "forward_backward", wrong)
    assert bench_step.main(["--steps", "5", "--reps", "1", "--warmup", "0", "--variants", "autograd,fused"]) == 1
    assert "FAILED" in capsys.readouterr().out
    with pytest.raises(ValueError, match="variants must come from"):
        bench_step.run_bench(Config(batch_size=8), steps=1, reps=1, variants=("naive",))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_the_fused_step_on_cuda_computes_what_helpers_computes_on_the_cpu(words):
    test_the_step_computes_what_helpers_computes_in_float64(fused_step, 32, 200, 3, device="cuda")
    out = bench_step.run_bench(Config(), steps=20, reps=1, warmup=0, variants=("fused", "cuda"))
    assert out["variants"]["cuda"]["status"] == "ok" and out["agreement"]["ok"], out["agreement"]
