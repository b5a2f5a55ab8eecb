"""The checks the exercise notebooks call, and the feedback they print.

Each check answers, per gradient: not attempted yet, error, wrong type, wrong shape, wrong values (with the
largest difference, where, and a hint from .mistakes), approximately right (floating-point rounding) or
exactly right. Results are kept in `PROGRESS` (the latest check wins): `progress("02")` prints the table,
`solved("2")` says whether an exercise passes; the exercise notebooks skip the cells that need it until then.
"""

from __future__ import annotations

import functools
import math
import textwrap
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..gradcheck import ATOL, RTOL
from .catalogue import Exercise, exercises_of
from .catalogue import exercise as find_exercise
from .mistakes import STAGES, Reference, diagnose, shape_hint, where_wrong

# the answers, from worst to best; NOT_CHECKED only appears in the progress table
NOT_ATTEMPTED, ERROR, WRONG_TYPE, WRONG_SHAPE = "not attempted yet", "error", "wrong type", "wrong shape"
WRONG_VALUES = "wrong values"
APPROXIMATE, EXACT, NOT_CHECKED = "approximately right", "exactly right", "not checked yet"
_MARK = {NOT_ATTEMPTED: "·", APPROXIMATE: "≈", EXACT: "✓", NOT_CHECKED: " "}  # the others: ✗


@dataclass
class Feedback:
    """The answer of one check, for one gradient."""

    exercise: str
    name: str  # the learner's variable, e.g. "dhprebn"
    status: str
    detail: str = ""
    hint: str = ""
    maxdiff: float | None = None
    mistake: str | None = None  # the typical mistake the answer matches ("bessel", "inherited", "sign", ...)

    @property
    def passed(self) -> bool:
        return self.status in (APPROXIMATE, EXACT)

    approximate = passed  # the name of helpers.GradCheck's flag, which lesson 03 reads

    def __str__(self) -> str:
        text = f"{_MARK.get(self.status, '✗')} {self.name:15s} {self.status}" + (self.detail and f": {self.detail}")
        if self.hint:
            text += "\n" + textwrap.fill(self.hint, 110, initial_indent=" " * 18 + "hint: ", subsequent_indent=" " * 24)
        return text


PROGRESS: dict[tuple[str, str], Feedback] = {}  # (exercise, gradient) -> the latest check's answer
BEFORE: dict[str, dict[str, Any]] = {}  # exercise -> what its names held before its cell ran (see `begin`)


def _status(exercise: str, name: str) -> str:
    return PROGRESS[(exercise, name)].status if (exercise, name) in PROGRESS else NOT_CHECKED


def solved(exercise: str) -> bool:
    """Whether every gradient of `exercise` passed its latest check in this kernel."""
    return all(_status(exercise, g) in (APPROXIMATE, EXACT) for g in find_exercise(exercise).grads)


def begin(exercise: str, ns: Mapping[str, Any]) -> None:
    """Remember what the exercise's names hold before its cell runs, so its check judges what that cell assigns."""
    BEFORE[exercise] = {g: ns.get(g) for g in find_exercise(exercise).grads}


def progress(lesson: str | int | None = None) -> None:
    """Print which gradients of a lesson's exercises pass their checks (all lessons with None)."""
    exercises = exercises_of(lesson)
    rows = [(e.id, g, PROGRESS.get((e.id, g))) for e in exercises for g in e.grads]
    done = [e.id for e in exercises if solved(e.id)]
    print(
        f"Progress, lesson {exercises[0].lesson if lesson is not None else 'all'}: "
        f"{sum(bool(fb and fb.passed) for *_, fb in rows)} of {len(rows)} gradients right; exercises done: "
        f"{len(done)} of {len(exercises)}" + (f" ({', '.join(done)})" if done else "")
    )
    print(f"{'exercise':9s} {'gradient':16s} {'status':22s} maxdiff")
    for e, g, fb in rows:
        status, diff = (fb.status, fb.maxdiff) if fb else (NOT_CHECKED, None)
        print(f"{e:9s} {g:16s} {_MARK.get(status, '✗')} {status:20s} {'' if diff is None else f'{diff:.1e}'}".rstrip())


_MISSING = object()
_NO_GRAD = "nothing to compare with: `{}.grad` is missing — {} first"


