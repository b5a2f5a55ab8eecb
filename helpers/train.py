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
        grads = _named(backward(params, cache), params)
        # one fused call for all seven updates: a KeyboardInterrupt can't land between two of them
        torch._foreach_add_(list(params.values()), grads, alpha=-lr)
    return lossf


def _named(grads: dict, params: dict) -> list[torch.Tensor]:
    """The gradients in the parameters' order, matched by name (a backward may return them in any order)."""
    try:
        out = [grads[k] for k in params]
    except (KeyError, TypeError, IndexError):
        have = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise ValueError(f"the backward pass must return a dict with one gradient per parameter "
                         f"({', '.join(params)}); it returned {have}.") from None
    for k, dp in zip(params, out):
        if not isinstance(dp, torch.Tensor) or dp.shape != params[k].shape:
            got = tuple(dp.shape) if isinstance(dp, torch.Tensor) else type(dp).__name__
            raise ValueError(f"the backward pass returned d{k} of shape {got}; {k} has shape "
                             f"{tuple(params[k].shape)}, and its gradient must too.")
    return out


# steps whose batches are drawn from the generator in one go
_CHUNK = 1000


class _Batches:
    """Step i's batch: what `ix = torch.randint(0, len(Xtr), (batch_size,), generator=g)` gives, but drawn
    for up to _CHUNK steps in one call.

    note: a CPU generator draws the numbers of one big randint one after the other, exactly as many small
    calls would, so the batches (and g's state after them) are the same numbers; one call per chunk instead
    of one per step saves about 10 us a step. `settle` rewinds g when the loop stops inside a chunk.
    """

    def __init__(self, Xtr: torch.Tensor, Ytr: torch.Tensor, batch_size: int, g: torch.Generator,
                 steps: int, snapshot_every: int):
        self.Xtr, self.Ytr, self.batch_size, self.g = Xtr, Ytr, batch_size, g
        self.steps, self.snapshot_every = steps, snapshot_every
        self.state, self.start, self.end = None, 0, 0  # g's state before the chunk of steps start..end-1
        self.used = 0  # how many steps have had their batch

    def get(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of step i; steps come in order."""
        if not self.start <= i < self.end:
            # note: a chunk stops at the next snapshot, so the generator state a snapshot saves is exact
            end = min(self.steps, i + _CHUNK, (i // self.snapshot_every + 1) * self.snapshot_every)
            self.state, self.start, self.end = self.g.get_state(), i, end
            ix = torch.randint(0, self.Xtr.shape[0], ((end - i) * self.batch_size,), generator=self.g)
            ix = ix.to(self.Xtr.device).view(end - i, self.batch_size)
            self.X, self.Y = self.Xtr[ix], self.Ytr[ix]  # step k's batch is X[k - start], Y[k - start]
        self.used = i + 1
        return self.X[i - self.start], self.Y[i - self.start]

    def settle(self) -> None:
        """Leave g as if the batches handed out so far, and no more, had been drawn one step at a time."""
        if self.state is not None and self.used < self.end:
            self.g.set_state(self.state)
            torch.randint(0, self.Xtr.shape[0], ((self.used - self.start) * self.batch_size,), generator=self.g)
        self.forget()

    def forget(self) -> None:
        self.state, self.start, self.end = None, 0, 0


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
        self._installed = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def _handler(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._installed:
            # note: None means a handler installed outside Python; Python's own default is the closest
            signal.signal(signal.SIGINT, self._old if self._old is not None else signal.default_int_handler)


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
    batches = _Batches(Xtr, Ytr, cfg.batch_size, g, steps, snapshot_every)
    t0 = time.perf_counter()
    try:
        with _StopOnSigint() as stop:
            i = 0
            while i < steps:
                if stop.requested:
                    result.interrupted = True
                    break
                Xb, Yb = batches.get(i)
                try:
                    lossf = sgd_step(params, Xb, Yb, cfg.lr_at(i), backward)
                except TrainingDiverged as e:
                    if _finite(values):  # the parameters are fine: stop here (settle leaves g after step i)
                        _diverged(params, values, Xtr, Ytr, cfg, g, backward, snap, result, i, f"{e}")
                    batches.forget()  # a replay puts g back to the snapshot and draws step by step
                    _diverged(params, values, Xtr, Ytr, cfg, g, backward, snap, result, i, None)
                result.lossi.append(math.log10(lossf) if lossf > 0 else float("-inf"))
                i += 1
                result.steps_done = i
                # note: never keep a non-finite parameter in a snapshot (the next step's loss catches it),
                # or a replay would start from it
                if i % snapshot_every == 0 and _finite(values):
                    snap = ([v.clone() for v in values], g.get_state(), i)
                if log_every and (i - 1) % log_every == 0:
                    tqdm.write(f"{i - 1:7d}/{steps:7d}: {lossf:.4f}")  # the lecture's print: steps 0, 10000, ...
                if i % 1000 == 0:
                    bar.update(1000)
            # note: the next step's loss catches a non-finite update, but the last step has no next step
            if not _finite(values):
                batches.forget()
                _diverged(params, values, Xtr, Ytr, cfg, g, backward, snap, result, i, None)
    finally:
        result.seconds = time.perf_counter() - t0
        batches.settle()  # however the loop ended, g is where one draw per step would have left it
        bar.update(result.steps_done - bar.n)
        bar.close()
    if result.interrupted:
        print(f"interrupted: stopped cleanly after {result.steps_done} of {steps} steps; the parameters and "
              f"the loss history ({len(result.lossi)} entries) agree, so the next cells can use them.")
    return result


def _diverged(params, values, Xtr, Ytr, cfg, g, backward, snap, result, i, why):
    """Raise TrainingDiverged for step i, first replaying from the snapshot when a parameter is non-finite."""
    if why is None:
        i, found = _replay(params, values, Xtr, Ytr, cfg, g, backward, snap, result, stop=i)
        why = ("the update of that step made a parameter non-finite, so it was not applied" if found else
               "a parameter became non-finite, but replaying the steps did not reproduce it (is the backward "
               "pass non-deterministic?); the parameters are those of the replayed steps")
    result.steps_done = i
    raise TrainingDiverged(f"training stopped at step {i}: {why}. The parameters keep their last finite values "
                           f"and the loss history (the exception's .result.lossi) its {i} entries; try a smaller "
                           f"learning rate (cfg.lr={cfg.lr}).", step=i, result=result) from None


def _replay(params, values, Xtr, Ytr, cfg, g, backward, snap, result, stop) -> tuple[int, bool]:
    """Go back to the last snapshot and redo its steps one by one, each update checked before it lands.

    Returns (the step whose update is non-finite, True), or (stop, False) when steps up to `stop` replay fine.
    """
    saved, state, i = snap
    for v, s in zip(values, saved):
        v.copy_(s)
    g.set_state(state)
    del result.lossi[i:]
    while i < stop:
        ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
        with torch.no_grad():
            loss, cache = forward(params, Xtr[ix], Ytr[ix])
            grads = _named(backward(params, cache), params)
            new = torch._foreach_add(values, grads, alpha=-cfg.lr_at(i))
            if not (math.isfinite(loss.item()) and _finite(new)):
                return i, True
            for v, nv in zip(values, new):
                v.copy_(nv)
        result.lossi.append(math.log10(loss.item()))
        i += 1
    return i, False
