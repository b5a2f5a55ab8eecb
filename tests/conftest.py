import os
from pathlib import Path

import pytest
import torch

from helpers import NAMES_PATH, NAMES_SHA256, sha256_file

# tests run with one thread, as the lessons do: the same numbers every run
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def names_path() -> Path:
    """The real names.txt: `make setup` puts it at the top of the repository before the tests run."""
    for p in (NAMES_PATH, os.environ.get("MAKEMORE_NAMES")):
        if p and Path(p).is_file() and sha256_file(p) == NAMES_SHA256:
            return Path(p)
    pytest.fail("names.txt is missing: run `make setup` (or set MAKEMORE_NAMES) before the tests")
