"""The training loop of lesson 03: the lecture's minibatch SGD with a hand-written backward pass, no autograd.

Introduced in 03_manual_backprop_training. When things go wrong it stops before a non-finite update and names
the step (TrainingDiverged), warns when the loss blows up, and stops cleanly between two steps on Ctrl-C.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from tqdm.notebook import tqdm as notebook_tqdm

from .config import Config
from .errors import TrainingDiverged
from .fast import forward_backward
from .model import forward

Backward = Callable[[dict, dict], dict]
# a run "blows up" when its batch loss stays above this many times its first one for this many steps
BLOWUP_FACTOR, BLOWUP_STEPS = 2.0, 1000


@dataclass
class TrainResult:
    """What a run of `train` leaves behind: the parameters it trained, one log10(loss) per step, how it ended."""

    params: dict[str, torch.Tensor]  # the very dict train() updated in place
    steps: int  # the steps asked for
    lossi: list[float] = field(default_factory=list)  # log10 of each step's batch loss, as in the lecture
    steps_done: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.seconds if self.seconds > 0 else float("nan")


def _gradients(params: dict, cache: dict, backward: Backward) -> list[torch.Tensor]:
    """`backward(params, cache)`, as a list in the parameters' order, each checked against its parameter."""
    grads = backward(params, cache)
    if not isinstance(grads, dict) or not set(params) <= set(grads):
        have = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise ValueError(
            f"the backward pass must return a dict with one gradient per parameter ({', '.join(params)}); "
            f"it returned {have}."
        )
    for k, p in params.items():
        if not isinstance(grads[k], torch.Tensor) or grads[k].shape != p.shape:
            got = tuple(grads[k].shape) if isinstance(grads[k], torch.Tensor) else type(grads[k]).__name__
            raise ValueError(
                f"the backward pass returned d{k} of shape {got}; {k} has shape {tuple(p.shape)}, "
                "and its gradient must too."
            )
    return [grads[k] for k in params]


def _step(params: dict, Xb: torch.Tensor, Yb: torch.Tensor, lr: float, backward: Backward | None) -> float:
    """One step of SGD; the batch loss (before the update). Nothing changes unless loss and update are finite."""
    if backward is None:
        loss, grads = forward_backward(params, Xb, Yb)  # the tuned step of helpers.fast
    else:
        loss, cache = forward(params, Xb, Yb)
        grads = _gradients(params, cache, backward)
    if not math.isfinite(loss := loss.item()):
        raise TrainingDiverged(f"the loss is {loss}")
    # note: the norm of all seven gradients at once (in float64, so it can't overflow) is finite exactly when
    # every entry is, and bounds every entry's update: one below 1e37 can't take a parameter past float32's
    # 3.4e38 unless it is already beyond 3.3e38, where the loss would have been inf a step before
    size = lr * torch.linalg.vector_norm(torch.cat([d.view(-1) for d in grads]), dtype=torch.float64).item()
    if not size < 1e37:
        raise TrainingDiverged(
            f"the update would make a parameter non-finite (its size is {size:.3g}), so it was not applied"
        )
    torch._foreach_add_(list(params.values()), grads, alpha=-lr)
    return loss


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


def _progress_bar(steps: int, show: bool):
    """tqdm's bar (a widget in a notebook). A saved notebook keeps the text the widget had when it was shown
    ("0%"), so in a notebook it is shown under a display id, and train() shows its final text in its place."""
    notebook = issubclass(tqdm, notebook_tqdm)  # note: tqdm.auto picks the widget in a notebook with ipywidgets
    bar = tqdm(total=steps, disable=not show, unit="step", mininterval=0.5, **({"display": False} if notebook else {}))
    if notebook and show:
        from IPython.display import display

        bar.handle = display(bar.container, display_id=True)
    return bar


def train(
    params: dict[str, torch.Tensor],
    Xtr: torch.Tensor,
    Ytr: torch.Tensor,
    cfg: Config,
    g: torch.Generator,
    *,
    backward: Backward | None = None,
    steps: int | None = None,
    progress: bool = True,
    log_every: int = 10_000,
    on_interrupt: str = "stop",
) -> TrainResult:
    """Train `params` in place with the lecture's schedule; return what happened (a TrainResult).

    `g` (a CPU generator: the one that initialised the parameters, as in the lecture) draws the batches.
    `backward` is yours to try (default: the tuned step of helpers.fast); `steps` overrides cfg.steps.
    Prints the loss every `log_every` steps, as the lecture does. On Ctrl-C it stops between two steps and
    returns (`on_interrupt="stop"`), or raises KeyboardInterrupt after stopping cleanly (`"raise"`).
    """
    steps = cfg.steps if steps is None else steps
    result = TrainResult(params=params, steps=steps)
    bar = _progress_bar(steps, progress)
    high = 0  # consecutive steps with the loss far above its start
    t0 = time.perf_counter()
    try:
        with _stop_on_sigint() as stop, torch.no_grad():
            for i in range(steps):
                if stop.is_set():
                    result.interrupted = True
                    break
                # minibatch construct
                ix = torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g).to(Xtr.device)
                Xb, Yb = Xtr[ix], Ytr[ix]  # batch X,Y
                try:
                    loss = _step(params, Xb, Yb, cfg.lr_at(i), backward)
                except TrainingDiverged as e:
                    raise TrainingDiverged(
                        f"training stopped at step {i}: {e}. The parameters keep their last finite values and the "
                        f"loss history (the exception's .result.lossi) its {i} entries; try a smaller learning "
                        f"rate (cfg.lr={cfg.lr}).",
                        step=i,
                        result=result,
                    ) from None
                result.lossi.append(math.log10(loss) if loss > 0 else float("-inf"))
                result.steps_done = i + 1
                high = high + 1 if loss > BLOWUP_FACTOR * 10 ** result.lossi[0] else 0
                if high == BLOWUP_STEPS:
                    warnings.warn(
                        f"step {i}: the batch loss ({loss:.4g}) has stayed above {BLOWUP_FACTOR:g} times its first "
                        f"value ({10 ** result.lossi[0]:.4f}) for {BLOWUP_STEPS:,} steps: training is blowing up; "
                        f"try a smaller learning rate (cfg.lr={cfg.lr}).",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                if log_every and i % log_every == 0:  # print every once in a while
                    tqdm.write(f"{i:7d}/{steps:7d}: {loss:.4f}")
                if result.steps_done % 1000 == 0:
                    bar.update(1000)
    finally:
        result.seconds = time.perf_counter() - t0
        bar.update(result.steps_done - bar.n)
        bar.close()
        if getattr(bar, "handle", None) is not None:
            bar.handle.update(bar.container)  # the final text, in place of the "0%" the widget was shown with
    if result.interrupted:
        print(
            f"interrupted: stopped cleanly after {result.steps_done:,} of {steps:,} steps; the parameters and "
            f"the loss history ({len(result.lossi):,} entries) agree."
        )
        if on_interrupt == "raise":
            raise KeyboardInterrupt(f"training interrupted after {result.steps_done:,} of {steps:,} steps")
    return result
