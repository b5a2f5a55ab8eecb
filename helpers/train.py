"""The training loop of lesson 03: the lecture's minibatch SGD with a hand-written backward pass, no autograd.

Introduced in 03_manual_backprop_training. Around the lecture's loop, what a learner needs (`_Watch`): a
progress line, the log, a clean stop on Ctrl-C, a stop on a non-finite loss, a warning when the loss blows
up, and an estimate up front when a backward pass is much slower than it need be.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from contextlib import contextmanager

import torch

from .backward import manual_backward
from .config import Config, make_generator
from .dataset import load_splits
from .errors import TrainingDiverged
from .model import PARAM_NAMES, forward, init_params
from .runs import Run

# a run "blows up" when its batch loss stays above this many times its first one for this many steps
BLOWUP_FACTOR, BLOWUP_STEPS = 2.0, 1000
# the first steps time the backward pass against the forward pass; a backward this many times slower is slow
PACE_STEPS, SLOW = 100, 3.0


def train(cfg: Config, *, backward=manual_backward, progress: bool = True, log_every: int = 10_000) -> Run:
    """Train the lesson's model on cfg.names for cfg.steps steps with `backward`; return the Run.

    The parameters come from init_params(cfg, g) and the batches from the same seeded generator g, as in
    the lecture, so one Config always trains the same numbers. `backward(params, cache)` returns the
    gradients by name ({'C': dC, ...}) or as a list in the lecture's order [dC, dW1, db1, ...]; they are
    applied by name. Ctrl-C stops between two steps and returns the run, marked interrupted.
    """
    data, g = load_splits(cfg), make_generator(cfg)
    run = Run(cfg, data, init_params(cfg, g), backward=_label(backward))
    params, Xtr, Ytr = run.params, data.Xtr, data.Ytr
    with _stop_on_sigint() as stop, torch.inference_mode(), _Watch(run, progress) as watch:
        for i in range(cfg.steps):
            if stop.is_set():
                run.interrupted = True
                break
            # minibatch construct
            ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
            Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
            # forward pass, then the hand-written backward pass (the first steps timed)
            t0 = time.perf_counter()
            loss, cache = forward(params, Xb, Yb)
            t1 = time.perf_counter()
            grads = _by_name(backward(params, cache), params, check=i == 0)
            watch.pace(i, t1 - t0, time.perf_counter() - t1)
            if not math.isfinite(loss := loss.item()):
                raise TrainingDiverged(
                    f"training stopped at step {i}: the loss is {loss}. A learning rate too large (cfg.lr={cfg.lr}) "
                    f"or a gradient that is inf/nan blows the parameters up; lower lr, or check your backward pass.",
                    step=i,
                    lossi=list(run.lossi),
                )
            # update, by name
            lr = cfg.lr_at(i)  # step learning rate decay
            for k, p in params.items():
                p.add_(grads[k], alpha=-lr)  # the lecture's p.data += -lr * grad, in one operation
            # track stats
            if log_every and i % log_every == 0:  # print every once in a while
                print(f"{i:7d}/{cfg.steps:7d}: {loss:.4f}")
            run.lossi.append(math.log10(loss) if loss > 0 else -math.inf)
            run.steps_done = i + 1
            watch.step(i, loss)
    if run.interrupted:
        print(f"interrupted: stopped cleanly after {run.steps_done:,} of {cfg.steps:,} steps")
    return run


def _label(backward) -> str:
    """How a run names the function that computed its gradients: "your backward" for one of a notebook's."""
    if backward is manual_backward:
        return "helpers.manual_backward"
    module, name = getattr(backward, "__module__", None), getattr(backward, "__name__", type(backward).__name__)
    return f"your {name}" if module in (None, "__main__") else f"{module}.{name}"


