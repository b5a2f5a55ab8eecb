"""How fast is one training step of the lesson's model? `make bench` (or `python bench/bench_step.py`).

Times the same step (batch 32 from the real training set, the lesson's model and initialisation) in
several ways, in one process, interleaved: every repetition runs each variant once, in rotating order,
so a noisy machine slows them all alike; the table reports the median repetition.

  naive     the lecture's loop: its forward and hand-written backward (helpers.forward, helpers.manual_backward:
            the lecture's form, dC by index_add_ where the lecture loops in Python), `p.data += -lr * grad`
  autograd  the lecture's forward (helpers.forward), `loss.backward()`, the same update
  helpers   the project's own loop: `helpers.train(...)`, exactly what notebook 03 runs (helpers.fast's step)
  compiled  (--compile) the helpers step through torch.compile; its compile time is reported apart
  cuda      the helpers loop on the GPU, when there is one

Every variant starts from the same parameters and draws the same batches, so before reporting anything
the script checks that they all reach the same losses (within --tol) and exits with status 1 if not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

import helpers
from helpers import (
    NAMES_PATH,
    PARAM_NAMES,
    Config,
    TrainingDiverged,
    forward,
    init_params,
    load_splits,
    make_generator,
    manual_backward,
)

VARIANTS = ("naive", "autograd", "helpers", "compiled", "cuda")
DEFAULT_VARIANTS = ("naive", "autograd", "helpers", "cuda")


# ---------------------------------------------------------------------------------------------------
# the variants: each `run(state, steps, cfg)` trains state.params for `steps` steps and returns every loss


@dataclass
class State:
    """One variant's fresh start: the lesson's initial parameters and the generator that drew them."""

    params: dict[str, torch.Tensor]
    g: torch.Generator
    Xtr: torch.Tensor
    Ytr: torch.Tensor
    extra: Any = None  # what a variant needs besides: the compiled function, for `compiled`


def fresh_state(
    cfg: Config,
    Xtr: torch.Tensor,
    Ytr: torch.Tensor,
    device: str = "cpu",
    requires_grad: bool = False,
    extra: Any = None,
) -> State:
    """The lesson's start: init_params(cfg, make_generator(cfg)); the batches then come from the same g."""
    g = make_generator(cfg)  # a CPU generator: the same numbers on every device
    params = {k: v.to(device).requires_grad_(requires_grad) for k, v in init_params(cfg, g).items()}
    return State(params, g, Xtr.to(device), Ytr.to(device), extra)


def run_naive(s: State, steps: int, cfg: Config) -> list[float]:
    """The lecture's loop: its forward, its hand-written backward (helpers' lecture form), `p.data += -lr * grad`."""
    parameters = [s.params[k] for k in PARAM_NAMES]
    Xtr, Ytr, g = s.Xtr, s.Ytr, s.g
    lossi = []
    with torch.no_grad():
        for i in range(steps):
            # minibatch construct
            ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
            Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
            loss, cache = forward(s.params, Xb, Yb)
            grads = manual_backward(s.params, cache)
            lr = cfg.lr_at(i)  # step learning rate decay
            for p, k in zip(parameters, PARAM_NAMES, strict=True):
                p.data += -lr * grads[k]
            lossi.append(loss.item())
    return lossi


def run_autograd(s: State, steps: int, cfg: Config) -> list[float]:
    """The lecture's forward with PyTorch's autograd doing the backward pass."""
    parameters = [s.params[k] for k in PARAM_NAMES]
    Xtr, Ytr, g, batch_size = s.Xtr, s.Ytr, s.g, cfg.batch_size
    lossi = []
    for i in range(steps):
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g).to(Xtr.device)
        Xb, Yb = Xtr[ix], Ytr[ix]
        loss, _ = forward(s.params, Xb, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = cfg.lr_at(i)
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.item())
    return lossi


def run_helpers(s: State, steps: int, cfg: Config) -> list[float]:
    """The project's loop, as notebook 03 calls it (batch sampling, checks and bookkeeping included)."""
    result = helpers.train(s.params, s.Xtr, s.Ytr, cfg, s.g, steps=steps, progress=False, log_every=0)
    return [10.0**x for x in result.lossi]  # note: train keeps log10(loss), as the lecture plots it


def _fwd_bwd(params, Xb, Yb):
    loss, cache = forward(params, Xb, Yb)
    return loss, manual_backward(params, cache)


def make_compiled() -> Callable:
    """helpers' forward + manual backward as one torch.compile'd graph (the update stays eager)."""
    return torch.compile(_fwd_bwd, dynamic=False)


