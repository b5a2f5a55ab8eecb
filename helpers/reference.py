"""The reference run: what `make run` printed with the default Config, and how close another run must be.

Introduced in 02_gradient_verification; 03-05 compare with it too. A float32 sum rounds its last bit
differently on another CPU, and over 200,000 steps those bits grow into the 4th decimal of a loss. So nbval
does not compare such digits (notebooks/sanitize.cfg masks them); the lessons check each one here, against
the reference run (reference.json), with a tolerance far above rounding and far below what a wrong gradient
or a changed learning rate does. A run with another Config, other data or fewer steps is not compared: it
is described instead (lesson 05).
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import Config

REFERENCE = json.loads((Path(__file__).parent / "reference.json").read_text())
# a number after 100 or 1,000 steps; a batch loss in the training log; a number of the trained model
TOLERANCE = {"step": 1e-3, "log": 1e-2, "trained": 2e-3}


def is_reference_config(cfg: Config | dict) -> bool:
    """The reference numbers hold for the default Config only (the device does not change the math)."""
    mine = cfg if isinstance(cfg, dict) else cfg.to_dict()
    return all(mine.get(k) == v for k, v in Config().to_dict().items() if k != "device")


def is_reference_run(ckpt: dict) -> bool:
    """A checkpoint of the reference run: default Config, every step done, trained on names.txt."""
    run = ckpt["training"]
    return (
        is_reference_config(ckpt["config"])
        and ckpt["data"]["sha256"] == REFERENCE["data_sha256"]
        and run["steps_done"] == run["steps"] == Config().steps
    )


def expect_close(what: str, value: float, ref: float, tol: float) -> None:
    """Raise an AssertionError that says what differs, by how much, and what that means."""
    if not abs(value - ref) <= tol:
        raise AssertionError(
            f"{what} is {value:.4f}; the reference run gave {ref:.4f}. Another CPU's rounding "
            f"moves it by far less than the {tol:g} allowed, so the code, the data or the Config "
            f"differs from the lesson's: rerun the lessons in order, from 01, with the default Config."
        )


def compare_with_reference(ckpt: dict, losses: dict[str, float]) -> str:
    """Lesson 05: the split losses against the reference run's, or why they can't be compared."""
    run = ckpt["training"]
    if run["steps_done"] == 0:
        return "This model was never trained (0 steps): these are the losses of its random initialisation."
    if is_reference_run(ckpt):
        for split, loss in losses.items():
            expect_close(f"the {split} loss", loss, REFERENCE["split_loss"][split], TOLERANCE["trained"])
        return (
            f"These are the reference run's losses, within {TOLERANCE['trained']:g} (another CPU's rounding "
            f"moves them by less than 1e-4)."
        )
    lesson = Config().to_dict()
    why = [f"{k}={v!r} (the lesson's {lesson[k]!r})" for k, v in ckpt["config"].items() if lesson.get(k) != v]
    if run["steps_done"] < run["steps"] or run["interrupted"]:
        why.append(
            f"{run['steps_done']:,} of {run['steps']:,} steps" + (" (interrupted)" if run["interrupted"] else "")
        )
    if ckpt["data"]["sha256"] != REFERENCE["data_sha256"]:
        why.append(f"other data ({ckpt['data']['names']})")
    val = losses.get("val", float("nan"))
    gap = val - REFERENCE["split_loss"]["val"]
    return (
        f"Not the reference run ({'; '.join(why)}), so its numbers are not compared with it. For orientation: "
        f"val {val:.4f} is {abs(gap):.4f} {'below' if gap < 0 else 'above'} the reference run's "
        f"{REFERENCE['split_loss']['val']:.4f}" + (" - a better model, not an error." if gap < 0 else ".")
    )
