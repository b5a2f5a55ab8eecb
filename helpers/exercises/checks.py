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
import functools
import math
import sys
import textwrap
import traceback

import torch

from ..config import make_generator
from ..gradcheck import ATOL, RTOL
from ..model import PARAM_NAMES, init_params
from ..train import BY_SHAPES, ORDER, fits, list_order, train
from .catalogue import EXERCISES, Exercise
from .hints import STAGES, Ref, diagnose, shape_hint, where_wrong

NOT_ATTEMPTED, ERROR, WRONG_TYPE, WRONG_SHAPE = "not attempted yet", "error", "wrong type", "wrong shape"
WRONG_VALUES, APPROXIMATE, EXACT = "wrong values", "approximately right", "exactly right"
NOT_CHECKED = "not checked yet"
WIDTH = 68  # characters a line: an output in a 672 px panel shows 69 (JupyterLab at 1,000 px, file browser open)
WRONG_ORDER = "wrong order"
MARKS = {NOT_ATTEMPTED: "·", APPROXIMATE: "≈", EXACT: "✓", NOT_CHECKED: " "}  # the others: ✗
SAY = {  # what the checks say, besides the hints of .hints
    "blank": "`d{name}` is still `{got}`: replace it with your gradient",
    "undefined": "`d{name}` is not defined yet: write it in the cell above and run it",
    "cell_raised": "your cell raised {error} at line {line}, `{code}`: {message}",
    "not_reached": "not reached: your cell stopped at line {line}, before it",
    "fix_line": "fix that line (the message says what does not fit), run the cell again, then this check",
    "held": "`d{name}` still holds your answer to exercise {held}: run your exercise {ex} cell",
    "no_grad": "`{name}.grad` is missing: run the cell above that calls loss.backward()",
    "type": "`d{name}` is a {type}; expected a torch.Tensor of shape {shape}",
    "shape": "expected {shape} (the shape of {name}), got {got}",
    "note": "; note the shape: {name} is {shape}, your d{name} {got}: it broadcasts to the same values, but a gradient "
    "has its tensor's shape (sum(..., keepdim=True) keeps it)",
    "values": "maxdiff {maxdiff:.2e} (the gradient's largest entry is {top:.2e}); {where}",
    "inherited": "{names}, which this step uses, {what}: fix {it} first, then check again",
    "later": "computed after the first mistake, in {step}: fix that first",
    "alias": "d{name} and d{other} are one tensor: `d{other} = d{name}` gives it a second name, not a copy, so "
    "changing d{other} in place (+=) changed d{name} too: make the copy with .clone()",
    "no_key": "the dict {fname} returned has no key {name!r}",
    "not_yet": "{fname} still raises NotImplementedError: replace that line with your code",
    "raised": "{fname} raised {error}: {e}{where}",
    "returned": "{fname} returned {type}; expected {{'C': dC, ...}} or a list in the lecture's order",
    "first": "→ {before} are right, so the first mistake comes after them, most likely in {step}",
    "loop_empty": "no loop has run yet: `params` is as the set-up made it and `lossi` is empty: write the loop, run it",
    "loop_params": "they differ from {whose} after {steps:,} steps by up to {diff:.2e}",
    "loop_how": "each step: a batch drawn with g, forward, your backward, p.data += -lr * grads[k], lr = cfg.lr_at(i)",
    "loop_first": "your first loss already differs from {whose}, before any update: so does your first batch (or the "
    "parameters you start from): draw each batch with g, the generator that made them "
    "(torch.randint(..., generator=g))",
    "lossi_none": "`lossi` is empty, though your loop ran: append each step's log10 loss to it",
    "lossi_len": "{mine:,} entries; one per step is {steps:,}",
    "lossi_log10": "the lecture appends the log10 of each step's loss: lossi.append(loss.log10().item())",
    "lossi_params": "the parameters your loop trains are off, and so the losses it sees: fix those first",
}


class Raised(str):
    """What stands for a gradient whose line in your cell raised: the error, said."""


