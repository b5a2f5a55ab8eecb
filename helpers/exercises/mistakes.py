"""Typical wrong answers and the hints they give: the catalogue of mistakes behind the checks' hints.

A `Reference` runs the lecture's step-by-step forward pass (helpers.model.forward_steps) on copies of the
learner's parameters and keeps autograd's graph. A mistake is made at one step (a wrong dlogits, say) and
autograd carries it down to every gradient computed from it, so the hint can name the step where it started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model import PARAM_NAMES, forward_steps

# the one tolerance for "your answer matches this mistake": the largest difference, relative to the largest entry
MATCH_TOL = 1e-4


class Reference:
    """The lecture's tensors (`v`), autograd's gradients of them (`g`), and what a wrong gradient leads to."""

    def __init__(self, params, Xb: torch.Tensor, Yb: torch.Tensor):
        p = {k: params[k].detach().clone().requires_grad_(True) for k in PARAM_NAMES}
        with torch.enable_grad():
            self.t = forward_steps(p, Xb, Yb)
            self.order = [k for k, v in self.t.items() if v.requires_grad and k != "loss"]  # in forward order
            grads = torch.autograd.grad(self.t["loss"], [self.t[k] for k in self.order], retain_graph=True)
        self.grads = dict(zip(self.order, grads, strict=True))
        self.n = Xb.shape[0]
        self._variants = None

    def v(self, name: str) -> torch.Tensor:
        return self.t[name].detach()

    def g(self, name: str) -> torch.Tensor:
        return self.grads[name]

    def downstream(self, name: str, wrong: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every gradient when `name`'s is `wrong`: autograd carries it back to what was computed before it."""
        before = self.order[: self.order.index(name)]
        with torch.enable_grad():
            grads = torch.autograd.grad(
                self.t[name], [self.t[k] for k in before], grad_outputs=wrong, retain_graph=True, allow_unused=True
            )
        return {"d" + name: wrong} | {"d" + k: g for k, g in zip(before, grads, strict=True) if g is not None}

    def variants(self) -> list[tuple[Mistake, dict[str, torch.Tensor]]]:
        """Each typical mistake with the wrong gradients it produces (computed once, skipped if impossible)."""
        if self._variants is None:
            self._variants = []
            for m in MISTAKES:
                try:
                    with torch.no_grad():
                        self._variants.append((m, m.make(self)))
                except Exception:  # a mistake that can't be made here gives no hint, never a crash
                    continue
        return self._variants


@dataclass(frozen=True)
class Mistake:
    key: str
    hint: str
    make: Callable[[Reference], dict[str, torch.Tensor]]  # the wrong gradients this mistake produces, by name


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """`a` matches `b` up to MATCH_TOL (a differently grouped float32 computation of the same thing)."""
    if a.shape != b.shape:
        return False
    scale = b.abs().max().item() if b.numel() else 0.0
    return bool((a - b).abs().max().item() <= MATCH_TOL * scale + 1e-12) if b.numel() else True


def _dlogits(r: Reference, how: str) -> dict[str, torch.Tensor]:
    logits, Yb, n = r.v("logits"), r.v("Yb"), r.n
    p = F.softmax(logits, 1)
    onehot = F.one_hot(Yb, logits.shape[1]).to(p.dtype)
    wrong = {
        "no_mean": lambda: p - onehot,
        "no_minus_one": lambda: p / n,
        "whole_columns": lambda: (p - F.one_hot(Yb, logits.shape[1]).sum(0, keepdim=True).clamp(max=1)) / n,
        "softmax_dim0": lambda: (F.softmax(logits, 0) - onehot) / n,
        "logits_not_probs": lambda: (logits - onehot) / n,
    }[how]()
    return r.downstream("logits", wrong)


def _counts_once(r: Reference) -> dict[str, torch.Tensor]:
    # counts used twice, but only the gradient through probs kept
    dcounts = r.v("counts_sum_inv") * r.g("probs")
    dnorm_logits = r.v("counts") * dcounts
    dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
    logits = r.v("logits")
    onehot = F.one_hot(logits.max(1).indices, logits.shape[1]).to(logits.dtype)
    return {
        "dcounts": dcounts,
        "dnorm_logits": dnorm_logits,
        "dlogit_maxes": dlogit_maxes,
        "dlogits": dnorm_logits + onehot * dlogit_maxes,
    }


def _bndiff_once(r: Reference) -> dict[str, torch.Tensor]:
    # bndiff used twice, but only the gradient through bnraw kept
    dbndiff = r.v("bnvar_inv") * r.g("bnraw")
    dbnmeani = (-dbndiff).sum(0, keepdim=True)
    return {"dbndiff": dbndiff, "dbnmeani": dbnmeani, "dhprebn": dbndiff + dbnmeani / r.n}


