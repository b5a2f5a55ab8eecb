"""The reference run: what `make run` printed with the default Config, and how close another run must be.

Introduced in 02_gradient_verification; 03-05 compare with it too. A float32 sum rounds its last bit
differently on another CPU, and over 200,000 steps those bits grow into the 4th decimal of a loss. So nbval
does not compare such digits (notebooks/sanitize.cfg masks them); the lessons check each one here, against
the reference run (reference.json), with a tolerance far above rounding and far below what a wrong gradient
or a changed learning rate does. A run with another Config, other data or fewer steps is not compared: lesson
05 says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import Config

REFERENCE = json.loads((Path(__file__).parent / "reference.json").read_text())
# a number after 100 or 1,000 steps; a batch loss in the training log; a number of the trained model
TOLERANCE = {"step": 1e-3, "log": 1e-2, "trained": 2e-3}


def is_reference_config(cfg: Config) -> bool:
    """The reference numbers hold for the lesson's Config only (the device does not change the math)."""
    return not cfg.changes()


def is_reference_run(run) -> bool:
    """A Run of the reference run's kind: the lesson's Config and data, every step done."""
    return (
        is_reference_config(run.cfg)
        and run.data.sha256 == REFERENCE["data_sha256"]
        and run.steps_done == run.cfg.steps
        and not run.interrupted
    )


def expect_close(what: str, value: float, ref: float, tol: float) -> None:
    """Raise an AssertionError that says what differs, by how much, and what that means."""
    if not abs(value - ref) <= tol:
        raise AssertionError(
            f"{what} is {value:.4f}; the reference run gave {ref:.4f}. Another CPU's rounding "
            f"moves it by far less than the {tol:g} allowed, so the code, the data or the Config "
            f"differs from the lesson's: rerun the lessons in order, from 01, with the default Config."
        )