def raised() -> tuple | None:
    """(the cell's text, the error's type, its message, the line that raised) of the cell run before this one, in
    IPython, if it raised; else None."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    last = getattr(shell, "last_execution_result", None)
    e = getattr(last, "error_in_exec", None)
    if e is None:
        return None
    cell = last.info.raw_cell or ""
    lines = [f.line for f in traceback.extract_tb(e.__traceback__) if f.line and f.line.strip() in cell]
    return cell, type(e).__name__, (str(e).splitlines() or [""])[0][:200], lines[-1] if lines else ""


def stopped(ex: Exercise, error: tuple | None) -> dict:
    """{name: what stands for its gradient} for the gradients of `ex` that the cell before (it raised `error`, see
    raised()) assigns at the line that raised (Raised) or after it (not reached)."""
    if not error:
        return {}
    cell, kind, message, line = error
    try:
        body = ast.parse(cell).body
    except SyntaxError:
        return {}
    at = next((n for n in body if line.strip() in ast.get_source_segment(cell, n) or ""), None) if line else None
    if at is None:
        return {}
    out = {}
    for node in body[body.index(at) :]:
        for t in (n.id[1:] for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)):
            if t in ex.grads and t not in out:
                code = line.strip() if len(line.strip()) <= 60 else line.strip()[:59] + "…"
                said = SAY["cell_raised"].format(error=kind, line=at.lineno, code=code, message=message)
                out[t] = Raised(said) if node is at else SAY["not_reached"].format(line=at.lineno)
    return out


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

    @property
    def passed(self) -> bool:
        return self.status in (APPROXIMATE, EXACT)

    def __str__(self) -> str:
        var = self.name if self.exercise == "4b" else "d" + self.name
        text = f"{MARKS.get(self.status, '✗')} {var:15s} {self.status}" + (f": {self.detail}" if self.detail else "")
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
        self.ref = Ref.of_graph(graph, Xb, Yb) if graph is not None else None
        self.results: dict[tuple[str, str], Feedback] = {}
        self.latest: dict[str, Feedback] = {}  # tensor -> the latest answer about its gradient, in any exercise
        self.answers: dict[str, tuple[str, torch.Tensor]] = {}  # tensor -> (exercise, the gradient judged)

    def check(self, exercise: str, **grads) -> list[Feedback]:
        """Lesson 02: your gradients, by the name of their tensor: `check("2", logits=dlogits)`. With none given (the
        exercise notebooks' check cells), your `d<name>` variables, none of them needed, and where the cell before
        stopped if it raised: what it never reached is not judged on values left from an earlier run."""
        ex = self.exercises[exercise]
        if not grads:
            mine = sys._getframe(1).f_globals
            grads = {k: mine.get("d" + k, SAY["undefined"].format(name=k)) for k in ex.grads} | stopped(ex, raised())
        return self._show(ex, [self._judge(ex, k, grads[k], self.ref.grads.get(k), grads) for k in ex.grads])

    def check_backward(self, backward, params: dict, cache: dict) -> list[Feedback]:
        """Exercise 4: run your `backward(params, cache)` (no autograd) and check every gradient it returns (a dict
        by name, or a list in the lecture's order) against `params[k].grad`, in the order the pass reaches them."""
        ex, fname, common = self.exercises["4"], getattr(backward, "__name__", "backward"), None
        try:
            with torch.no_grad():
                grads = backward(params, cache)
        except NotImplementedError:
            common = (NOT_ATTEMPTED, SAY["not_yet"].format(fname=fname))
        except Exception as e:  # any bug of the learner's is reported, not raised, with the line of theirs it was on
            code = getattr(backward, "__code__", None)
            mine = [f for f in traceback.extract_tb(e.__traceback__) if code and f.filename == code.co_filename]
            where = f" (line {mine[-1].lineno}: `{mine[-1].line.strip()}`)" if mine and mine[-1].line else ""
            common = (ERROR, SAY["raised"].format(fname=fname, error=type(e).__name__, e=e, where=where))

        def right(d, k):  # autograd's gradient of params[k], up to rounding: a list's order told by values too
            p, g = params[k], params[k].grad
            return fits(d, p) and g is not None and torch.allclose(d.reshape(p.shape).to(p.dtype), g, RTOL, ATOL)

        if not common:
            for what, same in (("the right gradients", right), (BY_SHAPES, None)):
                if order := list_order(grads, params, same):  # said, never guessed: train takes the lecture's order
                    common = (WRONG_ORDER, ORDER.format(fname=fname, what=what, got=order))
                    break
            if isinstance(grads, (list, tuple)) and len(grads) == len(PARAM_NAMES):  # the lecture's `[dC, dW1, ...]`
                grads = dict(zip(PARAM_NAMES, grads, strict=True))
            if not isinstance(grads, dict):
                common = (WRONG_TYPE, SAY["returned"].format(fname=fname, type=type(grads).__name__))
        if common:
            print(fill(f"{MARKS.get(common[0], '✗')} exercise 4: {common[0]}: {common[1]}", 2))
            return [self._record(Feedback("4", k, *common)) for k in ex.grads]
        ref, out, first = Ref.of_forward(params, cache["Xb"], cache["Yb"]), [], None
        for i, (names, step) in enumerate(STAGES):
            for k in names:
                got = grads.get(k, SAY["no_key"].format(fname=fname, name=k))
                out.append(self._judge(ex, k, got, params[k].grad, {}, ref, first))
            if first is None and any(fb.status in (WRONG_VALUES, WRONG_SHAPE) for fb in out[-len(names) :]):
                first = (i, step)
        self._show(ex, out)
        if first:
            before = ", ".join(f"d{k}" for names, _ in STAGES[: first[0]] for k in names)
            print(fill(SAY["first"].format(before=before, step=first[1]) if before else f"→ start with {first[1]}", 2))
        return out

    def check_loop(self, params: dict, lossi: list, cfg, steps: int = 1000, reference=None) -> list[Feedback]:
        """Exercise 4b: after your loop, `params` must be what `steps` steps of helpers.train give (up to float32
        rounding), and `lossi` its log10 losses, one per step. `reference`: (params, lossi, whose, how) of another
        run to compare with (the lecture's notebook: the same steps with autograd's gradients, tools/lecture.py)."""
        ex, fb = self.exercises["4b"], functools.partial(self._feedback, "4b")
        start = init_params(cfg, make_generator(cfg)) if reference is None and isinstance(params, dict) else {}
        untouched = start and all(k not in params or torch.equal(params[k], v) for k, v in start.items())
        if not isinstance(params, dict) or not lossi and untouched:
            return self._show(ex, [fb(k, None, NOT_ATTEMPTED, SAY["loop_empty"]) for k in ex.grads])
        if reference is None:
            run = train(dataclasses.replace(cfg, steps=steps), progress=False, log_every=0)
            reference = (run.params, run.lossi, "helpers.train's", SAY["loop_how"])
        ref_params, ref_lossi, whose, how = reference
        mine, ref = torch.tensor([float(x) for x in lossi], dtype=torch.float64), torch.tensor(ref_lossi).double()
        # the first step's loss comes before any update: it tells the losses themselves, and other batches, apart
        raw = bool(lossi) and abs(mine[0] - 10 ** ref[0]) < 1e-2
        if start and lossi and not raw and abs(mine[0] - ref[0]) > 1e-3:
            how = SAY["loop_first"].format(whose=whose)
        diff = max((params[k].detach() - ref_params[k]).abs().max().item() for k in ref_params)
        fix = "" if self.solved("4") else "your backward does not pass exercise 4's check yet: fix it first. "
        right = (APPROXIMATE, f"{whose} after {steps:,} steps, up to rounding (maxdiff {diff:.1e})", "")
        wrong = (WRONG_VALUES, SAY["loop_params"].format(whose=whose, steps=steps, diff=diff), fix + how)
        out = [fb("params", None, *(right if diff < 1e-4 else wrong), maxdiff=diff)]
        if not lossi:
            out.append(fb("lossi", None, NOT_ATTEMPTED, SAY["lossi_none"]))
        elif len(mine) != len(ref):
            out.append(fb("lossi", None, WRONG_VALUES, SAY["lossi_len"].format(mine=len(mine), steps=len(ref))))
        elif torch.allclose(mine, ref, atol=1e-3, rtol=0):
            out.append(fb("lossi", None, APPROXIMATE, f"{len(ref):,} entries: the log10 of each step's loss"))
        else:
            why = "these are the losses themselves" if raw else f"not {whose} log10 losses, step by step"
            hint, key = (SAY["lossi_log10"], "log10") if raw or out[0].passed else (SAY["lossi_params"], "inherited")
            out.append(fb("lossi", None, WRONG_VALUES, why, hint, mistake=key))
        return self._show(ex, out)

    def _judge(self, ex: Exercise, name: str, got, ref: torch.Tensor, mine: dict, r=None, first=None) -> Feedback:
        """Your gradient `got` of tensor `name` against autograd's `ref`: blame, shape, values, hint (see .hints)."""
        fb, held = functools.partial(self._feedback, ex.id, name, got), self.answers.get(name)
        if isinstance(got, Raised):  # the line of your cell that raised: the error, and what it most likely comes from
            blame = self._blame(ex, name, first)
            return fb(ERROR, str(got), blame[0] if blame else SAY["fix_line"], mistake=blame and blame[1])
        if got is None or got is Ellipsis or isinstance(got, str):
            blank = SAY["blank"].format(name=name, got="..." if got is Ellipsis else got)
            return fb(NOT_ATTEMPTED, got if isinstance(got, str) else blank)
        if held and held[1] is got and held[0] != ex.id:
            return fb(NOT_ATTEMPTED, SAY["held"].format(name=name, held=held[0], ex=ex.id))
        if ref is None:
            return fb(ERROR, SAY["no_grad"].format(name=name))
        if not isinstance(got, torch.Tensor):
            return fb(WRONG_TYPE, SAY["type"].format(name=name, type=type(got).__name__, shape=tuple(ref.shape)))
        blame, got, ref, note = self._blame(ex, name, first), got.detach().to(ref.dtype), ref.detach(), ""
        shape, mine_shape = tuple(ref.shape), tuple(got.shape)
        if mine_shape != shape:
            if shape != (1,) * (ref.dim() - got.dim()) + mine_shape:
                hint, key = blame or shape_hint(mine_shape, shape, name)[::-1]
                return fb(WRONG_SHAPE, SAY["shape"].format(shape=shape, name=name, got=mine_shape), hint, mistake=key)
            # only leading 1s missing: it broadcasts to the right values, as the lecture's `cmp` and `train` accept
            note, got = SAY["note"].format(name=name, shape=shape, got=mine_shape), got.reshape(ref.shape)
        maxdiff = (got - ref).abs().max().item() if torch.isfinite(got).all() else math.inf
        if torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
            what = f"maxdiff {maxdiff:.1e} (rounding)" if maxdiff else "bit for bit autograd's numbers"
            what = (f"right values ({what})" if note else what) + note
            return fb(APPROXIMATE if maxdiff else EXACT, what, maxdiff=maxdiff, mistake=note and "keepdim")
        hint, key = blame or self._alias(name, got, mine) or diagnose(r or self.ref, ex, name, got, ref)[::-1]
        detail = SAY["values"].format(maxdiff=maxdiff, top=ref.abs().max().item(), where=where_wrong(got, ref)) + note
        return fb(WRONG_VALUES, detail, hint, maxdiff=maxdiff, mistake=key)

    def _blame(self, ex: Exercise, name: str, first) -> tuple[str, str] | None:
        """(hint, "inherited") when a gradient this step is computed from is wrong already."""
        if first is not None:  # exercise 4: a gradient the pass reaches after the first wrong stage
            later = next(i for i, (names, _) in enumerate(STAGES) if name in names) > first[0]
            return (SAY["later"].format(step=first[1]), "inherited") if later else None
        inputs = ex.uses if ex.uses is not None else self.ref.users(name) if self.ref else ()
        bad = [
            u
            for u in inputs
            if u in self.latest and self.latest[u].status in (ERROR, WRONG_TYPE, WRONG_SHAPE, WRONG_VALUES)
        ]
        if not bad:
            return None
        what = "has the wrong shape" if self.latest[bad[0]].status == WRONG_SHAPE else "is wrong"
        what, it = (what, "that") if len(bad) == 1 else ("are wrong", "them")
        return SAY["inherited"].format(names=" and ".join("d" + u for u in bad), what=what, it=it), "inherited"

    def _alias(self, name: str, got: torch.Tensor, mine: dict) -> tuple[str, str] | None:
        """(hint, "alias") when your gradient is the very tensor of another of your gradients."""
        ptr = got.untyped_storage().data_ptr()
        for other, t in ({k: v for k, (_, v) in self.answers.items()} | mine).items():
            if other != name and isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() == ptr:
                return SAY["alias"].format(name=name, other=other), "alias"
        return None

    def _feedback(self, exercise: str, name: str, got, *args, **kwargs) -> Feedback:
        return self._record(Feedback(exercise, name, *args, **kwargs), got)

    def _record(self, fb: Feedback, got=None) -> Feedback:
        self.results[(fb.exercise, fb.name)] = self.latest[fb.name] = fb
        if isinstance(got, torch.Tensor):
            self.answers[fb.name] = (fb.exercise, got)
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
        return all(
            self.results.get((exercise, g), Feedback("", "", NOT_CHECKED)).passed
            for g in self.exercises[exercise].grads
        )

    def progress(self) -> None:
        """Print which gradients of this notebook's exercises pass their checks."""
        rows = [(e.id, g, self.results.get((e.id, g))) for e in self.exercises.values() for g in e.grads]
        done, lesson = [e for e in self.exercises if self.solved(e)], next(iter(self.exercises.values())).lesson
        right = tally([fb or Feedback("", "", NOT_CHECKED) for *_, fb in rows], "gradients ")
        print(fill(f"Progress, lesson {lesson}: {right}; exercises done: {len(done)} of {len(self.exercises)}"
                   + f" ({', '.join(done)})" * bool(done), 2))  # fmt: skip
        print(f"{'exercise':9s} {'gradient':16s} {'status':22s} maxdiff")
        for e, g, fb in rows:
            status, diff = (fb.status, "" if fb.maxdiff is None else f"{fb.maxdiff:.1e}") if fb else (NOT_CHECKED, "")
            print(f"{e:9s} {g if e == '4b' else 'd' + g:16s} {MARKS.get(status, '✗')} {status:20s} {diff}".rstrip())
