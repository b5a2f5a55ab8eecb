"""Why a gradient is wrong: the hints behind the checks, from the lecture's step-by-step forward pass.

A `Reference` runs helpers.model.forward_steps on copies of the learner's parameters and keeps autograd's
graph, so it can answer two questions: which tensors use a given one (the forward map's arrows: a step
whose inputs are wrong is blamed on them), and where a typical mistake at one step leads every gradient
computed after it. `diagnose` asks them in that order, then looks at the ratio to the right answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ..gradcheck import ATOL, RTOL
from ..model import PARAM_NAMES, forward_steps

MATCH_TOL = 1e-4  # "your answer matches this": the largest difference, relative to the largest entry
_INHERITS = "; every gradient computed from it inherits the mistake"


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool((a - b).abs().max() <= MATCH_TOL * b.abs().max() + 1e-12)


class Reference:
    """The lecture's tensors (`v`), autograd's gradients of them (`g`), and what other gradients lead to."""

    def __init__(self, params: Mapping, Xb: torch.Tensor, Yb: torch.Tensor):
        from ..forward_map import forward_graph  # imported here: forward_map itself imports the catalogue

        p = {k: params[k].detach().clone().requires_grad_(True) for k in PARAM_NAMES}
        with torch.enable_grad():
            self.t = forward_steps(p, Xb, Yb)
            self.order = [k for k, v in self.t.items() if v.requires_grad and k != "loss"]  # forward order
            grads = torch.autograd.grad(self.t["loss"], [self.t[k] for k in self.order], retain_graph=True)
        self.grads = dict(zip(self.order, grads, strict=True))
        self.edges = forward_graph(self.t["loss"], self.t).edges
        self.n = Xb.shape[0]

    def v(self, name: str) -> torch.Tensor:  # a tensor of the forward pass
        return self.t[name].detach()

    def g(self, name: str) -> torch.Tensor:  # autograd's gradient of it
        return self.grads[name]

    def users(self, name: str) -> list[str]:
        return [u for s, u in self.edges if s == name and u != "loss"]

    def downstream(self, name: str, wrong: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every gradient when `name`'s is `wrong`: autograd carries it back to what was computed before it."""
        before = self.order[: self.order.index(name)]
        with torch.enable_grad():
            got = torch.autograd.grad(self.t[name], [self.t[k] for k in before], wrong, True, allow_unused=True)
        return {"d" + name: wrong} | {"d" + k: g for k, g in zip(before, got, strict=True) if g is not None}


def _dlogits(r: Reference, dim: int, minus_one: float) -> dict[str, torch.Tensor]:
    logits = r.v("logits")
    onehot = F.one_hot(r.v("Yb"), logits.shape[1]).float()
    return r.downstream("logits", (F.softmax(logits, dim) - minus_one * onehot) / r.n)


def _bessel(r: Reference) -> dict[str, torch.Tensor]:  # the variance's 1/(n-1) taken as 1/n, step by step
    dbndiff2 = torch.ones_like(r.v("bndiff2")) * r.g("bnvar") / r.n
    dbndiff = r.v("bnvar_inv") * r.g("bnraw") + 2 * r.v("bndiff") * dbndiff2
    return r.downstream("hprebn", dbndiff - dbndiff.sum(0, keepdim=True) / r.n) | {"dbndiff": dbndiff}


def _no_mean_term(r: Reference) -> dict[str, torch.Tensor]:  # the one-go formula without dhpreact.sum(0)
    dy, xhat, n = r.g("hpreact"), r.v("bnraw"), r.n
    dhprebn = r.v("bngain") * r.v("bnvar_inv") / n * (n * dy - n / (n - 1) * xhat * (dy * xhat).sum(0))
    return r.downstream("hprebn", dhprebn)


# typical mistakes, tried in this order: key -> (hint, the wrong gradients it leads to)
MISTAKES = {
    "dlogits_no_minus_one": (
        "the correct character is missing its pull: d(-log p_y)/d logit_j is p_j minus 1 where j is the target "
        "Yb[i]; subtract that 1 at [range(n), Yb], one entry per row (before dividing by n)",
        lambda r: _dlogits(r, 1, 0.0),
    ),
    "dlogits_softmax_dim0": (
        "softmax over the wrong dimension: each row (one example's 27 logits) is normalised, so use dim=1",
        lambda r: _dlogits(r, 0, 1.0),
    ),
    "tanh_input": (
        "tanh's derivative is written with its output h = tanh(hpreact), not with its input hpreact",
        lambda r: r.downstream("hpreact", (1.0 - r.v("hpreact") ** 2) * r.g("h")),
    ),
    "bessel": (
        "Bessel's correction: this lesson's variance divides by n-1, not n, so the gradient through bnvar carries "
        "1/(n-1) (in the one-go formula: the factor n/(n-1)); your answer matches the biased-variance (1/n) version",
        _bessel,
    ),
    "bn_mean_term": (
        "the one-go formula has three terms — the direct path, the path through the mean and the path through the "
        "variance — and the mean's term (the batch sum of dhpreact) is missing",
        _no_mean_term,
    ),
}
DC_ASSIGN = (
    "a character used k times in the batch must collect the sum of its k gradients: accumulate (+= in a loop over "
    "the batch, or index_add_), don't assign — dC[Xb] = demb keeps only one of them"
)

