"""The checks the exercise notebooks call, and the feedback they print.

An exercise notebook makes one `Exercises` object at the top and calls its checks below; the object keeps
what they found, so `progress()` prints the table and `solved("2")` tells whether a cell that needs an
answer can run. Each check answers, per gradient: not attempted yet, error, wrong type, wrong shape, wrong
values (the largest difference, where, and a hint), approximately right (floating-point rounding) or
exactly right. A check never prints the right numbers or a line of code to copy.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import textwrap
import traceback

import torch

from ..config import make_generator
from ..gradcheck import ATOL, RTOL
from ..model import PARAM_NAMES, STEPS, init_params
from ..train import ORDER, fits, list_order, train
from .catalogue import EXERCISES, Exercise
from .hints import STAGE, Ref, diagnose, shape_hint, where_wrong

NOT_ATTEMPTED, ERROR, WRONG_TYPE, WRONG_SHAPE = "not attempted yet", "error", "wrong type", "wrong shape"
WRONG_VALUES, APPROXIMATE, EXACT = "wrong values", "approximately right", "exactly right"
NOT_CHECKED, WRONG_ORDER = "not checked yet", "wrong order"
WIDTH = 68  # characters a line: an output in a 672 px panel shows 69 (JupyterLab at 1,000 px, file browser open)
MARKS = {NOT_ATTEMPTED: "·", APPROXIMATE: "≈", EXACT: "✓", NOT_CHECKED: " "}  # the others: ✗
NOTE = ("; note the shape: {name} is {shape}, your d{name} {got}: it broadcasts to the same values, but a gradient has "
        "its tensor's shape (sum(..., keepdim=True) keeps it)")  # fmt: skip
ALIAS = ("d{name} and d{other} are one tensor: `d{other} = d{name}` gives it a second name, not a copy, so changing "
         "d{other} in place (+=) changed d{name} too: make the copy with .clone()")  # fmt: skip
HOW = "each step: a batch drawn with g, forward, your gradients, p.data += -lr * grad (not p.grad), lr = cfg.lr_at(i)"


class Raised(str):
    """What stands for a gradient whose line in your cell raised: the error, said."""


def raised() -> tuple | None:
    """(the cell's text, the error's type, its message, the line that raised) of the cell run before this one, in
    IPython, if it raised; else None."""
    last = getattr(getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)(), "last_execution_result", None)
    if (e := getattr(last, "error_in_exec", None)) is None:
        return None
    cell = last.info.raw_cell or ""
    lines = [f.line for f in traceback.extract_tb(e.__traceback__) if f.line and f.line.strip() in cell]
    return cell, type(e).__name__, (str(e).splitlines() or [""])[0][:200], lines[-1] if lines else ""


def stopped(ex: Exercise, error: tuple | None) -> dict:
    """{name: what stands for its gradient} for the gradients of `ex` that the cell before (it raised `error`, see
    raised()) assigns at the line that raised (Raised) or after it (not reached)."""
    cell, kind, message, line = error or ("", "", "", "")
    try:
        body = ast.parse(cell).body
    except SyntaxError:
        return {}
    out, code = {}, textwrap.shorten(line.strip(), 60, placeholder="…")
    at = next((i for i, n in enumerate(body) if code and line.strip() in ast.get_source_segment(cell, n)), len(body))
    for i, node in enumerate(body[at:], at):
        said = f"not reached: your cell stopped at line {body[at].lineno}, before it"
        said = Raised(f"your cell raised {kind} at line {body[at].lineno}, `{code}`: {message}") if i == at else said
        out = {n.id[1:]: said for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | out
    return {k: v for k, v in out.items() if k in ex.grads}


@dataclasses.dataclass
class Feedback:
    """The answer of one check, for the gradient of one tensor (`name`; the learner's variable is d + name)."""

    exercise: str
    name: str
    status: str
    detail: str = ""
    hint: str = ""
    maxdiff: float | None = None
    mistake: str | None = None  # the typical mistake the answer matches ("bessel", "inherited", "alias", ...)

    # the learner's variable: d + name, but for 4b's own params and lossi
    var = property(lambda self: self.name if self.exercise == "4b" else "d" + self.name)

    @property
    def passed(self) -> bool:
        return self.status in (APPROXIMATE, EXACT)

    def __str__(self) -> str:
        text = f"{MARKS.get(self.status, '✗')} {self.var:15s} {self.status}" + f": {self.detail}" * bool(self.detail)
        return fill(text, 18) + ("\n" + fill(self.hint, 24, " " * 18 + "hint: ") if self.hint else "")


def fill(text: str, indent: int, first: str = "") -> str:
    """`text` in lines of at most WIDTH characters, broken between words only (never inside a number or a name),
    the lines after the first indented: what a check prints fits a notebook panel of 672 px."""
    return textwrap.fill(text, WIDTH, initial_indent=first, subsequent_indent=" " * indent, break_long_words=False,
                         break_on_hyphens=False)  # fmt: skip


def tally(fbs: list[Feedback], what: str = "") -> str:
    """ "N of M right", then how many are not attempted (or not checked) yet: partly attempted is not wrong."""
    rest = [(sum(fb.status == s for fb in fbs), s.removesuffix(" yet")) for s in (NOT_ATTEMPTED, NOT_CHECKED)]
    return f"{sum(fb.passed for fb in fbs)} of {len(fbs)} {what}right" + "".join(f", {n} {s}" for n, s in rest if n)


class Exercises:
    """The checks of one exercise notebook, and what they found so far.

    Lesson 02: `Exercises("02", graph, Xb, Yb)`, with the map of exercise 1 (its tensors and autograd's gradients
    of them are what the checks compare with). Lesson 03: `Exercises("03")`.
    """

    def __init__(self, lesson: str, graph=None, Xb: torch.Tensor | None = None, Yb: torch.Tensor | None = None):
        self.exercises = {e.id: e for e in EXERCISES.values() if e.lesson == lesson}
        self.ref = Ref.of_graph(graph, Xb) if graph is not None else None
        self.results: dict[tuple[str, str], Feedback] = {}
        self.latest: dict[str, tuple] = {}  # tensor -> (the latest answer about its gradient, in any exercise, and it)

    def check(self, exercise: str, **grads) -> list[Feedback]:
        """Lesson 02: your gradients, by the name of their tensor: `check("2", logits=dlogits)`. With none given (the
        exercise notebooks' check cells), your `d<name>` variables, none of them needed, and where the cell before
        stopped if it raised: what it never reached is not judged on values left from an earlier run."""
        ex = self.exercises[exercise]
        if not grads:
            mine, undefined = sys._getframe(1).f_globals, "`d{}` is not defined yet: write it in the cell above, run it"
            grads = {k: mine.get("d" + k, undefined.format(k)) for k in ex.grads} | stopped(ex, raised())
        return self._show(ex, [self._judge(ex, k, grads[k], self.ref.grads.get(k), grads, self.ref) for k in ex.grads])

    def check_backward(self, backward, params: dict, cache: dict) -> list[Feedback]:
        """Exercise 4: run your `backward(params, cache)` (no autograd) and check every gradient it returns (a dict
        by name, or a list in the lecture's order) against `params[k].grad`, in the order the pass reaches them."""
        ex, fname, common = self.exercises["4"], getattr(backward, "__name__", "backward"), None
        try:
            with torch.no_grad():
                grads = backward(params, cache)
            if order := list_order(grads, params):  # told by the shapes: said, never guessed, as train takes the list
                common = (WRONG_ORDER, ORDER.format(fname=fname, got=order))
        except NotImplementedError:
            common = (NOT_ATTEMPTED, f"{fname} still raises NotImplementedError: replace that line with your code")
        except Exception as e:  # any bug of the learner's is reported, not raised, with the line of theirs it was on
            code = getattr(backward, "__code__", None)
            mine = [f for f in traceback.extract_tb(e.__traceback__) if code and f.filename == code.co_filename]
            where = f" (line {mine[-1].lineno}: `{mine[-1].line.strip()}`)" if mine and mine[-1].line else ""
            common = (ERROR, f"{fname} raised {type(e).__name__}: {e}{where}")
        if common:
            print(fill(f"{MARKS.get(common[0], '✗')} exercise 4: {common[0]}: {common[1]}", 2))
            return [self._record(Feedback("4", k, *common)) for k in ex.grads]
        if isinstance(grads, (list, tuple)):  # the lecture's list [dC, dW1, ...], or a dict by name
            grads = dict(zip(PARAM_NAMES, grads, strict=False))
        grads, ref = grads if isinstance(grads, dict) else {}, Ref({}, {}, cache["Xb"])
        none = f"{fname} returned no gradient for {{!r}}"
        out = [self._judge(ex, k, grads.get(k, none.format(k)), params[k].grad, grads, ref) for k in STAGE]
        if first := [fb for fb in self._show(ex, out) if fb.status in (WRONG_SHAPE, WRONG_VALUES)]:
            print(fill(f"→ the first mistake is most likely in {STEPS[STAGE[first[0].name]]}", 2))
        return out

    def check_loop(self, params: dict, lossi: list, cfg, steps: int = 1000, reference=None) -> list[Feedback]:
        """Exercise 4b: after your loop, `params` must be what `steps` steps of helpers.train give (up to float32
        rounding), and `lossi` its log10 losses, one per step. `reference`: (params, lossi, whose) of another
        run to compare with (the lecture's notebook: the same steps with autograd's gradients, tools/lecture.py)."""
        start = init_params(cfg, make_generator(cfg)) if reference is None and isinstance(params, dict) else {}
        untouched = start and all(torch.equal(params.get(k, v), v) for k, v in start.items())
        if not isinstance(params, dict) or not lossi and untouched:
            why = "no loop has run yet: `params` is as the set-up made it and `lossi` is empty: write the loop, run it"
            return self.report("4b", [Feedback("4b", k, NOT_ATTEMPTED, why) for k in ("params", "lossi")])
        if reference is None:
            run = train(dataclasses.replace(cfg, steps=steps), progress=False, log_every=0)
            reference = (run.params, run.lossi, "helpers.train's")
        ref_params, ref_lossi, whose = reference
        mine, ref = torch.tensor([float(x) for x in lossi], dtype=torch.float64), torch.tensor(ref_lossi).double()
        diff = max((params[k].detach() - ref_params[k]).abs().max().item() for k in ref_params)
        p = Feedback("4b", "params", APPROXIMATE, f"{whose} after {steps:,} steps, up to rounding", maxdiff=diff)
        if diff > 1e-4:
            fix = "" if self.solved("4") else "your backward does not pass exercise 4's check yet: fix it first. "
            p.status, p.detail, p.hint = WRONG_VALUES, f"they differ from {whose} after {steps:,} steps", fix + HOW
        lossi_ = Feedback("4b", "lossi", WRONG_VALUES, f"not {whose} {len(ref):,} log10 losses (yours: {len(mine):,})")
        if not lossi:
            lossi_.status, lossi_.detail = NOT_ATTEMPTED, "`lossi` is empty, though your loop ran: append to it"
        elif len(mine) == len(ref) and torch.allclose(mine, ref, atol=1e-3, rtol=0):
            lossi_.status, lossi_.detail = APPROXIMATE, "the log10 of each step's loss"
        return self.report("4b", [p, lossi_])

    def _judge(self, ex: Exercise, name: str, got, ref: torch.Tensor, mine: dict, r: Ref) -> Feedback:
        """Your gradient `got` of tensor `name` against autograd's `ref`: blame, shape, values, hint (see .hints)."""
        held, blame, shape = self.latest.get(name, (None, None)), self._blame(ex, name), tuple(ref.shape)
        fb = self._record(Feedback(ex.id, name, NOT_ATTEMPTED), got)
        if isinstance(got, Raised):  # the line of your cell that raised: the error, and what it most likely comes from
            fix = "fix that line (the message says what does not fit), run the cell again, then this check"
            fb.status, fb.detail, (fb.mistake, fb.hint) = ERROR, got, blame or (None, fix)
        elif got is None or got is Ellipsis or isinstance(got, str):
            fb.detail = got if isinstance(got, str) else f"`d{name}` is still `{'...' if got else None}`: fill it in"
        elif held[1] is got and held[0].exercise != ex.id:
            fb.detail = f"`d{name}` still holds exercise {held[0].exercise}'s answer: run your exercise {ex.id} cell"
        elif not isinstance(got, torch.Tensor):
            fb.status, fb.detail = WRONG_TYPE, f"`d{name}` is a {type(got).__name__}, not a tensor of shape {shape}"
        elif not fits(got, ref):  # at most leading 1s missing: it broadcasts to the right values, as `train` takes it
            fb.status, fb.detail = WRONG_SHAPE, f"expected {shape} (the shape of {name}), got {tuple(got.shape)}"
            fb.mistake, fb.hint = blame or shape_hint(tuple(got.shape), shape, name)
        else:
            note = "" if got.shape == ref.shape else NOTE.format(name=name, shape=shape, got=tuple(got.shape))
            got, ref = got.detach().reshape(shape).to(ref.dtype), ref.detach()
            fb.maxdiff = (got - ref).abs().max().item() if torch.isfinite(got).all() else float("inf")
            if torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
                what = f"maxdiff {fb.maxdiff:.1e} (rounding)" if fb.maxdiff else "bit for bit autograd's numbers"
                fb.status, fb.mistake = APPROXIMATE if fb.maxdiff else EXACT, "keepdim" if note else None
                fb.detail = (f"right values ({what})" if note else what) + note
            else:
                top, where = ref.abs().max().item(), where_wrong(got, ref) + note
                fb.status, fb.detail = WRONG_VALUES, f"maxdiff {fb.maxdiff:.2e} (its largest entry: {top:.2e}); {where}"
                fb.mistake, fb.hint = blame or self._alias(name, got, mine) or diagnose(r, ex, name, got, ref)
        return fb

    def _blame(self, ex: Exercise, name: str) -> tuple[str, str] | None:
        """("inherited", hint) when a gradient this one is computed from is wrong already: in exercise 4, one of an
        earlier step of the backward pass (checked first, so the step's latest answer is this check's)."""
        wrong = (ERROR, WRONG_TYPE, WRONG_SHAPE, WRONG_VALUES)
        if ex.kind == "function":
            bad = [STAGE[k] for k in STAGE if STAGE[k] < STAGE[name] and self.results[("4", k)].status in wrong[2:]]
            why = bad and f"computed after the first mistake, in {STEPS[min(bad)]}: fix that first"
        else:
            uses = ex.uses if ex.uses is not None else self.ref.graph.users(name)
            bad = ["d" + u for u in uses if u in self.latest and self.latest[u][0].status in wrong]
            it = ("is", "that") if len(bad) == 1 else ("are", "them")
            why = f"{' and '.join(bad)}, which this step uses, {it[0]} wrong: fix {it[1]} first"
        return ("inherited", why) if bad else None

    def _alias(self, name: str, got: torch.Tensor, mine: dict) -> tuple[str, str] | None:
        """("alias", hint) when your gradient is the very tensor of another of your gradients."""
        at = got.untyped_storage().data_ptr()
        for other, t in mine.items():
            if other != name and isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() == at:
                return "alias", ALIAS.format(name=name, other=other)
        return None

    def _record(self, fb: Feedback, got=None) -> Feedback:
        self.results[(fb.exercise, fb.name)], self.latest[fb.name] = fb, (fb, got)
        return fb

    def _show(self, ex: Exercise, fbs: list[Feedback]) -> list[Feedback]:
        done = ": done" * all(fb.passed for fb in fbs)
        print(*fbs, fill(f"→ exercise {ex.id} ({ex.title}): {tally(fbs)}{done}", 2), sep="\n")
        return fbs

    def report(self, exercise: str, fbs: list[Feedback]) -> list[Feedback]:
        """Keep and print feedback found another way (tools/lecture.py: what the lecture's training loop did)."""
        return self._show(self.exercises[exercise], [self._record(fb) for fb in fbs])

    def solved(self, exercise: str) -> bool:
        """Whether every gradient of `exercise` passed its latest check."""
        return all(getattr(self.results.get((exercise, g)), "passed", False) for g in self.exercises[exercise].grads)

    def progress(self) -> None:
        """Print which gradients of this notebook's exercises pass their checks."""
        ids, lesson = list(self.exercises), next(iter(self.exercises.values())).lesson
        fbs = [self.results.get((e, g), Feedback(e, g, NOT_CHECKED)) for e in ids for g in self.exercises[e].grads]
        done = sum(self.solved(e) for e in ids)
        print(fill(f"Progress, lesson {lesson}: {tally(fbs, 'gradients ')}; exercises done: {done} of {len(ids)}", 2))
        for fb in fbs:
            print(f"{fb.exercise:3s} {fb.var:16s} {MARKS.get(fb.status, '✗')} {fb.status}")
