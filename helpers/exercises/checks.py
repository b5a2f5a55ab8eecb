"""The checks the exercise notebooks call, and the feedback they print.

Every check compares your gradient with autograd's and answers with one of

* not attempted yet   - the variable is missing, still `...` or None, or your function raises NotImplementedError;
* wrong type / error  - not a tensor, or your backward function crashed (the line that failed is named);
* wrong shape         - expected vs got, with a hint (keepdim, a sum over a broadcast dimension, a transpose);
* wrong values        - the largest difference, which rows/columns differ, and a hint pointing at the step;
* approximately right - equal up to floating-point rounding (the maxdiff is shown);
* exactly right       - bit for bit autograd's numbers.

Results are kept in `PROGRESS` (one entry per gradient, the latest check wins): `progress("02")` prints
the table, `solved("2")` says whether an exercise passes (the exercise notebooks use it to skip the cells
that need your answer until it is right).
"""

from __future__ import annotations

import math
import textwrap
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .catalogue import Exercise, exercises_of, lesson_of
from .catalogue import exercise as find_exercise
from .mistakes import STAGES, Reference, diagnose

# the answers a check can give, from worst to best; NOT_CHECKED only appears in the progress table
NOT_ATTEMPTED = "not attempted yet"
ERROR = "error"
WRONG_TYPE = "wrong type"
WRONG_SHAPE = "wrong shape"
WRONG_VALUES = "wrong values"
APPROXIMATE = "approximately right"
EXACT = "exactly right"
NOT_CHECKED = "not checked yet"
_MARK = {
    NOT_ATTEMPTED: "·",
    ERROR: "✗",
    WRONG_TYPE: "✗",
    WRONG_SHAPE: "✗",
    WRONG_VALUES: "✗",
    APPROXIMATE: "≈",
    EXACT: "✓",
    NOT_CHECKED: " ",
}

# "approximately right": torch.allclose with the absolute tolerance of lesson 02's 100-step check, because
# b1's true gradient is exactly 0 and both computations return rounding noise of ~1e-8 for it
RTOL, ATOL = 1e-5, 1e-7


@dataclass
class Feedback:
    """The answer of one check, for one gradient."""

    exercise: str
    name: str  # the learner's variable, e.g. "dhprebn"
    status: str
    detail: str = ""
    hint: str = ""
    maxdiff: float | None = None
    mistake: str | None = None  # the typical mistake the answer matches ("bessel", "dC_assign", "sign", ...)

    @property
    def passed(self) -> bool:
        return self.status in (APPROXIMATE, EXACT)

    # the names of helpers.GradCheck, so code written for `cmp`'s results keeps working
    @property
    def exact(self) -> bool:
        return self.status == EXACT

    @property
    def approximate(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        text = f"{_MARK[self.status]} {self.name:15s} {self.status}" + (f": {self.detail}" if self.detail else "")
        if self.hint:
            text += "\n" + textwrap.fill(
                self.hint,
                width=110,
                initial_indent=" " * 18 + "hint: ",
                subsequent_indent=" " * 24,
                break_on_hyphens=False,
            )
        return text

    def __repr__(self) -> str:
        return f"<Feedback {self.exercise} {self.name}: {self.status}>"


class Progress:
    """The latest result of every gradient checked in this kernel: what `progress` prints."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str], Feedback] = {}

    def record(self, fb: Feedback) -> None:
        self.results[(fb.exercise, fb.name)] = fb

    def reset(self) -> None:
        self.results.clear()

    def status(self, exercise: str, name: str) -> str:
        fb = self.results.get((exercise, name))
        return fb.status if fb else NOT_CHECKED

    def solved(self, exercise: str) -> bool:
        ex = find_exercise(exercise)
        return all(self.status(ex.id, g) in (APPROXIMATE, EXACT) for g in ex.grads)

    def summary(self, lesson: str | int | None = None) -> dict[str, dict[str, str]]:
        """{exercise: {gradient: status}} for one lesson's exercises (every lesson's with None)."""
        return {e.id: {g: self.status(e.id, g) for g in e.grads} for e in exercises_of(lesson)}

    def table(self, lesson: str | int | None = None) -> str:
        exercises = exercises_of(lesson)
        rows = [(e, g, self.results.get((e.id, g))) for e in exercises for g in e.grads]
        right = sum(1 for *_, fb in rows if fb and fb.passed)
        done = [e.id for e in exercises if self.solved(e.id)]
        where = f"lesson {lesson_of(lesson)}" if lesson is not None else "all lessons"
        lines = [
            f"Progress, {where}: {right} of {len(rows)} gradients right; exercises done: "
            f"{len(done)} of {len(exercises)}" + (f" ({', '.join(done)})" if done else ""),
            f"{'exercise':9s} {'gradient':16s} {'status':22s} maxdiff",
        ]
        for e, g, fb in rows:
            status = fb.status if fb else NOT_CHECKED
            maxdiff = f"{fb.maxdiff:.1e}" if fb and fb.maxdiff is not None else ""
            lines.append(f"{e.id:9s} {g:16s} {_MARK[status]} {status:20s} {maxdiff}".rstrip())
        return "\n".join(lines)


PROGRESS = Progress()


def progress(lesson: str | int | None = None) -> None:
    """Print which gradients of a lesson's exercises pass their checks (all lessons with None)."""
    print(PROGRESS.table(lesson))


