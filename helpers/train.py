"""The training loop of lesson 03: the lecture's minibatch SGD with a hand-written backward pass, no autograd.

Introduced in 03_manual_backprop_training. Around the lecture's loop it does what a learner needs: a
progress line, the log, a clean stop on Ctrl-C, a stop on a non-finite loss, a warning when the loss blows
up, and an estimate up front when a backward pass is much slower than it need be.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager

import torch

from .backward import manual_backward
from .config import Config, make_generator
from .dataset import load_splits
from .errors import TrainingDiverged
from .model import PARAM_NAMES, forward, init_params
from .runs import Run

Backward = Callable[[dict, dict], "dict | list"]
# a run "blows up" when its batch loss stays above this many times its first one for this many steps
BLOWUP_FACTOR, BLOWUP_STEPS = 2.0, 1000
# the first steps time the backward pass against the forward pass; a backward this many times slower is slow
PACE_STEPS, SLOW = 100, 3.0


def train(cfg: Config, *, backward: Backward = manual_backward, progress: bool = True, log_every: int = 10_000) -> Run:
    """Train the lesson's model on cfg.names for cfg.steps steps with `backward`; return the Run.

    The parameters come from init_params(cfg, g) and the batches from the same seeded generator g, as in
    the lecture, so one Config always trains the same numbers. `backward(params, cache)` returns the
    gradients by name ({'C': dC, ...}) or as a list in the lecture's order [dC, dW1, b1, ...]; they are
    applied by name. Ctrl-C stops between two steps and returns the run, marked interrupted.
    """
    data = load_splits(cfg)
    g = make_generator(cfg)
    params = init_params(cfg, g)
    run = Run(cfg, data, params, backward=_label(backward))
    Xtr, Ytr, lossi, high, pace = data.Xtr, data.Ytr, run.lossi, 0, [0.0, 0.0]
    bar = _Progress(cfg.steps) if progress else None
    t0 = time.perf_counter()
    try:
        with _stop_on_sigint() as stop, torch.inference_mode():
            for i in range(cfg.steps):
                if stop.is_set():
                    run.interrupted = True
                    break
                # minibatch construct
                ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
                Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
                # forward pass, then the hand-written backward pass
                t1 = time.perf_counter()
                loss, cache = forward(params, Xb, Yb)
                t2 = time.perf_counter()
                grads = backward(params, cache)
                if i < PACE_STEPS:
                    pace[0], pace[1] = pace[0] + t2 - t1, pace[1] + time.perf_counter() - t2
                    if i == PACE_STEPS - 1:
                        _say_if_slow(cfg, *pace)
                if i == 0 or not isinstance(grads, dict):
                    grads = _by_name(grads, params, check=i == 0)
                loss = loss.item()
                if not math.isfinite(loss):
                    raise TrainingDiverged(_diverged(cfg, i, loss), step=i, lossi=list(lossi))
                # update, by name
                lr = cfg.lr_at(i)  # step learning rate decay
                for k, p in params.items():
                    p.add_(grads[k], alpha=-lr)  # the lecture's p.data += -lr * grad, in one operation
                # track stats
                if log_every and i % log_every == 0:  # print every once in a while
                    print(f"{i:7d}/{cfg.steps:7d}: {loss:.4f}")
                lossi.append(math.log10(loss) if loss > 0 else -math.inf)
                run.steps_done = i + 1
                high = high + 1 if loss > BLOWUP_FACTOR * 10 ** lossi[0] else 0
                if high == BLOWUP_STEPS:
                    run.blew_up = True
                    warnings.warn(_blowing_up(cfg, i, loss, lossi[0]), RuntimeWarning, stacklevel=2)
                if bar and i % 1000 == 0:
                    bar.update(i)
    finally:
        run.seconds = time.perf_counter() - t0
        if bar:
            bar.update(run.steps_done, final=True)
    if run.interrupted:
        print(f"interrupted: stopped cleanly after {run.steps_done:,} of {cfg.steps:,} steps")
    return run


def _label(backward: Backward) -> str:
    """How a run names the function that computed its gradients."""
    if backward is manual_backward:
        return "helpers.manual_backward"
    module, name = getattr(backward, "__module__", None), getattr(backward, "__name__", type(backward).__name__)
    return f"your {name}" if module in (None, "__main__") else f"{module}.{name}"


def _by_name(grads, params: dict, check: bool) -> dict:
    """The gradients as {name: gradient}; on the first step, checked against their parameters."""
    if isinstance(grads, (list, tuple)) and len(grads) == len(PARAM_NAMES):
        grads = dict(zip(PARAM_NAMES, grads, strict=True))  # the lecture's `grads = [dC, dW1, ...]`
    if not isinstance(grads, dict) or not set(params) <= set(grads):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise ValueError(
            f"the backward pass must return one gradient per parameter, as a dict {{'C': dC, ...}} or a list in the "
            f"lecture's order [dC, dW1, db1, dW2, db2, dbngain, dbnbias]; it returned {got}"
        )
    for k, p in params.items():
        if check and not _fits(grads[k], p):
            got = tuple(grads[k].shape) if isinstance(grads[k], torch.Tensor) else type(grads[k]).__name__
            raise ValueError(f"the backward pass returned d{k} of shape {got}; {k} has shape {tuple(p.shape)}")
    return grads


def _fits(d, p: torch.Tensor) -> bool:
    """Whether `d` can be p's gradient: a tensor of p's shape, or of p's shape without its leading 1s (the
    lecture's `dbngain` of shape (200,) for bngain's (1, 200)); `p += -lr * d` broadcasts it."""
    return isinstance(d, torch.Tensor) and p.shape == (1,) * (p.dim() - d.dim()) + tuple(d.shape)


def _say_if_slow(cfg: Config, t_forward: float, t_backward: float) -> None:
    if t_backward > SLOW * t_forward and cfg.steps > 10 * PACE_STEPS:
        minutes = (t_forward + t_backward) / PACE_STEPS * cfg.steps / 60
        print(
            f"note: this backward pass takes {t_backward / t_forward:.0f} times as long as the forward pass, so the "
            f"{cfg.steps:,} steps will take about {minutes:.0f} min. The usual cause is the lecture's Python loop for "
            f"dC: index_add_ (lesson 02, exercise 1d) does the same additions in one call."
        )


def _diverged(cfg: Config, step: int, loss: float) -> str:
    return (
        f"training stopped at step {step}: the loss is {loss}. A learning rate too large (cfg.lr={cfg.lr}) or a "
        f"gradient that is inf/nan makes the parameters blow up; lower lr, or check your backward pass."
    )


def _blowing_up(cfg: Config, step: int, loss: float, first: float) -> str:
    return (
        f"step {step}: the batch loss ({loss:.4g}) has stayed above {BLOWUP_FACTOR:g} times its first value "
        f"({10**first:.4f}) for {BLOWUP_STEPS:,} steps: training is blowing up; try a smaller learning rate "
        f"(cfg.lr={cfg.lr})."
    )


@contextmanager
def _stop_on_sigint():
    """While active, Ctrl-C / 'interrupt kernel' only raises a flag; the loop stops between two steps."""
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()  # note: only there can Python set a handler
    old = signal.signal(signal.SIGINT, lambda signum, frame: stop.set()) if main else None
    try:
        yield stop
    finally:
        if main:
            signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)


class _Progress:
    """One line, updated in place in a notebook: a display, not a widget, so a saved notebook reopens as it was."""

    def __init__(self, steps: int):
        from IPython import get_ipython
        from IPython.display import Pretty, display

        self.steps, self.t0, self.next, self.pretty = steps, time.perf_counter(), 0.0, Pretty
        in_kernel = getattr(get_ipython(), "kernel", None) is not None
        self.handle = display(Pretty(self.text(0)), display_id=True) if in_kernel else None

    def text(self, done: int) -> str:
        seconds = time.perf_counter() - self.t0
        full = round(20 * done / self.steps) if self.steps else 20
        rate = done / seconds if done and seconds > 0 else 0.0
        return (
            f"[{'#' * full}{'-' * (20 - full)}] {done:,}/{self.steps:,} steps in {seconds:.1f} s ({rate:,.0f} steps/s)"
        )

    def update(self, done: int, *, final: bool = False) -> None:
        if self.handle is not None and (final or time.perf_counter() >= self.next):
            self.handle.update(self.pretty(self.text(done)))
            self.next = time.perf_counter() + 0.5