def run_compiled(s: State, steps: int, cfg: Config) -> list[float]:
    """The helpers loop, step by step, with the compiled forward + backward and the same checks."""
    fwd_bwd, Xtr, Ytr, g = s.extra, s.Xtr, s.Ytr, s.g
    values = list(s.params.values())
    lossi = []
    with torch.no_grad():
        for i in range(steps):
            ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
            loss, grads = fwd_bwd(s.params, Xtr[ix], Ytr[ix])
            lossf = loss.item()
            if not math.isfinite(lossf):
                raise TrainingDiverged(f"the loss is {lossf}")
            torch._foreach_add_(values, [grads[k] for k in s.params], alpha=-cfg.lr_at(i))
            lossi.append(lossf)
    return lossi


# ---------------------------------------------------------------------------------------------------
# the measurement


def machine_info(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _fmt_duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}m {s:02d}s" if m < 60 else f"{m // 60}h {m % 60:02d}m"


def run_bench(
    steps: int = 1000,
    reps: int = 7,
    variants=DEFAULT_VARIANTS,
    warmup: int = 20,
    tol: float = 1e-5,
    cfg: Config | None = None,
    names: str | os.PathLike | None = None,
    log=print,
) -> dict:
    """Time the variants, interleaved; return the figures (what --json writes) with an agreement check.

    `names` is names.txt (default: the repository's copy, else the file $MAKEMORE_NAMES names).
    """
    cfg = cfg or Config()
    if names is None:
        names = NAMES_PATH if NAMES_PATH.is_file() else os.environ.get("MAKEMORE_NAMES", NAMES_PATH)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}: choose from {', '.join(VARIANTS)}")
    if steps < 1 or reps < 1:
        raise ValueError(f"steps={steps} and reps={reps} must both be >= 1")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # the project's setting (helpers.setup_torch): one thread
    try:
        return _run_bench(steps, reps, list(variants), warmup, tol, cfg, names, log)
    finally:
        torch.set_num_threads(old_threads)


@dataclass
class _Plan:
    """How to time one variant: a fresh start (untimed), the timed loop, and where it runs."""

    setup: Callable[[], State]
    run: Callable[[State, int, Config], list[float]]
    cfg: Config
    device: str


def _run_bench(steps, reps, variants, warmup, tol, cfg, names, log) -> dict:
    splits = load_splits(dataclasses.replace(cfg, device="cpu", names=str(names)))
    Xtr, Ytr, Xdev, Ydev = splits.Xtr, splits.Ytr, splits.Xdev, splits.Ydev
    out: dict = {
        "machine": machine_info(cfg.threads),
        "settings": {
            "steps": steps,
            "reps": reps,
            "warmup": warmup,
            "tol": tol,
            "batch_size": cfg.batch_size,
            "n_hidden": cfg.n_hidden,
            "block_size": cfg.block_size,
            "n_embd": cfg.n_embd,
            "projected_steps": cfg.steps,
        },
        "variants": {},
    }
    plans: dict[str, _Plan] = {}
    for name in variants:
        entry = out["variants"][name] = {"status": "ok"}
        if name == "cuda" and not torch.cuda.is_available():
            entry.update(status="skipped", reason="no CUDA GPU here (torch.cuda.is_available() is False)")
            continue
        device = "cuda" if name == "cuda" else "cpu"
        vcfg = dataclasses.replace(cfg, device=device)
        extra = None
        if name == "compiled":
            try:
                extra = make_compiled()
                t0 = time.perf_counter()
                s = fresh_state(vcfg, Xtr, Ytr)
                with torch.no_grad():
                    extra(s.params, Xtr[: cfg.batch_size], Ytr[: cfg.batch_size])  # the first call compiles
                entry["compile_s"] = time.perf_counter() - t0
            except Exception as e:  # whatever breaks the compiler, the variant is skipped
                first = (str(e).strip().splitlines() or [""])[0][:200]  # one line: it goes in the table
                entry.update(status="skipped", reason=f"torch.compile failed: {type(e).__name__}: {first}")
                log(f"compiled: skipped, {entry['reason']}")
                continue
        run = {"naive": run_naive, "autograd": run_autograd, "compiled": run_compiled}.get(name, run_helpers)
        setup = partial(fresh_state, vcfg, Xtr, Ytr, device, name == "autograd", extra)
        plans[name] = _Plan(setup, run, vcfg, device)
        entry["device"] = device

    # warm-up: first calls pay for lazy initialisation (kernels, allocator, caches); not timed
    for plan in plans.values():
        plan.run(plan.setup(), min(warmup, steps), plan.cfg)
        _sync(plan.device)
    timed = list(plans)
    times: dict[str, list[float]] = {name: [] for name in timed}
    losses: dict[str, list[float]] = {}
    final: dict[str, float] = {}
    for r in range(reps if timed else 0):
        # note: round-robin, starting one further each repetition, so no variant always runs first
        for name in timed[r % len(timed) :] + timed[: r % len(timed)]:
            plan = plans[name]
            s = plan.setup()
            _sync(plan.device)
            t0 = time.perf_counter()
            lossi = plan.run(s, steps, plan.cfg)
            _sync(plan.device)
            times[name].append((time.perf_counter() - t0) / steps * 1e6)
            if r == 0:  # every repetition computes the same numbers; keep the first's for the check
                losses[name] = lossi
                final[name] = helpers.split_loss({k: v.detach().cpu() for k, v in s.params.items()}, Xdev, Ydev)
        log(f"rep {r + 1}/{reps}: " + ", ".join(f"{n} {times[n][-1]:.0f} us" for n in timed))

    for name in timed:
        ts = times[name]
        med = statistics.median(ts)
        out["variants"][name].update(
            us_per_step=med,
            us_min=min(ts),
            us_max=max(ts),
            samples_us=ts,
            steps_per_s=1e6 / med,
            projected_s=med * cfg.steps / 1e6,
            last_loss=losses[name][-1],
            final_dev_loss=final[name],
        )
    for base in ("autograd", "naive"):
        if base in times:
            for name in timed:
                e = out["variants"][name]
                e[f"speedup_vs_{base}"] = out["variants"][base]["us_per_step"] / e["us_per_step"]
    out["agreement"] = check_agreement(losses, final, tol)
    return out


