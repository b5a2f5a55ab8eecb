"""What the tests of bad input, interrupted work and reproducibility share: tiny synthetic data, no network."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from helpers import (
    Config,
    build_dataset,
    init_params,
    load_splits,
    make_generator,
    manual_backward,
    save_checkpoint,
    train,
)

names_mod = importlib.import_module("helpers.names")
# tools/ is a folder of scripts, not a package: load the set-up script itself
_spec = importlib.util.spec_from_file_location(
    "fetch_names", Path(__file__).resolve().parent.parent / "tools" / "fetch_names.py"
)
fetch_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_mod)
fetch_names = fetch_mod.fetch_names
config_mod = importlib.import_module("helpers.config")


WORDS = [
    "emma",
    "olivia",
    "ava",
    "isabella",
    "sophia",
    "charlotte",
    "mia",
    "amelia",
    "harper",
    "evelyn",
    "abigail",
    "emily",
    "elizabeth",
    "mila",
    "ella",
    "avery",
    "sofia",
    "camila",
    "aria",
    "scarlett",
    "victoria",
    "madison",
    "luna",
    "grace",
    "chloe",
    "penelope",
    "layla",
    "riley",
    "zoey",
    "nora",
    "lily",
    "eleanor",
    "hannah",
    "lillian",
    "addison",
    "aubrey",
    "ellie",
    "stella",
    "natalie",
    "zoe",
]
TINY = Config(n_embd=4, n_hidden=16, steps=40, batch_size=16)  # a model small enough for milliseconds a step
SHA = "5" * 64  # stands in for names.txt's SHA-256 in checkpoints


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """No test depends on the caller's MAKEMORE_NAMES (CI sets one), and none may reach the network."""
    monkeypatch.delenv("MAKEMORE_NAMES", raising=False)
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        if not str(url).startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {url}")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def tiny_data() -> tuple[torch.Tensor, torch.Tensor]:
    return build_dataset(WORDS, TINY.block_size)


def fresh(cfg: Config = TINY) -> tuple[dict[str, torch.Tensor], torch.Generator]:
    g = make_generator(cfg)
    return init_params(cfg, g), g


def run(cfg: Config, steps: int, **kw):
    """A fresh, quiet run of `steps` steps: the reference that an interrupted or stopped run must equal."""
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    kw.setdefault("backward", manual_backward)  # the lecture form, as the faulty backwards below build on
    result = train(params, Xtr, Ytr, cfg, g, steps=steps, progress=False, log_every=0, **kw)
    return params, result


def assert_same_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def all_finite(params: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in params.values())


def result_of(excinfo):
    """The TrainResult of a run that raised: TrainingDiverged carries it, with the step it stopped at."""
    result = excinfo.value.result
    assert result is not None and excinfo.value.step == result.steps_done == len(result.lossi)
    return result


class OnBatch:
    """A `backward=` that changes the gradients of one particular batch, whenever that batch comes.

    Keyed on the batch, not on a call count, so a fresh run of the same steps meets the same fault again.
    """

    def __init__(self, batch: torch.Tensor, fault, limit: int = 10_000):
        self.batch, self.fault, self.limit, self.calls = batch, fault, limit, 0

    def __call__(self, params, cache):
        self.calls += 1
        if self.calls > self.limit:  # a guard: a test must fail, never hang
            raise RuntimeError(f"backward called {self.calls} times")
        grads = manual_backward(params, cache)
        if torch.equal(cache["Xb"], self.batch):
            grads = self.fault(grads)
        return grads


def batch_of_step(cfg: Config, k: int) -> torch.Tensor:
    """The batch that step k of a fresh run draws (checked to differ from every earlier one)."""
    seen = []

    def record(params, cache):
        seen.append(cache["Xb"].clone())
        return manual_backward(params, cache)

    run(cfg, k + 1, backward=record)
    assert not any(torch.equal(seen[k], b) for b in seen[:k])
    return seen[k]


def tiny_run(tmp_path: Path, cfg: Config = TINY, steps: int = 5, **kw):
    """TINY trained for `steps` steps on WORDS, written as a word list under tmp_path: (result, cfg, data)."""
    names = write(tmp_path / "words.txt", "\n".join(WORDS) + "\n")
    cfg = Config(**{**cfg.to_dict(), "names": str(names)})
    data = load_splits(cfg)
    params, g = fresh(cfg)
    result = train(params, data.Xtr, data.Ytr, cfg, g, steps=steps, progress=False, log_every=0, **kw)
    return result, cfg, data


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A good checkpoint of TINY, trained for 5 of its 40 steps on WORDS."""
    result, cfg, data = tiny_run(tmp_path)
    return save_checkpoint(result, cfg, data, path=tmp_path / "model.pt")
