"""Compare a hand-computed gradient with autograd's: the lecture's `cmp`, as a table.

Introduced in 02_gradient_verification; 03 uses it to check the learner's full backward pass. (Lesson 02's
other referee, central finite differences, is written out in the lesson itself.)
"""

from __future__ import annotations

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
        # note: 69 characters at most, what a notebook's output shows in a 672 px panel without breaking a number
        return (
            f"{self.name:14s} | exact: {str(self.exact):5s} | approximate: {str(self.approximate):5s} "
            f"| maxdiff: {self.maxdiff:.1e}"
        )


def cmp(name: str, dt: torch.Tensor, t: torch.Tensor, show: bool = True) -> GradCheck:
    """Compare our gradient `dt` with `t.grad` (or with `t` itself when it is a plain tensor)."""
    ref = t.grad if isinstance(t, torch.Tensor) and t.requires_grad else t
    if ref is None:
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
    grads = dict(zip(refs, grads, strict=True)) if isinstance(grads, (list, tuple)) else grads  # the lecture's list
    return [cmp(k, grads[k], refs[k], show) for k in refs]
