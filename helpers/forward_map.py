"""The map of exercise 1: lesson 02's step-by-step forward pass as a graph, read from autograd's own record.

Introduced in 02_gradient_verification, before exercise 1a. Nodes: the named tensors the loss comes from;
an arrow per use (used twice: two gradient contributions to add); colours: the part of exercise 1. The
exercise checks read the same graph: which gradients a step is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Patch

from .exercises.catalogue import EXERCISES

COLOURS = {"1a": "#9ecae1", "1b": "#fdae6b", "1c": "#a1d99b", "1d": "#fc9272"}  # the parts of exercise 1


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


def plot_forward_graph(graph: ForwardGraph, figsize: tuple[float, float] = (9, 12)):
    """The graph in layers by the longest path to the loss, the loss at the bottom: it reads like the code."""
    part = {t: p for p in COLOURS for t in EXERCISES[p].grads}
    depth: dict[str, int] = {"loss": 0}

    def d(v: str) -> int:
        if v not in depth:
            depth[v] = 1 + max(d(u) for s, u in graph.edges if s == v)
        return depth[v]

    layers: dict[int, list[str]] = {}
    for v in ["loss", *graph.shapes]:
        layers.setdefault(d(v), []).append(v)
    pos = {}
    for k in sorted(layers):  # from the loss up; each layer sorted under the mean position of its users
        users = {v: [pos[u][0] for s, u in graph.edges if s == v] or [0.0] for v in layers[k]}
        row = sorted(layers[k], key=lambda v: sum(users[v]) / len(users[v]))
        pos.update({v: (3.2 * (i - (len(row) - 1) / 2), float(k)) for i, v in enumerate(row)})
    fig, ax = plt.subplots(figsize=figsize)
    for v, (x, y) in pos.items():
        box = dict(boxstyle="round", fc=COLOURS.get(part.get(v), "white"), ec="gray")
        label = v if v == "loss" else f"{v} {graph.shapes[v]}"
        ax.text(x, y, label, ha="center", va="center", fontsize=9, zorder=3, bbox=box)
    for i, (s, u) in enumerate(graph.edges):
        # from under the input's box to over the output's; one that skips layers bends round the boxes between
        span, straight_down = depth[s] - depth[u], pos[s][0] == pos[u][0]
        rad = 0.0 if span == 1 else -3.4 / span if straight_down else 0.3 * (-1) ** i
        arrow = dict(arrowstyle="->", color="dimgray", connectionstyle=f"arc3,rad={rad}")
        ax.annotate(
            "", xy=(pos[u][0], pos[u][1] + 0.22), xytext=(pos[s][0], pos[s][1] - 0.22), zorder=2, arrowprops=arrow
        )
    xs = [x for x, _ in pos.values()]
    ax.set(xlim=(min(xs) - 2.5, max(xs) + 2.5), ylim=(-0.8, max(depth.values()) + 0.8))
    ax.axis("off")
    legend = [Patch(fc=c, ec="gray", label=f"{p}: {EXERCISES[p].title}") for p, c in COLOURS.items()]
    ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=9)
    ax.set_title(f"The forward pass of exercise 1: {len(graph.shapes)} tensors and the loss, {len(graph.edges)} uses")
    fig.tight_layout()
    return fig
