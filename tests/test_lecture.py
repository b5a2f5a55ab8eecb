"""tools/lecture.py on copies of the lecture's own notebook made by tests/lecture_form.py: `make check` on the one
handed out (what a learner reads; nothing of theirs or of the repository changed), and the lecture's typical mistakes
judged (the verdicts, and the mistake each matches). The solved and a half-done one among a class: test_grade.py."""

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import nbformat
from lecture_form import HANDED_OUT, lecture

from helpers.config import ROOT
from helpers.exercises import EXERCISES

sys.path.insert(0, str(ROOT / "tools"))  # grade.py imports lecture.py and make_exercises.py beside it
import grade  # noqa: E402

lec = grade.lecture
ALL = [*EXERCISES]
DC_INDEX = "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))"
DC_ASSIGNED = "dC = torch.zeros_like(C)\nfor k in range(n):\n    for j in range(3):\n        dC[Xb[k, j]] = demb[k, j]"
MISTAKES = {  # Bessel's correction dropped; dC assigned, not accumulated; dlogits not divided by n in the loop
    "3": lambda s: s.replace("n / (n - 1) * ", ""),
    "1": lambda s: s.replace(DC_INDEX, DC_ASSIGNED),
    "4": lambda s: s.replace("        dlogits /= n\n", ""),
}


def git_status() -> list[str]:
    """Every path git sees changed, new or ignored, but Python's __pycache__/ (make check sets PYTHONDONTWRITEBYTECODE;
    make test's other jobs import beside this one)."""
    out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "__pycache__" not in line]


def test_make_check_on_the_notebook_as_handed_out(names, tmp_path):
    (path := tmp_path / "learner" / "makemore_part4_backprop.ipynb").parent.mkdir()
    nbformat.write(lecture(**HANDED_OUT), path)
    before, status = path.read_bytes(), git_status()
    env = os.environ | {"NINJA_HOME": str(names.parent), "PYTHONDONTWRITEBYTECODE": "1"}  # as make check runs it
    cmd = [sys.executable, str(ROOT / "tools" / "grade.py"), str(path), "--steps=200"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    assert path.read_bytes() == before and git_status() == status and [*path.parent.iterdir()] == [path]
    assert dict(re.findall(r"^  (\w+) +(done|wrong|part|-) ", out, re.M)) == dict.fromkeys(ALL, "-")
    # its loop stops at its own break (after step 100), before the 200 steps of the check; its !wget is not run
    assert re.search(r"^note: .* 101 of its 200,000 steps$", out, re.M) and re.search(
        r"^note: cell 3's !wget ", out, re.M
    )
    assert re.search(r"^error: TypeError in cell \d+ \(exercise 3\)", out, re.M)  # the lecture's cmp, given None


def test_the_typical_mistakes_are_wrong_with_their_key(names, tmp_path):
    (path := tmp_path / "mistakes.ipynb").write_text(nbformat.writes(lecture(hidden=(100, 128), **MISTAKES)))
    plan = dict.fromkeys(("02", "03"), {"ids": set(), "text": {}})  # no exercise notebook's cells: the lecture's
    args = SimpleNamespace(memory=3000, steps=50, timeout=120)
    row, lesson, answers, cells = grade.execute(path, tmp_path, names.parent, args, plan)
    exs, notes = lec.judge(grade.decode(answers["lecture"]["values"]), cells)
    assert lesson == "lecture" and row["error"] == "" and notes[0].endswith(" 50 of 200,000 steps")
    row = grade.summarise(row, exs)
    assert {e: row[e] for e in ALL} == dict.fromkeys(ALL, "done") | dict.fromkeys(["1d", "3", "4", "4b"], "wrong")
    mistakes = {f"{f.exercise} {f.name}": f.mistake for ex in exs for f in ex.results.values() if not f.passed}
    want = {"1d C": "dC_assign", "3 hprebn": "bessel", "4 W2": "missing_1/n", "4 b2": "missing_1/n"}
    assert {k: mistakes.get(k) for k in want} == want


def test_the_lecture_is_known_by_its_code_its_cells_by_their_exercise_comment():
    nb = lecture()
    assert lec.is_lecture(nb) and not lec.is_lecture(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    marks = [re.findall(r"\(exercise (\d)\)$", c.metadata["grading"]) for c in lec.instrument(nb, "", 1).cells]
    assert marks == [[]] * 8 + [["1"], ["2"], ["2"], ["3"], ["3"], ["4"], ["4"]]  # the grader's set-up first
