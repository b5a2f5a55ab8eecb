"""What the tests share: each test works in a folder of its own (NINJA_HOME), never in the learner's, and
never reaches the network. `names` puts the real names.txt there (read only), `words` a small word list."""

import contextlib
import importlib.util
import io
import os
import signal
import urllib.request
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import pytest
import torch

from helpers import Config, manual_backward, train
from helpers.config import ROOT
from helpers.names import NAMES_SHA256, sha256_file

matplotlib.use("Agg")
torch.set_num_threads(1)  # as the lessons do: the same numbers every run

# the real data set, as the repository holds it (tests only ever read it); None if it has been changed
REAL = (
    ROOT / "names.txt" if (ROOT / "names.txt").is_file() and sha256_file(ROOT / "names.txt") == NAMES_SHA256 else None
)
_g = torch.Generator().manual_seed(0)
# 400 made-up words of 2 to 8 letters: enough for batches of 8 in every split
WORDS = [
    "".join(chr(97 + i) for i in torch.randint(0, 26, (int(n),), generator=_g))
    for n in torch.randint(2, 9, (400,), generator=_g)
]
TINY = Config(n_embd=4, n_hidden=16, steps=40, batch_size=8, names="words.txt")  # milliseconds a step


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """This test's NINJA_HOME: names.txt and artifacts/ live here. No network."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("NINJA_HOME", str(path))

    def offline(url, *args, **kwargs):
        if not str(getattr(url, "full_url", url)).startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {url}")
        return real_urlopen(url, *args, **kwargs)

    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return path


@pytest.fixture
def names(home) -> Path:
    """The real names.txt in this test's home (a link: tests only read it); the test skips without it."""
    if REAL is None:
        pytest.skip("needs the real names.txt: `git checkout names.txt`")
    (home / "names.txt").symlink_to(REAL)
    return home / "names.txt"


def real_home(tmp_path_factory) -> Path:
    """A home with the real names.txt, for a fixture wider than one test (where `names` can't be used)."""
    if REAL is None:
        pytest.skip("needs the real names.txt: `git checkout names.txt`")
    home = tmp_path_factory.mktemp("home")
    (home / "names.txt").symlink_to(REAL)
    return home


def interrupt_at(call: int, backward=manual_backward):
    """`backward`, with Ctrl-C ('interrupt kernel') pressed during its call number `call`."""
    calls = []

    def pressed(params, cache):
        calls.append(1)
        signal.raise_signal(signal.SIGINT) if len(calls) == call else None
        return backward(params, cache)

    return pressed


def quiet(cfg=TINY, **kw):
    """train() without its progress line and log: what a test trains."""
    return train(cfg, progress=False, log_every=0, **kw)


@pytest.fixture
def words(home) -> Path:
    """WORDS as words.txt in this test's home: what TINY trains on."""
    (home / "words.txt").write_text("\n".join(WORDS) + "\n")
    return home / "words.txt"


def script(name: str):
    """tools/<name>.py, loaded as a module: tools/ is a folder of scripts, not a package."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
    return module


def lesson_cells(name: str) -> list:
    return [c for c in nbformat.read(ROOT / "notebooks" / name, as_version=4).cells if c.cell_type == "code"]


def lesson_namespace(name: str, upto: str, home: Path, edit=lambda src: src) -> dict:
    """A lesson's namespace after its code cells up to cell `upto`, run with `home` as NINJA_HOME (for a fixture
    wider than one test, where the `home` fixture can't be used)."""
    old, os.environ["NINJA_HOME"] = os.environ.get("NINJA_HOME"), str(home)
    try:
        cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
        upto = [c.id for c in cells].index(upto)
        return run_cells([c for c in cells[: upto + 1] if c.cell_type == "code"], edit=edit)[0]
    finally:
        os.environ.pop("NINJA_HOME") if old is None else os.environ.update(NINJA_HOME=old)


def run_cells(cells, ns: dict | None = None, edit=lambda src: src) -> tuple[dict, str]:
    """Execute notebook cells in-process, in the notebooks' folder as Jupyter does; (namespace, what they printed)."""
    ns, out, cwd = {} if ns is None else ns, io.StringIO(), os.getcwd()
    os.chdir(ROOT / "notebooks")
    try:
        with contextlib.redirect_stdout(out):
            for c in cells:
                exec(compile(edit(c.source), c.get("id", "cell"), "exec"), ns)
    finally:
        os.chdir(cwd)
        plt.close("all")
    return ns, out.getvalue()
