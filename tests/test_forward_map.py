"""The map of exercise 1, built from lesson 02's own forward cell: its nodes are exactly what exercise 1 checks."""

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from conftest import lesson_cells, run_cells

from helpers import PARAM_NAMES, Config, init_params
from helpers.exercises import EXERCISES
from helpers.forward_map import forward_graph

LESSON = "02_gradient_verification.ipynb"


def _forward_cell() -> str:
    """Lesson 02's step-by-step forward pass, up to the part that runs autograd's backward pass."""
    src = next(c.source for c in lesson_cells(LESSON) if c.source.startswith("emb = C[Xb]"))
    return src[: src.index("# PyTorch backward pass")]


@pytest.fixture(scope="module")
def lesson():
    cfg = Config(block_size=3, n_embd=4, n_hidden=6, batch_size=5)
    g = torch.Generator().manual_seed(0)
    ns = {"torch": torch, "F": F, "n": cfg.batch_size}
    ns.update({k: v.requires_grad_(True) for k, v in init_params(cfg, g).items()})
    ns["Xb"] = torch.randint(0, 27, (cfg.batch_size, cfg.block_size), generator=g)
    ns["Yb"] = torch.randint(0, 27, (cfg.batch_size,), generator=g)
    ns["parameters"] = [ns[k] for k in PARAM_NAMES]
    exec(_forward_cell(), ns)
    return ns, forward_graph(ns["loss"], ns)


def test_nodes_are_exactly_what_exercise_1_checks(lesson):
    _, graph = lesson
    checked = {t for part in ("1a", "1b", "1c", "1d") for t in EXERCISES[part].grads}
    assert set(graph.shapes) == checked
    assert len(graph.shapes) == 26


def test_shapes_and_uses_come_from_the_forward_pass(lesson):
    ns, graph = lesson
    assert all(graph.shapes[k] == tuple(ns[k].shape) for k in graph.shapes)
    assert graph.shapes["logprobs"] == (5, 27) and graph.shapes["bnmeani"] == (1, 6)
    twice = {k for k in graph.shapes if len(graph.users(k)) == 2}
    assert twice == {"logits", "counts", "bndiff", "hprebn"}
    assert all(len(graph.users(k)) == 1 for k in graph.shapes if k not in twice)
    # the unnamed steps fold into arrows: the indexing and mean make the loss, + 1e-5 sits inside bnvar_inv
    assert ("logprobs", "loss") in graph.edges and ("bnvar", "bnvar_inv") in graph.edges
    assert {u for s, u in graph.edges if s == "counts"} == {"probs", "counts_sum"}
    assert sorted(s for s, u in graph.edges if u == "hprebn") == ["W1", "b1", "embcat"]


def test_a_second_name_for_a_tensor_is_not_a_second_node(lesson):
    ns, _ = lesson
    # the lesson's `for p in parameters` and `for t in [...]` loops leave aliases behind in its namespace
    graph = forward_graph(ns["loss"], dict(ns, p=ns["bnbias"], t=ns["emb"]))
    assert set(graph.shapes) == set(lesson[1].shapes)


def test_the_map_draws(lesson):
    _, graph = lesson
    ns = run_cells([c for c in lesson_cells(LESSON) if c.id == "map-draw"], {"plt": plt})[0]
    fig = ns["plot_forward_graph"](graph)
    ax = fig.axes[0]
    labels = {t.get_text() for t in ax.texts if t.get_text()}  # the arrows are texts too, empty ones
    assert "logprobs (5, 27)" in labels and "bnmeani (1, 6)" in labels and "loss" in labels and len(labels) == 27
    assert sum(1 for c in ax.get_children() if type(c).__name__ == "Annotation") == len(graph.edges)
    assert len(ax.get_legend().get_texts()) == 4