# the step each gradient belongs to, for wrong values that match no typical mistake
_MATMUL = "the gradient of a matrix product is a matrix product — let the shapes guide you"
STEP_HINTS = {
    "dlogprobs": "loss = -(mean of the n entries logprobs[range(n), Yb]): only those n entries get a gradient",
    "dprobs": "logprobs = probs.log(): chain rule with d log(x)/dx = 1/x",
    "dcounts_sum_inv": "probs = counts * counts_sum_inv, and counts_sum_inv (n, 1) was broadcast over the 27 "
    "columns: sum the gradient over them",
    "dcounts_sum": "counts_sum_inv = counts_sum**-1: d(x**-1)/dx = -x**-2",
    "dcounts": "counts is used twice (in probs and in counts_sum): add both gradients",
    "dnorm_logits": "counts = norm_logits.exp(), and d exp(x)/dx = exp(x)",
    "dlogit_maxes": "norm_logits = logits - logit_maxes: logit_maxes was broadcast over the columns, and it "
    "enters with a minus",
    "dlogits": "two paths: directly through norm_logits, and through the max (which routes its gradient to the "
    "position of each row's maximum)",
    "2:dlogits": "per example: the softmax of the row, minus 1 at the correct character; then the batch mean's 1/n",
    "dh": "logits = h @ W2 + b2: " + _MATMUL,
    "dW2": "logits = h @ W2 + b2: " + _MATMUL,
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
    "(which carries Bessel's n/(n-1)); the solution sketch below the check derives them",
    "dembcat": "hprebn = embcat @ W1 + b1: " + _MATMUL,
    "dW1": "hprebn = embcat @ W1 + b1: " + _MATMUL + "; and check dhprebn first",
    "db1": "b1 was broadcast over the batch, so its gradient sums over it (it is ~0: batch norm removes the mean)",
    "demb": "embcat = emb.view(n, -1) only rearranges the numbers: view the gradient back to emb's shape",
    "dC": "emb = C[Xb] copies rows of C: each row of dC collects the sum of the gradients of all its copies",
}


def _ratio_hint(c: float, n: int) -> tuple[str, str]:
    two = "check the 2 of d(x**2)/dx = 2x and the 1/2 of d(x**-0.5)/dx"
    near = {
        -1.0: (
            "sign",
            "every entry has the opposite sign: look for a lost minus along the chain (from a subtraction, "
            "from d(x**-1)/dx = -x**-2, from the loss's minus) or one too many",
        ),
        n: (
            "missing_1/n",
            "n times too large: a factor 1/n is missing (the loss is the mean over the n examples; "
            "the batch mean bnmeani divides by n too)",
        ),
        1 / n: ("extra_1/n", "n times too small: a factor 1/n counted twice"),
        (n - 1) / n: ("bessel", "Bessel's correction: you divided by n where this lesson's variance divides by n-1"),
        n / (n - 1): ("bessel", "divided by n-1 where n belongs: only the variance uses Bessel's n-1"),
        2.0: ("factor_2", f"off by a factor of 2: {two}"),
        0.5: ("factor_2", f"off by a factor of 1/2: {two}"),
    }
    for x, found in near.items():
        if abs(c - x) <= MATCH_TOL * abs(x):
            return found
    return "scale", f"proportional to the right answer but {c:.4g} times it: a constant factor in this step is wrong"


def _inputs(r: Reference, ex, name: str, ns: Mapping) -> tuple[list[str], list[str]] | None:
    """(the tensors whose gradients this step starts from, those of them the learner has wrong), or None."""
    uses = list(ex.uses) if ex.uses is not None else r.users(name[1:])
    try:  # the learner's gradients of them, in their tensors' shapes
        mine = [ns["d" + u].reshape(r.t[u].shape) for u in uses]
    except Exception:
        return None
    wrong = [u for d, u in zip(mine, uses, strict=True) if not torch.allclose(d, r.g(u), rtol=RTOL, atol=ATOL)]
    return uses, wrong


