"""The checks the exercise notebooks call, and the feedback they print.

An exercise notebook makes one `Exercises` object at the top and calls its checks below; the object keeps
what they found, so `progress()` prints the table and `solved("2")` tells whether a cell that needs an
answer can run. Each check answers, per gradient: not attempted yet, error, wrong type, wrong shape, wrong
values (the largest difference, where, and a hint from .hints), approximately right (floating-point
rounding) or exactly right. A check never prints the right numbers or a line of code to copy.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import textwrap
import traceback

import torch

from ..gradcheck import ATOL, RTOL
from ..model import PARAM_NAMES
from .catalogue import EXERCISES, Exercise
from .hints import STAGES, Ref, diagnose, shape_hint, where_wrong

# the answers, from worst to best; NOT_CHECKED only appears in the progress table
NOT_ATTEMPTED, ERROR, WRONG_TYPE, WRONG_SHAPE = "not attempted yet", "error", "wrong type", "wrong shape"
WRONG_VALUES, APPROXIMATE, EXACT, NOT_CHECKED = (
    "wrong values",
    "approximately right",
    "exactly right",
    "not checked yet",
)
_MARK = {NOT_ATTEMPTED: "·", APPROXIMATE: "≈", EXACT: "✓", NOT_CHECKED: " "}  # the others: ✗


@dataclasses.dataclass
class Feedback:
    """The answer of one check, for one gradient."""

    exercise: str
    name: str  # the tensor whose gradient it is, e.g. "hprebn" (the learner's variable: dhprebn)
    status: str
    detail: str = ""
    hint: str = ""
    maxdiff: float | None = None
    mistake: str | None = None  # the typical mistake the answer matches ("bessel", "inherited", "alias", ...)

    @property
    def passed(self) -> bool:
        return self.status in (APPROXIMATE, EXACT)

    def __str__(self) -> str:
        var = self.name if self.name in ("params", "lossi") else "d" + self.name
        text = f"{_MARK.get(self.status, '✗')} {var:15s} {self.status}" + (self.detail and f": {self.detail}")
        if self.hint:
            text += "\n" + textwrap.fill(self.hint, 110, initial_indent=" " * 18 + "hint: ", subsequent_indent=" " * 24)
        return text


class Exercises:
    """The checks of one exercise notebook, and what they found so far.

    Lesson 02: `Exercises("02", graph, Xb, Yb)`, with the map of exercise 1 (its tensors and gradients are
    what the checks compare with). Lesson 03: `Exercises("03")`.
    """

    def __init__(self, lesson: str, graph=None, Xb: torch.Tensor | None = None, Yb: torch.Tensor | None = None):
        self.exercises = [e for e in EXERCISES.values() if e.lesson == lesson]
        if not self.exercises:
            raise ValueError(f"lesson {lesson!r} has no exercises; lessons with exercises: 02, 03")
        self.ref = Ref.of_graph(graph, Xb, Yb) if graph is not None else None
        self.results: dict[tuple[str, str], Feedback] = {}
        self.latest: dict[str, Feedback] = {}  # tensor -> the latest answer about its gradient, in any exercise
        self.answers: dict[str, tuple[str, torch.Tensor]] = {}  # tensor -> (exercise, the gradient judged)

    def _exercise(self, exercise: str) -> Exercise:
        found = next((e for e in self.exercises if e.id == str(exercise)), None)
        if found is None:
            raise ValueError(
                f"no exercise {exercise!r} here; this notebook's are {', '.join(e.id for e in self.exercises)}"
            )
        return found

    def check(self, exercise: str, **grads) -> list[Feedback]:
        """Lesson 02: your gradients, by the name of their tensor: `check("2", logits=dlogits)`."""
        ex = self._exercise(exercise)
        if sorted(grads) != sorted(ex.grads):
            raise ValueError(f"exercise {ex.id} checks {', '.join(ex.grads)}; got {', '.join(grads)}")
        out = []
        for name in ex.grads:
            if name not in self.ref.grads:
                fb = Feedback(ex.id, name, ERROR, f"`{name}.grad` is missing: run the forward-pass cell above first")
            else:
                fb = self._judge(ex, name, grads[name], self.ref.g(name), grads)
            out.append(self._record(fb, grads[name]))
        print(*out, self._summary(ex), sep="\n")
        return out

    def check_backward(self, backward, params: dict, cache: dict) -> list[Feedback]:
        """Exercise 4: run your `backward(params, cache)` (no autograd) and check every gradient it returns
        (a dict by name, or a list in the lecture's order) against `params[k].grad`."""
        ex, fname, common = self._exercise("4"), getattr(backward, "__name__", "backward"), None
        try:
            with torch.no_grad():
                grads = backward(params, cache)
        except NotImplementedError:
            common = (NOT_ATTEMPTED, f"{fname} still raises NotImplementedError: replace that line with your code")
        except Exception as e:  # any bug of the learner's is reported, not raised
            common = (ERROR, f"{fname} raised {type(e).__name__}: {e}{_line(e, backward)}")
        else:
            if isinstance(grads, (list, tuple)) and len(grads) == len(PARAM_NAMES):
                grads = dict(zip(PARAM_NAMES, grads, strict=True))  # the lecture's `grads = [dC, dW1, ...]`
            elif not isinstance(grads, dict):
                common = (WRONG_TYPE, f"{fname} returned {type(grads).__name__}; expected {{'C': dC, ...}} or a list")
        if common:
            out = [self._record(Feedback(ex.id, k, *common)) for k in ex.grads]
            print(f"{_MARK.get(common[0], '✗')} exercise {ex.id}: {common[0]}: {common[1]}")
            return out
        ref = Ref.of_forward(params, cache["Xb"], cache["Yb"])
        out, first = [], None
        for i, (names, step) in enumerate(STAGES):
            for k in names:
                if params[k].grad is None:
                    fb = Feedback(ex.id, k, ERROR, f"`params[{k!r}].grad` is missing: run loss.backward() first")
                elif k not in grads:
                    fb = Feedback(ex.id, k, NOT_ATTEMPTED, f"the dict {fname} returned has no key {k!r}")
                else:
                    fb = self._judge(ex, k, grads[k], params[k].grad.detach(), {}, ref, first)
                out.append(self._record(fb))
            if first is None and any(fb.status in (WRONG_VALUES, WRONG_SHAPE) for fb in out[-len(names) :]):
                first = (i, step)
        print(*out, self._summary(ex), sep="\n")
        if first:
            before = ", ".join(f"d{k}" for names, _ in STAGES[: first[0]] for k in names)
            lead = (
                f"{before} are right, so the first mistake comes after them, most likely in"
                if before
                else ("the first gradients the backward pass reaches are already wrong: start with")
            )
            print(f"→ {lead} {first[1]}")
        return out

    def check_loop(self, params: dict, lossi: list, cfg, steps: int = 1000) -> list[Feedback]:
        """Exercise 4b: after your loop, `params` must be what `steps` steps of helpers.train give (up to float32
        rounding) and `lossi` its log10 losses, one per step."""
        from ..train import train  # note: train is what this checks against; the rest of the package doesn't need it

        ex, fb = self._exercise("4b"), functools.partial(Feedback, "4b")
        if not lossi or not isinstance(params, dict):
            out = [fb(k, NOT_ATTEMPTED, "`lossi` is still empty: write your loop and run it") for k in ex.grads]
        else:
            run = train(dataclasses.replace(cfg, steps=steps), progress=False, log_every=0)
            diff = max((params[k].detach() - run.params[k]).abs().max().item() for k in run.params)
            fix = "" if self.solved("4") else "your backward does not pass exercise 4's check yet: fix it first. "
            out = [
                fb("params", APPROXIMATE, f"helpers.train's after {steps:,} steps, up to rounding", maxdiff=diff)
                if diff < 1e-4
                else fb(
                    "params",
                    WRONG_VALUES,
                    f"they differ from helpers.train's after {steps:,} steps by up to {diff:.2e}",
                    fix + "each step: a batch drawn with g, forward, your backward, p.data += -lr * "
                    "grads[k] for every parameter, lr = cfg.lr before step cfg.lr_decay_step, cfg.lr_final after",
                ),
                _judge_lossi(lossi, run.lossi),
            ]
        print(*[self._record(f) for f in out], self._summary(ex), sep="\n")
        return out

    def _judge(self, ex, name, got, ref, mine, r=None, first=None) -> Feedback:
        """Your gradient `got` of tensor `name` against autograd's `ref`: blame, shape, values, hint (see .hints)."""
        fb = functools.partial(Feedback, ex.id, name)
        if got is None or got is Ellipsis:
            return fb(
                NOT_ATTEMPTED,
                f"`d{name}` is still `{'...' if got is Ellipsis else got}`: replace it with your gradient",
            )
        held = self.answers.get(name)
        if held and held[1] is got and held[0] != ex.id:
            return fb(
                NOT_ATTEMPTED,
                f"`d{name}` still holds your answer to exercise {held[0]}: run your exercise "
                f"{ex.id} cell; if it stopped with an error, fix it and run it again",
            )
        if not isinstance(got, torch.Tensor):
            return fb(
                WRONG_TYPE, f"`d{name}` is a {type(got).__name__}; expected a torch.Tensor of shape {tuple(ref.shape)}"
            )
        blame = self._blame(ex, name, first)
        got, note = got.detach().to(ref.dtype), ""
        if got.shape != ref.shape:
            if ref.shape != (1,) * (ref.dim() - got.dim()) + tuple(got.shape):
                hint, key = blame or shape_hint(tuple(got.shape), tuple(ref.shape), name)[::-1]
                what = f"expected {tuple(ref.shape)} (the shape of {name}), got {tuple(got.shape)}"
                return fb(WRONG_SHAPE, what, hint, mistake=key)
            # only leading 1s missing: it broadcasts to the right values, as the lecture's `cmp` and `train` accept
            note = (
                f"; note the shape: {name} is {tuple(ref.shape)}, your d{name} {tuple(got.shape)} — it broadcasts "
                f"to the same values, but a gradient has its tensor's shape: sum(..., keepdim=True) keeps it"
            )
            got = got.reshape(ref.shape)
        maxdiff = (got - ref).abs().max().item() if torch.isfinite(got).all() else math.inf
        if torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
            detail = (
                "bit for bit autograd's numbers"
                if maxdiff == 0
                else (
                    f"maxdiff {maxdiff:.1e}, floating-point rounding (the same math, grouped differently from "
                    "autograd's)"
                )
            )
            return fb(
                EXACT if maxdiff == 0 else APPROXIMATE,
                (f"right values ({detail})" if note else detail) + note,
                maxdiff=maxdiff,
                mistake=note and "keepdim",
            )
        hint, key = blame or self._alias(name, got, mine) or diagnose(r or self.ref, ex, name, got, ref)[::-1]
        detail = f"maxdiff {maxdiff:.2e} (the gradient's largest entry is {ref.abs().max().item():.2e}); "
        return fb(WRONG_VALUES, detail + where_wrong(got, ref) + note, hint, maxdiff=maxdiff, mistake=key)

    def _blame(self, ex: Exercise, name: str, first) -> tuple[str, str] | None:
        """(hint, "inherited") when a gradient this step is computed from is wrong already."""
        if first is not None:  # exercise 4: a stage after the first wrong one
            later = next(i for i, (names, _) in enumerate(STAGES) if name in names) > first[0]
            return (f"computed after the first mistake, in {first[1]}: fix that first", "inherited") if later else None
        inputs = ex.uses if ex.uses is not None else self.ref.users(name) if self.ref else ()
        bad = [
            u for u in inputs if u in self.latest and self.latest[u].status not in (APPROXIMATE, EXACT, NOT_ATTEMPTED)
        ]
        if not bad:
            return None
        one = len(bad) == 1
        what = (
            "has the wrong shape"
            if one and self.latest[bad[0]].status == WRONG_SHAPE
            else "is wrong"
            if one
            else "are wrong"
        )
        fix = "fix that first (see its check)" if one else "fix them first (see their checks)"
        return (
            f"{' and '.join('d' + u for u in bad)}, which this step uses, {what}: {fix}, then check again",
            "inherited",
        )

    def _alias(self, name: str, got: torch.Tensor, mine: dict) -> tuple[str, str] | None:
        """(hint, "alias") when your gradient is the very tensor of another of your gradients."""
        ptr = got.untyped_storage().data_ptr()
        others = {k: v for k, (_, v) in self.answers.items()} | {k: v for k, v in mine.items()}
        for other, t in others.items():
            if other != name and isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() == ptr:
                return (
                    f"d{name} and d{other} are one tensor: `d{other} = d{name}` gives it a second name, not a copy, so "
                    f"changing d{other} in place (+=) changed d{name} too: make the copy with .clone()",
                    "alias",
                )
        return None

    def _record(self, fb: Feedback, got=None) -> Feedback:
        self.results[(fb.exercise, fb.name)] = self.latest[fb.name] = fb
        if isinstance(got, torch.Tensor):
            self.answers[fb.name] = (fb.exercise, got)
        return fb

    def _status(self, exercise: str, name: str) -> str:
        return self.results[(exercise, name)].status if (exercise, name) in self.results else NOT_CHECKED

    def solved(self, exercise: str) -> bool:
        """Whether every gradient of `exercise` passed its latest check."""
        return all(self._status(exercise, g) in (APPROXIMATE, EXACT) for g in self._exercise(exercise).grads)

    def _summary(self, ex: Exercise) -> str:
        right, n = sum(self._status(ex.id, g) in (APPROXIMATE, EXACT) for g in ex.grads), len(ex.grads)
        done = "done, " + ("it matches" if n == 1 else f"all {n} match")
        return f"→ exercise {ex.id} ({ex.title}): " + (
            done if right == n else "not done yet" if n == 1 else f"{right} of {n} right"
        )

    def progress(self) -> None:
        """Print which gradients of this notebook's exercises pass their checks."""
        rows = [(e.id, g, self.results.get((e.id, g))) for e in self.exercises for g in e.grads]
        done = [e.id for e in self.exercises if self.solved(e.id)]
        print(
            f"Progress, lesson {self.exercises[0].lesson}: {sum(bool(fb and fb.passed) for *_, fb in rows)} of "
            f"{len(rows)} gradients right; exercises done: {len(done)} of {len(self.exercises)}"
            + (f" ({', '.join(done)})" if done else "")
        )
        print(f"{'exercise':9s} {'gradient':16s} {'status':22s} maxdiff")
        for e, g, fb in rows:
            status, diff = (fb.status, fb.maxdiff) if fb else (NOT_CHECKED, None)
            var, diff = g if e == "4b" else "d" + g, "" if diff is None else f"{diff:.1e}"
            print(f"{e:9s} {var:16s} {_MARK.get(status, '✗')} {status:20s} {diff}".rstrip())


def _judge_lossi(lossi: list, ref: list[float]) -> Feedback:
    fb = functools.partial(Feedback, "4b", "lossi")
    if len(lossi) != len(ref):
        return fb(WRONG_VALUES, f"{len(lossi):,} entries; one per step is {len(ref):,}")
    mine = torch.tensor([float(x) for x in lossi], dtype=torch.float64)
    if torch.allclose(mine, torch.tensor(ref, dtype=torch.float64), atol=1e-3, rtol=0):
        return fb(APPROXIMATE, f"{len(ref):,} entries, one per step: the log10 of each step's loss")
    if torch.allclose(mine, 10 ** torch.tensor(ref, dtype=torch.float64), atol=1e-2, rtol=0):
        return fb(
            WRONG_VALUES,
            "these are the losses themselves",
            "the lecture keeps their log10: lossi.append(loss.log10().item())",
        )
    return fb(
        WRONG_VALUES,
        "they are not the log10 of helpers.train's losses, step by step",
        "append one loss.log10().item() per step, after the forward pass",
    )


def _line(e: BaseException, fn) -> str:
    """' (line 12: `dh = dlogits @ W2`)' for the line of your function where `e` was raised, if it is found."""
    code = getattr(fn, "__code__", None)
    mine = [f for f in traceback.extract_tb(e.__traceback__) if code is not None and f.filename == code.co_filename]
    return f" (line {mine[-1].lineno}: `{mine[-1].line.strip()}`)" if mine and mine[-1].line else ""
