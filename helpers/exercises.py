"""Exercises with instant feedback: check your hand-written gradients without being shown the answer.

Introduced in 02_gradient_verification (exercises 1a-1d, 2 and 3: one `check` per gradient) and used
again in 03_manual_backprop_training (exercise 4: `check_backward` for the whole backward function).
The exercise notebooks in exercises/ are generated from those two lessons by tools/make_exercises.py
(`make exercises`); docs/exercises.md explains the scheme.

Every check compares your gradient with autograd's and answers with one of

* not attempted yet   - the variable is missing, still `...` or None, or your function raises NotImplementedError;
* wrong type / error  - not a tensor, or your backward function crashed (the line that failed is named);
* wrong shape         - expected vs got, with a hint (keepdim, a sum over a broadcast dimension, a transpose);
* wrong values        - the largest difference, which rows/columns differ, and a hint pointing at the step;
* approximately right - equal up to floating-point rounding (the maxdiff is shown);
* exactly right       - bit for bit autograd's numbers.

To make a hint specific, the check computes a few typical wrong answers from the reference (the biased
variance instead of Bessel's n-1, dC by assignment, dlogits not divided by n, a flipped sign, ...) and
says which one yours matches. It never prints the right numbers or a line of code to copy.

Results are kept in `PROGRESS` (one entry per gradient, the latest check wins): `progress("02")` prints
the table, `solved("2")` says whether an exercise passes (the exercise notebooks use it to skip the cells
that need your answer until it is right).
"""

from __future__ import annotations

import math
import sys
import textwrap
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .model import BN_EPS, PARAM_NAMES

# the answers a check can give, from worst to best; NOT_CHECKED only appears in the progress table
NOT_ATTEMPTED = "not attempted yet"
ERROR = "error"
WRONG_TYPE = "wrong type"
WRONG_SHAPE = "wrong shape"
WRONG_VALUES = "wrong values"
APPROXIMATE = "approximately right"
EXACT = "exactly right"
NOT_CHECKED = "not checked yet"
_MARK = {NOT_ATTEMPTED: "·", ERROR: "✗", WRONG_TYPE: "✗", WRONG_SHAPE: "✗", WRONG_VALUES: "✗",
         APPROXIMATE: "≈", EXACT: "✓", NOT_CHECKED: " "}

# "approximately right": torch.allclose with the absolute tolerance of lesson 02's 100-step check, because
# b1's true gradient is exactly 0 and both computations return rounding noise of ~1e-8 for it
RTOL, ATOL = 1e-5, 1e-7


@dataclass(frozen=True)
class Exercise:
    id: str
    lesson: str  # the notebook's number: "02" or "03"
    title: str
    grads: tuple[str, ...]  # the learner's variables (for exercise 4: "d" + the key of the returned dict)


EXERCISES: dict[str, Exercise] = {e.id: e for e in (
    Exercise("1a", "02", "from the loss to the logits",
             ("dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum", "dcounts", "dnorm_logits", "dlogit_maxes",
              "dlogits")),
    Exercise("1b", "02", "the second linear layer, tanh, batch norm's scale and shift",
             ("dh", "dW2", "db2", "dhpreact", "dbngain", "dbnraw", "dbnbias")),
    Exercise("1c", "02", "batch norm, step by step",
             ("dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn")),
    Exercise("1d", "02", "the first linear layer and the embedding", ("dembcat", "dW1", "db1", "demb", "dC")),
    Exercise("2", "02", "cross-entropy backward in one go", ("dlogits",)),
    Exercise("3", "02", "batch norm backward in one go", ("dhprebn",)),
    Exercise("4", "03", "the whole backward pass", tuple("d" + k for k in PARAM_NAMES)),
)}


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
            text += "\n" + textwrap.fill(self.hint, width=110, initial_indent=" " * 18 + "hint: ",
                                         subsequent_indent=" " * 24, break_on_hyphens=False)
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
        ex = _exercise(exercise)
        return all(self.status(ex.id, g) in (APPROXIMATE, EXACT) for g in ex.grads)

    def summary(self, lesson: str | int | None = None) -> dict[str, dict[str, str]]:
        """{exercise: {gradient: status}} for one lesson's exercises (every lesson's with None)."""
        return {e.id: {g: self.status(e.id, g) for g in e.grads} for e in _exercises_of(lesson)}

    def table(self, lesson: str | int | None = None) -> str:
        exercises = _exercises_of(lesson)
        rows = [(e, g, self.results.get((e.id, g))) for e in exercises for g in e.grads]
        right = sum(1 for *_, fb in rows if fb and fb.passed)
        done = [e.id for e in exercises if self.solved(e.id)]
        where = f"lesson {_lesson(lesson)}" if lesson is not None else "all lessons"
        lines = [f"Progress, {where}: {right} of {len(rows)} gradients right; exercises done: "
                 f"{len(done)} of {len(exercises)}" + (f" ({', '.join(done)})" if done else ""),
                 f"{'exercise':9s} {'gradient':16s} {'status':22s} maxdiff"]
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