def solved(exercise: str) -> bool:
    """Whether every gradient of `exercise` passed its latest check in this kernel."""
    return PROGRESS.solved(exercise)


_MISSING = object()


def _shape_hint(got: tuple[int, ...], ref: tuple[int, ...], tname: str) -> tuple[str, str]:
    def squeeze(s):
        return tuple(d for d in s if d != 1)

    if math.prod(got) == math.prod(ref) and squeeze(got) == squeeze(ref):
        if len(got) < len(ref):
            return "keepdim", (
                f"the same numbers, but a size-1 dimension is gone: {tname} has shape {ref}, so its "
                f"gradient must too — a sum drops the dimension unless you pass keepdim=True, "
                f"and broadcasting would later spread the flat version the wrong way"
            )
        return "keepdim", (
            f"the same numbers, with an extra size-1 dimension: {tname} has shape {ref} — sum without keepdim=True here"
        )
    if len(got) == 2 and got == ref[::-1]:
        return "transposed", (
            f"looks transposed: {tname} has shape {ref}; in a matrix product's gradient, "
            f"let the shapes tell you which factor is transposed and which side it goes on"
        )
    if math.prod(got) == math.prod(ref):
        return "reshape", f"the right number of entries, arranged differently: view it as {tname}.shape, {ref}"
    if len(got) == len(ref) + 1 and got[1:] == ref:
        return "broadcast", (
            f"{tname} {ref} was broadcast over the batch (dimension 0) in the forward pass, "
            f"so its gradient sums over that dimension"
        )
    if len(got) == len(ref) and all(g == r or r == 1 for g, r in zip(got, ref, strict=False)):
        dims = [i for i, (g, r) in enumerate(zip(got, ref, strict=False)) if g != r]
        return "broadcast", (
            f"{tname} has size 1 in dimension {', '.join(map(str, dims))}: it was broadcast there "
            f"in the forward pass, so its gradient sums over it (keepdim=True keeps the shape)"
        )
    return "shape", f"a gradient always has the shape of its tensor: {tname} is {ref}"


def _where(got: torch.Tensor, ref: torch.Tensor) -> str:
    bad = ~torch.isclose(got, ref, rtol=RTOL, atol=ATOL)
    if ref.dim() == 0:
        return "the single value differs"

    def some(mask: torch.Tensor, what: str) -> str:
        idx = mask.nonzero().flatten().tolist()
        if mask.numel() == 1:
            return f"its only {what.removesuffix('ies') + 'y' if what.endswith('ies') else what[:-1]}"
        if len(idx) == mask.numel():
            return f"all {len(idx)} {what}"
        eg = ", ".join(map(str, idx[:8])) + (", ..." if len(idx) > 8 else "")
        return f"{len(idx)} of {mask.numel()} {what} ({eg})"

    if ref.dim() == 1:
        return f"differs in {some(bad, 'entries')}"
    rows = bad.flatten(1).any(1)
    text = f"differs in {some(rows, 'rows')}"
    if ref.dim() == 2:
        text += f" and {some(bad.any(0), 'columns')}"
    return text


