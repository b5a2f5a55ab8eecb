"""Lessons 03-06 as a tinkering learner runs them (issue #16): every Config either runs through them or is
refused in lesson 03 with a reason, the text takes its numbers from the run, and comparisons with the
reference run appear only where they apply. The cells run in-process, as written, in a folder of their own."""

import re
import shutil
import subprocess

import pytest
from conftest import WORDS, lesson_cells, run_cells, script

from helpers import DataError, RunError, manual_backward
from helpers.config import ROOT

LESSONS = ("03_manual_backprop_training.ipynb", "04_batchnorm_calibration.ipynb", "05_evaluation.ipynb")


def run_lessons(config: str) -> str:
    """Lessons 03 to 06 with `cfg = Config(...)` in lesson 03's first cell; what they printed. To save time, lesson
    03's loop of 1,000 steps and its comparison take 50, and lesson 06 draws 200 names, not 1,000."""

    def edit(src: str) -> str:
        src = src.replace("cfg = Config()", f"cfg = Config({config})").replace(", 1000, g)", ", 200, g)")
        return src.replace("range(1000)", "range(50)").replace("steps=1000)", "steps=50)")

    return "".join(run_cells(lesson_cells(name), edit=edit)[1] for name in (*LESSONS, "06_sampling.ipynb"))


@pytest.mark.parametrize(
    "config, facts",
    [
        (
            "n_hidden=50, batch_size=4096, steps=30",
            [
                "a batch of 4096, partners A",
                "batches of 4096",
                "n_hidden=50",
                "one batch of 4096 against",
                "averaged over the 50 neurons",
            ],
        ),
        ("steps=0", ["never trained (0 steps)", "empty (the model stopped at once)"]),
        ("lr=50.0, steps=1100", ["these runs did not learn (cfg.lr=50.0", "(blew up", "this run blew up"]),
        ('names="words.txt", steps=300', ["it learned other words, so neither the reference run"]),
    ],
)
def test_an_unusual_config_runs_through_the_lessons(names, home, config, facts):
    (home / "words.txt").write_text("\n".join(WORDS))
    out = run_lessons(config)
    assert all(fact in out for fact in facts), [f for f in facts if f not in out]
    assert "better model" not in out and "reference run gave" not in out
    assert "batch of 32" not in out or "batch_size" not in config
    if "steps=0" in config:  # an empty sample is not a new name
        assert not re.search(r"some new ones: (, |$)|, ,", out, re.M)


def test_a_list_too_small_for_a_batch_is_refused_in_lesson_03(names, home):
    (home / "seven.txt").write_text("\n".join(WORDS[:7]))
    with pytest.raises(DataError, match=r"batch_size=32.*the training split has"):
        run_cells(lesson_cells(LESSONS[0])[:1], edit=lambda src: src.replace("Config()", 'Config(names="seven.txt")'))


@pytest.mark.parametrize("name, lesson", [(LESSONS[1], "03_manual_backprop_training"), (LESSONS[2], "03_manual")])
def test_lessons_opened_too_early_name_the_lesson_to_run(names, name, lesson):
    with pytest.raises(RunError, match=lesson):
        run_cells(lesson_cells(name)[:1])


def test_the_exercise_notebook_trains_only_with_a_passing_backward_and_saves_only_when_asked(names, home):
    """Issue #25, case 10: exercises/03 with exercise 4 not passing says so and trains nothing; once it passes, it
    trains with the learner's backward, and the run becomes the one lessons 04-06 read only with SAVE = True."""
    nb = script("make_exercises").build(ROOT / "notebooks/03_manual_backprop_training.ipynb")  # not the learner's copy
    cells = {c.id: c for c in nb.cells}
    ns, _ = run_cells([cells["cell-01"]], edit=lambda src: src.replace("Config()", "Config(steps=50)"))
    checks = {solved: type("Checks", (), {"solved": lambda self, e, s=solved: s})() for solved in (False, True)}
    ns |= {"ex": checks[False], "backward": None}
    _, out = run_cells([cells["cell-10"], cells["check-log"], cells["cell-12"], cells["cell-14"]], ns)
    assert ns["run"] is None and out.count("skipped: ") == 3 and "not saved" in out
    ns |= {"ex": checks[True], "backward": manual_backward}  # a learner's backward that passes
    _, out = run_cells([cells["cell-10"], cells["cell-14"]], ns)
    assert ns["run"].steps_done == 50 and "not saved" in out and not (home / "artifacts").exists()
    run_cells([cells["cell-14"]], ns, edit=lambda src: src.replace("SAVE = False", "SAVE = True"))
    assert [p.name for p in (home / "artifacts/runs").iterdir()] == ["run-001.pt"]


def test_make_clean_removes_only_what_the_project_made(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    (tmp_path / "artifacts/runs").mkdir(parents=True)
    mine = ("artifacts/runs/run-001-Copy1.pt", "artifacts/runs/run-042-best.pt")  # JupyterLab's copy; a renamed one
    for name in ("artifacts/runs/run-001.pt", "artifacts/runs/run-1000.pt", *mine, "artifacts/notes.txt", ".test/x"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "names.txt").write_text("my own words\n")
    out = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "removed artifacts/runs/run-001.pt" in out and "removed artifacts/runs/run-1000.pt" in out
    assert "removed .test/" in out and "Copy1" not in out and "best" not in out
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["notes.txt", "runs"]
    assert sorted(p.name for p in (tmp_path / "artifacts/runs").iterdir()) == ["run-001-Copy1.pt", "run-042-best.pt"]
    assert (tmp_path / "names.txt").read_text() == "my own words\n"  # the repository's file, changed: the learner's
    shutil.copy(ROOT / "names.txt", tmp_path / "names.txt")
    subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, check=True)
    assert (tmp_path / "names.txt").read_bytes() == (ROOT / "names.txt").read_bytes()  # the data set is tracked: kept
