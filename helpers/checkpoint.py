"""Save and load the trained model: one file, artifacts/model.pt, the interface to everything after 03.

Introduced in 03_manual_backprop_training (writes it), 04 (adds the calibrated batch-norm statistics, and
nothing else), 05 and 06 (read it, with the Config and the data it was trained with). It records what
really happened, and it is a plain `torch.save` of a dict, loadable with nothing but torch:

    ckpt = torch.load("artifacts/model.pt", weights_only=True)
    ckpt["params"]    # {'C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias'}: tensors
    ckpt["bn"]        # {'mean', 'var'} once lesson 04 calibrated it, else None
    ckpt["config"]    # the Config that trained it (without the device): Config(**ckpt["config"])
    ckpt["training"]  # {'steps', 'steps_done', 'interrupted'}
    ckpt["data"]      # {'names': the word list's path, 'sha256': of its words, 'words': how many}
    ckpt["itos"]      # {0: '.', 1: 'a', ..., 26: 'z'}
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from . import config as settings  # note: read CHECKPOINT at call time, so tests can point it elsewhere
from .config import Config, show_path, write_file
from .dataset import Splits, itos, load_splits
from .errors import CheckpointError
from .model import PARAM_NAMES
from .train import TrainResult

FORMAT_VERSION = 2
RUN = {
    "trained": "notebooks/03_manual_backprop_training.ipynb (or `make run`)",
    "calibrated": "notebooks/04_batchnorm_calibration.ipynb (or `make run`)",
}


def _write(ckpt: dict, path: Path) -> Path:
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    try:
        write_file(path, buffer.getvalue())  # whole or not at all
    except OSError as e:
        raise CheckpointError(
            f"Could not write {show_path(path)} ({e.strerror or type(e).__name__})"
            f": is the disk full, or the folder read-only? The previous checkpoint, if there was "
            f"one, is unchanged."
        ) from e
    return path


def save_checkpoint(result: TrainResult, cfg: Config, data: Splits, path: str | os.PathLike | None = None) -> Path:
    """Lesson 03: the parameters `train` trained (result.params), how far it got, its Config and its data."""
    if not isinstance(result, TrainResult):
        raise CheckpointError(
            f"save_checkpoint needs the TrainResult that train() returned, not a "
            f"{type(result).__name__}: it saves the parameters that run trained. Nothing was written."
        )
    config = {k: v for k, v in cfg.to_dict().items() if k != "device"}  # note: a checkpoint loads on any device
    ckpt = {
        "format": FORMAT_VERSION,
        "params": {k: result.params[k].detach().cpu().clone() for k in PARAM_NAMES},
        "bn": None,
        "config": config,
        "itos": dict(itos),
        "training": {"steps": result.steps, "steps_done": result.steps_done, "interrupted": result.interrupted},
        "data": {"names": cfg.names, "sha256": data.sha256, "words": sum(map(len, data.words))},
    }
    return _write(ckpt, Path(settings.CHECKPOINT if path is None else path))


def save_calibration(bn: dict[str, torch.Tensor], path: str | os.PathLike | None = None) -> Path:
    """Lesson 04: add the calibrated batch-norm statistics to the checkpoint, and change nothing else in it."""
    path = Path(settings.CHECKPOINT if path is None else path)
    ckpt = load_checkpoint(path)
    h = ckpt["config"]["n_hidden"]
    if not (isinstance(bn, dict) and all(tuple(getattr(bn.get(k), "shape", ())) == (1, h) for k in ("mean", "var"))):
        raise CheckpointError(
            f"save_calibration needs {{'mean', 'var'}} of shape (1, {h}), what calibrate() returns "
            f"for this model. Nothing was written."
        )
    ckpt["bn"] = {k: bn[k].detach().cpu().clone() for k in ("mean", "var")}
    return _write(ckpt, path)


def load_checkpoint(path: str | os.PathLike | None = None, calibrated: bool = False, device: str = "cpu") -> dict:
    """Load and check a checkpoint; only tensors and plain data are unpickled (weights_only=True).

    With `calibrated=True` lesson 04 must have added its batch-norm statistics. `path`: artifacts/model.pt.
    """
    given, path = path, Path(settings.CHECKPOINT if path is None else path)
    if not path.is_file():
        where = f" (a relative path counts from the folder you run in: {show_path(Path.cwd())}; call load_checkpoint() "
        where += f"without a path for the lessons' {show_path(settings.CHECKPOINT)})"
        raise CheckpointError(
            f"No checkpoint at {show_path(path)}{where if given is not None and not Path(given).is_absolute() else ''}"
            f": run {RUN['trained']} first" + (f", then {RUN['calibrated']}." if calibrated else ".")
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to read the file is the same problem for a learner
        raise CheckpointError(
            f"{show_path(path)} is damaged or is not a checkpoint of this series (torch.load "
            f"raised {type(e).__name__}; only tensors and plain data are ever unpickled here, as "
            f"anything else could run arbitrary code). Delete it and run {RUN['trained']} again."
        ) from None
    _check_layout(ckpt, path)
    if calibrated and ckpt["bn"] is None:
        raise CheckpointError(
            f"{show_path(path)} has no calibrated batch-norm statistics yet: run {RUN['calibrated']}."
        )
    ckpt["params"] = {k: v.to(device) for k, v in ckpt["params"].items()}
    ckpt["bn"] = None if ckpt["bn"] is None else {k: v.to(device) for k, v in ckpt["bn"].items()}
    return ckpt


def load_run(calibrated: bool = False, device: str = "cpu") -> tuple[dict, Config, Splits]:
    """Lessons 04-06: the checkpoint, the Config that trained it, and its data, checked against its SHA-256."""
    ckpt = load_checkpoint(calibrated=calibrated, device=device)
    cfg = Config(**ckpt["config"], device=device)
    data = load_splits(cfg)
    if data.sha256 != ckpt["data"]["sha256"]:
        raise CheckpointError(
            f"The model was trained on other words than {show_path(data.path)} holds now (SHA-256 "
            f"{ckpt['data']['sha256'][:12]}..., now {data.sha256[:12]}...): the file changed since "
            f"lesson 03. Put the word list back, or run {RUN['trained']} again on this one."
        )
    return ckpt, cfg, data


def describe(ckpt: dict) -> str:
    """What the checkpoint says happened, in one line: 'trained for 18,600 of 200,000 steps (interrupted) ...'."""
    run, cfg = ckpt["training"], ckpt["config"]
    how = " (interrupted)" if run["interrupted"] else ""
    return (
        f"trained for {run['steps_done']:,} of {run['steps']:,} steps{how} on {ckpt['data']['names']} "
        f"({ckpt['data']['words']:,} words), batch_size {cfg['batch_size']}, learning rate {cfg['lr']:g}, "
        f"{cfg['lr_final']:g} from step {cfg['lr_decay_step']:,}"
        + ("; batch norm calibrated" if ckpt["bn"] is not None else "")
    )


def _check_layout(ckpt, path: Path) -> None:
    def bad(why: str):
        raise CheckpointError(
            f"{show_path(path)} is not a checkpoint of this series ({why}). Delete it and run {RUN['trained']} again."
        )

    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_VERSION:
        bad(
            f"format {ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r}, "
            f"expected {FORMAT_VERSION}"
        )
    missing = [k for k in ("params", "bn", "config", "itos", "training", "data") if k not in ckpt]
    if missing:
        bad(f"missing {', '.join(missing)}")
    params, cfg = ckpt["params"], ckpt["config"]
    try:
        saved = Config(**{k: cfg[k] for k in Config().to_dict() if k != "device"})  # note: every field, none left out
    except (TypeError, KeyError, ValueError) as err:
        bad(f"its config is not a Config: {err}")
    b, e, h, v = saved.block_size, saved.n_embd, saved.n_hidden, saved.vocab_size
    shapes = {"C": (v, e), "W1": (b * e, h), "b1": (h,), "W2": (h, v), "b2": (v,), "bngain": (1, h), "bnbias": (1, h)}
    for k, shape in shapes.items():
        if not isinstance(params, dict) or tuple(getattr(params.get(k), "shape", ())) != shape:
            bad(f"'params' must hold {k} of shape {shape}, as its config says")
    bn = ckpt["bn"]
    if bn is not None and (
        not isinstance(bn, dict) or any(tuple(getattr(bn.get(k), "shape", ())) != (1, h) for k in ("mean", "var"))
    ):
        bad("'bn' must be None or hold 'mean' and 'var' of shape (1, n_hidden)")