def _lesson(lesson: str | int) -> str:
    s = str(lesson)
    return f"{int(s):02d}" if s.isdigit() else s


def _exercises_of(lesson: str | int | None) -> list[Exercise]:
    if lesson is None:
        return list(EXERCISES.values())
    found = [e for e in EXERCISES.values() if e.lesson == _lesson(lesson)]
    if not found:
        raise ValueError(f"lesson {lesson!r} has no exercises; lessons with exercises: "
                         f"{sorted({e.lesson for e in EXERCISES.values()})}")
    return found


def _exercise(exercise: str | int) -> Exercise:
    try:
        return EXERCISES[str(exercise)]
    except KeyError:
        raise ValueError(f"no exercise {exercise!r}; the exercises are {', '.join(EXERCISES)}") from None


# ---------------------------------------------------------------------------------------------------
# the reference: forward values and autograd's gradients under the lecture's names, for the hints


class _Context:
    """Forward values (`v`) and autograd's gradients (`g`) of the lecture's tensors; typical wrong answers."""

    def __init__(self, tensors: Mapping[str, Any]):
        self._t = tensors
        self._variants: list[tuple[_Mistake, dict[str, torch.Tensor]]] | None = None

    def v(self, name: str) -> torch.Tensor:
        t = self._t[name]
        return t.detach() if isinstance(t, torch.Tensor) else t

    def g(self, name: str) -> torch.Tensor:
        grad = self._t[name].grad
        if grad is None:
            raise KeyError(name)
        return grad.detach()

    @property
    def n(self) -> int:
        return self.v("Xb").shape[0]

    def variants(self) -> list[tuple[_Mistake, dict[str, torch.Tensor]]]:
        """Each typical mistake with the wrong gradients it produces (computed once, skipped if impossible)."""
        if self._variants is None:
            self._variants = []
            for m in _MISTAKES:
                try:
                    with torch.no_grad():
                        self._variants.append((m, m.make(self)))
                except Exception:  # a name the namespace lacks, say: no hint from this one, never a crash
                    continue
        return self._variants


def _lecture_forward(params: Mapping[str, torch.Tensor], Xb: torch.Tensor, Yb: torch.Tensor) -> dict[str, Any]:
    """Lesson 02's step-by-step forward pass on copies of `params`, with every intermediate's .grad filled in."""
    p = {k: params[k].detach().clone().requires_grad_(True) for k in PARAM_NAMES}
    C, W1, b1, W2, b2, bngain, bnbias = (p[k] for k in PARAM_NAMES)
    n = Xb.shape[0]
    t: dict[str, Any] = dict(p, Xb=Xb, Yb=Yb, n=n)
    with torch.enable_grad():
        t["emb"] = C[Xb]
        t["embcat"] = t["emb"].view(n, -1)
        t["hprebn"] = t["embcat"] @ W1 + b1
        t["bnmeani"] = 1 / n * t["hprebn"].sum(0, keepdim=True)
        t["bndiff"] = t["hprebn"] - t["bnmeani"]
        t["bndiff2"] = t["bndiff"] ** 2
        t["bnvar"] = 1 / (n - 1) * t["bndiff2"].sum(0, keepdim=True)
        t["bnvar_inv"] = (t["bnvar"] + BN_EPS) ** -0.5
        t["bnraw"] = t["bndiff"] * t["bnvar_inv"]
        t["hpreact"] = bngain * t["bnraw"] + bnbias
        t["h"] = torch.tanh(t["hpreact"])
        t["logits"] = t["h"] @ W2 + b2
        t["logit_maxes"] = t["logits"].max(1, keepdim=True).values
        t["norm_logits"] = t["logits"] - t["logit_maxes"]
        t["counts"] = t["norm_logits"].exp()
        t["counts_sum"] = t["counts"].sum(1, keepdim=True)
        t["counts_sum_inv"] = t["counts_sum"] ** -1
        t["probs"] = t["counts"] * t["counts_sum_inv"]
        t["logprobs"] = t["probs"].log()
        loss = -t["logprobs"][range(n), Yb].mean()
        for k, v in t.items():
            if isinstance(v, torch.Tensor) and v.requires_grad and k not in p:
                v.retain_grad()
        loss.backward()
    return t


