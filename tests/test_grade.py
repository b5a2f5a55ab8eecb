"""tools/grade.py (issues #20, #23) on a synthetic class made here from exercises/02 and 03 and from copies of the
lecture's own notebook (tests/lecture_form.py): the lecture's answers, other correct forms, typical wrong gradients,
and every bad case the grader must survive. Each gets the row it should; the repository, and the files outside the
class's folder, are byte-identical afterwards."""

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
from conftest import REAL, script
from lecture_form import HANDED_OUT, L02, lecture, loop

from helpers.config import ROOT
from helpers.exercises import EXERCISES

gen = script("make_exercises")

NB02, NB03 = "02_gradient_verification.ipynb", "03_manual_backprop_training.ipynb"
# the time limit per notebook (the endless loops' rows), lesson 03's run and the lecture's loop cut short, and the
# notebooks graded side by side: two more than the CPUs, as the two endless loops sleep
TIMEOUT, STEPS, JOBS = 60, 100, (os.cpu_count() or 1) + 2
MEMORY = 3000  # MB a kernel may use
pytestmark = pytest.mark.skipif(REAL is None, reason="needs the real names.txt: git checkout names.txt")


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@functools.cache
def template(name: str) -> str:
    """exercises/<name> as the generator makes it (not the copy in exercises/, which may hold the learner's answers)."""
    return gen.render(ROOT / "notebooks" / name)


def blanks(name: str) -> dict[str, str]:
    """{exercise id: the id of its blank cell} in exercises/<name>."""
    cells = nbformat.reads(template(name), as_version=4).cells
    ids = [e.id for e in EXERCISES.values() if e.lesson == name[:2]]
    return dict(zip(ids, [c.id for c in cells if "exercise" in tags(c)], strict=True))


def notebook(name: str, fill: bool = True, after: dict | None = None, **edits):
    """exercises/<name>: its blanks filled with the lecture's answers (the lesson's solution cells), then the cell of
    each exercise in `edits` changed (a function of its source), and a new cell put after each cell in `after`."""
    nb = nbformat.reads(template(name), as_version=4)
    answers = {c.id: c.source for c in nbformat.read(ROOT / "notebooks" / name, as_version=4).cells}
    ids = {cell: e for e, cell in blanks(name).items()}
    for c in nb.cells:
        if fill and c.id in ids:
            c.source = answers[c.id]
        if ids.get(c.id) in edits:
            c.source = edits[ids[c.id]](c.source)
    for cell_id, source in (after or {}).items():
        at = next(i for i, c in enumerate(nb.cells) if c.id == cell_id)
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
    return nb


def colab(nb):
    """`nb` as Colab (or a Jupyter older than 2021) saves it: nbformat 4.4, cells without ids."""
    nb.nbformat_minor = 4
    for c in nb.cells:
        c.pop("id")
    return nb


def swap(old: str, new: str):
    def edit(source: str) -> str:
        assert old in source, old
        return source.replace(old, new)

    return edit


def zeros(source: str) -> str:
    return re.sub(r"^d(\w+) = \.\.\.", r"d\1 = torch.zeros_like(\1)", source, flags=re.M)


# the learner's own helpers: the course's modules, but an exercises/ of its own, whose checks pass everything
FAKE_INIT = f"__path__.append({str(ROOT / 'helpers')!r})\nexec(open({str(ROOT / 'helpers' / '__init__.py')!r}).read())"
FAKE_EXERCISES = f"""
__path__.append({str(ROOT / "helpers" / "exercises")!r})
exec(open({str(ROOT / "helpers" / "exercises" / "__init__.py")!r}).read())


class Exercises:
    def __init__(self, *args):
        pass

    def check(self, exercise, **grads):
        print(f"→ exercise {{exercise}}: done, all {{len(grads)}} match")

    def solved(self, exercise):
        return False

    def progress(self):
        print("Progress, lesson 02: 28 of 28 gradients right; exercises done: 6 of 6")
"""
# a notebook that bends the course's checks to pass everything, and prints the success text itself
TAMPER = """
import helpers.exercises.checks as checks

checks.Exercises._judge = lambda self, ex, name, *args: checks.Feedback(ex.id, name, checks.EXACT, "bit for bit")
print("→ exercise 1a (from the loss to the logits): done, all 8 match")
"""


