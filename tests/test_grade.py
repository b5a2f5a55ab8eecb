"""tools/grade.py (issues #20, #23) on a synthetic class made here from exercises/02 and 03 and from copies of the
lecture's own notebook (tests/lecture_form.py): answers right, wrong and half done, and every bad case the grader
must survive, each shown by as few notebooks as can show it. Each gets the row it should; the repository, and the
files outside the class's folder, are byte-identical afterwards."""

import csv
import functools
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import real_home, script
from lecture_form import HANDED_OUT, L02, colab, lecture, loop

from helpers.config import ROOT
from helpers.exercises import EXERCISES

NB02, NB03 = (gen := script("make_exercises")).SOURCES
# the time limit per notebook (the endless loop's row), lesson 03's run and the lecture's loop cut short, the MB a
# kernel may use, and the notebooks graded side by side: one more than the CPUs, as the endless loop sleeps
TIMEOUT, STEPS, MEMORY, JOBS = 30, 100, 3000, (os.cpu_count() or 1) + 1


@functools.cache
def template(name: str) -> str:
    """exercises/<name> as the generator makes it (not the copy in exercises/, which may hold the learner's answers)."""
    return gen.render(ROOT / "notebooks" / name)


def notebook(name: str, fill: bool = True, after: tuple = (), **edits):
    """exercises/<name>: its blanks filled with the lesson's solution cells, then the cell of each exercise in `edits`
    changed (a function of its source), and a new cell put after the cell of each (id, source) in `after`."""
    nb, ids = nbformat.reads(template(name), as_version=4), [e for e in EXERCISES if EXERCISES[e].lesson == name[:2]]
    answers = {c.id: c.source for c in nbformat.read(ROOT / "notebooks" / name, as_version=4).cells}
    ids = dict(zip([c.id for c in nb.cells if "exercise" in gen.tags(c)], ids, strict=True))
    for c in nb.cells:
        c.source = answers[c.id] if fill and c.id in ids else c.source
        c.source = edits[ids[c.id]](c.source) if ids.get(c.id) in edits else c.source
    for cell_id, source in after:
        nb.cells.insert(1 + [c.id for c in nb.cells].index(cell_id), nbformat.v4.new_code_cell(source))
    return nb


def swap(old: str, new: str):
    def edit(source: str) -> str:
        assert old in source, old
        return source.replace(old, new)

    return edit


# a notebook that bends the course's checks to pass everything, and answers zeros
TAMPER = """import helpers.exercises.checks as checks
checks.Exercises._judge = lambda self, ex, name, *args: checks.Feedback(ex.id, name, checks.EXACT, "bit for bit")"""
# a cell that tries to overwrite, delete and rename a file outside its folder, remove that folder, run a command and
# torch.save there (carrying on after each refusal), prints 12 MB, then takes more memory than its kernel may
MISBEHAVES = """import os, pathlib, shutil, torch
victim, folder = pathlib.Path({victim!r}), {folder!r}
attempts = [lambda: victim.write_text("overwritten"), lambda: os.remove(victim)]
attempts += [lambda: os.rename(victim, folder + "/moved"), lambda: shutil.rmtree(folder)]
attempts += [lambda: os.system("rm -rf " + folder), lambda: torch.save({{}}, folder + "/x.pt")]
for attempt in attempts:
    try:
        attempt()
    except PermissionError as e:
        print(e)
print(('y' * 99 + '\\n') * 120_000, end='')
keep = []  # torch.empty: address space only, never touched
try:
    while True:
        keep.append(torch.empty(10**8))
finally:
    keep.clear()"""
SLEEPS = "import time\n\nwhile True:\n    time.sleep(0.1)"
RAISES = {"1d": lambda s: 'raise RuntimeError("stuck")\n' + s, "2": swap("(logits, 1)", "(logits, 1")}
HALF_DONE = (
    HANDED_OUT
    | {  # 1c half written, 1d not (its cmp lines stop the cell), 3 not done, 4's grads None
        "1": swap(L02["cell-13"] + "\n" + L02["cell-16"] + "\n", "\n".join(L02["cell-13"].splitlines()[1:4]) + "\n"),
        "2": lambda s: s,
        "4": lambda s: loop(handed_out=True).replace("p.grad  # TODO", "grad  # TODO"),
    }
)


