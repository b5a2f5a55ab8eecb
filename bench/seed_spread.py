"""How much do the final losses move with the seed alone? `python bench/seed_spread.py` (issue #10).

Lesson 05 and the README compare our losses with the lecture's (train 2.0705, val 2.1099). A gap of a few
thousandths could come from any change that reshuffles the random draws (drawing bngain/bnbias from the
generator also shifts every one of the 200,000 minibatches), so we measure what the seed alone does:
for each seed, the default Config trained for its full run with `helpers.train`, batch norm calibrated
on the training set (lesson 04), then the loss of the train and val splits (lesson 05).

  python bench/seed_spread.py                       # 5 seeds x 200,000 steps, one after the other
  python bench/seed_spread.py --jobs 5 --json spread.json
  python bench/seed_spread.py --steps 2000 --seeds 2   # a quick try

Each seed runs on one torch thread (as the lessons do), so --jobs N runs N seeds side by side on N cores.
The first seed is the lessons' own, so its row is lesson 05's result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import torch

from helpers import LECTURE_LOSS, Config, calibrate, init_params, load_splits, make_generator, split_loss, train

# the lessons' seed (the lecture's), then four more; beyond five, 1, 2, 3, ...
SEEDS = (2147483647, 42, 1337, 31415, 271828)
SPLITS = ("train", "val")


def seeds(n: int) -> list[int]:
    return list(SEEDS[:n]) + [i for i in range(1, n + 1) if i not in SEEDS][: max(0, n - len(SEEDS))]


def run_seed(seed: int, steps: int | None) -> dict:
    """Train the default Config with this seed, calibrate, and return the split losses."""
    cfg = Config(seed=seed, threads=1)
    torch.set_num_threads(1)  # note: one thread per seed, so parallel seeds don't fight over cores
    splits = load_splits(cfg)
    g = make_generator(cfg)
    params = init_params(cfg, g)
    t0 = time.perf_counter()
    result = train(params, splits.Xtr, splits.Ytr, cfg, g, steps=steps, progress=False, log_every=0)
    bn = calibrate(params, splits.Xtr)
    losses = {
        "train": split_loss(params, splits.Xtr, splits.Ytr, bn),
        "val": split_loss(params, splits.Xdev, splits.Ydev, bn),
    }
    return {"seed": seed, **losses, "steps_done": result.steps_done, "seconds": time.perf_counter() - t0}


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    out = {}
    for s in SPLITS:
        xs = [r[s] for r in rows]
        out[s] = {
            "mean": statistics.fmean(xs),
            "std": statistics.stdev(xs) if len(xs) > 1 else float("nan"),
            "range": max(xs) - min(xs),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="how many seeds (default 5, the first is the lessons')")
    ap.add_argument("--steps", type=int, default=None, help="training steps per seed (default: Config's 200,000)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained in parallel processes (default 1)")
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1 or (args.steps is not None and args.steps < 1):
        ap.error("--seeds, --jobs and --steps must be >= 1")
    todo = seeds(args.seeds)
    steps = Config().steps if args.steps is None else args.steps
    print(f"{len(todo)} seeds x {steps:,} steps, {args.jobs} at a time", flush=True)
    t0 = time.perf_counter()
    if args.jobs == 1:
        rows = [run_seed(s, steps) for s in todo]
    else:
        # note: spawn, not fork: a forked child inherits torch's thread pools in whatever state they are
        with mp.get_context("spawn").Pool(min(args.jobs, len(todo))) as pool:
            rows = pool.starmap(run_seed, [(s, steps) for s in todo])
    print(f"{'seed':>10s} | {'train':>7s} | {'val':>7s} | {'steps':>7s} | seconds")
    for r in rows:
        print(f"{r['seed']:10d} | {r['train']:.4f} | {r['val']:.4f} | {r['steps_done']:7d} | {r['seconds']:.0f}")
    stats = summary(rows)
    for what in ("mean", "std", "range"):
        name = "max-min" if what == "range" else what
        print(f"{name:>10s} | {stats['train'][what]:.4f} | {stats['val'][what]:.4f}")
    print(f"{'lecture':>10s} | {LECTURE_LOSS['train']:.4f} | {LECTURE_LOSS['val']:.4f}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        config = {k: v for k, v in dataclasses.asdict(Config(steps=steps)).items() if k != "seed"}
        report = {
            "steps": steps,
            "config": config,
            "torch": torch.__version__,
            "seeds": rows,
            "summary": stats,
            "lecture": LECTURE_LOSS,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
