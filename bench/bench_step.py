"""How long does one training step of lesson 03's model take, and how much faster than autograd?

`make bench` (or `python bench/bench_step.py`; --compile adds torch.compile). Every variant trains the lesson's
model (Config(): batch 32, n_hidden 200, block_size 3, n_embd 10, lr 0.1) from the lesson's parameters,
init_params(cfg, make_generator(cfg)), drawing its batches from the training split of names.txt with that same
generator, so all of them compute the same losses. What each one times:

  lecture   the lecture's exercise-4 loop as the video writes it, under torch.no_grad(): the batch draw,
            the forward pass (helpers.forward, the lecture's), the hand-written backward written out with dC by
            the Python double loop `for k ...: for j ...: dC[Xb[k, j]] += demb[k, j]`, `grads = [dC, dW1, ...]`,
            `p.data += -lr * grad`, `lossi.append(loss.log10().item())` (without its print every 10,000 steps)
  autograd  the same loop with the lesson's forward pass (helpers.forward, the lecture's) and loss.backward() for
            the backward pass: `p.data += -lr * p.grad`
  lesson    what lesson 03 runs: helpers.train(cfg, backward=helpers.manual_backward, progress=False,
            log_every=0); per step, run.seconds / run.steps_done: train's loop with its checks and bookkeeping,
            not its data loading
  fused     bench/fused.py's forward_backward (the same math, fewer kernels) in a minimal loop under
            torch.inference_mode(): the batch draw, the step, p.add_(grad, alpha=-lr), loss.item()
  compiled  (--compile) the fused loop with torch.compile(forward_backward); the compile time is reported apart
  cuda      the fused loop on the GPU, when torch.cuda.is_available(); otherwise reported as skipped

Each repetition runs every variant once, from a fresh start, in an order that rotates by one each repetition,
so a machine that slows down slows them all alike. The table reports the median repetition, and as the ratio to
autograd the median of the repetitions' ratios (autograd's time / the variant's, in the same repetition). Before
reporting, every variant's per-step losses are checked against autograd's (within TOL): exit status 1 if any differ.
"""

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import fused  # bench/fused.py, beside this file
import torch
import torch.nn.functional as F
from tqdm import tqdm

import helpers
from helpers import PARAM_NAMES, Config, init_params, load_splits, make_generator, manual_backward

WHAT = {
    "lecture": "the lecture's loop as written (Python loop for dC)",
    "autograd": "helpers.forward + loss.backward()",
    "lesson": "helpers.train with helpers.manual_backward (lesson 03)",
    "fused": "bench/fused.py's forward_backward",
    "compiled": "torch.compile of the fused step",
    "cuda": "the fused step on the GPU",
}
DEFAULT_VARIANTS = ("lecture", "autograd", "lesson", "fused", "cuda")
TOL = 1e-4  # float32 rounding moves the losses of 1,000 steps by ~1e-6; a wrong gradient by 1e-3 or more in 3 steps


def lecture_step(parameters: list[torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor):
    """The lecture's exercise 4 for one batch: its forward pass (helpers.forward, word for word), then its backward
    pass as the video writes it, Python loop for dC included: (loss, grads in `parameters` order)."""
    C, W1, b1, W2, b2, bngain, bnbias = parameters
    n = Xb.shape[0]
    loss, cache = helpers.forward(dict(zip(PARAM_NAMES, parameters, strict=True)), Xb, Yb)
    emb, embcat, bnraw, bnvar_inv, h, logits = (cache[k] for k in "emb embcat bnraw bnvar_inv h logits".split())
    # backward pass
    for p in parameters:
        p.grad = None
    # manual backprop! #swole_doge_meme
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    # 2nd layer backprop
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    # tanh
    dhpreact = (1.0 - h**2) * dh
    # batchnorm backprop
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))  # fmt: skip
    # 1st layer
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    # embedding
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            ix = Xb[k, j]
            dC[ix] += demb[k, j]
    grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]
    return loss, grads