def submissions(outside: Path) -> dict:
    """The class's notebooks by name (`outside` holds the teacher's files)."""
    zeros = functools.partial(re.sub, r"^d(\w+) = \.\.\.", r"d\1 = torch.zeros_like(\1)", flags=re.M)
    misbehaves = MISBEHAVES.format(victim=str(outside / "victim.txt"), folder=str(outside))
    return {
        "alice/02-lecture": colab(notebook(NB02)),
        "02-wrong": notebook(NB02, **{"2": swap("dlogits /= n", ""), "3": swap("n / (n - 1) * ", "")}),
        "02-raises": notebook(NB02, **RAISES),
        "02-misbehaves": notebook(NB02, after=[("cell-08", misbehaves)], **{"3": lambda s: SLEEPS}),
        "02-tampers": notebook(NB02, False, [("exercise-setup", TAMPER)], **dict.fromkeys(("1a", "2"), zeros)),
        "alice/03-lecture": colab(notebook(NB03)),  # its full run made short all the same, found by its text
        "03-wrong-4b": notebook(NB03, **{"4b": swap("lossi.append(loss.log10().item())", "lossi.append(loss.item())")}),
        "lecture/solved": lecture(),
        "lecture/half-done": lecture(**HALF_DONE),
    }


def build_class(folder: Path, outside: Path) -> None:
    """The synthetic class in `folder` (alice's in a subfolder, hers saved without cell ids, as Colab does), and what
    else a teacher's folder holds."""
    for name, nb in submissions(outside).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{name}.ipynb")
    text = (folder / "alice" / "02-lecture.ipynb").read_text()
    (folder / "notes.ipynb").write_text("my answers are in the email\n")
    (folder / "truncated.ipynb").write_text(text[: len(text) // 2])
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), folder / "other.ipynb")
    (folder / ".ipynb_checkpoints").mkdir()  # what Jupyter leaves: not a submission
    (folder / ".ipynb_checkpoints" / "02-lecture-checkpoint.ipynb").write_text(text)


