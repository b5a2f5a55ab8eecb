"""Vocabulary, the 80/10/10 split of the words, and the (context -> next character) examples.

Introduced in 01_data; 03-06 load their data through `load_splits`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
from dataclasses import dataclass

import torch

from .config import Config
from .errors import DataError
from .names import ALPHABET, load_words

# '.' (index 0) marks both the start and the end of a word; 'a'..'z' are 1..26
itos = {0: "."} | {i + 1: ch for i, ch in enumerate(ALPHABET)}
stoi = {ch: i for i, ch in itos.items()}


def _need_list(words, who: str) -> None:
    if isinstance(words, (str, bytes, os.PathLike)):  # note: a string is a list of characters to Python, silently
        fix = f"read a file with load_words(path), or put one word in a list: {who}(['emma'])"
        raise DataError(f"{who} takes a list of words, not {type(words).__name__} {str(words)[:40]!r}: {fix}.")


def words_sha256(words: list[str]) -> str:
    """The SHA-256 of the words themselves, one a line: the same for a copy with Windows line endings."""
    return hashlib.sha256("\n".join(words).encode()).hexdigest()


def split_words(words: list[str], seed: int = 42) -> tuple[list[str], list[str], list[str]]:
    """Shuffle a copy with `random.seed(seed)` (as the lecture does) and cut it 80% / 10% / 10%."""
    _need_list(words, "split_words")
    words = list(words)
    random.seed(seed)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return words[:n1], words[n1:n2], words[n2:]


def build_dataset(words: list[str], block_size: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Every word gives len(word)+1 examples: the last `block_size` characters -> the next one."""
    _need_list(words, "build_dataset")
    X, Y = [], []
    for n, w in enumerate(words, start=1):
        if not isinstance(w, str) or not set(w) <= set(ALPHABET):  # note: '.' is only ever the end marker
            fix = "read word lists with helpers.load_words, which checks (and names) every line"
            raise DataError(f"word {n} of {len(words)}, {w!r}: words may only use the letters a-z; {fix}.")
        context = [0] * block_size
        for ch in w + ".":
            X.append(context)
            Y.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    # note: an empty list still gives a (0, block_size) tensor, so shapes stay right
    return torch.tensor(X, dtype=torch.long).view(-1, block_size), torch.tensor(Y, dtype=torch.long)


@dataclass(frozen=True)
class Splits:
    """The three datasets of the lessons: Xtr/Ytr, Xdev/Ydev, Xte/Yte (the lecture's names)."""

    Xtr: torch.Tensor
    Ytr: torch.Tensor
    Xdev: torch.Tensor
    Ydev: torch.Tensor
    Xte: torch.Tensor
    Yte: torch.Tensor
    words: tuple[list[str], list[str], list[str]]
    names: str  # Config.names: the word list they were read from, as the Config names it
    sha256: str  # of its words (words_sha256): what a saved run records as the data it was trained on

    def __iter__(self):
        return iter((self.Xtr, self.Ytr, self.Xdev, self.Ydev, self.Xte, self.Yte))


def load_splits(cfg: Config) -> Splits:
    """cfg.names (names.txt by default) -> shuffled 80/10/10 split -> the three datasets, on cfg.device.

    Refuses a word list too small for the lessons: training, and lesson 04, take batches of cfg.batch_size
    examples from the training and the dev split.
    """
    words = load_words(cfg.names)
    data = _splits(tuple(words), cfg.names, cfg.shuffle_seed, cfg.block_size, cfg.device)
    small = {k: len(X) for k, X in (("training", data.Xtr), ("dev", data.Xdev)) if len(X) < cfg.batch_size}
    if small:
        which = " and ".join(f"the {k} split has {v:,}" for k, v in small.items())
        raise DataError(
            f"{cfg.names}: Config(batch_size={cfg.batch_size}) takes batches of {cfg.batch_size} examples, but "
            f"{which}: use a longer word list (a few hundred words at least) or a smaller batch_size."
        )
    return data


@functools.lru_cache(maxsize=4)
def _splits(words: tuple[str, ...], names: str, seed: int, block_size: int, device: str) -> Splits:
    """The splits of these very words, built once: a lesson, `train` and `load_run` each ask for them again
    (the examples take a Python loop over 228,000 characters; keyed on the words themselves, never stale)."""
    parts = split_words(words, seed)
    tensors = [t.to(device) for w in parts for t in build_dataset(w, block_size)]
    return Splits(*tensors, parts, names, words_sha256(words))