def _judge(ex: Exercise, name: str, got: Any, ref: torch.Tensor, tname: str, ctx, ns=None, missing=None) -> Feedback:
    fb = functools.partial(Feedback, ex.id, name)
    if got is _MISSING or got is None or got is Ellipsis:
        empty = f"`{name}` is still `{'...' if got is Ellipsis else 'None'}`: replace it with your gradient"
        return fb(NOT_ATTEMPTED, missing or (f"there is no variable `{name}` yet" if got is _MISSING else empty))
    if got is BEFORE.get(ex.id, {}).get(name) and isinstance(got, torch.Tensor):
        return fb(
            NOT_ATTEMPTED,
            f"`{name}` still holds what it held before your exercise {ex.id} cell (an earlier exercise's answer): "
            "run that cell; if it stopped with an error, fix it and run it again",
        )
    if not isinstance(got, torch.Tensor):
        what = f"a torch.Tensor of shape {tuple(ref.shape)}, like {tname}"
        return fb(WRONG_TYPE, f"`{name}` is a {type(got).__name__}; expected {what}")
    got, note = got.detach().to(ref.dtype), ""
    if got.shape != ref.shape:
        lead = ref.dim() - got.dim()  # a missing leading 1 broadcasts back to the same values
        if lead <= 0 or ref.shape[lead:] != got.shape or any(d != 1 for d in ref.shape[:lead]):
            key, hint = shape_hint(tuple(got.shape), tuple(ref.shape), tname)
            what = f"expected {tuple(ref.shape)} (the shape of {tname}), got {tuple(got.shape)}"
            return fb(WRONG_SHAPE, what, hint, mistake=key)
        # only a leading 1 missing: it broadcasts to the right values, as the lecture's `cmp` accepts
        note = (
            f"; note the shape: {tname} is {tuple(ref.shape)}, your {name} {tuple(got.shape)} — it broadcasts to "
            f"the same values, but a gradient has its tensor's shape: sum(..., keepdim=True) keeps it"
        )
        got = got.reshape(ref.shape)
    maxdiff = (got - ref).abs().max().item() if torch.isfinite(got).all() else math.inf
    if torch.equal(got, ref) or torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
        exact = maxdiff == 0
        detail = (
            "bit for bit autograd's" + ("" if note else " numbers")
            if exact
            else f"maxdiff {maxdiff:.1e}, floating-point rounding (the same math, grouped differently from autograd's)"
        )
        detail = f"right values ({detail}){note}" if note else detail
        return fb(EXACT if exact else APPROXIMATE, detail, maxdiff=maxdiff, mistake=note and "keepdim")
    mistake, hint = diagnose(ex, name, got, ref, ctx(), ns)
    detail = f"maxdiff {maxdiff:.2e} (the gradient's largest entry is {ref.abs().max().item():.2e}); "
    return fb(WRONG_VALUES, detail + where_wrong(got, ref) + note, hint, maxdiff=maxdiff, mistake=mistake)


def _reference(params: Mapping, Xb: torch.Tensor, Yb: torch.Tensor):
    @functools.cache
    def get() -> Reference | None:
        try:
            return Reference(params, Xb, Yb)
        except Exception:  # no hint rather than a crash
            return None

    return get


def check(exercise: str, name: str, tname: str | None = None, *, ns: Mapping[str, Any], show: bool = True) -> Feedback:
    """Check your gradient `name` (e.g. "dhprebn") against autograd's `tname.grad` (default: `name` without the d).

    Both are looked up in `ns`, the notebook's namespace (`globals()`), so a missing variable is "not attempted
    yet" rather than a NameError. Prints the feedback, records it for `progress`, and returns it.
    """
    ex = find_exercise(exercise)
    tname = tname or name[1:]
    t = ns.get(tname)
    if isinstance(t, torch.Tensor) and t.grad is not None:
        fb = _judge(ex, name, ns.get(name, _MISSING), t.grad.detach(), tname, _reference(ns, ns["Xb"], ns["Yb"]), ns)
    else:
        fb = Feedback(
            ex.id, name, ERROR, _NO_GRAD.format(tname, "run the forward-pass cell above (it calls loss.backward())")
        )
    PROGRESS[(ex.id, name)] = fb
    if show:
        print(fb)
        if name == ex.grads[-1]:  # the exercise's last check: how the whole exercise stands
            print(_exercise_line(ex))
    return fb