def fingerprint(folder: Path = ROOT) -> dict[str, str]:
    """The SHA-256 of every file in `folder`; in the repository: its tracked files (names.txt too) and artifacts/."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    if folder == ROOT:
        git = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        files = [ROOT / f for f in git] + [*(ROOT / "artifacts").rglob("*")]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The synthetic class, graded once: its rows by submission, what the grader printed on stdout and stderr,
    grades.md, and the fingerprints of the repository and of the folder outside the class's, before and after."""
    base, home = tmp_path_factory.mktemp("grading"), real_home(tmp_path_factory)
    folder, outside = base / "class", base / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "victim.txt").write_text("the teacher's file\n")
    (outside / "keep" / "data.txt").write_text("keep me\n")
    build_class(folder, outside)
    before, outside_before, t0 = fingerprint(), fingerprint(outside), time.monotonic()
    cmd = [sys.executable, str(ROOT / "tools" / "grade.py"), str(folder), f"--timeout={TIMEOUT}", f"--steps={STEPS}"]
    cmd += [f"--memory={MEMORY}", f"--jobs={JOBS}"]
    done = subprocess.run(cmd, env=os.environ | {"NINJA_HOME": str(home)}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    print(f"\nthe wall time to grade the class: {time.monotonic() - t0:.0f} s")
    with open(folder / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    md = (folder / "grades.md").read_text(encoding="utf-8")
    return rows, done.stdout, done.stderr, md, (before, fingerprint()), (outside_before, fingerprint(outside))


ALL02 = [e for e in EXERCISES if EXERCISES[e].lesson == "02"]
DONE02, NONE02 = (dict.fromkeys(ALL02, s) for s in ("done", "-"))
DONE03 = {"4": "done", "4b": "done"}
NOT = r"^not exercise notebook 02 or 03, nor the lecture's \("
REFUSED = r"open \S+/victim.txt; os.remove \S+/victim.txt; os.rename \S+/victim.txt; shutil.rmtree \S+/outside; "
# submission: its exercises' columns, and as regexes: gradients right/total, its first wrong step (exercise, gradient,
# status), its error ("": none, None: any) and its note
EXPECTED = {
    "alice/02-lecture.ipynb": (DONE02, "28/28", "", "", ""),
    "02-wrong.ipynb": (DONE02 | {"2": "wrong", "3": "wrong"}, "26/28", r"^2 dlogits \(wrong values\): ", "", ""),
    # a cell that raises: its gradients not reached; one that can't run: dlogits still holds 1a's answer
    "02-raises.ipynb": (DONE02 | {"1d": "-", "2": "-"}, "22/28", "", r"^RuntimeError in cell \d+ \(exercise 1d\)", ""),
    "02-misbehaves.ipynb": (
        DONE02 | {"3": "-"},
        "27/28",
        "",
        rf"^timed out after {TIMEOUT} s in cell \d+ \(exercise "
        rf"3\); out of memory in cell \d+: {MEMORY:,} MB.*; 1[23] MB of output .*; refused .*: {REFUSED}os.system "
        r".+; open \S+/outside/x.pt$",
        "",
    ),  # fmt: skip
    # its zeros, passed by the checks it bent, are wrong
    "02-tampers.ipynb": (NONE02 | {"1a": "wrong", "2": "wrong"}, "1/28", r"^1a dlogprobs \(wrong values\)", None, ""),
    "alice/03-lecture.ipynb": (DONE03, "9/9", "", "", rf"^its 200,000-step run cut to {STEPS} steps$"),
    "03-wrong-4b.ipynb": ({"4": "done", "4b": "wrong"}, "8/9", r"^4b lossi \(wrong values\)", "", rf"\b{STEPS} steps$"),
    "notes.ipynb": ({}, "", "", rf"{NOT}NotJSONError", ""),
    "truncated.ipynb": ({}, "", "", rf"{NOT}NotJSONError", ""),
    "other.ipynb": ({}, "", "", rf"{NOT}LookupError", ""),
    "lecture/solved.ipynb": (DONE02 | DONE03, "37/37", "", "", rf"\b{STEPS} of 200,000 steps; cell 3's !wget \S+ skip"),
    "lecture/half-done.ipynb": (
        NONE02 | {"1a": "done", "1b": "done", "1c": "3 of 6", "2": "done", "4": "-", "4b": "-"},
        "19/37",
        "",
        r"^NameError in cell \d+ \(exercise 1\): .* \(and 2 more\)$",
        r"^cell 3's !wget \S+ skipped",
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", EXPECTED)
def test_each_submission_gets_its_row(graded, name):
    row, (exercises, right, first, error, note) = graded[0][name], EXPECTED[name]
    lesson = "" if not right else "lecture" if name.startswith("lecture/") else name.split("/")[-1][:2]
    others = {"02": ("4", "4b"), "03": ALL02, "lecture": ()}.get(lesson, [*ALL02, "4", "4b"])
    assert {k: row[k] for k in [*exercises, *others]} == exercises | dict.fromkeys(others, "")
    assert row["lesson"] == lesson and re.fullmatch(right, row["right"]) and bool(row["seconds"]) == bool(lesson)
    for column, want in (("first wrong step", first), ("error", error), ("note", note)):
        assert want is None or (re.search(want, row[column]) if want else row[column] == ""), (column, row[column])


def test_the_repository_and_the_teachers_files_are_untouched(graded):
    (before, after), (outside_before, outside_after) = graded[4:6]
    assert after == before, "grading changed the repository"
    assert outside_after == outside_before and len(outside_before) == 2  # the victim, and keep/data.txt


def test_the_class_is_graded_and_nothing_else(graded):
    rows, out, err, md = graded[:4]
    assert sorted(rows) == sorted(EXPECTED)  # Jupyter's checkpoint copy is no submission
    assert out.splitlines()[0].split()[:4] == ["submission", "lesson", "1a", "1b"] and "grades.csv" in out
    table, totals = md.split("\n\n")[:2]
    assert table.startswith("| submission | lesson | 1a |") and table.count("\n| ") == len(EXPECTED) + 1
    # a total per student (a subfolder each): alice handed in exercises 02 and 03, with the lecture's answers
    assert "| alice | 2 | 8 of 8 (1a 1b 1c 1d 2 3 4 4b) | 37/37 |" in totals and "| lecture | 2 | 8 of 8 " in totals
    # while it grades: a line a notebook as it is done, on stderr, with the progress bar
    assert all(re.search(rf"^{re.escape(name)}: ", err, re.M) for name in EXPECTED), err