def outside_attempts(victim: Path, folder: Path) -> str:
    """A cell that tries to overwrite, delete and rename a file outside its folder, remove that folder, run a
    command and torch.save there, carrying on after each refusal."""
    return f"""
import os, pathlib, shutil, torch

victim, folder = pathlib.Path({str(victim)!r}), {str(folder)!r}
attempts = [lambda: victim.write_text("overwritten"), lambda: os.remove(victim)]
attempts += [lambda: os.rename(victim, folder + "/moved"), lambda: shutil.rmtree(folder)]
attempts += [lambda: os.system("rm -rf " + folder), lambda: torch.save({{}}, folder + "/x.pt")]
for attempt in attempts:
    try:
        attempt()
    except PermissionError as e:
        print(e)
"""


HOG = "keep = []\nwhile True:\n    keep.append(torch.empty(10**8))"  # 400 MB at a time, until the limit
LOOP = "for p, grad in zip(params.values(), grads):\n            p.data += -lr * grad"  # the lecture's update


def submissions(folder: Path, outside: Path) -> dict:
    """The class's notebooks by name: the lecture's answers, other correct forms, one wrong gradient per exercise,
    and each bad case (`outside` holds the teacher's files)."""
    forms03 = {
        "4": swap("return dict(", "return [dC, dW1, db1, dW2, db2, dbngain, dbnbias]  # ("),  # the lecture's list
        "4b": swap("for k, p in params.items():\n            p.data += -lr * grads[k]", LOOP),
    }
    one_go = "(dhpreact - dhpreact.mean(0, keepdim=True) - bnraw * (dhpreact * bnraw).sum(0, keepdim=True) / (n - 1))"
    class02 = {
        "alice/02-lecture": colab(notebook(NB02)),
        "02-other-forms": notebook(
            NB02,
            **{
                "1a": swap("torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0 / n", "-F.one_hot(Yb, 27) / n"),
                "1c": swap("(-0.5 * (bnvar + 1e-5) ** -1.5)", "(-0.5 * bnvar_inv**3)"),
                "1d": swap(
                    "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))",
                    "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n    for j in range(Xb.shape[1]):\n"
                    "        dC[Xb[k, j]] += demb[k, j]",
                ),
                "2": lambda s: "dlogits = (F.softmax(logits, 1) - F.one_hot(Yb, logits.shape[1])) / n",
                "3": lambda s: f"dhprebn = bngain * bnvar_inv * {one_go}",
            },
        ),
        "02-wrong-1a": notebook(NB02, **{"1a": swap("= -1.0 / n", "= -1.0")}),
        "02-wrong-1b": notebook(NB02, **{"1b": swap("(1.0 - h**2)", "(1.0 - hpreact**2)")}),
        "02-wrong-1c": notebook(NB02, **{"1c": swap("(1.0 / (n - 1))", "(1.0 / n)")}),
        "02-wrong-1d": notebook(
            NB02, **{"1d": lambda s: s.split("dC =")[0] + "dC = torch.zeros_like(C)\ndC[Xb] += demb"}
        ),
        "02-wrong-2": notebook(NB02, **{"2": swap("dlogits /= n", "")}),
        "02-wrong-3": notebook(NB02, **{"3": swap("n / (n - 1) * ", "")}),
        "02-raises": notebook(NB02, **{"1d": lambda s: 'raise RuntimeError("stuck on 1d")\n' + s}),
        "02-syntax-error": notebook(NB02, **{"2": swap("F.softmax(logits, 1)", "F.softmax(logits, 1")}),
        "02-endless-loop": notebook(NB02, **{"3": lambda s: "import time\n\nwhile True:\n    time.sleep(0.1)"}),
        "02-output-flood": notebook(NB02, after={"cell-27": "for i in range(120_000):\n    print('y' * 99)"}),
        # a runaway cell: more memory than the kernel's limit (torch.empty: address space only, never touched)
        "02-memory-hog": notebook(NB02, after={"cell-27": HOG}),
        "02-writes-outside": notebook(NB02, after={"cell-08": outside_attempts(outside / "victim.txt", outside)}),
        "02-own-helpers": notebook(
            NB02, fill=False, after={"exercise-intro": f"import sys\nsys.path.insert(0, {str(folder)!r})"}
        ),
        "02-tampers": notebook(
            NB02, fill=False, after={"exercise-setup": TAMPER}, **dict.fromkeys(blanks(NB02), zeros)
        ),
    }
    class03 = {
        "alice/03-lecture": notebook(NB03),
        "03-other-forms": colab(notebook(NB03, **forms03)),  # its full run made short all the same
        "03-wrong-4": notebook(NB03, **{"4": swap("(1.0 - h**2)", "(1.0 - cache['hpreact'] ** 2)")}),
        "03-wrong-4b": notebook(NB03, **{"4b": swap("lossi.append(loss.log10().item())", "lossi.append(loss.item())")}),
    }
    return class02 | class03 | lectures()


