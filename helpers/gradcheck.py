"""Compare a hand-computed gradient with autograd's: the lecture's `cmp`, as a table.

Introduced in 02_gradient_verification; 03 uses it to check the learner's full backward pass. Lesson 02
also checks the gradients against a referee that isn't autograd: central finite differences (`fd_check`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

# "approximately right", for cmp and for every exercise check: torch.allclose with these tolerances.
# the absolute one matters for b1, whose true gradient is 0: both computations return noise of ~1e-8
RTOL, ATOL = 1e-5, 1e-7


@dataclass(frozen=True)
class GradCheck:
    name: str
    exact: bool  # bit for bit the same numbers
    approximate: bool  # torch.allclose: equal up to floating-point rounding
    maxdiff: float

    def __str__(self) -> str:
        return (
            f"{self.name:15s} | exact: {str(self.exact):5s} | approximate: {str(self.approximate):5s} "
            f"| maxdiff: {self.maxdiff:.2e}"
        )


def cmp(name: str, dt: torch.Tensor, t: torch.Tensor, show: bool = True) -> GradCheck:
    """Compare our gradient `dt` with `t.grad` (or with `t` itself when it is a plain tensor)."""
    ref = t.grad if isinstance(t, torch.Tensor) and t.grad is not None else t
    if ref is None or (isinstance(t, torch.Tensor) and t.requires_grad and t.grad is None):
        raise ValueError(
            f"{name}: the reference has no .grad; call loss.backward() (and t.retain_grad() "
            f"for an intermediate) before comparing."
        )
    if tuple(dt.shape) != tuple(ref.shape):
        raise ValueError(f"{name}: shape {tuple(dt.shape)} differs from the reference's {tuple(ref.shape)}.")
    exact, close = bool(torch.equal(dt, ref)), bool(torch.allclose(dt, ref, rtol=RTOL, atol=ATOL))
    row = GradCheck(name, exact, close, (dt - ref).abs().max().item() if dt.numel() else 0.0)
    if show:
        print(row)
    return row


def compare_grads(grads: dict[str, torch.Tensor], refs: dict[str, torch.Tensor], show: bool = True) -> list[GradCheck]:
    """`cmp` for every parameter: our `grads` against `refs` (tensors whose .grad autograd filled in)."""
    return [cmp(k, grads[k], refs[k], show) for k in refs]


# ---------------------------------------------------------------------------------------------------
# the referee that isn't autograd: central finite differences, in float64

Loss = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@torch.no_grad()
def central_difference(loss_fn: Loss, params: dict[str, torch.Tensor], name: str, index: int, eps: float) -> float:
    """(L(θ+ε) - L(θ-ε)) / 2ε for entry `index` (flat) of params[name], which is changed and put back.

    Lesson 02. Central, not one-sided: the error of the first-order terms cancels, what is left is ∝ ε².
    """
    flat = params[name].view(-1)
    old = flat[index].item()
    flat[index] = old + eps
    up = loss_fn(params).item()
    flat[index] = old - eps
    down = loss_fn(params).item()
    flat[index] = old  # put it back
    return (up - down) / (2 * eps)


# central differences: the step ε; below FLOOR a gradient is compared by absolute error; TOL: what passes
EPS, FLOOR, TOL = 1e-5, 1e-4, 1e-5


@dataclass(frozen=True)
class FDCheck:
    """Finite differences against a gradient, for the sampled entries of one parameter (lesson 02).

    An entry passes when |fd - g| / max(|fd|, |g|, FLOOR) < TOL. Above the floor that is the relative error.
    Below it a relative error means nothing (the difference has rounding noise of ~1e-11, and b1's true
    gradient is 0: batch norm subtracts the batch mean right after adding b1), so it is an absolute error.
    """

    name: str
    entries: int  # how many entries were checked
    rel_error: float  # the largest relative error over the entries whose gradient is >= FLOOR (nan: none)
    abs_error: float  # the largest |fd - g| over the entries below the floor (nan: none)
    small: int  # how many entries were below the floor

    @property
    def ok(self) -> bool:
        return not (self.rel_error >= TOL or self.abs_error >= TOL * FLOOR)  # nan: nothing to fail

    def __str__(self) -> str:
        # note: only the pass/fail flags are the same on every CPU; the errors themselves are rounding noise
        parts = []
        if self.small < self.entries:
            parts.append(f"rel. error {self.rel_error:.1e}  (< {TOL:.0e}: {self.rel_error < TOL})")
        if self.small:
            what = f"all {self.entries}" if self.small == self.entries else f"{self.small} of {self.entries}"
            err = f"abs. error {self.abs_error:.1e}  (< {TOL * FLOOR:.0e}: {self.abs_error < TOL * FLOOR})"
            parts.append(f"{what} below {FLOOR:.0e}: {err}")
        return f"{self.name:8s} " + "; ".join(parts)


def fd_check(loss_fn: Loss, params: dict, grads: dict, g: torch.Generator, samples: int | None = 5, show=True):
    """Check `grads` (e.g. manual_backward's, in float64) by central differences of `loss_fn(params)`.

    Lesson 02. `samples` entries of each parameter are drawn from `g` (None: every entry); the parameters
    are copied to float64 first, because in float32 rounding noise would swamp the differences.
    Returns {name: FDCheck}.
    """
    p = {k: v.detach().to(torch.float64).clone() for k, v in params.items()}
    out = {}
    for k in p:
        n = p[k].numel()
        idx = range(n) if samples is None or samples >= n else torch.randperm(n, generator=g)[:samples].tolist()
        rel, small = [], []
        for i in idx:
            fd, gi = central_difference(loss_fn, p, k, i, EPS), grads[k].reshape(-1)[i].item()
            err, size = abs(fd - gi), max(abs(fd), abs(gi))
            if not math.isfinite(err):  # a nan or inf never passes
                rel.append(math.inf)
            else:
                (rel if size >= FLOOR else small).append(err / size if size >= FLOOR else err)
        out[k] = FDCheck(k, len(idx), max(rel, default=math.nan), max(small, default=math.nan), len(small))
        if show:
            print(out[k])
    return out


def fd_error_curve(
    loss_fn: Loss, params: dict, grads: dict, name: str, dtype=torch.float64
) -> list[tuple[float, float]]:
    """[(ε, relative error of the central difference)] for params[name]'s entry with the largest gradient, ε from
    1e-1 to 1e-12 (lesson 02). On log axes it is a V: for large ε the truncation error (∝ ε²) dominates, for small
    ε the rounding error of L(θ+ε) - L(θ-ε) (∝ 1/ε)."""
    p = {k: v.detach().to(dtype).clone() for k, v in params.items()}
    gk = grads[name].reshape(-1).double()
    i = int(gk.abs().argmax())
    return [
        (e, abs(central_difference(loss_fn, p, name, i, e) - gk[i].item()) / abs(gk[i].item()))
        for e in (10.0 ** (-k / 2) for k in range(2, 25))
    ]