def _judge(
    exid: str,
    name: str,
    got: Any,
    ref: torch.Tensor,
    tname: str,
    ctx: Callable[[], Reference | None],
    missing: str | None = None,
) -> Feedback:
    if got is _MISSING:
        return Feedback(exid, name, NOT_ATTEMPTED, missing or f"there is no variable `{name}` yet")
    if got is None or got is Ellipsis:
        return Feedback(
            exid,
            name,
            NOT_ATTEMPTED,
            f"`{name}` is still `{'...' if got is Ellipsis else 'None'}`: replace it with your gradient",
        )
    if not isinstance(got, torch.Tensor):
        return Feedback(
            exid,
            name,
            WRONG_TYPE,
            f"`{name}` is a {type(got).__name__}; expected a torch.Tensor of shape {tuple(ref.shape)}, like {tname}",
        )
    got = got.detach()
    if got.shape != ref.shape:
        key, hint = _shape_hint(tuple(got.shape), tuple(ref.shape), tname)
        return Feedback(
            exid,
            name,
            WRONG_SHAPE,
            f"expected {tuple(ref.shape)} (the shape of {tname}), got {tuple(got.shape)}",
            hint,
            mistake=key,
        )
    if got.dtype != ref.dtype:
        got = got.to(ref.dtype)
    if torch.equal(got, ref):
        return Feedback(exid, name, EXACT, "bit for bit autograd's numbers", maxdiff=0.0)
    maxdiff = (got - ref).abs().max().item() if torch.isfinite(got).all() else math.inf
    if torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
        return Feedback(
            exid,
            name,
            APPROXIMATE,
            f"maxdiff {maxdiff:.1e}, floating-point rounding (the same math, grouped differently from autograd's)",
            maxdiff=maxdiff,
        )
    mistake, hint = diagnose(exid, name, got, ref, ctx)
    size = ref.abs().max().item()
    detail = f"maxdiff {maxdiff:.2e} (the gradient's largest entry is {size:.2e}); {_where(got, ref)}"
    return Feedback(exid, name, WRONG_VALUES, detail, hint, maxdiff=maxdiff, mistake=mistake)


def _once(make: Callable[[], Reference]) -> Callable[[], Reference | None]:
    box: list = []

    def get() -> Reference | None:
        if not box:
            try:
                box.append(make())
            except Exception:
                box.append(None)
        return box[0]

    return get


def check(exercise: str, name: str, tname: str | None = None, *, ns: Mapping[str, Any], show: bool = True) -> Feedback:
    """Check your gradient `name` (e.g. "dhprebn") against autograd's `tname.grad` (default: `name` without the d).

    Both are looked up by name in `ns`, the notebook's namespace (the exercise cells pass `globals()`), so a
    missing variable is "not attempted yet" rather than a NameError. Prints the feedback, records it for
    `progress`, and returns it.
    """
    ex = find_exercise(exercise)
    tname = tname or (name[1:] if name.startswith("d") else name)
    got = ns.get(name, _MISSING)
    t = ns.get(tname)
    ref = t.grad if isinstance(t, torch.Tensor) else None
    if got is _MISSING or got is None or got is Ellipsis or ref is not None:
        fb = _judge(
            ex.id,
            name,
            got,
            ref.detach() if ref is not None else None,
            tname,
            _once(lambda: Reference(ns, ns["Xb"], ns["Yb"])),
        )
    else:
        fb = Feedback(
            ex.id,
            name,
            ERROR,
            f"nothing to compare with: `{tname}.grad` is missing — run the "
            f"forward-pass cell above (it calls loss.backward()) first",
        )
    PROGRESS.record(fb)
    if show:
        print(fb)
        if name == ex.grads[-1]:  # the exercise's last check: how the whole exercise stands
            print(_exercise_line(ex))
    return fb


