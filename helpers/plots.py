"""The pictures of the series. Each function draws one figure and returns it; the notebook shows it.

Introduced in 01_data (data plots) and 03_manual_backprop_training (loss curve); 04 plots batch norm.
"""

from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
import torch

from .names import ALPHABET


def plot_name_lengths(words: list[str]):
    lengths = Counter(len(w) for w in words)
    xs = range(1, max(lengths) + 1)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(xs, [lengths.get(x, 0) for x in xs], color="tab:blue")
    ax.set(xlabel="characters in the name", ylabel="names", title=f"Name lengths ({len(words):,} names)")
    fig.tight_layout()
    return fig


def plot_letter_frequencies(words: list[str]):
    counts = Counter("".join(words))
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(list(ALPHABET), [counts.get(c, 0) for c in ALPHABET], color="tab:orange")
    ax.set(xlabel="letter", ylabel="occurrences", title="How often each letter appears")
    fig.tight_layout()
    return fig


def plot_loss_curve(lossi: list[float], cfg, window: int = 1000):
    """log10(loss) averaged over windows of `window` steps (the lecture's view of a noisy curve); a short run
    gets a window of a tenth of its steps, so it still has a curve."""
    t = torch.tensor(lossi)
    window = max(1, min(window, len(t) // 10))
    n = len(t) // window * window
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if n:
        ax.plot(torch.arange(0, n, window) + window / 2, t[:n].view(-1, window).mean(1), color="tab:blue")
    if cfg.lr_decay_step < len(t) and cfg.lr_final != cfg.lr:
        label = f"learning rate {cfg.lr:g} -> {cfg.lr_final:g}"
        ax.axvline(cfg.lr_decay_step, color="gray", ls="--", lw=1, label=label)
        ax.legend()
    ax.set(xlabel="step", ylabel="log10(loss)", title=f"Training loss, mean of every {window:,} steps")
    fig.tight_layout()
    return fig


def plot_bn_statistics(batch_mean, batch_var, full_mean, full_var, n: int):
    """Per-neuron batch statistics of one batch of `n` against those of the whole training set."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, b, f, what in ((axes[0], batch_mean, full_mean, "mean"), (axes[1], batch_var, full_var, "variance")):
        b, f = b.flatten().cpu(), f.flatten().cpu()
        ax.scatter(f, b, s=6, alpha=0.6)
        lo, hi = float(min(b.min(), f.min())), float(max(b.max(), f.max()))
        ax.plot([lo, hi], [lo, hi], color="gray", lw=1)
        ax.set(xlabel=f"{what} over the training set", ylabel=f"{what} of one batch of {n}", title=what)
    fig.tight_layout()
    return fig


def plot_fd_error(curves: dict[str, list[tuple[float, float]]]):
    """Lesson 02: the error of central differences against ε (helpers.gradcheck.fd_error_curve), on log axes."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, curve in curves.items():
        pts = [(e, r) for e, r in curve if r > 0]  # note: an error of exactly 0 (luck) has no place on a log axis
        ax.loglog(*zip(*pts, strict=True), marker="o", ms=3, label=label)
    title = "Truncation error (∝ ε², right) against rounding error (∝ 1/ε, left)"
    ax.set(xlabel="ε", ylabel="relative error of (L(θ+ε) - L(θ-ε)) / 2ε", title=title)
    ax.legend()
    fig.tight_layout()
    return fig