def _bessel(r: Reference) -> dict[str, torch.Tensor]:
    # the variance's 1/(n-1) taken as 1/n, step by step; the one-go formula without n/(n-1) gives the same dhprebn
    dbndiff2 = torch.ones_like(r.v("bndiff2")) * r.g("bnvar") / r.n
    dbndiff = r.v("bnvar_inv") * r.g("bnraw") + 2 * r.v("bndiff") * dbndiff2
    out = r.downstream("hprebn", dbndiff - dbndiff.sum(0, keepdim=True) / r.n)
    return out | {"dbndiff2": dbndiff2, "dbndiff": dbndiff}


def _bn_mean_term(r: Reference) -> dict[str, torch.Tensor]:
    # the one-go formula without its middle term, dhpreact.sum(0)
    dhpreact, bnraw, n = r.g("hpreact"), r.v("bnraw"), r.n
    dhprebn = r.v("bngain") * r.v("bnvar_inv") / n * (n * dhpreact - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    return r.downstream("hprebn", dhprebn)


def _dC_assign(r: Reference) -> dict[str, torch.Tensor]:
    dC = torch.zeros_like(r.v("C"))
    dC[r.v("Xb")] = r.g("emb")
    return {"dC": dC}


_DOWNSTREAM = "; every gradient computed from it inherits the mistake"
# in the order they are tried: the first whose wrong answer matches yours gives the hint
MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "dlogits_not_divided_by_n",
        "n times too large: the loss is the mean over the n examples of the batch, so dlogits carries a "
        "factor 1/n — divide by n" + _DOWNSTREAM,
        lambda r: _dlogits(r, "no_mean"),
    ),
    Mistake(
        "dlogits_no_minus_one",
        "the correct character is missing its pull: d(-log p_y)/d logit_j is p_j minus 1 where j is the "
        "target Yb[i]; subtract that 1 at [range(n), Yb] (before dividing by n)" + _DOWNSTREAM,
        lambda r: _dlogits(r, "no_minus_one"),
    ),
    Mistake(
        "dlogits_whole_columns",
        "the -1 for the correct character went into whole columns: index one entry per row, "
        "[range(n), Yb], not [:, Yb]" + _DOWNSTREAM,
        lambda r: _dlogits(r, "whole_columns"),
    ),
    Mistake(
        "dlogits_softmax_dim0",
        "softmax over the wrong dimension: each row (one example's 27 logits) is normalised, so use dim=1"
        + _DOWNSTREAM,
        lambda r: _dlogits(r, "softmax_dim0"),
    ),
    Mistake(
        "dlogits_logits_not_probs",
        "dlogits starts from the probabilities softmax(logits), not from the raw logits" + _DOWNSTREAM,
        lambda r: _dlogits(r, "logits_not_probs"),
    ),
    Mistake(
        "counts_once",
        "counts is used twice in the forward pass (in probs and in counts_sum): its gradient is the sum "
        "of both contributions, and yours has only the one through probs" + _DOWNSTREAM,
        _counts_once,
    ),
    Mistake(
        "tanh_input",
        "tanh's derivative is written with its output h = tanh(hpreact), not with its input hpreact" + _DOWNSTREAM,
        lambda r: r.downstream("hpreact", (1.0 - r.v("hpreact") ** 2) * r.g("h")),
    ),
    Mistake(
        "bessel",
        "Bessel's correction: this lesson's variance divides by n-1, not n, so the gradient through bnvar "
        "carries 1/(n-1) (in the one-go formula: the factor n/(n-1)); your answer matches the "
        "biased-variance (1/n) version" + _DOWNSTREAM,
        _bessel,
    ),
    Mistake(
        "bndiff_once",
        "bndiff is used twice (in bnraw and in bndiff2): its gradient is the sum of both contributions, "
        "and yours has only the one through bnraw" + _DOWNSTREAM,
        _bndiff_once,
    ),
    Mistake(
        "no_mean_path",
        "hprebn also reaches the loss through the batch mean bnmeani: add that path's gradient (broadcast "
        "back over the batch, times 1/n)",
        lambda r: {"dhprebn": r.g("bndiff")},
    ),
    Mistake(
        "bn_mean_term",
        "the one-go formula has three terms — the direct path, the path through the mean and the path "
        "through the variance — and the mean's term (the batch sum of dhpreact) is missing" + _DOWNSTREAM,
        _bn_mean_term,
    ),
    Mistake(
        "dC_assign",
        "a character used k times in the batch must collect the sum of its k gradients: accumulate "
        "(+= in a loop over the batch, or index_add_), don't assign — dC[Xb] = demb keeps only one of them",
        _dC_assign,
    ),
)