def _backward_from(ctx: _Context, *, dlogits: torch.Tensor | None = None, tanh_input: bool = False,
                   bessel: bool = True, mean_term: bool = True, dC_assign: bool = False) -> dict[str, torch.Tensor]:
    """The backward pass from the logits down, with one step optionally done the typical wrong way."""
    v, n = ctx.v, ctx.n
    dlogits = ctx.g("logits") if dlogits is None else dlogits
    h, bnraw, bngain, bnvar_inv = v("h"), v("bnraw"), v("bngain"), v("bnvar_inv")
    out = {"dlogits": dlogits, "dh": dlogits @ v("W2").T, "dW2": h.T @ dlogits, "db2": dlogits.sum(0)}
    slope = 1.0 - (v("hpreact") if tanh_input else h) ** 2
    dhpreact = slope * out["dh"]
    out.update(dhpreact=dhpreact, dbnraw=bngain * dhpreact, dbngain=(bnraw * dhpreact).sum(0, keepdim=True),
               dbnbias=dhpreact.sum(0, keepdim=True))
    mean = dhpreact.sum(0) if mean_term else 0.0
    var = (n / (n - 1) if bessel else 1.0) * bnraw * (dhpreact * bnraw).sum(0)
    dhprebn = bngain * bnvar_inv / n * (n * dhpreact - mean - var)
    emb, C, Xb = v("emb"), v("C"), v("Xb")
    out.update(dhprebn=dhprebn, dembcat=dhprebn @ v("W1").T, dW1=v("embcat").T @ dhprebn, db1=dhprebn.sum(0))
    out["demb"] = out["dembcat"].view(emb.shape)
    if dC_assign:
        out["dC"] = torch.zeros_like(C)
        out["dC"][Xb] = out["demb"]
    else:
        out["dC"] = torch.zeros_like(C).index_add_(0, Xb.reshape(-1), out["demb"].reshape(-1, C.shape[1]))
    return out


@dataclass(frozen=True)
class _Mistake:
    key: str
    hint: str
    make: Callable[[_Context], dict[str, torch.Tensor]]  # the wrong gradients this mistake produces, by name


def _dlogits_wrong(ctx: _Context, how: str) -> torch.Tensor:
    logits, Yb, n = ctx.v("logits"), ctx.v("Yb"), ctx.n
    p = F.softmax(logits, 1)
    onehot = F.one_hot(Yb, logits.shape[1]).to(p.dtype)
    if how == "no_mean":
        return p - onehot
    if how == "no_minus_one":
        return p / n
    if how == "whole_columns":
        d = p.clone()
        d[:, Yb] -= 1
        return d / n
    if how == "softmax_dim0":
        return (F.softmax(logits, 0) - onehot) / n
    if how == "logits_not_probs":
        return (logits - onehot) / n
    raise ValueError(how)


def _counts_once(ctx: _Context) -> dict[str, torch.Tensor]:
    # counts used twice, but only the gradient through probs kept
    dcounts = ctx.v("counts_sum_inv") * ctx.g("probs")
    dnorm_logits = ctx.v("counts") * dcounts
    dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
    logits = ctx.v("logits")
    onehot = F.one_hot(logits.max(1).indices, logits.shape[1]).to(logits.dtype)
    return {"dcounts": dcounts, "dnorm_logits": dnorm_logits, "dlogit_maxes": dlogit_maxes,
            "dlogits": dnorm_logits + onehot * dlogit_maxes}