def autograd_step(parameters: list[torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor):
    """The same forward pass (helpers.forward), PyTorch's autograd for the backward pass: (loss, grads)."""
    with torch.enable_grad():
        loss, _ = helpers.forward(dict(zip(PARAM_NAMES, parameters, strict=True)), Xb, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
    return loss, [p.grad for p in parameters]


# each variant runs `steps` steps from the lesson's start (not timed) and returns (seconds of its loop, every loss)


def run_lecture(cfg: Config, data, steps: int, step=lecture_step):
    """The lecture's loop of exercise 4 around `step`: its batch draw, its update, its log of the loss."""
    params = init_params(cfg, g := make_generator(cfg))
    parameters = [params[k].requires_grad_() for k in PARAM_NAMES]  # the lecture's `p.requires_grad = True`
    Xtr, Ytr, lossi, t0 = data.Xtr, data.Ytr, [], time.perf_counter()
    with torch.no_grad():
        for i in range(steps):
            # minibatch construct
            ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g)
            Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
            loss, grads = step(parameters, Xb, Yb)
            # update
            lr = cfg.lr_at(i)  # step learning rate decay: 0.1 if i < 100000 else 0.01
            for p, grad in zip(parameters, grads, strict=True):
                p.data += -lr * grad
            lossi.append(loss.log10().item())
    return time.perf_counter() - t0, [10**x for x in lossi]


def run_lesson(cfg: Config, data, steps: int):
    run = helpers.train(dataclasses.replace(cfg, steps=steps), backward=manual_backward, progress=False, log_every=0)
    return run.seconds * steps / run.steps_done, [10**x for x in run.lossi]  # note: train keeps log10(loss)


def run_fused(cfg: Config, data, steps: int, step=None):
    step = step or fused.forward_backward  # note: looked up at each run, so a test can swap in another step
    params = init_params(cfg, g := make_generator(cfg))
    Xtr, Ytr, lossi, t0 = data.Xtr, data.Ytr, [], time.perf_counter()
    with torch.inference_mode():
        for i in range(steps):
            ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
            loss, grads = step(params, Xtr.index_select(0, ix), Ytr.index_select(0, ix))  # Xtr[ix], Ytr[ix]
            for k, p in params.items():
                p.add_(grads[k], alpha=-cfg.lr_at(i))
            lossi.append(loss.item())
    torch.cuda.synchronize() if Xtr.is_cuda else None
    return time.perf_counter() - t0, lossi


RUNS = dict(lecture=run_lecture, autograd=partial(run_lecture, step=autograd_step), lesson=run_lesson, fused=run_fused)


def prepare(name: str, cfg: Config, data, entry: dict):
    """steps -> (seconds, losses) for one variant, or None when it is skipped, with the reason in `entry`."""
    if name == "cuda" and not torch.cuda.is_available():
        return entry.update(status="skipped", reason="no CUDA GPU here (torch.cuda.is_available() is False)")
    if name == "cuda":
        on_gpu = dataclasses.replace(data, Xtr=data.Xtr.to("cuda"), Ytr=data.Ytr.to("cuda"))
        return partial(run_fused, dataclasses.replace(cfg, device="cuda"), on_gpu)
    if name == "compiled":
        try:
            t0, step = time.perf_counter(), torch.compile(fused.forward_backward, dynamic=False)
            run_fused(cfg, data, 1, step)  # the first call compiles
            entry["compile_s"] = seconds = time.perf_counter() - t0
            entry["what"] += f" (compiling took {seconds:.0f} s, not timed)"
            return partial(run_fused, cfg, data, step=step)
        except Exception as e:  # whatever breaks the compiler: the variant is skipped, with the reason
            first = (str(e).strip().splitlines() or [""])[0][:160]
            return entry.update(status="skipped", reason=f"torch.compile failed: {type(e).__name__}: {first}")
    return partial(RUNS[name], cfg, data)


def machine() -> dict:
    info = Path("/proc/cpuinfo").read_text().splitlines() if os.path.exists("/proc/cpuinfo") else []
    models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    cpu = models[0] if models else platform.processor() or platform.machine()
    gpu = {"gpu": torch.cuda.get_device_name(0)} if torch.cuda.is_available() else {}
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__} | gpu


