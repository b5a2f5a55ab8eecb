"""`make check` (issue #23) on copies of the lecture's own notebook made by tests/lecture_form.py: the report a
learner reads, with the hint at the first wrong step, and nothing of theirs or of the repository changed. The
verdicts of many such copies, mixed with exercise notebooks in one class: test_grade.py."""

import os
import re
import subprocess
import sys

import nbformat
from conftest import script
from lecture_form import HANDED_OUT, lecture

from helpers.config import ROOT

lec = script("lecture")


def check(nb, folder, home) -> str:
    """What `make check NOTEBOOK=...` prints for `nb`, saved in `folder`; the file and the repository unchanged."""
    (path := folder / "learner" / "makemore_part4_backprop.ipynb").parent.mkdir()
    nbformat.write(nb, path)
    before, status = path.read_bytes(), git_status()
    env = os.environ | {"NINJA_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}  # as make check runs it
    cmd = [sys.executable, str(ROOT / "tools" / "grade.py"), str(path), "--steps=100"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == before and git_status() == status and [*path.parent.iterdir()] == [path]
    return done.stdout


def git_status() -> list[str]:
    """Every path git sees changed, new or ignored, but Python's __pycache__/ (make check sets PYTHONDONTWRITEBYTECODE;
    make test's other jobs import beside this one)."""
    git = ["git", "status", "--porcelain", "--ignored"]
    out = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "__pycache__" not in line]


def verdicts(out: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+) +(done|wrong|part|-) ", out, re.M))


def test_the_notebook_as_handed_out_is_not_attempted_anywhere(names, tmp_path):
    out = check(lecture(**HANDED_OUT), tmp_path, names.parent)
    assert set(verdicts(out).values()) == {"-"} and len(verdicts(out)) == 8
    joined = " ".join(out.split())  # the checks' lines are wrapped to fit a notebook panel
    assert "· dlogprobs not attempted yet: no dlogprobs in exercise 1's cells, and no cmp('logprobs'" in joined
    assert "· dhprebn not attempted yet: `dhprebn` is still `None`" in joined  # exercise 3's cmp line runs
    assert "· params not attempted yet: your loop updates with autograd's p.grad" in joined
    assert "note: exercise 4's loop cut to its first 100 of 200,000 steps" in out
    assert "note: your loop still runs loss.backward()" in out and "!wget https://" in out


def test_a_mistake_gets_the_hint_at_the_first_wrong_step(names, tmp_path):
    out = check(lecture(**{"4": lambda s: s.replace("        dlogits /= n\n", "")}), tmp_path, names.parent)
    assert verdicts(out) == dict.fromkeys(["1a", "1b", "1c", "1d", "2", "3"], "done") | {"4": "wrong", "4b": "wrong"}
    joined = " ".join(out.split())  # the checks' lines are wrapped to fit a notebook panel
    assert re.search(r"✗ dW2 [^✗]* hint: n times too large: a factor 1/n is missing", joined)
    assert "→ start with the cross-entropy step (dlogits)" in joined
    assert "  4   wrong 0 of 7 right (the whole backward pass); first wrong: dW2 (wrong values)" in out
    assert "✗ params wrong values: they differ from autograd's after 100 steps" in joined


def test_a_cmp_belongs_to_the_exercise_its_cell_is_in():
    both = {"logits", "probs"}
    assert [lec._exercise_of("logits", m, both) for m in ("1", "2", "3", None)] == ["1a", "2", "1a", "1a"]
    assert [lec._exercise_of("hprebn", m, {"hprebn", "logits"}) for m in ("1", "3", None)] == ["1c", "3", "3"]
    assert lec._exercise_of("h", "2", set()) == "1b" and lec._exercise_of("logits_fast", "1", set()) is None


def test_the_lecture_is_known_by_its_code_and_its_exercises_by_their_comments():
    nb = lecture()
    assert lec.is_lecture(nb) and not lec.is_lecture(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    marks = lec.markers(nb)
    assert marks[0] is None and marks[-3:] == ["4", "4", "4"] and marks.count("2") == 2 and marks.count("1") == 1
    assert lec.out_of_order(nb) == ""
    counts = iter([1, 2, 7, 3])
    for c in nb.cells[1:5]:
        c.execution_count = next(counts)
    assert re.match(r"its cells were last run out of order \(In \[7\] above In \[3\]\)", lec.out_of_order(nb))