def check_agreement(losses: dict[str, list[float]], final: dict[str, float], tol: float) -> dict:
    """Every variant against the first: each step's loss and the final dev loss, within tol."""
    names = list(losses)
    result = {"ok": True, "tol": tol, "reference": names[0] if names else None, "max_abs_diff": {}}
    if not names:
        return result
    ref = names[0]
    for name in names[1:]:
        a, b = losses[ref], losses[name]
        if len(a) != len(b):
            diff = math.inf
        else:
            diff = max([abs(x - y) for x, y in zip(a, b, strict=False)] + [abs(final[ref] - final[name])])
        diff = diff if math.isfinite(diff) else math.inf
        result["max_abs_diff"][name] = diff
        if not diff <= tol:
            result["ok"] = False
    return result


def format_table(out: dict) -> str:
    m, st = out["machine"], out["settings"]
    lines = [
        f"one training step: batch {st['batch_size']}, n_hidden {st['n_hidden']}, block_size "
        f"{st['block_size']}, n_embd {st['n_embd']}; median of {st['reps']} interleaved repetitions "
        f"of {st['steps']} steps",
        f"machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['threads']} thread(s), torch {m['torch']}"
        + (f", GPU {m['cuda_device']}" if "cuda_device" in m else ""),
        "",
        f"| variant  | us/step | (min-max)     | steps/s | vs autograd | vs naive | {st['projected_steps']:,} steps |",
        "|----------|--------:|---------------|--------:|------------:|---------:|-------------:|",
    ]
    # note: the timed variants first, the skipped ones (with why) after them
    for name, e in sorted(out["variants"].items(), key=lambda kv: kv[1]["status"] != "ok"):
        if e["status"] != "ok":
            lines.append(f"| {name:8s} | skipped: {e['reason']}")
            continue
        va = f"{e['speedup_vs_autograd']:.2f}x" if "speedup_vs_autograd" in e else "-"
        vn = f"{e['speedup_vs_naive']:.2f}x" if "speedup_vs_naive" in e else "-"
        lines.append(
            f"| {name:8s} | {e['us_per_step']:7.0f} | {e['us_min']:5.0f}-{e['us_max']:<7.0f} | "
            f"{e['steps_per_s']:7.0f} | {va:>11s} | {vn:>8s} | {_fmt_duration(e['projected_s']):>12s} |"
        )
    for name, e in out["variants"].items():
        if "compile_s" in e:
            lines.append(f"\n{name}: torch.compile took {e['compile_s']:.1f} s (not in the table)")
    ag = out["agreement"]
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in ag["max_abs_diff"].items())
    if ag["reference"] is None:
        lines.append("\nagreement: nothing was timed, nothing to compare")
    else:
        lines.append(
            f"\nagreement with {ag['reference']} (per-step losses and final dev loss, tol {ag['tol']:g}): "
            f"{'OK' if ag['ok'] else 'FAILED'}" + (f" (max abs diff: {diffs})" if diffs else "")
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=1000, help="training steps per repetition (default 1000)")
    p.add_argument("--reps", type=int, default=7, help="interleaved repetitions; the median is reported (default 7)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps of each variant first (default 20)")
    p.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, from {', '.join(VARIANTS)} (default: {','.join(DEFAULT_VARIANTS)})",
    )
    p.add_argument("--compile", action="store_true", help="add the torch.compile variant (compiling takes a while)")
    p.add_argument("--tol", type=float, default=1e-5, help="largest allowed loss difference between variants")
    p.add_argument("--json", metavar="PATH", help="also write the figures, and the machine, as JSON")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if args.compile and "compiled" not in variants:
        variants.append("compiled")
    try:
        out = run_bench(args.steps, args.reps, variants, args.warmup, args.tol)
    except ValueError as e:
        p.error(str(e))
    print(format_table(out))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    if not out["agreement"]["ok"]:
        print("error: the variants disagree: one of them computes something else", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
