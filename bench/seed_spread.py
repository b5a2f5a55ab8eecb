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

import argparse
import dataclasses
import json
import multiprocessing as mp
import statistics
import sys
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from helpers import LECTURE_LOSS, Config, forward, split_loss, train

# the lessons' seed (the lecture's), then four more; beyond five, 1, 2, 3, ...
SEEDS = (2147483647, 42, 1337, 31415, 271828)


def run_seed(seed: int, steps: int) -> dict:
    """Train the default Config with this seed (lesson 03), calibrate (04), and return the split losses (05)."""
    torch.set_num_threads(1)  # note: one thread per seed, as the lessons, so parallel seeds don't fight over cores
    run = train(dataclasses.replace(Config(), seed=seed, steps=steps), progress=False, log_every=0)
    d, cache = run.data, forward(run.params, run.data.Xtr, run.data.Ytr)[1]  # lesson 04's calibration: the set's stats
    bn = {"mean": cache["bnmean"], "var": cache["bnvar"]}
    losses = {"train": split_loss(run.params, bn, d.Xtr, d.Ytr), "val": split_loss(run.params, bn, d.Xdev, d.Ydev)}
    return {"seed": seed, **losses, "steps_done": run.steps_done, "seconds": run.seconds}


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per split: the mean, the standard deviation (nan for one seed) and max - min of the seeds' losses."""
    xs = {s: [r[s] for r in rows] for s in ("train", "val")}
    std = {s: statistics.stdev(x) if len(x) > 1 else float("nan") for s, x in xs.items()}
    return {s: {"mean": statistics.fmean(x), "std": std[s], "max-min": max(x) - min(x)} for s, x in xs.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="how many seeds (default 5, the first is the lessons')")
    ap.add_argument("--steps", type=int, default=Config().steps, help="training steps per seed (default 200,000)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained in parallel processes (default 1)")
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    args = ap.parse_args(argv)
    if min(args.seeds, args.jobs, args.steps) < 1:
        ap.error("--seeds, --jobs and --steps must be >= 1")
    seeds = (list(SEEDS) + [i for i in range(1, args.seeds + 1) if i not in SEEDS])[: args.seeds]
    print(f"{len(seeds)} seeds x {args.steps:,} steps, {args.jobs} at a time", flush=True)
    task = partial(run_seed, steps=args.steps)
    # note: spawn, not fork: a forked child inherits torch's thread pools in whatever state they are
    with mp.get_context("spawn").Pool(min(args.jobs, len(seeds))) if args.jobs > 1 else nullcontext() as pool:
        rows = list(tqdm(pool.imap(task, seeds) if pool else map(task, seeds), total=len(seeds), unit="seed"))
    print(f"{'seed':>10s} | {'train':>7s} | {'val':>7s} | {'steps':>7s} | seconds")
    for r in rows:
        print(f"{r['seed']:10d} | {r['train']:.4f} | {r['val']:.4f} | {r['steps_done']:7d} | {r['seconds']:.0f}")
    stats = summary(rows)
    print("\n".join(f"{what:>10s} | {stats['train'][what]:.4f} | {stats['val'][what]:.4f}" for what in stats["val"]))
    print(f"{'lecture':>10s} | {LECTURE_LOSS['train']:.4f} | {LECTURE_LOSS['val']:.4f}")
    if args.json:
        config = {k: v for k, v in dataclasses.asdict(Config(steps=args.steps)).items() if k != "seed"}
        report = {"steps": args.steps, "config": config, "torch": torch.__version__, "seeds": rows, "summary": stats}
        args.json.write_text(json.dumps(report | {"lecture": LECTURE_LOSS}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