def check_backward(exercise: str, fn: Any, params: Mapping, cache: Mapping, *, ns: Mapping | None = None, show=True):
    """Run your `fn(params, cache)` (no autograd) and check each gradient it returns against `params[k].grad`.

    `fn` may be a name looked up in `ns` (so an undefined function is "not attempted yet"). Returns (your
    gradients or None, the feedback for each parameter); an exception in `fn` is reported, never raised.
    """
    ex = find_exercise(exercise)
    fn = ns.get(fn) if isinstance(fn, str) and ns is not None else fn
    fname, grads, common = getattr(fn, "__name__", "backward"), None, None
    if not callable(fn):
        common = (NOT_ATTEMPTED, f"your {ex.function} function is not defined yet: run its cell above")
    else:
        try:
            with torch.no_grad():
                grads = fn(params, cache)
        except NotImplementedError:
            common = (NOT_ATTEMPTED, f"{fname} still raises NotImplementedError: replace that line with your code")
        except Exception as e:  # any bug of the learner's is reported, not raised
            common = (ERROR, f"{fname} raised {type(e).__name__}: {e}{_failing_line(e)}")
        if common is None and not isinstance(grads, Mapping):
            common = (
                WRONG_TYPE,
                f"{fname} returned {type(grads).__name__}; expected a dict {{'C': dC, 'W1': dW1, ...}}",
            )
    ctx = _reference(params, cache["Xb"], cache["Yb"])
    feedback = []
    for g in ex.grads:
        if common:
            fb = Feedback(ex.id, g, *common)
        elif params[g[1:]].grad is None:
            fb = Feedback(ex.id, g, ERROR, _NO_GRAD.format(g[1:], "call loss.backward()"))
        else:
            no_key = f"the dict {fname} returned has no key {g[1:]!r}"
            fb = _judge(ex, g, grads.get(g[1:], _MISSING), params[g[1:]].grad.detach(), g[1:], ctx, missing=no_key)
        feedback.append(fb)
        PROGRESS[(ex.id, g)] = fb
    if show and common:
        print(f"{_MARK.get(common[0], '✗')} exercise {ex.id}: {common[0]}: {common[1]}")
    elif show:
        print("\n".join(map(str, feedback)), _exercise_line(ex), sep="\n")
        wrong = {fb.name[1:] for fb in feedback if fb.status in (WRONG_VALUES, WRONG_SHAPE)}
        for i, (keys, step) in enumerate(STAGES):
            if wrong & set(keys):
                before = ", ".join(f"d{k}" for ks, _ in STAGES[:i] for k in ks)
                print(
                    f"→ {before} are right, so the first mistake comes after them, most likely in {step}"
                    if before
                    else f"→ the first gradients the backward pass reaches are already wrong: start with {step}"
                )
                break
    return (None if common else dict(grads)), feedback


def check_loop(exercise: str, *, ns: Mapping[str, Any], steps: int = 1000, show: bool = True) -> list[Feedback]:
    """After your loop, `params` must be what `steps` steps of helpers.train give from the same start (up to
    float32 rounding: lesson 03's tolerance), and `lossi` must have one entry per step."""
    from .. import init_params, make_generator, train

    ex, params, lossi = find_exercise(exercise), ns.get("params"), ns.get("lossi")
    fb = functools.partial(Feedback, ex.id)
    if not lossi or not isinstance(lossi, list) or not isinstance(params, Mapping):
        fbs = [fb(g, NOT_ATTEMPTED, "`lossi` is still empty: write your loop and run it") for g in ex.grads]
    else:
        g = make_generator(ns["cfg"])
        ref = init_params(ns["cfg"], g)
        train(ref, ns["Xtr"], ns["Ytr"], ns["cfg"], g, steps=steps, progress=False, log_every=0)
        diff = max((params[k].detach() - ref[k]).abs().max().item() for k in ref)
        hint = ("" if solved("4") else "your backward does not pass exercise 4's check yet: fix it first. ") + (
            "Each step: a batch drawn with g, forward, your backward, p.data += -lr * grads[k] for "
            "every parameter, with lr = 0.1 before step 100,000 and 0.01 after"
        )
        fbs = [
            fb("params", APPROXIMATE, f"helpers.train's after {steps:,} steps, up to rounding", maxdiff=diff)
            if diff < 1e-4
            else fb(
                "params",
                WRONG_VALUES,
                f"they differ from helpers.train's after {steps:,} steps by up to {diff:.2e}",
                hint,
                maxdiff=diff,
            ),
            fb("lossi", APPROXIMATE, f"{steps:,} entries, one per step")
            if len(lossi) == steps
            else fb("lossi", WRONG_VALUES, f"{len(lossi):,} entries; one per step is {steps:,}"),
        ]
    PROGRESS.update({(ex.id, fb.name): fb for fb in fbs})
    if show:
        print(*fbs, _exercise_line(ex), sep="\n")
    return fbs


def _exercise_line(ex: Exercise) -> str:
    right, n = sum(_status(ex.id, g) in (APPROXIMATE, EXACT) for g in ex.grads), len(ex.grads)
    done = "done, " + ("it matches" if n == 1 else f"all {n} match")
    return f"→ exercise {ex.id} ({ex.title}): " + (
        done if right == n else "not done yet" if n == 1 else f"{right} of {n} right"
    )


def _failing_line(e: BaseException) -> str:
    """' (line 12: `dh = dlogits @ W2`)' for the learner's own line where `e` was raised, if it can be found."""
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        f = Path(frame.filename)
        if f.resolve() != Path(__file__).resolve() and "site-packages" not in f.parts and "torch" not in f.parts:
            return f" (line {frame.lineno}: `{frame.line.strip()}`)" if frame.line else f" (line {frame.lineno})"
    return ""