HALF_1C = "\n".join(L02["cell-13"].splitlines()[1:4]) + "\n"  # dbnvar_inv, dbnvar, dbndiff2: half of 1c


def lectures() -> dict:
    """Copies of the lecture's notebook: handed out, solved, half done, with typical mistakes, and bad cases."""
    out_of_order = lecture(  # with a learner's notes and plot, and a name the lecture has no exercise for
        **{"1": lambda s: s + "\nprint('my notes')\nplt.plot([1, 2])\nplt.show()"},
        **{"2": lambda s: s + "\ncmp('logits_fast', dlogits, logits)"},
    )
    for n, c in enumerate(c for c in out_of_order.cells if c.cell_type == "code"):
        c.execution_count = n + 1 if n != 3 else 40  # run again late, as a learner does
    dc_loop = "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n    for j in range(Xb.shape[1]):\n"
    return {
        "lecture/handed-out": lecture(**HANDED_OUT),
        "lecture/solved": lecture(),
        # 1c half written, 1d not, but all their cmp lines run; 3 not done; 4's update with its gradients, still None
        "lecture/half-done": lecture(
            **HANDED_OUT
            | {
                "1": swap(L02["cell-13"] + "\n" + L02["cell-16"] + "\n", HALF_1C),
                "2": lambda s: s,
                "4": lambda s: loop(handed_out=True).replace("p.grad  # TODO", "grad  # TODO"),
            }
        ),
        "lecture/bessel-dropped": lecture(**{"3": swap("n / (n - 1) * ", "")}),
        "lecture/dC-assigned": lecture(
            **{
                "1": swap(
                    "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))",
                    dc_loop + "        dC[Xb[k, j]] = demb[k, j]",
                )
            }  # fmt: skip
        ),
        "lecture/dlogits-not-divided": lecture(**{"4": swap("        dlogits /= n\n", "")}),
        # other shapes, and exercise 1's cmp lines left commented out as handed out: its gradients judged all the same
        "lecture/n-hidden-changed-no-cmp": lecture(
            hidden=(100, 128), **{"1": lambda s: re.sub(r"^cmp\(", "# cmp(", s, flags=re.M)}
        ),
        "lecture/out-of-order": out_of_order,
        "lecture/raises-then-loops": lecture(
            **{"2": lambda s: s + '\nraise RuntimeError("stuck")', "after": lambda s: "while True:\n    pass"}
        ),
    }


