"""A training run that knows what it is, saved as a record that is never overwritten.

Introduced in 03_manual_backprop_training: `train` returns a Run, `save_run(run)` writes it to
artifacts/runs/run-NNN.pt, a new file every time (about 50 kB), so no model is ever lost. Lesson 04 adds the
calibrated batch-norm statistics to that run's file (`save_calibration`); lessons 05 and 06 read it.
`load_run()` reads the newest run; `restore_run("run-001")` makes an earlier one the newest again. A saved run
is a plain `torch.save` of a dict (params, bn, config, data, training): docs/runs.md.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .config import Config, home, show_path, write_file
from .dataset import Splits, load_splits
from .errors import RunError
from .model import architecture, bn_shapes

FORMAT = 4  # 4: Config has no vocab_size
TRAIN = "notebooks/03_manual_backprop_training.ipynb (or `make run`)"
CALIBRATE = "notebooks/04_batchnorm_calibration.ipynb"
# how a run ended, as saved: these fields of Run
TRAINING = ("steps_done", "interrupted", "blew_up", "backward", "seconds")


@dataclass(eq=False)
class Run:
    """One call of `train`: its Config, its data, the parameters it trained, and how it ended."""

    cfg: Config
    data: Splits
    params: dict[str, torch.Tensor]
    backward: str  # which function computed the gradients: "your backward", "helpers.manual_backward", ...
    steps_done: int = 0
    interrupted: bool = False  # stopped early by Ctrl-C / the stop button
    blew_up: bool = False  # the loss stayed far above its start (train warned)
    seconds: float = 0.0
    lossi: list[float] = field(default_factory=list, repr=False)  # log10 of each step's loss (not saved)
    bn: dict[str, torch.Tensor] | None = None  # the calibrated batch-norm statistics of lesson 04
    name: str | None = None  # "run-001" once saved


def runs_dir() -> Path:
    return home() / "artifacts" / "runs"


def _number(path: Path) -> int | None:
    """run-007.pt's 7; None for any other name (run-001-Copy1.pt, run-042-best.pt: copies of yours, not runs saved)."""
    return int(m[1]) if (m := re.fullmatch(r"run-(\d{3,})\.pt", path.name)) else None


def _saved() -> list[Path]:
    return sorted((p for p in runs_dir().glob("run-*.pt") if _number(p) is not None), key=_number)


def _store(path: Path, rec: dict, *, replace: bool) -> None:
    """Write a record whole or not at all (serialised in memory first, so only the disk write can fail)."""
    buffer = io.BytesIO()
    torch.save(rec, buffer)
    try:
        write_file(path, buffer.getvalue(), replace=replace)
    except FileExistsError:
        raise
    except OSError as e:
        why = f"{e.strerror or e}: is the disk full, or the folder read-only? Nothing saved before has changed"
        raise RunError(f"Could not write {show_path(path)} ({why}).") from e


def save_run(run: Run) -> Path:
    """Save `run` under the next free name, run-001.pt, run-002.pt, ...: never over another one."""
    if not isinstance(run, Run):
        raise TypeError(f"save_run takes the Run that train() returned, not a {type(run).__name__}")
    saved, words = _saved(), sum(map(len, run.data.words))
    rec = {
        "format": FORMAT,
        "params": _moved(run.params, "cpu"),
        "bn": _moved(run.bn, "cpu"),
        "config": {k: v for k, v in asdict(run.cfg).items() if k != "device"},  # note: it loads on any device
        "data": {"names": run.data.names, "sha256": run.data.sha256, "words": words},
        "training": {k: getattr(run, k) for k in TRAINING},
    }
    number = _number(saved[-1]) + 1 if saved else 1
    while run.name is None:  # note: a run saved before is not saved again
        try:
            _store(runs_dir() / f"run-{number:03d}.pt", rec, replace=False)
            run.name = f"run-{number:03d}"
        except FileExistsError:  # another notebook saved at the same moment: take the next number
            number += 1
    return runs_dir() / f"{run.name}.pt"


def save_calibration(run: Run) -> Path:
    """Lesson 04: write `run.bn` into the run's own file, and change nothing else in it."""
    if run.name is None:
        raise RunError("This run is not saved yet: save_run(run) first, then save its calibration.")
    path = runs_dir() / f"{run.name}.pt"
    _store(path, _read(path) | {"bn": _moved(run.bn, "cpu")}, replace=True)
    return path


