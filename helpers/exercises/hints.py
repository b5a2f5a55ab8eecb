"""Why a gradient is wrong: the hints behind the checks. A hint points at a step, never at the answer.

A `Ref` is what a hint compares with: the forward pass's tensors, autograd's gradients of them, and which
tensor is computed from which. Lesson 02's comes from the notebook's own forward pass (the map of exercise
1); exercise 4's holds only the batch. `diagnose` tries, in order: a typical mistake; a constant factor; and
last, what the step is (for a tensor used twice: that its gradient sums both parts). (Checks ask first whether
a gradient this one starts from is wrong already, or whether two of yours are one tensor.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import Config
from ..forward_map import ForwardGraph
from ..gradcheck import ATOL, RTOL
from ..model import STEPS, architecture

MATCH_TOL = 1e-4  # "your answer matches this": the largest difference, relative to the largest entry
# exercise 4: each parameter's step of the backward pass (STEPS[stage], from the loss back), the order it checks in
STAGE = {k: p.stage for k, p in sorted(architecture(Config()).items(), key=lambda kp: kp[1].stage)}


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool((a - b).abs().max() <= MATCH_TOL * b.abs().max() + 1e-12)


@dataclass
class Ref:
    """The forward pass's tensors (`t`), autograd's gradients of them (`grads`), and its map (`graph`)."""

    t: dict
    grads: dict
    Xb: torch.Tensor
    graph: ForwardGraph | None = None

    @classmethod
    def of_graph(cls, graph, Xb: torch.Tensor) -> Ref:
        """Lesson 02: the notebook's forward pass, as the map of exercise 1 read it (after loss.backward())."""
        named = {k: t for k, t in graph.tensors.items() if k != "loss"}
        grads = {k: t.grad.detach() for k, t in named.items() if t.grad is not None}
        return cls({k: t.detach() for k, t in named.items()}, grads, Xb, graph)


def _biased(r: Ref) -> torch.Tensor:
    """Exercise 3's formula without Bessel's n/(n-1): the gradient of batch norm with the variance divided by n."""
    dy, xhat, n = r.grads["hpreact"], r.t["bnraw"], len(r.Xb)
    return r.t["bngain"] * r.t["bnvar_inv"] / n * (n * dy - dy.sum(0) - xhat * (dy * xhat).sum(0))


# typical mistakes: (key, the tensor whose gradient they get wrong, that wrong gradient, hint)
MISTAKES = [
    ("dlogits_no_minus_one", "logits", lambda r: F.softmax(r.t["logits"], 1) / len(r.Xb),
     "the correct character is missing its pull: d(-log p_y)/d logit_j is p_j minus 1 where j is the target Yb[i]; "
     "subtract that 1 at [range(n), Yb], one entry per row (before dividing by n)"),
    ("tanh_input", "hpreact", lambda r: (1.0 - r.t["hpreact"] ** 2) * r.grads["h"],
     "tanh's derivative is written with its output h = tanh(hpreact), not with its input hpreact"),
    ("bessel", "hprebn", _biased,
     "Bessel's correction: this lesson's variance divides by n-1, not n, so the gradient through bnvar carries 1/(n-1) "
     "(in the one-go formula: the factor n/(n-1)); your answer matches the biased-variance (1/n) version"),
]  # fmt: skip
ONE_GO = {  # exercises 2 and 3, for wrong values that match no typical mistake
    "logits": "per example: the softmax of the row, minus 1 at the correct character; then the batch mean's 1/n",
    "hprebn": "three terms: the direct path, the mean's, the variance's (with Bessel's n/(n-1))",
}
DC_ASSIGN = ("a character used k times in the batch must collect the sum of its k gradients: accumulate (+= in a loop, "
             "or index_add_), don't assign (only rows of characters used more than once differ)")  # fmt: skip
_TWO = "check the 2 of d(x**2)/dx = 2x and the 1/2 of d(x**-0.5)/dx"


