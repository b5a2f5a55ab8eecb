"""The map of exercise 1: lesson 02's step-by-step forward pass as a graph, read from autograd's own record.

Introduced in 02_gradient_verification, before exercise 1a (which draws it). Nodes: the named tensors the loss
comes from; an arrow per use (used twice: two gradient contributions to add). The exercise checks read the
same graph: which gradients a step is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ForwardGraph:
    tensors: dict[str, torch.Tensor]  # every named tensor the loss depends on: the nodes (and the loss)
    edges: list[tuple[str, str]]  # (input, output), one per use; the loss's output is called "loss"

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(t.shape) for k, t in self.tensors.items() if k != "loss"}

    def users(self, name: str) -> list[str]:
        """The tensors computed from `name`: its gradient is the sum of what comes back from each of them."""
        return [u for s, u in self.edges if s == name]


def _key(t_or_fn):
    # a parameter (a leaf) has no grad_fn: autograd reaches it through AccumulateGrad, which holds it as .variable
    if isinstance(t_or_fn, torch.Tensor):
        return t_or_fn.grad_fn if t_or_fn.grad_fn is not None else id(t_or_fn)
    return id(t_or_fn.variable) if hasattr(t_or_fn, "variable") else t_or_fn


def forward_graph(loss: torch.Tensor, named: dict[str, object]) -> ForwardGraph:
    """Walk back from `loss` through grad_fn.next_functions; lesson 02 passes its intermediates by name.

    Autograd nodes without a name (the indexing and mean that make the loss, the + 1e-5 before the power)
    are folded into the arrow that passes through them. With two names for one tensor the first wins.
    """
    names: dict = {}
    for k, t in named.items():
        if isinstance(t, torch.Tensor) and t.requires_grad and t is not loss:
            names.setdefault(_key(t), k)
    tensors, edges, todo = {"loss": loss}, [], [(loss.grad_fn, "loss")]
    while todo:
        fn, user = todo.pop()
        for nxt, _ in fn.next_functions:
            if nxt is None:  # an input that needs no gradient (Xb, Yb)
                continue
            name = names.get(_key(nxt))
            if name is None:
                todo.append((nxt, user))  # unnamed: keep walking, on behalf of the same user
                continue
            edges.append((name, user))
            if name not in tensors:
                tensors[name] = named[name]
                todo.append((nxt, name))
    return ForwardGraph(tensors, edges)