def run_bench(cfg=None, steps=1000, reps=7, warmup=50, variants=DEFAULT_VARIANTS, tol=TOL) -> dict:
    """Time the variants side by side; return the figures, the machine and the agreement (what --json writes)."""
    cfg = cfg or Config()
    if set(variants) - set(WHAT) or steps < 1 or reps < 1:
        raise ValueError(f"variants must come from {', '.join(WHAT)}; steps and reps must be >= 1")
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # the lessons' setting (helpers.setup_torch): one thread
    try:
        data = load_splits(cfg)
        out = {"machine": machine(), "settings": dict(steps=steps, reps=reps, warmup=warmup, names=cfg.names)}
        out["variants"] = {name: {"status": "ok", "what": WHAT[name]} for name in variants}
        runs = {name: run for name in variants if (run := prepare(name, cfg, data, out["variants"][name]))}
        for run in runs.values() if warmup else ():
            run(warmup)  # not timed: the first steps pay for lazy initialisation, caches, the allocator
        order, times, losses = list(runs), {name: [] for name in runs}, {}
        bar = tqdm(total=reps * len(runs), desc="timing", unit="run")  # note: on stderr, apart from the table
        for r in range(reps if runs else 0):
            for name in order[r % len(order) :] + order[: r % len(order)]:  # round-robin, one further each time
                bar.set_postfix_str(f"repetition {r + 1}/{reps}: {name}")
                seconds, losses[name] = runs[name](steps)
                times[name].append(seconds / steps * 1e6)
                bar.update()
        bar.close()
    finally:
        torch.set_num_threads(threads)
    for name, ts in times.items():
        med, e = statistics.median(ts), out["variants"][name]
        ratios = [a / t for a, t in zip(times.get("autograd", []), ts, strict=False)]  # each repetition's, side by side
        e |= dict(us_per_step=med, us_min=min(ts), us_max=max(ts), samples_us=ts, steps_per_s=1e6 / med)
        e |= dict(projected_s=med * Config().steps / 1e6, vs_autograd=statistics.median(ratios) if ratios else None)
    out["agreement"] = agreement(losses, tol)
    return out


def agreement(losses: dict[str, list[float]], tol: float) -> dict:
    """The largest difference of each variant's per-step losses from autograd's (or the first variant's)."""
    ref = "autograd" if "autograd" in losses else next(iter(losses), None)
    diffs = {}
    for name, xs in ((n, torch.tensor(xs, dtype=torch.float64)) for n, xs in losses.items() if n != ref):
        same = xs.shape == (len(losses[ref]),)
        diffs[name] = (xs - torch.tensor(losses[ref], dtype=torch.float64)).abs().max().item() if same else math.inf
    # note: a NaN difference is not <= tol, so a variant whose loss went NaN fails
    return {"reference": ref, "tol": tol, "max_abs_diff": diffs, "ok": all(d <= tol for d in diffs.values())}


def table(out: dict) -> str:
    m, st, ag = out["machine"], out["settings"], out["agreement"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch thread(s), torch {m['torch']}"
        + (f", GPU {m['gpu']}" if "gpu" in m else ""),
        f"one training step, median of {st['reps']} interleaved repetitions of {st['steps']:,} steps\n",
        "| variant | what it runs | µs/step | min-max | steps/s | vs autograd | 200,000 steps |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for name, e in out["variants"].items():
        ratio = f"{e['vs_autograd']:.2f}x" if e.get("vs_autograd") else "-"
        mins, secs = divmod(e.get("projected_s", 0), 60)
        row = f"{e.get('us_per_step', 0):.0f} | {e.get('us_min', 0):.0f}-{e.get('us_max', 0):.0f} | "
        row += f"{e.get('steps_per_s', 0):,.0f} | {ratio} | {mins:.0f} min {secs:02.0f} s"
        lines.append(f"| {name} | {e['what']} | {row if e['status'] == 'ok' else 'skipped: ' + e['reason']} |")
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in ag["max_abs_diff"].items())
    verdict = "OK" if ag["ok"] else "FAILED: a variant computes something else"
    return "\n".join(lines + [f"\nevery step's loss vs {ag['reference']}'s (tol {ag['tol']:g}): {verdict} ({diffs})"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1000, help="training steps per repetition (default 1000)")
    p.add_argument("--reps", type=int, default=7, help="interleaved repetitions; the median is reported (default 7)")
    p.add_argument("--warmup", type=int, default=50, help="untimed steps of each variant first (default 50)")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {', '.join(WHAT)}")
    p.add_argument("--compile", action="store_true", help="add the torch.compile variant (compiling takes a while)")
    p.add_argument("--json", metavar="PATH", help="also write the figures and the machine as JSON")
    args = p.parse_args(argv)
    variants = list(dict.fromkeys(args.variants.split(",") + (["compiled"] if args.compile else [])))
    try:  # names.txt from home(): the repository's top, or $NINJA_HOME
        out = run_bench(Config(), args.steps, args.reps, args.warmup, [v for v in variants if v])
    except ValueError as e:
        p.error(str(e))
    print(table(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if out["agreement"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