def ratios(n: int) -> dict[float, tuple[str, str]]:
    """A gradient that is the right one times c: c -> (mistake, hint), for a batch of n."""
    return {
        -1.0: ("sign", "every entry has the opposite sign: look for a lost minus along the chain, or one too many"),
        n: ("missing_1/n", "n times too large: a factor 1/n is missing (the loss is the mean over the n examples)"),
        1 / n: ("extra_1/n", "n times too small: a factor 1/n counted twice"),
        (n - 1) / n: ("bessel", "Bessel's correction: you divided by n where this lesson's variance divides by n-1"),
        n / (n - 1): ("bessel", "divided by n-1 where n belongs: only the variance uses Bessel's n-1"),
        2.0: ("factor_2", f"off by a factor of 2: {_TWO}"),
        0.5: ("factor_2", f"off by a factor of 1/2: {_TWO}"),
        0.0: ("zeros", "all zeros: the gradient never got filled in (or an accumulation went into another tensor)"),
    }


def diagnose(r: Ref, ex, name: str, got: torch.Tensor, ref: torch.Tensor) -> tuple[str | None, str]:
    """(typical mistake or None, hint) for a gradient with wrong values (see Exercises._judge for what comes first)."""
    for key, entry, make, hint in MISTAKES:
        if entry == name and not close(wrong := make(r), ref) and close(got, wrong.to(got.dtype)):
            return key, hint
    for c, mistake in ratios(len(r.Xb)).items():
        if close(got, (c * ref.double()).to(got.dtype)):
            return mistake
    if name == "C":  # only the rows of characters used more than once in the batch differ
        bad = ~torch.isclose(got, ref, rtol=MATCH_TOL, atol=MATCH_TOL * ref.abs().max().item())
        if bad.any() and not (bad.any(1) & (r.Xb.reshape(-1).bincount(minlength=len(ref)) < 2)).any():
            return "dC_assign", DC_ASSIGN
    if ex.kind == "function":
        return None, f"the first mistake is in {STEPS[STAGE[name]]}"
    if ex.uses is not None:
        return None, ONE_GO[name]
    users = r.graph.users(name)
    twice = " (used twice: the sum of both, += not =)" * (len(users) == 2)
    return None, f"d{name} is what comes back from {' and '.join(users)}{twice}: check the local derivative there"


def shape_hint(got: tuple, ref: tuple, tname: str) -> tuple[str, str]:
    """(mistake, hint) for a gradient of the wrong shape: a transpose, a lost or extra keepdim, a missing sum."""
    if len(got) == 2 and got == ref[::-1]:
        return "transposed", f"looks transposed: {tname} is {ref}; let the shapes say which factor is transposed"
    if [d for d in got if d != 1] == [d for d in ref if d != 1]:
        return "keepdim", f"{tname} has shape {ref}: a sum drops the dimension unless you pass keepdim=True"
    if got[1:] == ref or (len(got) == len(ref) and all(g == r or r == 1 for g, r in zip(got, ref, strict=True))):
        return "broadcast", f"{tname} {ref} was broadcast over the batch in the forward pass: its gradient sums over it"
    return "shape", f"a gradient always has the shape of its tensor: {tname} is {ref}"


def where_wrong(got: torch.Tensor, ref: torch.Tensor) -> str:
    """Which rows (or entries) of a gradient with wrong values differ."""
    bad = ~torch.isclose(got, ref, rtol=RTOL, atol=ATOL)
    what, idx = ("rows", bad.flatten(1).any(1)) if ref.dim() > 1 and len(ref) > 1 else ("entries", bad.flatten())
    idx, total = idx.nonzero().flatten().tolist(), len(idx)
    eg = ", ".join(map(str, idx[:8])) + (", ..." if len(idx) > 8 else "")
    return f"differs in all {total} {what}" if len(idx) == total else f"differs in {len(idx)} of {total} {what} ({eg})"
