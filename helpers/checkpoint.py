"""Save and load the trained model: one file, artifacts/model.pt, the interface to everything after 03.

Introduced in 03_manual_backprop_training (writes it), 04 (adds the calibrated batch-norm statistics),
05 and 06 (read it). The file is a plain `torch.save` of a dict, so code outside this repository can
load it with nothing but torch:

    ckpt = torch.load("artifacts/model.pt", weights_only=True)
    ckpt["params"]   # {'C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias'}: tensors
    ckpt["bn"]       # {'mean', 'var'} once lesson 04 calibrated it, else None
    ckpt["config"]   # block_size, n_embd, n_hidden, vocab_size, steps, batch_size, lr..., seeds, threads
    ckpt["itos"]     # {0: '.', 1: 'a', ..., 26: 'z'}
    ckpt["data_sha256"]  # SHA-256 of the names.txt it was trained on
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from . import config as settings  # note: read CHECKPOINT at call time, so tests can point it elsewhere
from .config import Config, show_path
from .errors import CheckpointError
from .model import PARAM_NAMES

FORMAT_VERSION = 1
# the fields that decide the shapes of the parameters: a checkpoint must match them to be usable
ARCH_FIELDS = ("block_size", "n_embd", "n_hidden", "vocab_size")
MAKES = {
    "trained": "notebooks/03_manual_backprop_training.ipynb (or `make run`)",
    "calibrated": "notebooks/04_batchnorm_calibration.ipynb (or `make run`)",
}


def save_checkpoint(
    params: dict[str, torch.Tensor],
    cfg: Config,
    itos: dict[int, str],
    data_sha256: str,
    bn: dict[str, torch.Tensor] | None = None,
    path: str | os.PathLike | None = None,
) -> Path:
    """Write the checkpoint atomically: to a temporary file beside it, then renamed over the old one,
    so a crash mid-write leaves the previous checkpoint intact. `path` defaults to artifacts/model.pt."""
    path = Path(settings.CHECKPOINT if path is None else path)
    missing = [k for k in PARAM_NAMES if not (isinstance(params, dict) and isinstance(params.get(k), torch.Tensor))]
    if missing:
        raise CheckpointError(
            f"save_checkpoint needs every parameter as a tensor; missing {', '.join(missing)}. "
            f"Pass the dict that helpers.init_params made (and train trained). "
            f"Nothing was written."
        )
    config = cfg.to_dict()
    del config["device"]  # note: a checkpoint loads on any device, so it does not record one
    ckpt = {
        "format": FORMAT_VERSION,
        "params": {k: params[k].detach().cpu().clone() for k in PARAM_NAMES},
        "bn": None if bn is None else {k: bn[k].detach().cpu().clone() for k in ("mean", "var")},
        "config": config,
        "itos": dict(itos),
        "data_sha256": data_sha256,
    }
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        # note: torch reports a failed write of its zip file as a RuntimeError
        why = getattr(e, "strerror", None) or type(e).__name__
        raise CheckpointError(
            f"Could not write {show_path(path)} ({why}): is the disk full, or the folder "
            f"read-only? The previous checkpoint, if there was one, is unchanged."
        ) from e
    finally:
        # note: also on Ctrl-C: no half-written temporary file is left beside the checkpoint
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(
    path: str | os.PathLike | None = None,
    cfg: Config | None = None,
    data_sha256: str | None = None,
    calibrated: bool = False,
) -> dict:
    """Load and check a checkpoint: only tensors and plain data are unpickled (weights_only=True).

    With `cfg` the model's shape must match it; with `data_sha256` it must have been trained on that
    data; with `calibrated=True` lesson 04 must have added its batch-norm statistics. Tensors land on
    cfg.device when a cfg is given. `path` defaults to artifacts/model.pt.
    """
    path = Path(settings.CHECKPOINT if path is None else path)
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint at {show_path(path)}: run {MAKES['trained']} first"
            + (f", then {MAKES['calibrated']}." if calibrated else ".")
        )
    try:
        with warnings.catch_warnings():
            # note: a foreign pickle makes torch warn about its protocol; the error below says more
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to read the file is the same problem for a learner
        raise CheckpointError(
            f"{show_path(path)} is damaged or is not a checkpoint of this series (torch.load "
            f"raised {type(e).__name__}; only tensors and plain data are ever unpickled here, "
            f"as anything else could run arbitrary code). Delete it and run {MAKES['trained']} "
            f"again."
        ) from None
    _check_layout(ckpt, path)
    if cfg is not None:
        diff = [
            f"{k}: checkpoint {ckpt['config'][k]}, this notebook {getattr(cfg, k)}"
            for k in ARCH_FIELDS
            if ckpt["config"][k] != getattr(cfg, k)
        ]
        if diff:
            raise CheckpointError(
                f"{show_path(path)} was trained with another model shape ({'; '.join(diff)}). "
                f"Use the same Config as lesson 03, or run {MAKES['trained']} again with this one."
            )
    if data_sha256 is not None and ckpt["data_sha256"] != data_sha256:
        raise CheckpointError(
            f"{show_path(path)} was trained on other data (names.txt SHA-256 "
            f"{ckpt['data_sha256'][:12]}..., yours {data_sha256[:12]}...). "
            f"Run {MAKES['trained']} again on this data."
        )
    if calibrated and ckpt["bn"] is None:
        raise CheckpointError(
            f"{show_path(path)} has no calibrated batch-norm statistics yet: run {MAKES['calibrated']}."
        )
    if cfg is not None:
        ckpt["params"] = {k: v.to(cfg.device) for k, v in ckpt["params"].items()}
        if ckpt["bn"] is not None:
            ckpt["bn"] = {k: v.to(cfg.device) for k, v in ckpt["bn"].items()}
    return ckpt


def _check_layout(ckpt, path: Path) -> None:
    def bad(why: str):
        raise CheckpointError(
            f"{show_path(path)} is not a checkpoint of this series ({why}). Delete it and run {MAKES['trained']} again."
        )

    if not isinstance(ckpt, dict):
        bad(f"it holds a {type(ckpt).__name__}, not a dict")
    missing = [k for k in ("params", "bn", "config", "itos", "data_sha256") if k not in ckpt]
    if missing:
        bad(f"missing {', '.join(missing)}")
    if ckpt.get("format") != FORMAT_VERSION:
        bad(f"format {ckpt.get('format')!r}, expected {FORMAT_VERSION}")
    params, config = ckpt["params"], ckpt["config"]
    if not isinstance(params, dict) or any(not isinstance(params.get(k), torch.Tensor) for k in PARAM_NAMES):
        bad(f"'params' must hold the tensors {', '.join(PARAM_NAMES)}")
    if not isinstance(config, dict) or any(not isinstance(config.get(k), int) for k in ARCH_FIELDS):
        bad(f"'config' must hold {', '.join(ARCH_FIELDS)}")
    if not isinstance(ckpt["data_sha256"], str):
        bad("'data_sha256' must be the SHA-256 of names.txt, as text")
    itos = ckpt["itos"]
    if not isinstance(itos, dict) or any(not (isinstance(k, int) and isinstance(c, str)) for k, c in itos.items()):
        bad("'itos' must map indices to characters")
    b, e, h, v = (config[k] for k in ARCH_FIELDS)
    shapes = {"C": (v, e), "W1": (b * e, h), "b1": (h,), "W2": (h, v), "b2": (v,), "bngain": (1, h), "bnbias": (1, h)}
    for k, shape in shapes.items():
        if tuple(params[k].shape) != shape:
            bad(f"{k} has shape {tuple(params[k].shape)}, its config says {shape}")
    bn = ckpt["bn"]
    if bn is not None and (
        not isinstance(bn, dict) or any(tuple(bn.get(k, torch.empty(0)).shape) != (1, h) for k in ("mean", "var"))
    ):
        bad("'bn' must be None or hold 'mean' and 'var' of shape (1, n_hidden)")