def check_backward(
    exercise: str,
    fn: Any,
    params: Mapping[str, torch.Tensor],
    cache: Mapping[str, Any],
    refs: Mapping[str, torch.Tensor] | None = None,
    *,
    show: bool = True,
) -> tuple[dict | None, list[Feedback]]:
    """Run your `fn(params, cache)` (no autograd) and check each gradient it returns against `refs[k].grad`.

    `refs` defaults to `params` (after `loss.backward()`). Returns (your gradients or None, the feedback
    for each parameter); a crash or NotImplementedError in `fn` is reported, never raised.
    """
    ex = find_exercise(exercise)
    refs = params if refs is None else refs
    keys = [g[1:] for g in ex.grads]
    grads: Any = None
    common: Feedback | None = None
    fname = getattr(fn, "__name__", "backward")
    if fn is None or fn is Ellipsis or not callable(fn):
        common = Feedback(ex.id, "", NOT_ATTEMPTED, "your backward function is not defined yet")
    else:
        try:
            with torch.no_grad():
                grads = fn(params, cache)
        except NotImplementedError:
            common = Feedback(
                ex.id, "", NOT_ATTEMPTED, f"{fname} still raises NotImplementedError: replace that line with your code"
            )
        except Exception as e:  # any bug of the learner's is reported, not raised
            common = Feedback(ex.id, "", ERROR, f"{fname} raised {type(e).__name__}: {e}{_failing_line(e)}")
        else:
            if grads is None or grads is Ellipsis:
                common = Feedback(
                    ex.id, "", NOT_ATTEMPTED, f"{fname} returned {grads!r}: return the dict of the seven gradients"
                )
            elif not isinstance(grads, Mapping):
                common = Feedback(
                    ex.id,
                    "",
                    WRONG_TYPE,
                    f"{fname} returned a {type(grads).__name__}; expected a dict {{'C': dC, 'W1': dW1, ...}}",
                )
    ctx = _once(lambda: Reference(params, cache["Xb"], cache["Yb"]))
    feedback = []
    for k, g in zip(keys, ex.grads, strict=False):
        if common is not None:
            fb = Feedback(ex.id, g, common.status, common.detail)
        elif refs[k].grad is None:
            fb = Feedback(
                ex.id, g, ERROR, f"nothing to compare with: `{k}.grad` is missing — call loss.backward() first"
            )
        else:
            fb = _judge(
                ex.id,
                g,
                grads.get(k, _MISSING),
                refs[k].grad.detach(),
                k,
                ctx,
                missing=f"the dict {fname} returned has no key {k!r}",
            )
        feedback.append(fb)
        PROGRESS.record(fb)
    if show:
        if common is not None:
            print(f"{_MARK[common.status]} exercise {ex.id}: {common.status}: {common.detail}")
        else:
            print("\n".join(map(str, feedback)))
            print(_exercise_line(ex))
            where = _first_wrong_stage(feedback)
            if where:
                print(where)
    return (dict(grads) if common is None else None), feedback


def _exercise_line(ex: Exercise) -> str:
    right = sum(PROGRESS.status(ex.id, g) in (APPROXIMATE, EXACT) for g in ex.grads)
    if right == len(ex.grads):
        what = "it matches" if right == 1 else f"all {right} gradients match"
        return f"→ exercise {ex.id} ({ex.title}): done, {what} autograd"
    if len(ex.grads) == 1:
        return f"→ exercise {ex.id} ({ex.title}): not done yet"
    return f"→ exercise {ex.id} ({ex.title}): {right} of {len(ex.grads)} gradients right"


def _first_wrong_stage(feedback: list[Feedback]) -> str | None:
    status = {fb.name[1:]: fb for fb in feedback}
    for i, (keys, step) in enumerate(STAGES):
        if any(k in status and status[k].status in (WRONG_VALUES, WRONG_SHAPE) for k in keys):
            before = [f"d{k}" for ks, _ in STAGES[:i] for k in ks]
            if before:
                return f"→ {', '.join(before)} are right, so the first mistake comes after them, most likely in {step}"
            return f"→ the first gradients the backward pass reaches are already wrong: start with {step}"
    return None


def _failing_line(e: BaseException) -> str:
    """' (line 12: `dh = dlogits @ W2`)' for the learner's own line where `e` was raised, if it can be found."""
    here = Path(__file__).resolve()
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        f = Path(frame.filename)
        if f.resolve() == here or "site-packages" in f.parts or "torch" in f.parts:
            continue
        return f" (line {frame.lineno}: `{frame.line.strip()}`)" if frame.line else f" (line {frame.lineno})"
    return ""
