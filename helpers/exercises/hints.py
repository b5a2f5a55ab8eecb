"""Why a gradient is wrong: the hints behind the checks. A hint points at a step, never at the answer.

A `Ref` is what a hint compares with: the forward pass's tensors, autograd's gradients of them, and which
tensor is computed from which. Lesson 02's comes from the notebook's own forward pass (the map of exercise
1), exercise 4's from helpers.forward run with autograd. `diagnose` tries, in order: a typical mistake; for
a tensor used twice, which of its two parts is off; a constant factor; and last, what the step is. (Checks
ask first whether a gradient this one starts from is wrong already, or whether two of yours are one tensor.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..gradcheck import ATOL, RTOL
from ..model import forward

MATCH_TOL = 1e-4  # "your answer matches this": the largest difference, relative to the largest entry


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool((a - b).abs().max() <= MATCH_TOL * b.abs().max() + 1e-12)


@dataclass
class Ref:
    """The forward pass's tensors (`v`), autograd's gradients of them (`g`), and its arrows (`edges`)."""

    t: dict
    grads: dict
    Xb: torch.Tensor
    Yb: torch.Tensor
    edges: tuple = ()
    params: dict | None = None  # exercise 4: the parameters, to carry a wrong gradient back to them

    @property
    def n(self) -> int:
        return len(self.Xb)

    @classmethod
    def of_graph(cls, graph, Xb: torch.Tensor, Yb: torch.Tensor) -> Ref:
        """Lesson 02: the notebook's forward pass, as the map of exercise 1 read it (after loss.backward())."""
        named = {k: t for k, t in graph.tensors.items() if k != "loss"}
        grads = {k: t.grad.detach() for k, t in named.items() if t.grad is not None}
        return cls({k: t.detach() for k, t in named.items()}, grads, Xb, Yb, graph.edges)

    @classmethod
    def of_forward(cls, params: dict, Xb: torch.Tensor, Yb: torch.Tensor) -> Ref:
        """Exercise 4: helpers.forward on a copy of the parameters, its graph kept to follow a mistake through."""
        p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        with torch.enable_grad():
            loss, cache = forward(p, Xb, Yb)
            named = {k: v for k, v in cache.items() if v.requires_grad} | p
            grads = dict(zip(named, torch.autograd.grad(loss, list(named.values()), retain_graph=True), strict=True))
        return cls(named, grads, Xb, Yb, params=p)

    def v(self, name: str) -> torch.Tensor:
        return self.t[name].detach()

    def g(self, name: str) -> torch.Tensor:
        return self.grads[name]

    def users(self, name: str) -> list[str]:
        return [u for s, u in self.edges if s == name and u != "loss"]

    def downstream(self, name: str, wrong: torch.Tensor) -> dict[str, torch.Tensor]:
        """Exercise 4: every parameter's gradient when `name`'s is `wrong`, carried back by autograd."""
        with torch.enable_grad():
            got = torch.autograd.grad(self.t[name], list(self.params.values()), wrong, True, allow_unused=True)
        return {k: g for k, g in zip(self.params, got, strict=True) if g is not None}


def _bn(r: Ref, bessel: float = 1.0, mean: bool = True) -> torch.Tensor:
    """Exercise 3's formula with Bessel's n/(n-1) taken as `bessel` and, without `mean`, the mean's term left out."""
    dy, xhat, n = r.g("hpreact"), r.v("bnraw"), r.n
    return r.v("bngain") * r.v("bnvar_inv") / n * (n * dy - dy.sum(0) * mean - bessel * xhat * (dy * xhat).sum(0))


