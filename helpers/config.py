"""The one place where every knob, seed and the thread count of the series lives, and where its files go.

Introduced in 01_data; every lesson builds a `Config()` and prints it, so the numbers a learner sees
are the numbers the code uses. Config is data (a dataclass), never `exec`'d text.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

# the repository's top folder, whatever folder a notebook runs in
ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """Where names.txt and artifacts/ live: the top of the repository, or the folder $NINJA_HOME names (a relative
    one counts from the top of the repository too, `~` from your home folder). `make test` sets it to folders of
    its own under .test/."""
    # note: a quoted "~/ninja" is not expanded by the shell
    return (ROOT / os.path.expanduser(os.environ.get("NINJA_HOME", ""))).resolve()


def show_path(path: str | os.PathLike) -> str:
    """A file's name for a message, relative to home() (no machine paths in what a lesson prints)."""
    return os.path.relpath(Path(path).resolve(), home())


def write_file(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` whole or not at all: to a temporary file beside `path`, then renamed over it, or (replace=False)
    linked to its name, which raises FileExistsError if the name is taken. A full disk, an error or Ctrl-C leaves
    what was there as it was, and no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # note: per process, so two notebooks never share one
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            os.fsync(f.fileno())
        os.replace(tmp, path) if replace else os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _integer(low: int, high: float = math.inf):
    # note: True is an int to Python and 32.0 a whole number, but neither is an integer here
    return lambda x: isinstance(x, int) and not isinstance(x, bool) and low <= x < high, f"an integer >= {low}"


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


# Config's rules, one per field: (the test, what the field may be, as every message quotes it)
RULES = dict.fromkeys(("block_size", "n_embd", "n_hidden", "threads"), _integer(1))
RULES |= dict.fromkeys(("steps", "lr_decay_step", "shuffle_seed"), _integer(0))
RULES |= dict.fromkeys(("lr", "lr_final"), (_number, "a finite number > 0"))
RULES |= {
    # note: batch norm's unbiased variance divides by n-1, so a batch needs two examples
    "batch_size": (_integer(2)[0], "an integer >= 2 (batch norm's unbiased variance divides by n-1)"),
    # note: torch takes seeds below 2**64, and lesson 06 seeds with seed + 10 and seed + 11
    "seed": (_integer(0, 2**63)[0], "an integer in [0, 2**63) (lesson 06 seeds with seed + 10 and seed + 11)"),
    "names": (lambda x: isinstance(x, str) and x.strip() != "", "the path of a word list, one word a line"),
    "device": (lambda x: x == "cpu" or x in ("cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))) and
               torch.cuda.is_available(), "'cpu', or 'cuda'/'cuda:N' naming a CUDA GPU of this machine"),
}  # fmt: skip


@dataclass(frozen=True)
class Config:
    """Everything that decides the numbers of a run: the model of makemore part 4 and its training."""

    # model
    block_size: int = 3  # how many characters we read to predict the next one
    n_embd: int = 10  # dimension of each character's embedding vector
    n_hidden: int = 200  # neurons in the hidden layer
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
    # the data: a word list, one word a line; a relative path counts from the top of the repository
    names: str = "names.txt"
    device: str = "cpu"

    def __post_init__(self) -> None:
        # fail before any work starts, naming the field and what it may be
        for f in fields(self):
            ok, allowed = RULES[f.name]
            value = getattr(self, f.name)
            if not ok(value):
                raise ValueError(f"Config.{f.name}={value!r} is not allowed: {f.name} must be {allowed}.")

    def __repr__(self) -> str:  # note: in lines short enough for a notebook's output, and still valid Python
        lines, line = [], "Config("
        for item in (f"{k}={v!r}, " for k, v in asdict(self).items()):
            if len(line) + len(item) > 68:  # note: a notebook's output in a 672 px panel shows 69 characters
                lines, line = [*lines, line.rstrip()], " " * 7
            line += item
        return "\n".join([*lines, line[:-2] + ")"])

    def lr_at(self, step: int) -> float:
        """The learning rate of a step: the lecture's step decay."""
        return self.lr if step < self.lr_decay_step else self.lr_final

    def changes(self) -> dict:
        """The fields that differ from the lesson's Config (the device aside: it doesn't change the math)."""
        return {k: v for k, v in asdict(self).items() if k != "device" and v != getattr(Config, k)}

    @property
    def names_path(self) -> Path:
        return home() / self.names  # note: an absolute path stays as it is


def setup_torch(cfg: Config) -> None:
    """Pin the thread count: with a fixed count, reruns on one machine are bit-identical."""
    torch.set_num_threads(cfg.threads)


def make_generator(cfg: Config) -> torch.Generator:
    """The lecture's generator, seeded. Always a CPU one, whatever cfg.device: init_params draws on the
    CPU and train draws the batch indices on the CPU, then both move what they drew to the device."""
    return torch.Generator().manual_seed(cfg.seed)
