"""Saved runs: a run knows what it is, a save never overwrites another, a damaged file is refused (never
unpickled), and nothing is half-written (issue #16, cases 1 and 3)."""

import dataclasses
import errno
import pickle

import pytest
import torch
from conftest import TINY, interrupt_at, quiet

from helpers import PARAM_NAMES, RunError, TrainingDiverged
from helpers.runs import describe, load_run, restore_run, save_calibration, save_run


def files(home):
    return sorted(p.name for p in (home / "artifacts" / "runs").iterdir())


def test_a_saved_run_comes_back_as_it_was(words):
    run = quiet(dataclasses.replace(TINY, lr=0.05, n_hidden=12))
    assert save_run(run).name == "run-001.pt" and save_run(run).name == "run-001.pt"  # saving twice: one file
    back = load_run()
    assert back.name == "run-001" and back.cfg == run.cfg and back.data.sha256 == run.data.sha256
    assert all(torch.equal(back.params[k], run.params[k]) for k in PARAM_NAMES) and back.bn is None
    assert (back.steps_done, back.interrupted, back.backward) == (40, False, "helpers.manual_backward")
    assert "run-001: trained with helpers.manual_backward, 40 of 40 steps" in describe(back)
    assert "n_hidden=12" in describe(back) and "lr=0.05" in describe(back) and "words.txt (400 words)" in describe(back)
    back.bn = {k: torch.rand(1, 12) for k in ("mean", "var")}
    save_calibration(back)
    again = load_run(calibrated=True)
    assert torch.equal(again.bn["var"], back.bn["var"]) and all(
        torch.equal(again.params[k], run.params[k]) for k in PARAM_NAMES
    )
    # plain torch: code outside this repository reads it without helpers
    rec = torch.load(words.parent / "artifacts/runs/run-001.pt", weights_only=True)
    assert set(rec) == {"format", "params", "bn", "config", "data", "training"} and rec["config"]["lr"] == 0.05


def test_an_interrupted_run_never_replaces_the_one_before(words, home):
    """Case 1: Ctrl-C during Run All, then the save cell."""
    save_run(quiet())
    cut = quiet(backward=interrupt_at(7))
    before = (home / "artifacts/runs/run-001.pt").read_bytes()
    save_run(cut)
    assert files(home) == ["run-001.pt", "run-002.pt"] and (home / "artifacts/runs/run-001.pt").read_bytes() == before
    assert "trained with conftest.pressed, 7 of 40 steps (interrupted)" in describe(load_run())
    assert restore_run("run-001").name == "run-003.pt"  # the way back: a copy, the newest again
    assert load_run().steps_done == 40 and files(home) == ["run-001.pt", "run-002.pt", "run-003.pt"]


def test_a_run_saves_itself_not_the_settings_made_after_it(words, home):
    """Case 3: another Config made after training, or a run that raised, can't relabel a saved model."""
    run = quiet()
    cfg = dataclasses.replace(TINY, lr=1e30)  # the learner reruns the first cell with another Config...
    with pytest.raises(TrainingDiverged):  # ...and trains: a run that raised has nothing to save
        quiet(cfg)
    save_run(run)
    assert load_run().cfg.lr == TINY.lr and "lr=" not in describe(load_run())
    with pytest.raises(TypeError, match="Run that train"):
        save_run(run.params)
    assert files(home) == ["run-001.pt"]


def test_a_changed_word_list_is_named(words, home):
    save_run(quiet())
    words.write_text(words.read_text().replace("\n", "\r\n"))  # the same words, Windows line endings
    load_run()
    words.write_text("zed\n" + words.read_text())
    with pytest.raises(RunError, match="run-001 was trained on other words than words.txt"):
        load_run()


def fmt(n):
    return lambda p: torch.save(torch.load(p) | {"format": n}, p)


@pytest.mark.parametrize(
    "damage, fact",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:500]), "is damaged"),
        (lambda p: p.write_text("not a run\n"), "is damaged"),
        (lambda p: torch.save([1, 2], p), "not a dict of format"),
        (lambda p: torch.save(torch.load(p) | {"params": {}}, p), "C is not of shape"),
        (lambda p: torch.save(torch.load(p) | {"config": {"lr": -1}}, p), "Config.lr=-1"),
        (lambda p: torch.save(torch.load(p) | {"training": {}}, p), "training or data record"),
        # a run of another version of the series is not called damaged, nor is it to be deleted
        (fmt(5), "^(?!.*(damaged|Delete)).*format 5, from a newer version.*git pull"),
        (fmt(3), "^(?!.*(damaged|Delete)).*an older.*lesson 03"),
    ],
)
def test_a_damaged_run_is_refused(words, home, damage, fact):
    damage(save_run(quiet()))
    with pytest.raises(RunError, match=fact):
        load_run()


def test_only_the_runs_save_run_named_are_runs(words, home):
    """Copies of yours beside them (JupyterLab's run-001-Copy1.pt, a run-042-best.pt) are read by name only."""
    path = save_run(quiet())
    for name in ("run-001-Copy1.pt", "run-042-best.pt"):
        (path.parent / name).write_bytes(path.read_bytes())
    assert load_run().name == "run-001" and save_run(quiet()).name == "run-002.pt"
    assert load_run("run-042-best").name == "run-042-best" and load_run("run-2").name == "run-002"


def test_a_run_is_never_unpickled(words, home):
    flag, path = home / "code-ran", home / "artifacts" / "runs" / "run-001.pt"

    class Exploit:
        def __reduce__(self):
            return open, (str(flag), "w")

    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"format": 3, "params": Exploit()}, protocol=2))
    with pytest.raises(RunError, match="is damaged"):
        load_run()
    assert not flag.exists()


def test_missing_runs_say_what_to_run(home, words):
    with pytest.raises(RunError, match="No saved run.*03_manual_backprop_training"):
        load_run()
    save_run(quiet())
    with pytest.raises(RunError, match="no calibrated batch-norm statistics.*04_batchnorm"):
        load_run(calibrated=True)
    with pytest.raises(RunError, match="No run called 'run-009'.*run-001"):
        load_run("run-009")
    for n in range(2, 301):  # 300 runs: the message names how many and the first and last, not all of them
        (home / f"artifacts/runs/run-{n:03d}.pt").touch()
    with pytest.raises(RunError, match=r"'run-999' .*\(saved runs: 300 of them, run-001 to run-300\)\.$") as e:
        load_run("run-999")
    assert len(str(e.value)) < 120


@pytest.mark.parametrize("crash", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_leaves_what_was_there(words, home, monkeypatch, crash):
    run = quiet()
    save_run(quiet())
    before = (home / "artifacts/runs/run-001.pt").read_bytes()

    def fail(fd):
        raise crash

    monkeypatch.setattr("helpers.config.os.fsync", fail)
    with pytest.raises(RunError if isinstance(crash, OSError) else KeyboardInterrupt):
        save_run(run)
    assert files(home) == ["run-001.pt"] and (home / "artifacts/runs/run-001.pt").read_bytes() == before
