"""The training loop of lesson 03: minibatch SGD with the hand-written backward pass, no autograd.

Introduced in 03_manual_backprop_training. One step = sample a batch, forward, manual backward, update.
The loop also keeps what a learner needs when things go wrong: a non-finite loss or gradient stops it
at once with the step named and the parameters at their last finite values, and interrupting the
kernel stops it cleanly between two steps, so the parameters and the loss history always agree.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .backward import manual_backward
from .config import Config
from .errors import TrainingDiverged
from .model import forward

Backward = Callable[[dict, dict], dict]


def sgd_step(params: dict[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor, lr: float,
             backward: Backward = manual_backward) -> float:
    """One step of SGD; returns the batch loss (as measured before the update).

    Checks the loss before it touches the parameters: a non-finite loss raises TrainingDiverged and
    leaves them unchanged.
    """
    with torch.no_grad():
        loss, cache = forward(params, Xb, Yb)
        lossf = loss.item()
        if not math.isfinite(lossf):
            raise TrainingDiverged(f"the loss is {lossf}")
        grads = backward(params, cache)
        # one fused call for all seven updates: a KeyboardInterrupt can't land between two of them
        torch._foreach_add_(list(params.values()), list(grads.values()), alpha=-lr)
    return lossf


def _finite(tensors) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


@dataclass
class TrainResult:
    """What a run of `train` leaves behind: one log10(loss) per completed step, and how it ended."""

    lossi: list[float] = field(default_factory=list)  # log10 of each step's batch loss, as in the lecture
    steps_done: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.seconds if self.seconds > 0 else float("nan")


class _StopOnSigint:
    """While active, Ctrl-C / 'interrupt kernel' only raises a flag; the loop stops between two steps."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def train(params: dict[str, torch.Tensor], Xtr: torch.Tensor, Ytr: torch.Tensor, cfg: Config,
          g: torch.Generator, *, backward: Backward = manual_backward, steps: int | None = None,
          progress: bool = True, log_every: int = 10_000, snapshot_every: int = 1_000) -> TrainResult:
    """Train `params` in place with the lecture's schedule; return the loss history.

    `g` draws the batches (the generator that initialised the parameters, as in the lecture).
    `steps` overrides cfg.steps (handy for a quick try). Prints the loss every `log_every` steps.
    """
    steps = cfg.steps if steps is None else steps
    if steps < 0:
        raise ValueError(f"steps={steps} is not allowed: steps must be an integer >= 0.")
    if Xtr.shape[0] < 1 or Xtr.shape[0] != Ytr.shape[0]:
        raise ValueError(f"Xtr has {Xtr.shape[0]} examples and Ytr {Ytr.shape[0]}: they must be equal and > 0.")
    result = TrainResult()
    values = list(params.values())
    # a copy of the parameters and the generator every `snapshot_every` steps: if an update ever makes
    # a parameter non-finite, we go back to it and replay, checking every step, to find the exact step
    snap = ([v.clone() for v in values], g.get_state(), 0)
    bar = tqdm(total=steps, disable=not progress, unit="step", mininterval=0.5)
    t0 = time.perf_counter()
    try:
        with _StopOnSigint() as stop:
            i = 0
            while i < steps:
                if stop.requested:
                    result.interrupted = True
                    break
                ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
                try:
                    lossf = sgd_step(params, Xtr[ix], Ytr[ix], cfg.lr_at(i), backward)
                except TrainingDiverged as e:
                    if _finite(values):
                        why = f"{e}"
                    else:
                        i = _replay(params, values, Xtr, Ytr, cfg, g, backward, snap, result)
                        why = "the update of that step made a parameter non-finite, so it was not applied"
                    raise TrainingDiverged(f"training stopped at step {i}: {why}. The parameters keep their last "
                                           f"finite values and the loss history its {i} entries; try a smaller "
                                           f"learning rate (cfg.lr={cfg.lr}).") from None
                result.lossi.append(math.log10(lossf) if lossf > 0 else float("-inf"))
                i += 1
                result.steps_done = i
                if i % snapshot_every == 0:
                    snap = ([v.clone() for v in values], g.get_state(), i)
                if log_every and (i - 1) % log_every == 0:
                    tqdm.write(f"{i - 1:7d}/{steps:7d}: {lossf:.4f}")  # the lecture's print: steps 0, 10000, ...
                if i % 1000 == 0:
                    bar.update(1000)
    finally:
        result.seconds = time.perf_counter() - t0
        bar.update(result.steps_done - bar.n)
        bar.close()
    if result.interrupted:
        print(f"interrupted: stopped cleanly after {result.steps_done} of {steps} steps; the parameters and "
              f"the loss history ({len(result.lossi)} entries) agree, so the next cells can use them.")
    return result


def _replay(params, values, Xtr, Ytr, cfg, g, backward, snap, result) -> int:
    """Go back to the last snapshot and redo its steps one by one, each update checked before it lands."""
    saved, state, i = snap
    for v, s in zip(values, saved):
        v.copy_(s)
    g.set_state(state)
    del result.lossi[i:]
    while True:
        ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
        with torch.no_grad():
            loss, cache = forward(params, Xtr[ix], Ytr[ix])
            grads = backward(params, cache)
            new = torch._foreach_add(values, list(grads.values()), alpha=-cfg.lr_at(i))
            if not (math.isfinite(loss.item()) and _finite(new)):
                result.steps_done = i
                return i
            for v, nv in zip(values, new):
                v.copy_(nv)
        result.lossi.append(math.log10(loss.item()))
        i += 1