def _bndiff_once(ctx: _Context) -> dict[str, torch.Tensor]:
    # bndiff used twice, but only the gradient through bnraw kept
    dbndiff = ctx.v("bnvar_inv") * ctx.g("bnraw")
    dbnmeani = (-dbndiff).sum(0, keepdim=True)
    return {"dbndiff": dbndiff, "dbnmeani": dbnmeani, "dhprebn": dbndiff + dbnmeani / ctx.n}


def _no_mean_path(ctx: _Context) -> dict[str, torch.Tensor]:
    # hprebn's gradient through bndiff only, the path through bnmeani forgotten
    return {"dhprebn": ctx.g("bndiff")}


def _bessel(ctx: _Context) -> dict[str, torch.Tensor]:
    # the variance's 1/(n-1) taken as 1/n: step by step (1c) and in one go (3, 4), with what follows from it
    out = _backward_from(ctx, bessel=False)
    dbndiff2 = torch.ones_like(ctx.v("bndiff2")) * ctx.g("bnvar") / ctx.n
    dbndiff = ctx.v("bnvar_inv") * ctx.g("bnraw") + 2 * ctx.v("bndiff") * dbndiff2
    out.update(dbndiff2=dbndiff2, dbndiff=dbndiff)
    return {k: out[k] for k in ("dbndiff2", "dbndiff", "dhprebn", "dembcat", "dW1", "db1", "demb", "dC")}


_DOWNSTREAM = "; every gradient computed from it inherits the mistake"
# in the order they are tried: the first whose wrong answer matches yours gives the hint
_MISTAKES: tuple[_Mistake, ...] = (
    _Mistake("dlogits_not_divided_by_n",
             "n times too large: the loss is the mean over the n examples of the batch, so dlogits carries a "
             "factor 1/n — divide by n" + _DOWNSTREAM,
             lambda c: _backward_from(c, dlogits=_dlogits_wrong(c, "no_mean"))),
    _Mistake("dlogits_no_minus_one",
             "the correct character is missing its pull: d(-log p_y)/d logit_j is p_j minus 1 where j is the "
             "target Yb[i]; subtract that 1 at [range(n), Yb] (before dividing by n)" + _DOWNSTREAM,
             lambda c: _backward_from(c, dlogits=_dlogits_wrong(c, "no_minus_one"))),
    _Mistake("dlogits_whole_columns",
             "the -1 for the correct character went into whole columns: index one entry per row, "
             "[range(n), Yb], not [:, Yb]" + _DOWNSTREAM,
             lambda c: _backward_from(c, dlogits=_dlogits_wrong(c, "whole_columns"))),
    _Mistake("dlogits_softmax_dim0",
             "softmax over the wrong dimension: each row (one example's 27 logits) is normalised, so use dim=1"
             + _DOWNSTREAM,
             lambda c: _backward_from(c, dlogits=_dlogits_wrong(c, "softmax_dim0"))),
    _Mistake("dlogits_logits_not_probs",
             "dlogits starts from the probabilities softmax(logits), not from the raw logits" + _DOWNSTREAM,
             lambda c: _backward_from(c, dlogits=_dlogits_wrong(c, "logits_not_probs"))),
    _Mistake("counts_once",
             "counts is used twice in the forward pass (in probs and in counts_sum): its gradient is the sum "
             "of both contributions, and yours has only the one through probs" + _DOWNSTREAM,
             _counts_once),
    _Mistake("tanh_input",
             "tanh's derivative is written with its output h = tanh(hpreact), not with its input hpreact"
             + _DOWNSTREAM,
             lambda c: _backward_from(c, tanh_input=True)),
    _Mistake("bessel",
             "Bessel's correction: this lesson's variance divides by n-1, not n, so the gradient through bnvar "
             "carries 1/(n-1) (in the one-go formula: the factor n/(n-1)); your answer matches the "
             "biased-variance (1/n) version" + _DOWNSTREAM,
             _bessel),
    _Mistake("bndiff_once",
             "bndiff is used twice (in bnraw and in bndiff2): its gradient is the sum of both contributions, "
             "and yours has only the one through bnraw" + _DOWNSTREAM,
             _bndiff_once),
    _Mistake("no_mean_path",
             "hprebn also reaches the loss through the batch mean bnmeani: add that path's gradient (broadcast "
             "back over the batch, times 1/n)",
             _no_mean_path),
    _Mistake("bn_mean_term",
             "the one-go formula has three terms — the direct path, the path through the mean and the path "
             "through the variance — and the mean's term (the batch sum of dhpreact) is missing" + _DOWNSTREAM,
             lambda c: _backward_from(c, mean_term=False)),
    _Mistake("dC_assign",
             "a character used k times in the batch must collect the sum of its k gradients: accumulate "
             "(+= in a loop over the batch, or index_add_), don't assign — dC[Xb] = demb keeps only one of them",
             lambda c: {"dC": _backward_from(c, dC_assign=True)["dC"]}),
)