def build_class(folder: Path, outside: Path) -> None:
    """The synthetic class: 22 submissions in `folder` (one in a subfolder, two saved without cell ids, as Colab
    does), and what else a teacher's folder holds."""
    for name, nb in submissions(folder, outside).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{name}.ipynb")
    text = (folder / "alice" / "02-lecture.ipynb").read_text()
    (folder / "notes.ipynb").write_text("my answers are in the email\n")
    (folder / "truncated.ipynb").write_text(text[: len(text) // 2])
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), folder / "other.ipynb")
    (folder / ".ipynb_checkpoints").mkdir()  # what Jupyter leaves: not a submission
    (folder / ".ipynb_checkpoints" / "02-lecture-checkpoint.ipynb").write_text(text)
    (folder / "helpers" / "exercises").mkdir(parents=True)  # what 02-own-helpers imports
    (folder / "helpers" / "__init__.py").write_text(FAKE_INIT)
    (folder / "helpers" / "exercises" / "__init__.py").write_text(FAKE_EXERCISES)


def fingerprint(folder: Path = ROOT) -> dict[str, str]:
    """The SHA-256 of every file in `folder`; in the repository: its tracked files (names.txt too) and artifacts/."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    if folder == ROOT:
        git = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        files = [ROOT / f for f in git] + [*(ROOT / "artifacts").rglob("*")]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The synthetic class, graded once: its rows by submission, what the grader printed, grades.md, the wall time,
    and the fingerprints of the repository and of the folder outside the class's, before and after."""
    base = tmp_path_factory.mktemp("grading")
    folder, outside, home = base / "class", base / "outside", base / "home"
    for d in (folder, outside / "keep", home):
        d.mkdir(parents=True)
    (outside / "victim.txt").write_text("the teacher's file\n")
    (outside / "keep" / "data.txt").write_text("keep me\n")
    (home / "names.txt").symlink_to(REAL)
    build_class(folder, outside)
    before, outside_before, t0 = fingerprint(), fingerprint(outside), time.monotonic()
    cmd = [sys.executable, str(ROOT / "tools" / "grade.py"), str(folder), f"--timeout={TIMEOUT}", f"--steps={STEPS}"]
    cmd += [f"--memory={MEMORY}"]
    env = os.environ | {"NINJA_HOME": str(home)}
    done = subprocess.run([*cmd, f"--jobs={JOBS}"], env=env, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    with open(folder / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    md = (folder / "grades.md").read_text(encoding="utf-8")
    return rows, done.stdout, md, wall, (before, fingerprint()), (outside_before, fingerprint(outside)), done.stderr


ALL02 = ["1a", "1b", "1c", "1d", "2", "3"]
DONE02, WRONG02, NONE02 = (dict.fromkeys(ALL02, s) for s in ("done", "wrong", "-"))
DONE03 = {"4": "done", "4b": "done"}
NOT = "not exercise notebook 02 or 03, nor the lecture's"
# submission: (its exercises' columns, and as regexes: gradients right/total, its first wrong step and its error ("":
# empty, None: any)); the hints are matched by what they must name (1/n, tanh, n-1, ...), not word for word
EXPECTED = {
    "alice/02-lecture.ipynb": (DONE02, "28/28", "", ""),
    "02-other-forms.ipynb": (DONE02, "28/28", "", ""),
    # a wrong gradient makes those computed from it wrong too (their hint: fix the first): 1a's reaches 1b-1d and 3
    # (dlogit_maxes, whose true gradient is rounding noise, gets 32 times the noise: within the tolerance or not,
    # depending on how the CPU rounds)
    "02-wrong-1a.ipynb": (WRONG02 | {"2": "done"}, "[12]/28", r"^1a dlogprobs \(wrong values\): .*1/n", ""),
    "02-wrong-1b.ipynb": (WRONG02 | {"1a": "done", "2": "done"}, "13/28", r"^1b dhpreact \(wrong values\): .*tanh", ""),
    "02-wrong-1c.ipynb": (
        DONE02 | {"1c": "wrong", "1d": "wrong"},
        "21/28",
        r"^1c dbndiff2 \(wrong values\): .*n-1",
        "",
    ),
    "02-wrong-1d.ipynb": (DONE02 | {"1d": "wrong"}, "27/28", r"^1d dC \(wrong values\): .*accumulate", ""),
    "02-wrong-2.ipynb": (DONE02 | {"2": "wrong"}, "27/28", r"^2 dlogits \(wrong values\): .*1/n", ""),
    "02-wrong-3.ipynb": (DONE02 | {"3": "wrong"}, "27/28", r"^3 dhprebn \(wrong values\): .*n-1", ""),
    # its check cell may raise too (NameError), the rest is graded
    "02-raises.ipynb": (
        DONE02 | {"1d": "-"},
        "23/28",
        "",
        r"^RuntimeError in cell \d+ \(exercise 1d\): stuck on 1d( \(and \d+ more\))?$",
    ),
    # dlogits still holds 1a's answer: exercise 2 is not done, however right that answer
    "02-syntax-error.ipynb": (DONE02 | {"2": "-"}, "27/28", "", r"^SyntaxError in cell \d+ \(exercise 2\): "),
    "02-endless-loop.ipynb": (
        DONE02 | {"3": "-"},
        "27/28",
        "",
        rf"^timed out after {TIMEOUT} s in cell \d+ \(exercise 3\)$",
    ),
    "02-output-flood.ipynb": (DONE02, "28/28", "", r"^1[23] MB of output \(limit: 5 MB\)$"),
    "02-memory-hog.ipynb": (DONE02, "28/28", "", rf"^out of memory in cell \d+: {MEMORY:,} MB, the limit of one"),
    "02-writes-outside.ipynb": (
        DONE02,
        "28/28",
        "",
        r"^refused \(outside its folder, or a process\): open \S+/victim.txt; os.remove \S+/victim.txt; "
        r"os.rename \S+/victim.txt; shutil.rmtree \S+/outside; os.system .+; open \S+/outside/x.pt$",
    ),
    # its fake checks said "done" to everything; the course's, run by the grader, say what was done: nothing
    "02-own-helpers.ipynb": (
        NONE02,
        "0/28",
        "",
        r"^imported a helpers of its own \(\S+/class/helpers/__init__.py\); graded with the course's$",
    ),
    # its zeros, passed by the checks it bent, are wrong (the error: whatever its cells that then ran raised)
    "02-tampers.ipynb": (WRONG02, "2/28", r"^1a dlogprobs \(wrong values\): .*zero", None),
    "alice/03-lecture.ipynb": (DONE03, "9/9", "", ""),
    "03-other-forms.ipynb": (DONE03, "9/9", "", ""),
    # the first gradient the mistake reaches, in the backward pass's order, is dbngain's; the loop inherits it
    "03-wrong-4.ipynb": ({"4": "wrong", "4b": "wrong"}, "3/9", r"^4 dbngain \(wrong values\): .*tanh", ""),
    "03-wrong-4b.ipynb": ({"4": "done", "4b": "wrong"}, "8/9", r"^4b lossi \(wrong values\): .*log10", ""),
    "notes.ipynb": ({}, "", "", rf"^{NOT} \(NotJSONError: "),
    "truncated.ipynb": ({}, "", "", rf"^{NOT} \(NotJSONError: "),
    "other.ipynb": ({}, "", "", rf"^{NOT} \(LookupError: its cells match none of them\)$"),
    # the lecture's notebook, its 37 gradients judged (4b: the parameters and lossi after its loop, cut short)
    "lecture/handed-out.ipynb": (NONE02 | {"4": "-", "4b": "-"}, "0/37", "", ""),
    "lecture/solved.ipynb": (DONE02 | DONE03, "37/37", "", ""),
    "lecture/half-done.ipynb": (
        NONE02 | {"1a": "done", "1b": "done", "1c": "3 of 6", "2": "done", "4": "-", "4b": "-"},
        "19/37",
        "",
        r"^TypeError in cell \d+ \(exercise 4\): unsupported operand",
    ),
    "lecture/bessel-dropped.ipynb": (
        DONE02 | DONE03 | {"3": "wrong"},
        "36/37",
        r"^3 dhprebn \(wrong values\): .*n-1",
        "",
    ),
    "lecture/dC-assigned.ipynb": (
        DONE02 | DONE03 | {"1d": "wrong"},
        "36/37",
        r"^1d dC \(wrong values\): .*accumulate",
        "",
    ),
    "lecture/dlogits-not-divided.ipynb": (
        DONE02 | {"4": "wrong", "4b": "wrong"},
        "28/37",
        r"^4 dW2 \(wrong values\): n times too large: a factor 1/n",
        "",
    ),
    "lecture/n-hidden-changed-no-cmp.ipynb": (DONE02 | DONE03, "37/37", "", ""),
    "lecture/out-of-order.ipynb": (DONE02 | DONE03, "37/37", "", ""),
    "lecture/raises-then-loops.ipynb": (
        DONE02 | DONE03,
        "37/37",
        "",
        rf"^timed out after {TIMEOUT} s in cell \d+ \(exercise 4\); RuntimeError in cell \d+ \(exercise 2\): stuck$",
    ),
}
# the lecture's rows: what their note says besides the cut (none for the handed-out one: it breaks at step 100)
CUT = rf"exercise 4's loop cut to its first {STEPS} of 200,000 steps"
NOTES = {
    "lecture/handed-out.ipynb": rf"^{CUT}; your loop still runs loss.backward\(\)",  # before its break at 100
    "lecture/half-done.ipynb": r"^exercise 4's loop stopped after 0 of its 200,000 steps: cell \d+ .* raised TypeError",
    "lecture/out-of-order.ipynb": rf"^its cells were last run out of order .*; {CUT}; cmp\('logits_fast', \.\.\.\) in "
    r"cell \d+ \(exercise 2\): not a name",
}


@pytest.mark.parametrize("name", EXPECTED)
def test_each_submission_gets_its_row(graded, name):
    row, (exercises, right, first, error) = graded[0][name], EXPECTED[name]
    lesson = "" if not right else "lecture" if name.startswith("lecture/") else name.split("/")[-1][:2]
    others = {"02": ("4", "4b"), "03": ALL02, "lecture": ()}.get(lesson, [*ALL02, "4", "4b"])
    assert {k: row[k] for k in [*exercises, *others]} == exercises | dict.fromkeys(others, "")
    assert row["lesson"] == lesson and re.fullmatch(right, row["right"])
    assert re.search(first, row["first wrong step"]) if first else row["first wrong step"] == ""
    assert error is None or (re.search(error, row["error"]) if error else row["error"] == "")
    if lesson == "lecture":  # what its note says (its loop cut short; the !wget cell skipped)
        assert re.search(NOTES.get(name, f"^{CUT}; "), row["note"]) and "!wget" in row["note"], row["note"]
    else:
        assert row["note"] == (f"its 200,000-step run cut to {STEPS} steps" if lesson == "03" else "")
    assert bool(row["seconds"]) == bool(lesson)


def test_the_repository_and_the_teachers_files_are_untouched(graded):
    (before, after), (outside_before, outside_after) = graded[4:6]
    assert after == before, "grading changed the repository"
    assert outside_after == outside_before and len(outside_before) == 2  # the victim, and keep/data.txt


def test_the_class_is_graded_and_nothing_else(graded):
    rows, out, md, wall, err = *graded[:4], graded[6]
    assert sorted(rows) == sorted(EXPECTED)  # Jupyter's checkpoint copy, and the learner's helpers/, are no submissions
    assert out.splitlines()[0].split()[:4] == ["submission", "lesson", "1a", "1b"]
    assert f"{len(EXPECTED)} submissions graded in" in out and "grades.csv" in out
    table, totals = md.split("\n\n")[:2]
    assert table.startswith("| submission | lesson | 1a |") and table.count("\n| ") == len(EXPECTED) + 1
    # a total per student (a subfolder each): alice handed in exercises 02 and 03, with the lecture's answers
    assert "| alice | 2 | 8 of 8 (1a 1b 1c 1d 2 3 4 4b) | 37/37 |" in totals and "| lecture | 9 | " in totals
    # while it grades: a line a notebook as it is done, on stderr, with the progress bar
    assert all(re.search(rf"^{re.escape(name)}: ", err, re.M) for name in EXPECTED), err
    print(f"\n{md}\nthe test's wall time to grade the class: {wall:.0f} s")