# the step each gradient belongs to, for wrong values that match no typical mistake
STEP_HINTS = {
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
STAGES = (
    (("W2", "b2"), "the cross-entropy step (dlogits) or the second linear layer"),
    (("bngain", "bnbias"), "the tanh step (dhpreact) or batch norm's scale and shift"),
    (("W1", "b1"), "batch norm in one go (dhprebn) or the first linear layer"),
    (("C",), "the embedding (dembcat back to dC)"),
)


def ratio_hint(c: float, n: int) -> tuple[str, str] | None:
    def near(x: float) -> bool:
        return abs(c - x) <= MATCH_TOL * abs(x)

    if near(-1.0):
        return "sign", (
            "every entry has the opposite sign: look for a lost minus along the chain (from a "
            "subtraction, from d(x**-1)/dx = -x**-2, from the loss's minus) or one too many"
        )
    if near(n):
        return "missing_1/n", (
            "n times too large: a factor 1/n is missing (the loss is the mean over the n "
            "examples; the batch mean bnmeani divides by n too)"
        )
    if near(1 / n):
        return "extra_1/n", "n times too small: a factor 1/n counted twice"
    if near((n - 1) / n):
        return "bessel", (
            "Bessel's correction: you divided by n where this lesson's variance divides by n-1 — "
            "your answer matches the biased-variance (1/n) version"
        )
    if near(n / (n - 1)):
        return "bessel", ("divided by n-1 where n belongs: only the variance uses Bessel's n-1, the mean divides by n")
    if near(2.0) or near(0.5):
        return "factor_2", (f"off by a factor of {c:g}: check the 2 of d(x**2)/dx = 2x and the 1/2 of d(x**-0.5)/dx")
    return "scale", (
        f"proportional to the right answer but {c:.4g} times it: a constant factor in this step is "
        f"wrong (a 1/n, a 2, an exponent)"
    )


def diagnose(
    exid: str, name: str, got: torch.Tensor, ref: torch.Tensor, reference: Callable[[], Reference | None]
) -> tuple[str | None, str]:
    """(typical mistake, hint) for wrong values."""
    if not torch.isfinite(got).all():
        if name == "dlogits" or name.endswith("logits") or name in ("dcounts", "dprobs", "dlogprobs"):
            return "overflow", (
                "there are inf/nan values: exp() of a large logit overflows — subtract each row's "
                "maximum first (softmax does not change), or use F.softmax"
            )
        return "nonfinite", (
            "there are inf/nan values: an exp() that overflows, a division by zero, or a nan "
            "carried over from an earlier gradient"
        )
    context = reference()
    if context is not None:
        for mistake, wrong in context.variants():
            w = wrong.get(name)
            if w is None or w.shape != ref.shape or close(w, ref):
                continue
            if close(got, w.to(got.dtype)):
                return mistake.key, mistake.hint
    g64, r64 = got.double(), ref.double()
    rr = (r64 * r64).sum().item()
    if rr > 0:
        c = (g64 * r64).sum().item() / rr
        if c != 0 and close(got, (c * r64).to(got.dtype)):
            found = ratio_hint(c, context.n if context is not None else ref.shape[0])
            if found:
                return found
    if ref.abs().max().item() <= 1e-6 and got.abs().max().item() <= 1e-4:
        return "noise", (
            "the true gradient is zero up to rounding (for b1: batch norm subtracts the batch mean right "
            "after b1 is added, so b1 cannot change the loss); yours is small too, but above rounding: "
            "it most likely inherits a mistake from an earlier step — see the other gradients"
        )
    if not got.any():
        return "zeros", "all zeros: the gradient never got filled in (or an accumulation went into another tensor)"
    if name == "dC" and context is not None:
        try:
            Xb = context.v("Xb").reshape(-1)
            repeated = set((Xb.bincount(minlength=ref.shape[0]) > 1).nonzero().flatten().tolist())
            rows = set(
                (~torch.isclose(got, ref, rtol=MATCH_TOL, atol=MATCH_TOL * ref.abs().max().item()))
                .any(1)
                .nonzero()
                .flatten()
                .tolist()
            )
            if rows and rows <= repeated:
                hint = next(m.hint for m in MISTAKES if m.key == "dC_assign")
                return "dC_assign", hint + " (only rows of characters used more than once differ)"
        except Exception:
            pass
    return None, STEP_HINTS.get(f"{exid}:{name}", STEP_HINTS.get(name, "check this step of the chain rule"))
