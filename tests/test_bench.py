"""The benchmark (bench/bench_step.py, `make bench`): its variants compute the same training, and its report
has what the README's table is made from. A smoke test with a handful of steps: nothing here checks speed.
"""

import importlib.util
import json
import math
import sys

import pytest
import torch

import helpers
from helpers import Config, init_params, load_splits, make_generator, manual_backward
from helpers.config import ROOT

_spec = importlib.util.spec_from_file_location("bench_step", ROOT / "bench" / "bench_step.py")
bench = sys.modules["bench_step"] = importlib.util.module_from_spec(_spec)  # bench/ is a folder, not a package
_spec.loader.exec_module(bench)

CPU_VARIANTS = ("naive", "autograd", "helpers")
FIGURES = (
    "us_per_step",
    "us_min",
    "us_max",
    "samples_us",
    "steps_per_s",
    "projected_s",
    "speedup_vs_autograd",
    "speedup_vs_naive",
    "last_loss",
    "final_dev_loss",
)


@pytest.fixture(scope="module")
def splits(names_path):
    return load_splits(Config(names=str(names_path)))


def test_the_variants_agree_step_for_step(names_path):
    out = bench.run_bench(steps=6, reps=2, variants=CPU_VARIANTS, warmup=2, names=names_path, log=print)
    assert out["agreement"]["ok"], out["agreement"]
    assert set(out["agreement"]["max_abs_diff"]) == {"autograd", "helpers"}
    assert all(d <= 1e-5 for d in out["agreement"]["max_abs_diff"].values())
    losses = [out["variants"][v]["last_loss"] for v in CPU_VARIANTS]
    assert all(math.isfinite(x) for x in losses) and max(losses) - min(losses) <= 1e-5


def test_a_variant_that_computes_something_else_is_caught():
    same = {"a": [2.0, 1.9], "b": [2.0, 1.9 + 1e-7]}
    assert bench.check_agreement(same, {"a": 1.0, "b": 1.0}, tol=1e-5)["ok"]
    other = {"a": [2.0, 1.9], "b": [2.0, 1.8]}
    assert not bench.check_agreement(other, {"a": 1.0, "b": 1.0}, tol=1e-5)["ok"]
    assert not bench.check_agreement(same, {"a": 1.0, "b": 1.1}, tol=1e-5)["ok"]
    assert not bench.check_agreement({"a": [2.0, 1.9], "b": [2.0]}, {"a": 1.0, "b": 1.0}, tol=1e-5)["ok"]
    assert not bench.check_agreement({"a": [2.0], "b": [math.nan]}, {"a": 1.0, "b": 1.0}, tol=1e-5)["ok"]


def test_main_prints_the_table_and_writes_the_json(names_path, tmp_path, capsys):
    path = tmp_path / "results.json"
    assert bench.main(["--steps", "4", "--reps", "1", "--warmup", "1", "--json", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "| helpers " in printed and "agreement with naive" in printed and "OK" in printed
    out = json.loads(path.read_text())
    assert {"torch", "cpu_model", "cpu_count", "threads"} <= set(out["machine"])
    assert out["machine"]["threads"] == Config().threads and out["machine"]["torch"] == torch.__version__
    assert out["settings"]["steps"] == 4 and out["settings"]["reps"] == 1 and out["settings"]["batch_size"] == 32
    for name in CPU_VARIANTS:
        entry = out["variants"][name]
        assert entry["status"] == "ok" and set(FIGURES) <= set(entry), name
        assert entry["us_per_step"] > 0 and len(entry["samples_us"]) == 1
    assert out["variants"]["autograd"]["speedup_vs_autograd"] == pytest.approx(1.0)
    cuda = out["variants"]["cuda"]
    assert cuda["status"] == ("ok" if torch.cuda.is_available() else "skipped")
    assert out["agreement"]["ok"]


def test_bad_arguments_are_refused(names_path):
    with pytest.raises(ValueError, match="unknown variants"):
        bench.run_bench(steps=1, reps=1, variants=("fast",))
    with pytest.raises(ValueError, match="steps=0"):
        bench.run_bench(steps=0, reps=1, variants=("helpers",))


def test_the_benchmark_leaves_the_thread_count_as_it_was(names_path):
    before = torch.get_num_threads()
    bench.run_bench(steps=1, reps=1, variants=("helpers",), warmup=1, names=names_path, log=lambda *a: None)
    assert torch.get_num_threads() == before


def test_train_draws_the_lectures_batches(splits):
    """helpers.train draws its batches many steps at a time: the same batches, in the same order, as one
    torch.randint per step, and the generator ends where one draw per step leaves it."""
    cfg = Config()
    steps = 57
    seen = []

    def recording(params, cache):
        seen.append((cache["Xb"].clone(), cache["Yb"].clone()))
        return manual_backward(params, cache)

    g = make_generator(cfg)
    params = init_params(cfg, g)
    helpers.train(params, splits.Xtr, splits.Ytr, cfg, g, backward=recording, steps=steps, progress=False, log_every=0)
    ref = make_generator(cfg)
    init_params(cfg, ref)
    assert len(seen) == steps
    for Xb, Yb in seen:
        ix = torch.randint(0, splits.Xtr.shape[0], (cfg.batch_size,), generator=ref)
        assert torch.equal(Xb, splits.Xtr[ix]) and torch.equal(Yb, splits.Ytr[ix])
    assert torch.equal(g.get_state(), ref.get_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_helpers_step_on_cuda_matches_cpu(splits):
    """The project's loop on the GPU: the same batches and the same losses as on the CPU, to float32 rounding."""
    steps = 50
    results = {}
    for device in ("cpu", "cuda"):
        cfg = Config(device=device)
        s = bench.fresh_state(cfg, splits.Xtr, splits.Ytr, device)
        results[device] = (bench.run_helpers(s, steps, cfg), {k: v.cpu() for k, v in s.params.items()})
    (cpu_losses, cpu_params), (gpu_losses, gpu_params) = results["cpu"], results["cuda"]
    assert len(gpu_losses) == steps
    assert max(abs(a - b) for a, b in zip(cpu_losses, gpu_losses, strict=False)) <= 1e-5
    for k in cpu_params:
        torch.testing.assert_close(gpu_params[k], cpu_params[k], rtol=1e-4, atol=1e-5, msg=k)