# typical mistakes: (key, the tensor whose gradient they get wrong, that wrong gradient, hint)
MISTAKES = [
    ("dlogits_no_minus_one", "logits", lambda r: F.softmax(r.v("logits"), 1) / r.n,
     "the correct character is missing its pull: d(-log p_y)/d logit_j is p_j minus 1 where j is the target Yb[i]; "
     "subtract that 1 at [range(n), Yb], one entry per row (before dividing by n)"),
    ("dlogits_softmax_dim0", "logits", lambda r: (F.softmax(r.v("logits"), 0) - F.one_hot(r.Yb, 27)) / r.n,
     "softmax over the wrong dimension: each row (one example's 27 logits) is normalised, so use dim=1"),
    ("tanh_input", "hpreact", lambda r: (1.0 - r.v("hpreact") ** 2) * r.g("h"),
     "tanh's derivative is written with its output h = tanh(hpreact), not with its input hpreact"),
    ("tanh_no_square", "hpreact", lambda r: (1.0 - r.v("h")) * r.g("h"),
     "d tanh(x)/dx = 1 - tanh(x)**2, and tanh(x) is h: the square is missing"),
    ("bessel", "hprebn", _bn,
     "Bessel's correction: this lesson's variance divides by n-1, not n, so the gradient through bnvar carries 1/(n-1) "
     "(in the one-go formula: the factor n/(n-1)); your answer matches the biased-variance (1/n) version"),
    ("bn_mean_term", "hprebn", lambda r: _bn(r, r.n / (r.n - 1), mean=False),
     "the one-go formula has three terms (the direct path, the path through the mean, the path through the variance) "
     "and the mean's term, the batch sum of dhpreact, is missing"),
]  # fmt: skip
# the four tensors used twice: the part of their gradient that comes back through each use, and that use's line
PATHS = {
    "counts": {"probs": (lambda r: r.v("counts_sum_inv") * r.g("probs"), "probs = counts * counts_sum_inv"),
               "counts_sum": (lambda r: r.g("counts_sum").expand_as(r.v("counts")), "counts_sum = counts.sum(1, ...)")},
    "logits": {"norm_logits": (lambda r: r.g("norm_logits"), "norm_logits = logits - logit_maxes"),
               "logit_maxes": (lambda r: F.one_hot(r.v("logits").argmax(1), 27) * r.g("logit_maxes"),
                               "logit_maxes = logits.max(1, keepdim=True).values")},
    "bndiff": {"bnraw": (lambda r: r.v("bnvar_inv") * r.g("bnraw"), "bnraw = bndiff * bnvar_inv"),
               "bndiff2": (lambda r: 2 * r.v("bndiff") * r.g("bndiff2"), "bndiff2 = bndiff**2")},
    "hprebn": {"bndiff": (lambda r: r.g("bndiff").expand_as(r.v("hprebn")), "bndiff = hprebn - bnmeani"),
               "bnmeani": (lambda r: r.g("bnmeani").expand_as(r.v("hprebn")) / r.n,
                           "bnmeani = 1/n * hprebn.sum(0, keepdim=True)")},
}  # fmt: skip
_MM = "the gradient of a matrix product is a matrix product: let the shapes guide you"
STEP_HINTS = {  # the step each gradient belongs to, for wrong values that match nothing more specific
    "logprobs": "loss = -(mean of the n entries logprobs[range(n), Yb]): only those n entries get a gradient",
    "probs": "logprobs = probs.log(): chain rule with d log(x)/dx = 1/x",
    "counts_sum_inv": "probs = counts * counts_sum_inv: counts_sum_inv (n, 1) was broadcast over the columns",
    "counts_sum": "counts_sum_inv = counts_sum**-1: d(x**-1)/dx = -x**-2",
    "counts": "counts reaches the loss through probs and through counts_sum: its gradient is the sum of both parts",
    "norm_logits": "counts = norm_logits.exp(), and d exp(x)/dx = exp(x)",
    "logit_maxes": "norm_logits = logits - logit_maxes: broadcast over the columns, with a minus",
    "logits": "two paths: directly through norm_logits, and through the max (a one-hot at each row's maximum)",
    "2:logits": "per example: the softmax of the row, minus 1 at the correct character; then the batch mean's 1/n",
    "h": "logits = h @ W2 + b2: " + _MM,
    "W2": "logits = h @ W2 + b2: " + _MM,
    "b2": "logits = h @ W2 + b2: b2 was broadcast over the batch, so its gradient sums over it",
    "hpreact": "h = tanh(hpreact): d tanh(x)/dx = 1 - tanh(x)**2",
    "bngain": "hpreact = bngain * bnraw + bnbias: bngain (1, n_hidden) was broadcast over the batch",
    "bnraw": "hpreact = bngain * bnraw + bnbias: elementwise, with bngain broadcast",
    "bnbias": "hpreact = bngain * bnraw + bnbias: bnbias (1, n_hidden) was broadcast over the batch",
    "bnvar_inv": "bnraw = bndiff * bnvar_inv, and bnvar_inv (1, n_hidden) was broadcast over the batch",
    "bnvar": "bnvar_inv = (bnvar + 1e-5)**-0.5: the power rule, exponent and factor",
    "bndiff2": "bnvar = 1/(n-1) * bndiff2.sum(0): the sum broadcasts the gradient back, with the factor 1/(n-1)",
    "bndiff": "bndiff reaches the loss through bnraw and through bndiff2: its gradient is the sum of both parts",
    "bnmeani": "bndiff = hprebn - bnmeani: bnmeani was broadcast over the batch, and it enters with a minus",
    "hprebn": "hprebn reaches the loss directly through bndiff and through the mean bnmeani (1/n, broadcast back)",
    "3:hprebn": "three terms: the direct path, the mean's, the variance's (with Bessel's n/(n-1))",
    "embcat": "hprebn = embcat @ W1 + b1: " + _MM,
    "W1": "hprebn = embcat @ W1 + b1: " + _MM,
    "b1": "b1 was broadcast over the batch, so its gradient sums over it (it is ~0: batch norm removes the mean)",
    "emb": "embcat = emb.view(n, -1) only rearranges the numbers: view the gradient back to emb's shape",
    "C": "emb = C[Xb] copies rows of C: each row of dC collects the sum of the gradients of all its copies",
}
# exercise 4: the parameters in the order the backward pass reaches them, and the step that comes before each
STAGES = (
    (("W2", "b2"), "the cross-entropy step (dlogits) or the second linear layer"),
    (("bngain", "bnbias"), "the tanh step (dhpreact) or batch norm's scale and shift"),
    (("W1", "b1"), "batch norm in one go (dhprebn) or the first linear layer"),
    (("C",), "the embedding (dembcat back to dC)"),
)
_TWO = "check the 2 of d(x**2)/dx = 2x and the 1/2 of d(x**-0.5)/dx"
NONFINITE = ("inf/nan values: exp() of a large logit overflows (subtract each row's maximum first, or use F.softmax), "
             "or a division by zero, or a nan carried over from an earlier gradient")  # fmt: skip