def diagnose(ex, name: str, got: torch.Tensor, ref: torch.Tensor, r: Reference | None, ns: Mapping | None):
    """(typical mistake or None, hint) for wrong values. `ns`: lesson 02's namespace, where every step is seen."""
    if not torch.isfinite(got).all():
        return "nonfinite", (
            "there are inf/nan values: exp() of a large logit overflows (subtract each row's maximum first, or use "
            "F.softmax), or a division by zero, or a nan carried over from an earlier gradient"
        )
    found = _inputs(r, ex, name, ns) if r is not None and ns is not None else None
    if found and found[1]:  # blame the first wrong step: a gradient this one is computed from is wrong already
        return "inherited", (
            f"{', '.join('d' + u for u in found[1])}, which this step uses, is wrong: fix that first (see its check), "
            f"then run this check again"
        )
    if r is not None:
        for key, (hint, make) in MISTAKES.items():
            try:
                w = make(r).get(name)
            except Exception:  # a mistake that can't be made here gives no hint, never a crash
                continue
            if w is not None and w.shape == ref.shape and not close(w, ref) and close(got, w.to(got.dtype)):
                return key, hint + _INHERITS
    g64, r64 = got.double(), ref.double()
    if (r64 * r64).sum() > 0:
        c = ((g64 * r64).sum() / (r64 * r64).sum()).item()
        if c != 0 and close(got, (c * r64).to(got.dtype)):
            return _ratio_hint(c, r.n if r is not None else ref.shape[0])
    if ref.abs().max() <= 1e-6 and got.abs().max() <= 1e-4:
        return "noise", (
            "the true gradient is zero up to rounding (for b1: batch norm subtracts the batch mean right "
            "after b1 is added, so b1 cannot change the loss); yours is small too, but above rounding: "
            "it most likely inherits a mistake from an earlier step — see the other gradients"
        )
    if not got.any():
        return "zeros", "all zeros: the gradient never got filled in (or an accumulation went into another tensor)"
    if name == "dC" and r is not None:
        repeated = r.v("Xb").reshape(-1).bincount(minlength=ref.shape[0]) > 1
        bad = ~torch.isclose(got, ref, rtol=MATCH_TOL, atol=MATCH_TOL * ref.abs().max().item())
        if bad.any() and not (bad.any(1) & ~repeated).any():
            return "dC_assign", DC_ASSIGN + " (only rows of characters used more than once differ)"
    return None, STEP_HINTS.get(f"{ex.id}:{name}", STEP_HINTS.get(name, "check this step of the chain rule"))


# exercise 4: the parameters in the order the backward pass reaches them, and the step before each
STAGES = (
    (("W2", "b2"), "the cross-entropy step (dlogits) or the second linear layer"),
    (("bngain", "bnbias"), "the tanh step (dhpreact) or batch norm's scale and shift"),
    (("W1", "b1"), "batch norm in one go (dhprebn) or the first linear layer"),
    (("C",), "the embedding (dembcat back to dC)"),
)


def shape_hint(got: tuple, ref: tuple, tname: str) -> tuple[str, str]:
    """(mistake, hint) for a gradient of the wrong shape: a transpose, a lost or extra keepdim, a missing sum."""
    if len(got) == 2 and got == ref[::-1]:
        return "transposed", (
            f"looks transposed: {tname} has shape {ref}; in a matrix product's gradient, let the "
            f"shapes tell you which factor is transposed and which side it goes on"
        )
    if [d for d in got if d != 1] == [d for d in ref if d != 1]:
        if len(got) < len(ref):
            return "keepdim", (
                f"a size-1 dimension is gone: {tname} has shape {ref}, so its gradient must too — a sum "
                f"drops the dimension unless you pass keepdim=True; against a {ref}, your {got} would "
                f"broadcast to {tuple(torch.broadcast_shapes(got, ref))}"
            )
        return "keepdim", f"an extra size-1 dimension: {tname} has shape {ref} — sum without keepdim=True here"
    if got[1:] == ref or (len(got) == len(ref) and all(g == r or r == 1 for g, r in zip(got, ref, strict=True))):
        return "broadcast", (
            f"{tname} {ref} was broadcast over the batch in the forward pass, so its gradient sums "
            f"over that dimension (keepdim=True keeps a size-1 dimension)"
        )
    return "shape", f"a gradient always has the shape of its tensor: {tname} is {ref}"


def where_wrong(got: torch.Tensor, ref: torch.Tensor) -> str:
    """Which rows (or entries) of a gradient with wrong values differ."""
    bad = ~torch.isclose(got, ref, rtol=RTOL, atol=ATOL)
    if ref.dim() == 0:
        return "the single value differs"
    what, idx = ("entries", bad) if ref.dim() == 1 else ("rows", bad.flatten(1).any(1))
    idx = idx.nonzero().flatten().tolist()
    eg = ", ".join(map(str, idx[:8])) + (", ..." if len(idx) > 8 else "")
    return (
        f"differs in all {len(idx)} {what}"
        if len(idx) == ref.shape[0]
        else f"differs in {len(idx)} of {ref.shape[0]} {what} ({eg})"
    )
