"""The saved model tells the truth, and nothing of the learner's is lost or mislabelled (issue #11).

Each test is one case a tinkering learner met: a short or interrupted run, another Config, their own word
list, names.txt replaced by make setup, parameters re-made after training, a run that blows up.
"""

from __future__ import annotations

import dataclasses
import math
import signal

import matplotlib
import pytest
import torch
from support import TINY, WORDS, fetch_names, fresh, names_mod, tiny_data, tiny_run, write

import helpers
from helpers import (
    CheckpointError,
    Config,
    calibrate,
    describe,
    init_params,
    load_checkpoint,
    load_run,
    make_generator,
    sample_names,
    save_calibration,
    save_checkpoint,
    train,
)
from helpers.dataset import build_dataset
from helpers.errors import DataError
from helpers.plots import plot_loss_curve
from helpers.reference import REFERENCE, compare_with_reference

matplotlib.use("Agg")


@pytest.fixture
def lessons_checkpoint(tmp_path, monkeypatch):
    """Point the lessons' artifacts/model.pt (what load_run reads) into tmp_path."""
    path = tmp_path / "artifacts" / "model.pt"
    monkeypatch.setattr(helpers.config, "CHECKPOINT", path)
    return path


def interrupt_at(step: int):
    """A backward that sends Ctrl-C to the process at a given step, as 'interrupt kernel' does."""
    calls = []

    def backward(params, cache):
        calls.append(1)
        if len(calls) == step:
            signal.raise_signal(signal.SIGINT)
        return helpers.manual_backward(params, cache)

    return backward


def test_the_checkpoint_records_an_interrupted_run_as_such(tmp_path, lessons_checkpoint):
    result, cfg, data = tiny_run(tmp_path, steps=40, backward=interrupt_at(18))
    assert result.interrupted and result.steps_done == 18
    save_checkpoint(result, cfg, data)
    ckpt, _, _ = load_run()
    assert ckpt["training"] == {"steps": 40, "steps_done": 18, "interrupted": True}
    assert "trained for 18 of 40 steps (interrupted)" in describe(ckpt)


def test_lesson_04_adds_its_statistics_and_rewrites_nothing_else(tmp_path, lessons_checkpoint):
    big = dataclasses.replace(TINY, batch_size=24, lr=0.05)
    result, cfg, data = tiny_run(tmp_path, big, steps=7)
    save_checkpoint(result, cfg, data)
    before = load_checkpoint()
    ckpt, cfg04, data04 = load_run()  # what lesson 04 does: its Config comes from the checkpoint
    assert cfg04 == cfg and cfg04.batch_size == 24
    save_calibration(calibrate(ckpt["params"], data04.Xtr))
    after = load_checkpoint(calibrated=True)
    for key in ("config", "training", "data", "itos"):
        assert after[key] == before[key], key
    assert "batch_size 24" in describe(after) and "trained for 7 of 7 steps" in describe(after)


def test_own_word_list_is_read_back_and_checked_by_its_own_checksum(tmp_path, lessons_checkpoint):
    result, cfg, data = tiny_run(tmp_path)
    save_checkpoint(result, cfg, data)
    ckpt, cfg_back, data_back = load_run()
    assert cfg_back.names == cfg.names and data_back.sha256 == data.sha256 != REFERENCE["data_sha256"]
    assert ckpt["data"]["names"].endswith("words.txt")
    # the same words with Windows line endings are the same data
    write(tmp_path / "words.txt", "\r\n".join(WORDS) + "\r\n")
    load_run()
    # other words are not: the message names the file, and the fix
    write(tmp_path / "words.txt", "\n".join(WORDS[:-1] + ["zed"]))
    with pytest.raises(CheckpointError) as e:
        load_run()
    assert "words.txt" in str(e.value) and "other words" in str(e.value)


