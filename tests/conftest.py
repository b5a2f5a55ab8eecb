import os
from pathlib import Path

import pytest
import torch

from helpers.names import NAMES_PATH, NAMES_SHA256, sha256_file

# the shared fixtures of the error tests (ckpt, and isolated: no network, no MAKEMORE_NAMES)
pytest_plugins = ["support"]

# tests run with one thread, as the lessons do: the same numbers every run
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def names_path() -> Path:
    """The real names.txt, for the tests that need it; they skip without it (a fresh clone, no network)."""
    for p in (NAMES_PATH, os.environ.get("MAKEMORE_NAMES")):
        if p and Path(p).is_file() and sha256_file(p) == NAMES_SHA256:
            return Path(p)
    pytest.skip("needs the real names.txt: run `make setup` (or set MAKEMORE_NAMES)")


@pytest.fixture(scope="session")
def words() -> list[str]:
    """A small word list made here: what the tests of the model, the training and the errors run on."""
    g = torch.Generator().manual_seed(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for _ in range(400):
        n = int(torch.randint(2, 9, (1,), generator=g))
        out.append("".join(letters[i] for i in torch.randint(0, 26, (n,), generator=g).tolist()))
    return out


@pytest.fixture(scope="session")
def names_file(tmp_path_factory, words) -> Path:
    """`words`, written as a names.txt."""
    path = tmp_path_factory.mktemp("data") / "names.txt"
    path.write_text("\n".join(words) + "\n")
    return path