def _by_name(grads, params: dict, check: bool) -> dict:
    """The gradients as {name: gradient}, from a dict or the lecture's list; on the first step, checked."""
    if isinstance(grads, (list, tuple)) and len(grads) == len(PARAM_NAMES):
        grads = dict(zip(PARAM_NAMES, grads, strict=True))
    if check and (not isinstance(grads, dict) or not set(params) <= set(grads)):
        got = sorted(grads) if isinstance(grads, dict) else grads
        raise ValueError(
            f"the backward pass must return one gradient per parameter, {{'C': dC, ...}} or the lecture's list "
            f"[dC, dW1, db1, dW2, db2, dbngain, dbnbias]; it returned {got}"
        )
    for k, p in params.items() if check else ():
        # note: p += -lr * d takes p's shape, or p's shape without its leading 1s (the lecture's dbngain of (200,))
        d = grads[k]
        if not isinstance(d, torch.Tensor) or p.shape != (1,) * (p.dim() - d.dim()) + tuple(d.shape):
            got = tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__
            raise ValueError(f"the backward pass returned d{k} of shape {got}; {k} has shape {tuple(p.shape)}")
    return grads


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


class _Watch:
    """What a learner sees of a run besides its log: the progress line (a plain display in a notebook, not a
    widget, so a saved notebook reopens as it was), the blow-up warning and the pace estimate."""

    def __init__(self, run: Run, progress: bool):
        from IPython import get_ipython
        from IPython.display import Pretty, display

        self.run, self.high, self.times, self.pretty, self.next = run, 0, [0.0, 0.0], Pretty, 0.0
        self.handle, self.t0 = None, time.perf_counter()
        if progress and getattr(get_ipython(), "kernel", None) is not None:
            self.handle = display(Pretty(self.line(0)), display_id=True)

    def __enter__(self) -> _Watch:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.run.seconds = time.perf_counter() - self.t0
        self.show(self.run.steps_done, final=True)

    def line(self, done: int) -> str:
        seconds, steps = time.perf_counter() - self.t0, self.run.cfg.steps
        full, rate = round(20 * done / steps) if steps else 20, done / seconds if done and seconds > 0 else 0.0
        return f"[{'#' * full}{'-' * (20 - full)}] {done:,}/{steps:,} steps in {seconds:.1f} s ({rate:,.0f} steps/s)"

    def show(self, done: int, final: bool = False) -> None:
        if self.handle is not None and (final or time.perf_counter() >= self.next):
            self.handle.update(self.pretty(self.line(done)))
            self.next = time.perf_counter() + 0.5

    def pace(self, i: int, forward: float, backward: float) -> None:
        if i < PACE_STEPS:
            self.times = [self.times[0] + forward, self.times[1] + backward]
        f, b, steps = *self.times, self.run.cfg.steps
        if i == PACE_STEPS - 1 and b > SLOW * f and steps > 10 * PACE_STEPS:
            print(
                f"note: this backward pass takes {b / f:.0f} times as long as the forward pass, so the {steps:,} steps "
                f"will take about {(f + b) / PACE_STEPS * steps / 60:.0f} min. The usual cause is the lecture's Python "
                f"loop for dC: index_add_ (lesson 02, exercise 1d) does the same additions in one call."
            )

    def step(self, i: int, loss: float) -> None:
        self.high = self.high + 1 if loss > BLOWUP_FACTOR * 10 ** self.run.lossi[0] else 0
        if self.high == BLOWUP_STEPS:
            self.run.blew_up = True
            first, lr = 10 ** self.run.lossi[0], self.run.cfg.lr
            warnings.warn(
                f"step {i}: the batch loss ({loss:.4g}) has stayed above {BLOWUP_FACTOR:g} times its first value "
                f"({first:.4f}) for {BLOWUP_STEPS:,} steps: training is blowing up; try a smaller learning rate "
                f"(cfg.lr={lr}).",
                RuntimeWarning,
                stacklevel=3,
            )
        if i % 1000 == 0:
            self.show(i)
