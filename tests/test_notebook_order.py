"""Lessons opened out of order: 04, 05 or 06 before 03 (or 05/06 before 04) stop at the first cell that
needs the checkpoint, with a message naming the notebook to run. The cells run in-process, as written."""

import os

import matplotlib
import nbformat
import pytest

import helpers
from helpers import CheckpointError, Config, TrainResult, init_params, load_splits, make_generator, save_checkpoint
from helpers.config import ROOT

matplotlib.use("Agg")
NOTEBOOKS = ROOT / "notebooks"


def run_until_checkpoint_loaded(name: str) -> None:
    """Execute the notebook's code cells in order, up to and including the first that loads the checkpoint."""
    cells = [c.source for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells if c.cell_type == "code"]
    upto = next(i for i, src in enumerate(cells) if "load_run(" in src)
    ns: dict = {}
    cwd = os.getcwd()
    os.chdir(NOTEBOOKS)  # as Jupyter does
    try:
        for i, src in enumerate(cells[: upto + 1]):
            try:
                exec(compile(src, f"{name} cell {i}", "exec"), ns)
            except CheckpointError:
                assert i == upto, f"{name}: cell {i} failed before the cell that loads the checkpoint"
                raise
    finally:
        os.chdir(cwd)


@pytest.fixture
def checkpoint(tmp_path, monkeypatch, names_path):
    path = tmp_path / "artifacts" / "model.pt"
    monkeypatch.setattr(helpers.config, "CHECKPOINT", path)
    return path


@pytest.mark.parametrize(
    "name, also",
    [
        ("04_batchnorm_calibration.ipynb", None),
        ("05_evaluation.ipynb", "04_batchnorm_calibration"),
        ("06_sampling.ipynb", "04_batchnorm_calibration"),
    ],
)
def test_before_lesson_03_the_message_names_it(checkpoint, name, also):
    with pytest.raises(CheckpointError) as e:
        run_until_checkpoint_loaded(name)
    message = str(e.value)
    assert "No checkpoint" in message and "03_manual_backprop_training" in message and "make run" in message
    assert also is None or also in message
    assert str(ROOT) not in message  # no machine paths in what a notebook shows


def untrained(checkpoint) -> None:
    cfg = Config()
    result = TrainResult(params=init_params(cfg, make_generator(cfg)), steps=0)
    save_checkpoint(result, cfg, load_splits(cfg), path=checkpoint)


@pytest.mark.parametrize("name", ["05_evaluation.ipynb", "06_sampling.ipynb"])
def test_before_lesson_04_the_message_names_it(checkpoint, name):
    untrained(checkpoint)
    with pytest.raises(CheckpointError, match="no calibrated batch-norm statistics yet: run notebooks/04"):
        run_until_checkpoint_loaded(name)


def test_lesson_04_loads_a_trained_checkpoint(checkpoint):
    untrained(checkpoint)
    run_until_checkpoint_loaded("04_batchnorm_calibration.ipynb")  # no error: 04 needs no calibration yet
