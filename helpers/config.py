"""The one place where every knob, seed and the thread count of the series lives.

Introduced in 01_data; every lesson builds a `Config()` and prints it, so the numbers a learner sees
are the numbers the code uses. Config is data (a dataclass), never `exec`'d text.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

# the repository's top folder: names.txt and artifacts/ live there, whatever folder a notebook runs in
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHECKPOINT = ARTIFACTS / "model.pt"

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
# what each field of Config may be: the messages of Config's checks (and the README's) quote these
_ALLOWED = {
    "block_size": "an integer >= 1",
    "n_embd": "an integer >= 1",
    "n_hidden": "an integer >= 1",
    "vocab_size": "27 (the vocabulary is '.' plus 'a'..'z')",
    "steps": "an integer >= 0",
    # note: batch norm's unbiased variance divides by n-1, so a batch needs two examples
    "batch_size": "an integer >= 2 (batch norm's unbiased variance divides by n-1)",
    "lr": "a finite number > 0",
    "lr_decay_step": "an integer >= 0",
    "lr_final": "a finite number > 0",
    "shuffle_seed": "an integer >= 0",
    "seed": "an integer in [0, 2**64)",
    "threads": "an integer >= 1",
    "device": "'cpu', 'cuda' or 'cuda:N'",
}


@dataclass(frozen=True)
class Config:
    """Everything that decides the numbers of a run: the model of makemore part 4 and its training."""

    # model
    block_size: int = 3  # how many characters we read to predict the next one
    n_embd: int = 10  # dimension of each character's embedding vector
    n_hidden: int = 200  # neurons in the hidden layer
    vocab_size: int = 27  # '.' plus 'a'..'z'
    # training: the lecture's schedule
    steps: int = 200_000
    batch_size: int = 32
    lr: float = 0.1
    lr_decay_step: int = 100_000  # from this step on, train with lr_final
    lr_final: float = 0.01
    # reproducibility: the lecture's seeds, and one thread (bit-identical reruns, and fastest here)
    shuffle_seed: int = 42  # random.seed(...) for the 80/10/10 split
    seed: int = 2147483647  # torch.Generator().manual_seed(...) for everything torch draws
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        # fail before any work starts, naming the field and what it may be
        def need(ok: bool, field: str) -> None:
            if not ok:
                value = getattr(self, field)
                raise ValueError(f"Config.{field}={value!r} is not allowed: {field} must be {_ALLOWED[field]}.")

        for f in fields(self):
            value = getattr(self, f.name)
            kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
            # note: True is an int to Python and 32.0 a whole number, but neither is an integer here
            ok = (isinstance(value, str) if kind is str else
                  not isinstance(value, bool) and isinstance(value, int if kind is int else (int, float)))
            if not ok:
                raise ValueError(f"Config.{f.name}={value!r} is not allowed (a {type(value).__name__}): "
                                 f"{f.name} must be {_ALLOWED[f.name]}.")
        need(self.block_size >= 1, "block_size")
        need(self.n_embd >= 1, "n_embd")
        need(self.n_hidden >= 1, "n_hidden")
        need(self.vocab_size == 27, "vocab_size")
        need(self.steps >= 0, "steps")
        need(self.batch_size >= 2, "batch_size")
        need(math.isfinite(self.lr) and self.lr > 0, "lr")
        need(math.isfinite(self.lr_final) and self.lr_final > 0, "lr_final")
        need(self.lr_decay_step >= 0, "lr_decay_step")
        need(self.threads >= 1, "threads")
        need(0 <= self.seed < 2**64, "seed")
        need(0 <= self.shuffle_seed, "shuffle_seed")
        need(bool(_DEVICE.match(self.device)), "device")
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ValueError(f"Config.device={self.device!r} is not allowed: device must be 'cpu' on this "
                                 f"machine (no CUDA GPU is available).")
            index = int(self.device.split(":")[1]) if ":" in self.device else 0
            if index >= torch.cuda.device_count():
                raise ValueError(f"Config.device={self.device!r} is not allowed: device must be 'cpu' or "
                                 f"'cuda:0'..'cuda:{torch.cuda.device_count() - 1}' on this machine.")

    def lr_at(self, step: int) -> float:
        """The learning rate of a step: the lecture's step decay."""
        return self.lr if step < self.lr_decay_step else self.lr_final

    def to_dict(self) -> dict:
        return asdict(self)


def setup_torch(cfg: Config) -> None:
    """Pin the thread count: with a fixed count, reruns on one machine are bit-identical."""
    torch.set_num_threads(cfg.threads)


def make_generator(cfg: Config) -> torch.Generator:
    """The lecture's generator, seeded: every random draw of torch in the series goes through one."""
    return torch.Generator(device=cfg.device).manual_seed(cfg.seed)