# the step each gradient belongs to, for wrong values that match no typical mistake
_STEP_HINTS = {
    "dlogprobs": "loss = -(mean of the n entries logprobs[range(n), Yb]): only those n entries get a gradient",
    "dprobs": "logprobs = probs.log(): chain rule with d log(x)/dx = 1/x",
    "dcounts_sum_inv": "probs = counts * counts_sum_inv, and counts_sum_inv (n, 1) was broadcast over the 27 "
                       "columns: sum the gradient over them",
    "dcounts_sum": "counts_sum_inv = counts_sum**-1: d(x**-1)/dx = -x**-2",
    "dcounts": "counts is used twice (in probs and in counts_sum): add both gradients",
    "dnorm_logits": "counts = norm_logits.exp(), and d exp(x)/dx = exp(x)",
    "dlogit_maxes": "norm_logits = logits - logit_maxes: logit_maxes was broadcast over the columns, and it enters "
                    "with a minus",
    "dlogits": "two paths: directly through norm_logits, and through the max (which routes its gradient to "
               "the position of each row's maximum)",
    "2:dlogits": "per example: the softmax of the row, minus 1 at the correct character; then the batch mean's 1/n",
    "dh": "logits = h @ W2 + b2: the gradient of a matrix product is a matrix product — let the shapes guide you",
    "dW2": "logits = h @ W2 + b2: the gradient of a matrix product is a matrix product — let the shapes guide you",
    "db2": "logits = h @ W2 + b2: b2 was broadcast over the batch, so its gradient sums over it",
    "dhpreact": "h = tanh(hpreact): d tanh(x)/dx = 1 - tanh(x)**2",
    "dbngain": "hpreact = bngain * bnraw + bnbias: bngain (1, 200) was broadcast over the batch",
    "dbnraw": "hpreact = bngain * bnraw + bnbias: elementwise, with bngain broadcast",
    "dbnbias": "hpreact = bngain * bnraw + bnbias: bnbias (1, 200) was broadcast over the batch",
    "dbnvar_inv": "bnraw = bndiff * bnvar_inv, and bnvar_inv (1, 200) was broadcast over the batch",
    "dbnvar": "bnvar_inv = (bnvar + 1e-5)**-0.5: the power rule, exponent and factor",
    "dbndiff2": "bnvar = 1/(n-1) * bndiff2.sum(0): the sum broadcasts the gradient back, with the factor 1/(n-1)",
    "dbndiff": "bndiff is used twice (in bnraw and in bndiff2): add both gradients; d(x**2)/dx = 2x",
    "dbnmeani": "bndiff = hprebn - bnmeani: bnmeani was broadcast over the batch, and it enters with a minus",
    "dhprebn": "hprebn reaches the loss directly through bndiff and through the mean bnmeani (1/n, broadcast back)",
    "3:dhprebn": "three terms: the direct path, the path through the mean and the one through the variance "
                 "(which carries Bessel's n/(n-1)); compare your formula with the derivation above",
    "dembcat": "hprebn = embcat @ W1 + b1: the gradient of a matrix product is a matrix product — let the shapes "
               "guide you",
    "dW1": "hprebn = embcat @ W1 + b1: the gradient of a matrix product is a matrix product — let the shapes guide "
           "you; and check dhprebn first",
    "db1": "b1 was broadcast over the batch, so its gradient sums over it (it is ~0: batch norm removes the mean)",
    "demb": "embcat = emb.view(n, -1) only rearranges the numbers: view the gradient back to emb's shape",
    "dC": "emb = C[Xb] copies rows of C: each row of dC collects the sum of the gradients of all its copies",
}