def restore_run(name: str) -> Path:
    """Make an earlier run the newest again (lessons 04-06 read the newest), as a copy: nothing is overwritten."""
    run = load_run(name)
    run.name = None
    return save_run(run)


def load_run(name: str | None = None, *, calibrated: bool = False, device: str = "cpu") -> Run:
    """The newest saved run (or the one called `name`), with its Config and its data, checked by their SHA-256."""
    saved = _saved()
    if name is None and not saved:
        raise RunError(f"No saved run in {show_path(runs_dir())}: run {TRAIN} first.")
    path = saved[-1] if name is None else runs_dir() / f"{Path(name).stem}.pt"
    if not path.is_file() and (m := re.fullmatch(r"run-(\d+)", path.stem)):
        path = runs_dir() / f"run-{int(m[1]):03d}.pt"  # note: "run-7" is run-007
    if not path.is_file():
        have = [p.stem for p in saved]
        have = ", ".join(have) if len(have) <= 5 else f"{len(have)} of them, {have[0]} to {have[-1]}"
        raise RunError(f"No run called {path.stem!r} in {show_path(runs_dir())} (saved runs: {have or 'none yet'}).")
    rec = _read(path)
    cfg = Config(**rec["config"], device=device)
    data = load_splits(cfg)
    if data.sha256 != rec["data"]["sha256"]:
        fix = f"put the word list back, or train on it again in {TRAIN}"
        raise RunError(f"{path.stem} was trained on other words than {cfg.names} holds now: {fix}.")
    if calibrated and rec["bn"] is None:
        raise RunError(f"{path.stem} has no calibrated batch-norm statistics yet: run {CALIBRATE} first.")
    return Run(
        cfg, data, _moved(rec["params"], device), **rec["training"], bn=_moved(rec["bn"], device), name=path.stem
    )


def _moved(tensors: dict | None, device: str) -> dict | None:
    return None if tensors is None else {k: v.detach().to(device, copy=True) for k, v in tensors.items()}


def _read(path: Path) -> dict:
    """A saved run's record, checked; only tensors and plain data are ever unpickled (weights_only=True)."""
    try:
        rec = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to read the file is the same problem for a learner
        why = f"torch.load raised {type(e).__name__}; only tensors and plain data are ever unpickled"
        raise RunError(f"{show_path(path)} is damaged or is not a run of this series ({why}). Delete it.") from None
    fmt = rec.get("format") if isinstance(rec, dict) else None
    if type(fmt) is int and fmt != FORMAT:  # note: a run of another version of the series is not damaged
        newer = ("a newer", "update the series (git pull)")
        which, fix = newer if fmt > FORMAT else ("an older", "train it again in lesson 03")
        what = f"{show_path(path)} is a run of format {fmt}, from {which} version of the series"
        raise RunError(f"{what}; this one reads format {FORMAT}: {fix}.")
    try:
        if fmt != FORMAT:
            raise ValueError(f"not a dict of format {FORMAT}")
        cfg = Config(**rec["config"])  # note: each field is checked
        want = {k: p.shape for k, p in architecture(cfg).items()} | (bn_shapes(cfg) if rec["bn"] is not None else {})
        for k, shape in want.items():  # note: the config's numbers: nothing is allocated
            if tuple(getattr((rec["params"] | (rec["bn"] or {})).get(k), "shape", ())) != shape:
                raise ValueError(f"{k} is not of shape {shape}")
        if set(rec["training"]) != set(TRAINING) or "sha256" not in rec["data"]:
            raise ValueError("its training or data record is incomplete")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RunError(f"{show_path(path)} is not a run of this series ({e}). Delete it.") from None
    return rec


def describe(run: Run) -> str:
    """What a run is, in short lines (a notebook's output in a 672 px panel shows 69 characters): its name, what
    trained it, how far, on which words, with which settings, and whether batch norm is calibrated."""
    how = ["interrupted"] * run.interrupted + ["blew up: the loss stayed far above its start"] * run.blew_up
    flags = f" ({'; '.join(how)})" if how else ""
    changes = {k: v for k, v in run.cfg.changes().items() if k != "names"}
    settings = ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "the lesson's Config"
    words = sum(map(len, run.data.words))
    return (
        f"{run.name or 'unsaved run'}: trained with {run.backward}, {run.steps_done:,} of {run.cfg.steps:,} "
        f"steps{flags}\n  on {run.data.names} ({words:,} words), {settings}"
        + ("\n  batch norm calibrated" if run.bn is not None else "")
    )
