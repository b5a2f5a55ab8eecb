"""The training loop of lesson 03: the lecture's minibatch SGD with a hand-written backward pass, no autograd.

Introduced in 03_manual_backprop_training. Around the lecture's loop, what a learner needs: tqdm's
progress bar, the log, a clean stop on Ctrl-C, a stop on a non-finite loss, a warning when the loss blows up,
and a note up front when a backward pass does much more work than it need do.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext

import torch
from torch.overrides import TorchFunctionMode
from tqdm import tqdm

from .backward import manual_backward
from .config import Config, make_generator
from .dataset import load_splits
from .errors import TrainingDiverged
from .model import PARAM_NAMES, forward, init_params
from .runs import Run

# a run "blows up" when its batch loss stays above this many times its first one for this many steps
BLOWUP_FACTOR, BLOWUP_STEPS = 2.0, 1000
# a backward pass that calls this many times as many torch functions as the forward pass is slow, in a run of more
# than LONG_RUN steps. Counted on the first step, not timed: a count is the same on any machine at any load. With
# the lecture's Python loop for dC a backward calls 33 times the forward's functions at batch 32 (10 at batch 8);
# manual_backward 2.4 times, the lecture's exercise 1 written out step by step 4.5 times.
SLOW, LONG_RUN = 8, 1000
SLOW_NOTE = (
    "note: this backward pass calls torch {ratio:.0f} times as often as the forward pass ({b:,} calls to {f:,}), each "
    "one from Python, so the {steps:,} steps will take much longer than they need. The usual cause is the lecture's "
    "Python loop for dC: index_add_ (lesson 02, exercise 1d) does the same additions in one call."
)
BLOWUP = (
    f"step {{i}}: the batch loss ({{loss:.4g}}) has stayed above {BLOWUP_FACTOR:g} times its first value "
    f"({{first:.4f}}) for {BLOWUP_STEPS:,} steps: training is blowing up; try a smaller learning rate (cfg.lr={{lr}})."
)


def train(cfg: Config, *, backward=manual_backward, progress: bool = True, log_every: int = 10_000) -> Run:
    """Train the lesson's model on cfg.names for cfg.steps steps with `backward`; return the Run.

    The parameters come from init_params(cfg, g) and the batches from the same seeded generator g, as in
    the lecture, so one Config always trains the same numbers. `backward(params, cache)` returns the
    gradients by name ({'C': dC, ...}) or as a list in the lecture's order [dC, dW1, db1, ...]; they are
    applied by name. Ctrl-C stops between two steps and returns the run, marked interrupted.
    """
    data, g = load_splits(cfg), make_generator(cfg)
    run = Run(cfg, data, init_params(cfg, g), backward=_label(backward))
    params, Xtr, Ytr, high, t0 = run.params, data.Xtr, data.Ytr, 0, time.perf_counter()
    file = _Notebook() if progress and _in_notebook() else None  # note: None is tqdm's own, stderr
    bar = tqdm(total=cfg.steps, desc="training", unit="step", disable=not progress, file=file)
    with _stop_on_sigint() as stop, torch.inference_mode(), bar:
        for i in range(cfg.steps):
            if stop.is_set():
                run.interrupted = True
                break
            # minibatch construct
            ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
            Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
            # forward pass, then the hand-written backward pass (on the first step, each one's torch calls counted)
            with _Calls() if i == 0 else nullcontext() as f:
                loss, cache = forward(params, Xb, Yb)
            with _Calls() if i == 0 else nullcontext() as b:
                grads = backward(params, cache)
            grads = _by_name(grads, params, check=i == 0)
            if i == 0 and b.n > SLOW * f.n and cfg.steps > LONG_RUN:
                tqdm.write(SLOW_NOTE.format(ratio=b.n / f.n, b=b.n, f=f.n, steps=cfg.steps))
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
                tqdm.write(f"{i:7d}/{cfg.steps:7d}: {loss:.4f}")  # note: above the bar, in a terminal
            run.lossi.append(math.log10(loss) if loss > 0 else -math.inf)
            run.steps_done = i + 1
            bar.update()
            high = high + 1 if loss > BLOWUP_FACTOR * 10 ** run.lossi[0] else 0
            if high == BLOWUP_STEPS:
                run.blew_up = True
                with tqdm.external_write_mode():  # note: in a terminal, on a line of its own, not across the bar
                    warnings.warn(BLOWUP.format(i=i, loss=loss, first=10 ** run.lossi[0], lr=cfg.lr), RuntimeWarning, 2)
    run.seconds = time.perf_counter() - t0
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
    if check and (order := list_order(grads, params)):
        raise ValueError(ORDER.format(fname="the backward pass", got=order))
    if isinstance(grads, (list, tuple)) and len(grads) == len(PARAM_NAMES):
        grads = dict(zip(PARAM_NAMES, grads, strict=True))
    if check and (not isinstance(grads, dict) or not set(params) <= set(grads)):
        got = sorted(grads) if isinstance(grads, dict) else grads
        raise ValueError(
            f"the backward pass must return one gradient per parameter, {{'C': dC, ...}} or the lecture's list "
            f"{LECTURE_LIST}; it returned {got}"
        )
    for k, p in params.items() if check else ():
        d = grads[k]
        if not fits(d, p):
            got = tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__
            raise ValueError(f"the backward pass returned d{k} of shape {got}; {k} has shape {tuple(p.shape)}")
    return grads


LECTURE_LIST = "[" + ", ".join("d" + k for k in PARAM_NAMES) + "]"
ORDER = (
    "{fname} returned gradients whose shapes say they are in another order: {got}; the lecture's order is "
    + LECTURE_LIST
    + ": put them in that order, or return a dict by name ({{'C': dC, ...}})"
)


def fits(d, p: torch.Tensor) -> bool:
    """Whether d can be p's gradient by its shape: p's shape, or p's without its leading 1s (the lecture's dbngain of
    (200,)), which p += -lr * d takes."""
    return isinstance(d, torch.Tensor) and p.shape == (1,) * (p.dim() - d.dim()) + tuple(d.shape)


def list_order(grads, params: dict) -> str | None:
    """For a list of one gradient per parameter whose shapes say another order than the lecture's: that order,
    "[dW1, dW2, ...]" (a place whose shape fits two parameters says "dbngain or dbnbias"). None for the lecture's
    order, or when the shapes say nothing: the list is then judged (or refused) as the lecture's."""
    if not isinstance(grads, (list, tuple)) or len(grads) != len(PARAM_NAMES):
        return None
    # note: a shape equal to a parameter's says more than one that fits it (db1's (200,) fits bngain's (1, 200) too)
    fit = [[k for k in PARAM_NAMES if fits(d, params[k])] for d in grads]
    places = [[k for k in ks if params[k].shape == d.shape] or ks for ks, d in zip(fit, grads, strict=True)]
    if not all(fit) or all(k in ks for k, ks in zip(PARAM_NAMES, fit, strict=True)):
        return None
    return "[" + ", ".join(" or ".join(f"d{k}" for k in place) for place in places) + "]"


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


class _Calls(TorchFunctionMode):
    """Counts the torch functions called inside it: how often code calls into torch, the same on any machine."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


class _Notebook:
    """Where tqdm draws in a notebook: one text output, replaced at each redraw. tqdm's widget does not survive saving
    the notebook, and a stream would break up around the log lines; a saved lesson keeps the bar as the run ended."""

    def __init__(self):
        from IPython.display import Pretty, display  # note: only in a notebook, where IPython is loaded already

        self.pretty, self.display, self.handle = Pretty, display, None

    def write(self, s: str) -> None:
        if line := s.rsplit("\r", 1)[-1].rstrip():  # note: tqdm draws "\rbar", and ends with "\n"
            if self.handle is None:
                self.handle = self.display(self.pretty(line), display_id=True)
            else:
                self.handle.update(self.pretty(line))

    def flush(self) -> None:
        pass


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")  # note: a script never imports it, and neither does this
    return ipython is not None and getattr(ipython.get_ipython(), "kernel", None) is not None