NOISE = ("the true gradient is zero up to rounding (b1: batch norm subtracts the mean right after it); yours is small "
         "too, but above rounding: it most likely inherits a mistake from an earlier step")  # fmt: skip
DC_ASSIGN = ("a character used k times in the batch must collect the sum of its k gradients: accumulate (+= in a loop, "
             "or index_add_), don't assign (only rows of characters used more than once differ)")  # fmt: skip


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
    }


def _proportional(a: torch.Tensor, b: torch.Tensor) -> bool:
    """a = c * b for a factor c that is one number, or one per row or per column (a broadcast factor)."""
    for keep in [{}] + [{"dim": d, "keepdim": True} for d in range(b.dim())]:
        if close(a, (a * b).sum(**keep) / (b * b).sum(**keep).clamp_min(1e-30) * b):
            return True
    return False


def diagnose(r: Ref | None, ex, name: str, got: torch.Tensor, ref: torch.Tensor) -> tuple[str | None, str]:
    """(typical mistake or None, hint) for a gradient with wrong values (see Exercises._judge for what comes first)."""
    if not torch.isfinite(got).all():
        return "nonfinite", NONFINITE
    paths = PATHS.get(name, {}) if r is not None and ex.uses is None else {}
    parts = {u: make(r) for u, (make, _) in paths.items()}
    # a tensor used twice, step by step (exercise 1): its two parts first, before the one-go formulas' mistakes; and
    # one part alone before a part off: the rest beside one part alone is ~0, which is "proportional" to any part
    for u, other in zip(parts, reversed(parts), strict=True):
        if close(got, parts[u]):
            why = f"yours is only its part through {u}; add the part through {other} (+=)"
            return "one_path", f"{name} is used twice: {why}"
    for u, other in zip(parts, reversed(parts), strict=True):
        if not close(rest := got - parts[other], parts[u]) and _proportional(rest, parts[u]):
            line = paths[u][1]
            return "path", f"the part through {u} is off, the part through {other} is right: look again at `{line}`"
    for key, entry, make, hint in MISTAKES if r is not None else ():
        try:
            wrong = make(r) if entry == name else r.downstream(entry, make(r)).get(name) if r.params else None
        except (KeyError, RuntimeError):  # a mistake that can't be made here (its tensors aren't in this Ref)
            continue
        if wrong is not None and not close(wrong, ref) and close(got, wrong.to(got.dtype)):
            return key, hint
    g64, r64, n = got.double(), ref.double(), r.n if r is not None else len(ref)
    c = ((g64 * r64).sum() / (r64 * r64).sum()).item() if (r64 * r64).sum() > 0 else 0.0
    if c != 0 and close(got, (c * r64).to(got.dtype)):
        found = [v for x, v in ratios(n).items() if abs(c - x) <= MATCH_TOL * abs(x)]
        return (found or [("scale", f"the right answer times {c:.4g}: a constant factor in this step is off")])[0]
    if ref.abs().max() <= 1e-6 and got.abs().max() <= 1e-4:
        return "noise", NOISE
    if not got.any():
        return "zeros", "all zeros: the gradient never got filled in (or an accumulation went into another tensor)"
    if name == "C" and r is not None:
        bad = ~torch.isclose(got, ref, rtol=MATCH_TOL, atol=MATCH_TOL * ref.abs().max().item())
        if bad.any() and not (bad.any(1) & (r.Xb.reshape(-1).bincount(minlength=len(ref)) < 2)).any():
            return "dC_assign", DC_ASSIGN
    if ex.kind == "function":
        return None, "the first mistake is in " + next(step for names, step in STAGES if name in names)
    return None, STEP_HINTS.get(f"{ex.id}:{name}", STEP_HINTS.get(name, "check this step of the chain rule"))


def shape_hint(got: tuple, ref: tuple, tname: str) -> tuple[str, str]:
    """(mistake, hint) for a gradient of the wrong shape: a transpose, a lost or extra keepdim, a missing sum."""
    if len(got) == 2 and got == ref[::-1]:
        return "transposed", f"looks transposed: {tname} is {ref}; let the shapes say which factor is transposed"
    if [d for d in got if d != 1] == [d for d in ref if d != 1]:
        return "keepdim", f"{tname} has shape {ref}: a sum drops the dimension unless you pass keepdim=True" + (
            f"; against a {ref}, your {got} would broadcast to {tuple(torch.broadcast_shapes(got, ref))}"
            if len(got) < len(ref) else "")  # fmt: skip
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
