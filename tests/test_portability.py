"""The committed outputs are compared with masked digits (notebooks/sanitize.cfg): a wrong gradient must still fail.

Runs lesson 02 under strict nbval, as `make test` does, once as committed and once with one step of the
backward pass off by 0.01% (far below what a learner would see in a loss, far above rounding).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "02_gradient_verification.ipynb"
needs_data = pytest.mark.skipif(not (ROOT / "names.txt").is_file(), reason="needs names.txt: run `make setup`")


def _nbval(nb: dict, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / LESSON.name
    path.write_text(json.dumps(nb))
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-vv",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(ROOT / "notebooks" / "sanitize.cfg"),
        str(path),
    ]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)


def _perturbed(old: str, new: str) -> dict:
    nb = json.loads(LESSON.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and old in "".join(c["source"])]
    assert len(cells) == 1, f"lesson 02 should have one cell with {old!r}"
    cells[0]["source"] = "".join(cells[0]["source"]).replace(old, new)
    return nb


@needs_data
def test_the_committed_lesson_passes(tmp_path):
    run = _nbval(json.loads(LESSON.read_text()), tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]


@needs_data
@pytest.mark.parametrize(
    "old, new, failing",
    [
        # tanh's local gradient off by 0.01%: every gradient below it is off too
        ("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - h**2) * dh * 1.0001", "hpreact"),
        # batch norm in one go with the biased variance's factor 1 instead of n/(n-1): a typical slip
        ("- n / (n - 1) * bnraw", "- bnraw", "hprebn"),
    ],
)
def test_a_slightly_wrong_gradient_fails(tmp_path, old, new, failing):
    run = _nbval(_perturbed(old, new), tmp_path)
    assert run.returncode != 0, "strict nbval passed a wrong gradient: the sanitize rules hide too much"
    # the row of the wrong gradient is what differs: approximate: False where the lesson has True
    assert re.search(rf"\b{failing}\s+\| exact: False \| approximate: False", run.stdout), run.stdout[-3000:]