def test_make_setup_moves_a_learners_names_txt_aside(tmp_path, capsys):
    good = write(tmp_path / "good.txt", "emma\nolivia\n")
    mine = write(tmp_path / "names.txt", "my\nown\nnames\n")
    sha = names_mod.sha256_file(good)
    fetch_names(mine, source=str(good), sha256=sha)
    backups = list(tmp_path.glob("names.txt.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == "my\nown\nnames\n"
    assert mine.read_text() == "emma\nolivia\n"
    assert backups[0].name in capsys.readouterr().out


def test_parameters_made_again_after_training_cannot_replace_the_trained_ones(tmp_path):
    result, cfg, data = tiny_run(tmp_path, steps=20)
    trained = {k: v.clone() for k, v in result.params.items()}
    params, g = fresh(cfg)  # what rerunning lesson 03's gradient-check cell does after training
    path = save_checkpoint(result, cfg, data, path=tmp_path / "model.pt")
    saved = load_checkpoint(path)["params"]
    assert all(torch.equal(saved[k], trained[k]) for k in trained)
    assert not torch.equal(saved["W1"], params["W1"])


def test_lesson_03_saves_what_train_returned():
    import nbformat

    cells = [
        c.source
        for c in nbformat.read(
            helpers.config.ROOT / "notebooks" / "03_manual_backprop_training.ipynb", as_version=4
        ).cells
        if c.cell_type == "code"
    ]
    save = [src for src in cells if "save_checkpoint(" in src]
    assert len(save) == 1 and "save_checkpoint(result," in save[0]


def test_an_interrupt_can_stop_the_whole_cell(tmp_path):
    with pytest.raises(KeyboardInterrupt, match="after 3 of 40 steps"):
        tiny_run(tmp_path, steps=40, backward=interrupt_at(3), on_interrupt="raise")


def test_losses_of_another_run_are_described_not_failed(tmp_path):
    result, cfg, data = tiny_run(tmp_path, dataclasses.replace(TINY, batch_size=64), steps=40)
    save_checkpoint(result, cfg, data, path=tmp_path / "model.pt")
    ckpt = load_checkpoint(tmp_path / "model.pt")
    better = {"train": 2.05, "val": 2.1012, "test": 2.10}  # what batch_size=64 gives on the real data
    text = compare_with_reference(ckpt, better)
    assert "Not the reference run" in text and "batch_size=64" in text and "a better model, not an error" in text
    ckpt["training"]["steps_done"] = 0
    assert "never trained" in compare_with_reference(ckpt, better)


def test_the_reference_run_must_match_the_reference_numbers():
    ckpt = {
        "config": {k: v for k, v in Config().to_dict().items() if k != "device"},
        "training": {"steps": 200_000, "steps_done": 200_000, "interrupted": False},
        "data": {"sha256": REFERENCE["data_sha256"], "names": "names.txt"},
    }
    assert "reference run's losses" in compare_with_reference(ckpt, dict(REFERENCE["split_loss"]))
    with pytest.raises(AssertionError, match="the val loss is 2.1200"):
        compare_with_reference(ckpt, {**REFERENCE["split_loss"], "val": 2.12})


def test_sampling_without_calibrated_statistics_says_what_to_run():
    params = init_params(TINY, make_generator(TINY))
    with pytest.raises(ValueError, match="04_batchnorm_calibration"):
        sample_names(params, None, TINY.block_size, 1, torch.Generator().manual_seed(0))


def test_calibrating_on_one_example_is_refused():
    params = init_params(TINY, make_generator(TINY))
    X, _ = tiny_data()
    with pytest.raises(ValueError, match="at least 2 examples, got 1"):
        calibrate(params, X[:1])


def test_a_run_that_blows_up_without_reaching_inf_is_reported_with_its_step():
    cfg = dataclasses.replace(TINY, lr=50.0)
    params, g = fresh(cfg)
    X, Y = tiny_data()
    with pytest.warns(RuntimeWarning, match=r"step \d+: the batch loss .* training is blowing up") as w:
        result = train(params, X, Y, cfg, g, steps=3000, progress=False, log_every=0)
    assert result.steps_done == 3000 and len(w) == 1  # a warning, once: the run itself goes on


def test_a_relative_checkpoint_path_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="relative path counts from the folder you run in"):
        load_checkpoint("artifacts/model.pt")


def test_a_short_run_still_has_a_loss_curve_labelled_with_its_learning_rates():
    cfg = dataclasses.replace(TINY, lr=0.2, lr_final=0.02, lr_decay_step=200)
    fig = plot_loss_curve([math.log10(3.0 - i / 300) for i in range(500)], cfg)
    ax = fig.axes[0]
    assert len(ax.lines[0].get_xdata()) == 10  # 500 steps, in windows of 50
    assert ax.get_legend().get_texts()[0].get_text() == "learning rate 0.2 -> 0.02"


def test_build_dataset_refuses_a_string():
    with pytest.raises(DataError, match="list of words"):
        build_dataset("emma")


def test_the_readme_states_the_config_rules_the_code_has():
    readme = (helpers.config.ROOT / "README.md").read_text()
    assert "| `vocab_size` | an integer >= 2" not in readme and "| `vocab_size` | 27" in readme


def test_default_lesson_names_resolve_to_the_repository_copy():
    assert Config().names_path == helpers.config.ROOT / "names.txt"
    assert Config(names="/data/words.txt").names_path.as_posix() == "/data/words.txt"