# exercise 4: the parameters in the order the backward pass reaches them, and the step before each
_STAGES = ((("W2", "b2"), "the cross-entropy step (dlogits) or the second linear layer"),
           (("bngain", "bnbias"), "the tanh step (dhpreact) or batch norm's scale and shift"),
           (("W1", "b1"), "batch norm in one go (dhprebn) or the first linear layer"),
           (("C",), "the embedding (dembcat back to dC)"))


# ---------------------------------------------------------------------------------------------------
# judging one gradient


_MISSING = object()


def _shape_hint(got: tuple[int, ...], ref: tuple[int, ...], tname: str) -> tuple[str, str]:
    def squeeze(s):
        return tuple(d for d in s if d != 1)

    if math.prod(got) == math.prod(ref) and squeeze(got) == squeeze(ref):
        if len(got) < len(ref):
            return "keepdim", (f"the same numbers, but a size-1 dimension is gone: {tname} has shape {ref}, so its "
                               f"gradient must too — a sum drops the dimension unless you pass keepdim=True, "
                               f"and broadcasting would later spread the flat version the wrong way")
        return "keepdim", (f"the same numbers, with an extra size-1 dimension: {tname} has shape {ref} — sum "
                           f"without keepdim=True here")
    if len(got) == 2 and got == ref[::-1]:
        return "transposed", (f"looks transposed: {tname} has shape {ref}; in a matrix product's gradient, "
                              f"let the shapes tell you which factor is transposed and which side it goes on")
    if math.prod(got) == math.prod(ref):
        return "reshape", f"the right number of entries, arranged differently: view it as {tname}.shape, {ref}"
    if len(got) == len(ref) + 1 and got[1:] == ref:
        return "broadcast", (f"{tname} {ref} was broadcast over the batch (dimension 0) in the forward pass, "
                             f"so its gradient sums over that dimension")
    if len(got) == len(ref) and all(g == r or r == 1 for g, r in zip(got, ref)):
        dims = [i for i, (g, r) in enumerate(zip(got, ref)) if g != r]
        return "broadcast", (f"{tname} has size 1 in dimension {', '.join(map(str, dims))}: it was broadcast there "
                             f"in the forward pass, so its gradient sums over it (keepdim=True keeps the shape)")
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


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to the rounding of a differently grouped float32 computation (for matching typical mistakes)."""
    if a.shape != b.shape:
        return False
    scale = b.abs().max().item() if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-6 * scale + 1e-12))


def _ratio_hint(c: float, n: int) -> tuple[str, str] | None:
    def near(x: float) -> bool:
        return abs(c - x) <= 1e-3 * abs(x)

    if near(-1.0):
        return "sign", ("every entry has the opposite sign: look for a lost minus along the chain (from a "
                        "subtraction, from d(x**-1)/dx = -x**-2, from the loss's minus) or one too many")
    if near(n):
        return "missing_1/n", ("n times too large: a factor 1/n is missing (the loss is the mean over the n "
                               "examples; the batch mean bnmeani divides by n too)")
    if near(1 / n):
        return "extra_1/n", "n times too small: a factor 1/n counted twice"
    if near((n - 1) / n):
        return "bessel", ("Bessel's correction: you divided by n where this lesson's variance divides by n-1 — "
                          "your answer matches the biased-variance (1/n) version")
    if near(n / (n - 1)):
        return "bessel", ("divided by n-1 where n belongs: only the variance uses Bessel's n-1, the mean "
                          "divides by n")
    if near(2.0) or near(0.5):
        return "factor_2", (f"off by a factor of {c:g}: check the 2 of d(x**2)/dx = 2x and the 1/2 of "
                            f"d(x**-0.5)/dx")
    return "scale", (f"proportional to the right answer but {c:.4g} times it: a constant factor in this step is "
                     f"wrong (a 1/n, a 2, an exponent)")


def _diagnose(exid: str, name: str, got: torch.Tensor, ref: torch.Tensor,
              ctx: Callable[[], _Context | None]) -> tuple[str | None, str]:
    """(typical mistake, hint) for wrong values."""
    if not torch.isfinite(got).all():
        if name == "dlogits" or name.endswith("logits") or name in ("dcounts", "dprobs", "dlogprobs"):
            return "overflow", ("there are inf/nan values: exp() of a large logit overflows — subtract each row's "
                                "maximum first (softmax does not change), or use F.softmax")
        return "nonfinite", ("there are inf/nan values: an exp() that overflows, a division by zero, or a nan "
                             "carried over from an earlier gradient")
    context = ctx()
    if context is not None:
        for mistake, wrong in context.variants():
            w = wrong.get(name)
            if w is None or w.shape != ref.shape or _close(w, ref):
                continue
            if _close(got, w.to(got.dtype)):
                return mistake.key, mistake.hint
    g64, r64 = got.double(), ref.double()
    rr = (r64 * r64).sum().item()
    if rr > 0:
        c = (g64 * r64).sum().item() / rr
        if c != 0 and _close(got, (c * r64).to(got.dtype)):
            found = _ratio_hint(c, context.n if context is not None else ref.shape[0])
            if found:
                return found
    if ref.abs().max().item() <= 1e-6 and got.abs().max().item() <= 1e-4:
        return "noise", ("the true gradient is zero up to rounding (for b1: batch norm subtracts the batch mean right "
                         "after b1 is added, so b1 cannot change the loss); yours is small too, but above rounding: "
                         "it most likely inherits a mistake from an earlier step — see the other gradients")
    if not got.any():
        return "zeros", "all zeros: the gradient never got filled in (or an accumulation went into another tensor)"
    if name == "dC" and context is not None:
        try:
            Xb = context.v("Xb").reshape(-1)
            repeated = set((Xb.bincount(minlength=ref.shape[0]) > 1).nonzero().flatten().tolist())
            rows = set((~torch.isclose(got, ref, rtol=RTOL, atol=ATOL)).any(1).nonzero().flatten().tolist())
            if rows and rows <= repeated:
                hint = next(m.hint for m in _MISTAKES if m.key == "dC_assign")
                return "dC_assign", hint + " (only rows of characters used more than once differ)"
        except Exception:
            pass
    return None, _STEP_HINTS.get(f"{exid}:{name}", _STEP_HINTS.get(name, "check this step of the chain rule"))


def _judge(exid: str, name: str, got: Any, ref: torch.Tensor, tname: str,
           ctx: Callable[[], _Context | None], missing: str | None = None) -> Feedback:
    if got is _MISSING:
        return Feedback(exid, name, NOT_ATTEMPTED, missing or f"there is no variable `{name}` yet")
    if got is None or got is Ellipsis:
        return Feedback(exid, name, NOT_ATTEMPTED, f"`{name}` is still `{'...' if got is Ellipsis else 'None'}`: "
                                                   f"replace it with your gradient")
    if not isinstance(got, torch.Tensor):
        return Feedback(exid, name, WRONG_TYPE, f"`{name}` is a {type(got).__name__}; expected a torch.Tensor of "
                                                f"shape {tuple(ref.shape)}, like {tname}")
    got = got.detach()
    if got.shape != ref.shape:
        key, hint = _shape_hint(tuple(got.shape), tuple(ref.shape), tname)
        return Feedback(exid, name, WRONG_SHAPE, f"expected {tuple(ref.shape)} (the shape of {tname}), got "
                                                 f"{tuple(got.shape)}", hint, mistake=key)
    if got.dtype != ref.dtype:
        got = got.to(ref.dtype)
    if torch.equal(got, ref):
        return Feedback(exid, name, EXACT, "bit for bit autograd's numbers", maxdiff=0.0)
    maxdiff = (got - ref).abs().max().item() if torch.isfinite(got).all() else math.inf
    if torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
        return Feedback(exid, name, APPROXIMATE, f"maxdiff {maxdiff:.1e}, floating-point rounding (the same math, "
                                                 f"grouped differently from autograd's)", maxdiff=maxdiff)
    mistake, hint = _diagnose(exid, name, got, ref, ctx)
    size = ref.abs().max().item()
    detail = f"maxdiff {maxdiff:.2e} (the gradient's largest entry is {size:.2e}); {_where(got, ref)}"
    return Feedback(exid, name, WRONG_VALUES, detail, hint, maxdiff=maxdiff, mistake=mistake)


def _once(make: Callable[[], _Context]) -> Callable[[], _Context | None]:
    box: list = []

    def get() -> _Context | None:
        if not box:
            try:
                box.append(make())
            except Exception:
                box.append(None)
        return box[0]

    return get


# ---------------------------------------------------------------------------------------------------
# the checks the exercise notebooks call


def check(exercise: str, name: str, tname: str | None = None, *, ns: Mapping[str, Any] | None = None,
          show: bool = True) -> Feedback:
    """Check your gradient `name` (e.g. "dhprebn") against autograd's `tname.grad` (default: `name` without the d).

    Both are looked up by name in the notebook (or in `ns`), so a missing variable is "not attempted yet"
    rather than a NameError. Prints the feedback, records it for `progress`, and returns it.
    """
    ex = _exercise(exercise)
    if ns is None:
        ns = sys._getframe(1).f_globals  # the notebook's namespace: the cell calling check
    tname = tname or (name[1:] if name.startswith("d") else name)
    got = ns.get(name, _MISSING)
    t = ns.get(tname)
    ref = t.grad if isinstance(t, torch.Tensor) else None
    if got is _MISSING or got is None or got is Ellipsis or ref is not None:
        fb = _judge(ex.id, name, got, ref.detach() if ref is not None else None, tname,
                    _once(lambda: _Context(ns)))
    else:
        fb = Feedback(ex.id, name, ERROR, f"nothing to compare with: `{tname}.grad` is missing — run the "
                                          f"forward-pass cell above (it calls loss.backward()) first")
    PROGRESS.record(fb)
    if show:
        print(fb)
        if name == ex.grads[-1]:  # the exercise's last check: how the whole exercise stands
            print(_exercise_line(ex))
    return fb


def check_backward(exercise: str, fn: Any, params: Mapping[str, torch.Tensor], cache: Mapping[str, Any],
                   refs: Mapping[str, torch.Tensor] | None = None, *,
                   show: bool = True) -> tuple[dict | None, list[Feedback]]:
    """Run your `fn(params, cache)` (no autograd) and check each gradient it returns against `refs[k].grad`.

    `refs` defaults to `params` (after `loss.backward()`). Returns (your gradients or None, the feedback
    for each parameter); a crash or NotImplementedError in `fn` is reported, never raised.
    """
    ex = _exercise(exercise)
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
            common = Feedback(ex.id, "", NOT_ATTEMPTED, f"{fname} still raises NotImplementedError: replace that "
                                                        f"line with your code")
        except Exception as e:  # noqa: BLE001 - any bug of the learner's is reported, not raised
            common = Feedback(ex.id, "", ERROR, f"{fname} raised {type(e).__name__}: {e}{_failing_line(e)}")
        else:
            if grads is None or grads is Ellipsis:
                common = Feedback(ex.id, "", NOT_ATTEMPTED, f"{fname} returned {grads!r}: return the dict of the "
                                                            f"seven gradients")
            elif not isinstance(grads, Mapping):
                common = Feedback(ex.id, "", WRONG_TYPE, f"{fname} returned a {type(grads).__name__}; expected a "
                                                         f"dict {{'C': dC, 'W1': dW1, ...}}")
    ctx = _once(lambda: _Context(_lecture_forward(params, cache["Xb"], cache["Yb"])))
    feedback = []
    for k, g in zip(keys, ex.grads):
        if common is not None:
            fb = Feedback(ex.id, g, common.status, common.detail)
        elif refs[k].grad is None:
            fb = Feedback(ex.id, g, ERROR, f"nothing to compare with: `{k}.grad` is missing — call loss.backward() "
                                           f"first")
        else:
            fb = _judge(ex.id, g, grads.get(k, _MISSING), refs[k].grad.detach(), k, ctx,
                        missing=f"the dict {fname} returned has no key {k!r}")
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
    for i, (keys, step) in enumerate(_STAGES):
        if any(k in status and status[k].status in (WRONG_VALUES, WRONG_SHAPE) for k in keys):
            before = [f"d{k}" for ks, _ in _STAGES[:i] for k in ks]
            if before:
                return (f"→ {', '.join(before)} are right, so the first mistake comes after them, most likely in "
                        f"{step}")
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
